/*
 * session.h: sessions in memory, the connections that follow each, and the bus.
 *
 * Every change to a session is an ACP `session/update` payload, committed to the
 * store as an event (which gives it the session's next sequence number) and only
 * then sent to every following connection, with the number in
 * params._meta.hearth.seq. A connection follows a session from session/new, load,
 * resume or prompt until it closes the session or goes away.
 *
 * Sessions are loaded from the store on first use and stay in memory while the
 * daemon runs (a session is a few hundred bytes; its history stays in the store).
 */
#ifndef HEARTH_SESSION_H
#define HEARTH_SESSION_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "conn.h"
#include "store.h"

struct turn;

struct session_follower {
	struct hearth_conn *conn;
	/* 1: gets no live updates: one was dropped (its queue was full), or a replay
	 * to it is under way; cleared when a replay to it completes. */
	int stale;
	struct session_follower *next;
};

struct session {
	char *id;                  /* owned */
	char *cwd;                 /* owned: absolute */
	char *model;               /* owned: "provider/model", or NULL for the default */
	char *title;               /* owned, or NULL */
	enum store_status status;
	struct session_follower *followers;
	struct turn *turn;         /* the running turn (agent.c), or NULL */
	struct session *next;
};

/* How long after the last write the WAL is checkpointed (on a pool thread). */
#define SESSION_CHECKPOINT_DELAY_MS 30000

/*
 * The store every session lives in (borrowed; set once at start-up), the path of
 * its file (copied; checkpoints open their own connection) and the loop. path and
 * loop may be NULL (tests): no checkpoints then.
 */
void session_set_store(struct store *st, const char *path, uv_loop_t *loop);
/* Stop the checkpoint timer (shutdown; a checkpoint under way still finishes). */
void session_close(void);
struct store *session_store(void);

/* The session with this id, loaded from the store if needed; NULL if none. Borrowed. */
struct session *session_find(const char *id);
/*
 * A new session in the store and in memory. cwd must be an absolute directory;
 * model may be NULL. Returns the session (borrowed) or NULL with *error a malloc'd
 * message the caller frees.
 */
struct session *session_create(const char *cwd, const char *model, char **error);
/* Delete a session from the store and memory; it must have no running turn. Its
 * replays under way end (done gets HEARTH_ENOENT). */
int session_delete(struct session *s);

/* Start or stop sending the session's updates to a connection. */
void session_follow(struct session *s, struct hearth_conn *c);
void session_unfollow(struct session *s, struct hearth_conn *c);
int session_is_followed_by(struct session *s, struct hearth_conn *c);
/* A connection went away: it follows nothing any more. */
void session_conn_gone(struct hearth_conn *c);

/*
 * Commit an update (borrowed: an ACP update object with "sessionUpdate") and send
 * it to every follower. Returns its sequence number, or a negative HEARTH_E* after
 * logging (then nothing was sent: what is not stored is not said).
 */
int64_t session_emit(struct session *s, const json_t *update);
/* The same, but not sent to `except` (the connection that said it: a prompt's echo). */
int64_t session_emit_except(struct session *s, const json_t *update,
			    const struct hearth_conn *except);
/*
 * Group writes in one store transaction. Updates emitted inside it are sent only
 * after session_commit() has committed them; if the commit fails, they are never
 * sent (and the failure is logged). session_rollback() drops them.
 */
int session_begin(void);
int session_commit(void);
void session_rollback(void);

/*
 * Replay the stored updates after `after_seq` to a connection, then make it a
 * follower that gets the live ones: what session/load and session/resume do. The
 * connection follows the session at once but gets no live update of it until the
 * replay is done (so what it sees is gapless and in order). The replay is paced by
 * the connection's queue (conn_has_room): it never overflows it, and a single
 * update of any size goes. Replays to one connection run one after the other.
 *
 * done(arg, s, c, rc, last) runs once, possibly before session_replay returns:
 * rc 0 and the last seq sent (or after_seq), or a negative HEARTH_E* after
 * logging (the store failed, or the session was deleted: HEARTH_ENOENT), or
 * HEARTH_ECANCELED when the connection went away first (nothing to answer then).
 */
typedef void (*session_replay_fn)(void *arg, struct session *s, struct hearth_conn *c, int rc,
				  int64_t last);
void session_replay(struct session *s, struct hearth_conn *c, int64_t after_seq,
		    session_replay_fn done, void *arg);

/* Change and store a field. */
int session_set_status(struct session *s, enum store_status status);
int session_set_model(struct session *s, const char *model);
int session_set_title(struct session *s, const char *title);

/* Free every in-memory session (shutdown; turns must be gone). */
void session_free_all(void);

#endif
