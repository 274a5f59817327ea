/*
 * store.h: the session store, one SQLite database in WAL mode
 * ($XDG_STATE_HOME/hearth/hearth.db).
 *
 * What it holds: sessions, their messages and parts (the conversation, in the
 * provider-neutral shape of hearth/provider.h), the per-session event log with its
 * sequence numbers (what clients replay on resume), token usage and cost, each
 * module's key-value data, and remembered "always" permission answers.
 *
 * Threads. A struct store is used by one thread (the loop thread) only. The one
 * function meant for another thread is store_checkpoint(), which opens a connection
 * of its own.
 *
 * Blocking. Writes are small and the WAL is synced only at checkpoints
 * (synchronous=NORMAL), so a call takes tens of microseconds (bench/bench_store). The exception is a write that
 * meets the writer lock held by a running checkpoint: it waits (busy_timeout,
 * STORE_BUSY_TIMEOUT_MS) rather than fail. store_checkpoint() keeps that window
 * short; call it often enough that the WAL stays small.
 *
 * Errors. Functions return 0 (or a count, an index, a sequence number) or a
 * negative HEARTH_E*: HEARTH_EINVAL for bad arguments or a malformed part,
 * HEARTH_ENOENT for an unknown session, message or key, HEARTH_ELIMIT for a value
 * over a limit below, HEARTH_EBUSY when the database is locked or a transaction is
 * already open, HEARTH_EIO for anything else SQLite reports. store_errmsg() then
 * says what failed, naming the operation and the object:
 *     store: appending event to session ses_...: database is locked
 *
 * Crash safety. Every write is one SQLite transaction (or part of the caller's, see
 * store_begin()); a process killed at any instant leaves every committed
 * transaction in place and none of the uncommitted one.
 *
 * Schema. The version is PRAGMA user_version; store_open() applies the missing
 * forward migrations in order, each in its own transaction, and refuses a database
 * written by a newer hearth without touching it.
 *   1  sessions, messages, parts, events
 *   2  token usage and cost per message and per session (totals kept by triggers),
 *      kv, permissions
 */
#ifndef HEARTH_STORE_H
#define HEARTH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <hearth/plugin.h>
#include <hearth/provider.h>

#define STORE_SCHEMA_VERSION 2

/* How long a write waits for a lock (a checkpoint's) before HEARTH_EBUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000
/* Largest serialized part, event payload or kv value, in bytes. */
#define STORE_VALUE_MAX (32 * 1024 * 1024)
/* Largest short string: ids, titles, paths, models, types, keys, patterns. */
#define STORE_STRING_MAX 65536

struct store;

enum store_status {
	STORE_IDLE = 0,
	STORE_RUNNING = 1,     /* a turn is in progress */
	STORE_WAITING = 2,     /* a turn waits for a permission answer */
	STORE_ERROR = 3,       /* the last turn failed */
	STORE_INTERRUPTED = 4, /* a daemon restart cut the last turn short */
};

/* "idle", "running", ...; a static string, or NULL for a value out of range. */
const char *store_status_name(enum store_status status);
/* The reverse; 0 or HEARTH_EINVAL. */
int store_status_parse(const char *name, enum store_status *out);
/* "end_turn", "tool_use", "max_tokens", ...: how a finish is stored; static or NULL. */
const char *store_finish_name(enum hearth_finish finish);

/* ------------------------------------------------------------ open, close -- */

/*
 * Open (creating it if needed) the database at `path` and bring its schema to
 * STORE_SCHEMA_VERSION. Missing parent directories are created with mode 0700, a
 * new database file with mode 0600 (SQLite gives its -wal and -shm files the same).
 * Returns the store, or NULL with *error set to a malloc'd message the caller
 * frees, naming the path ("store: opening PATH: file is not a database"; a newer
 * schema: "store: PATH has schema version 99, newer than the 2 this hearth knows;
 * not opening it"). `error` may be NULL.
 */
struct store *store_open(const char *path, char **error);
/* The same, migrating only up to `version` (1..STORE_SCHEMA_VERSION): for tests of
 * the migrations. A database already past `version` is refused like a newer one. */
struct store *store_open_at_version(const char *path, int version, char **error);
/* Close; an open transaction is rolled back. NULL is a no-op. */
void store_close(struct store *st);

/* The message of the last failed call (borrowed, valid until the next call), or "". */
const char *store_errmsg(const struct store *st);
/* The schema version of the open database. */
int store_schema_version(const struct store *st);

/*
 * Move the WAL's content into the database and truncate the WAL to zero bytes.
 * The store runs with wal_autocheckpoint off, so this is the only checkpoint while
 * the daemon runs (SQLite still checkpoints when the last connection closes).
 * It opens a connection of its own to `path`, never the loop's: run it on a
 * thread-pool thread (host work_queue), never on the loop. It does a PASSIVE pass
 * first, which copies without blocking writers, then a TRUNCATE pass, which holds
 * the writer lock only for what was written meanwhile.
 * Returns 0; HEARTH_EBUSY when a reader kept it from finishing (try again later);
 * or another HEARTH_E* with *error set to a malloc'd message (error may be NULL).
 */
int store_checkpoint(const char *path, char **error);

/*
 * How many pages the WAL holds after the last commit of this store (0 before
 * any). The loop queues a store_checkpoint() when it passes a threshold such as
 * STORE_CHECKPOINT_PAGES; the WAL starts over after a checkpoint has copied it all.
 */
int store_wal_pages(const struct store *st);
/* SQLite's own autocheckpoint threshold: about 4 MiB of WAL with 4 KiB pages. */
#define STORE_CHECKPOINT_PAGES 1000

/*
 * For tests: the clock that timestamps rows (milliseconds since the epoch).
 * NULL restores the wall clock.
 */
void store_set_clock(struct store *st, int64_t (*now_ms)(void *arg), void *arg);

/* ------------------------------------------------------------ transactions -- */

/*
 * Group several writes into one transaction, so that, say, a part and the event
 * announcing it are committed together or not at all. Every other function runs
 * inside it when one is open, else in a transaction of its own. A failed write
 * inside a transaction undoes only itself; the transaction stays open.
 * store_begin() while one is open is an error (HEARTH_EBUSY); store_commit() and
 * store_rollback() without one are HEARTH_EINVAL. When SQLite itself had to abort
 * the transaction (disk full, I/O error), store_commit() returns that error and
 * the transaction is gone, and every write until store_commit() or
 * store_rollback() is refused (HEARTH_EIO), so nothing commits outside it by
 * accident; store_rollback() then returns 0. A commit that fails with HEARTH_EBUSY
 * leaves the transaction open: retry it or roll back.
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);
/* 1 while a transaction opened by store_begin() is open. */
int store_in_transaction(const struct store *st);

/* ---------------------------------------------------------------- sessions -- */

/* Token and cost totals of a session, over its finished messages. */
struct store_usage {
	struct hearth_usage tokens;
	int64_t cost_micros;
};

/* A session as stored. Every string is owned by the struct: store_session_clear(). */
struct store_session {
	char *id;
	char *title;     /* NULL: untitled */
	char *cwd;       /* the project directory */
	char *model;     /* "provider/model", or NULL */
	enum store_status status;
	int64_t created_at;    /* ms since the epoch */
	int64_t updated_at;    /* last change: the session, a message, an event */
	int64_t last_seq;      /* the last event's sequence number, 0 before any */
	int64_t message_count;
	struct store_usage usage; /* the session's totals (store_session_usage()'s) */
};

/* Free the strings of *s and zero it. */
void store_session_clear(struct store_session *s);
/* Free an array from store_session_list() (NULL is fine). */
void store_session_list_free(struct store_session *list, size_t n);

/*
 * Create a session (status idle, last_seq 0). cwd is mandatory; title and model
 * may be NULL. Its id, "ses_" and 26 base32 characters (128 random bits from
 * getrandom), goes to *id_out, malloc'd, the caller frees it. Returns 0 or HEARTH_E*.
 */
int store_session_create(struct store *st, const char *cwd, const char *title,
			 const char *model, char **id_out);
/* Fill *out (owned strings; clear it with store_session_clear()). HEARTH_ENOENT if
 * there is no such session; *out is zeroed on every error. */
int store_session_get(struct store *st, const char *id, struct store_session *out);
/*
 * The sessions, most recently updated first (ties: the newest created first),
 * only those whose cwd equals `cwd` when it is non-NULL (compared as strings: pass
 * resolved paths, as store_session_create() got them), at most `limit` of them
 * (0: all). *out is a malloc'd array of *n sessions (NULL when none), freed with
 * store_session_list_free().
 */
int store_session_list(struct store *st, const char *cwd, size_t limit,
		       struct store_session **out, size_t *n);
/* Change one field (title and model may be NULL). HEARTH_ENOENT if no such session. */
int store_session_set_title(struct store *st, const char *id, const char *title);
int store_session_set_model(struct store *st, const char *id, const char *model);
int store_session_set_status(struct store *st, const char *id, enum store_status status);
/*
 * Copy session `id` with its messages (new ids), parts, events (same sequence
 * numbers) and usage into a new session, in one transaction; a running or waiting
 * source's copy is interrupted. The new id goes to *id_out (malloc'd, the caller
 * frees it). HEARTH_ENOENT if there is no such session.
 */
int store_session_fork(struct store *st, const char *id, char **id_out);
/* Delete a session with its messages, parts and events. HEARTH_ENOENT if absent. */
int store_session_delete(struct store *st, const char *id);
/* Turn every running or waiting session into interrupted (at daemon start-up;
 * updated_at stays, so the list keeps its order). Returns how many changed, or
 * HEARTH_E*. */
int store_mark_interrupted(struct store *st);

/* ----------------------------------------------------------------- events -- */

/*
 * Append an event to a session's log. It gets the session's next sequence number
 * (last_seq + 1; the first is 1), committed with it: numbers have no gaps, and one
 * rolled back is handed out again. type is a non-empty string; payload (borrowed)
 * is any JSON value, NULL meaning null. Returns the sequence number (> 0), or a
 * negative HEARTH_E* (HEARTH_ENOENT for an unknown session).
 */
int64_t store_event_append(struct store *st, const char *session_id, const char *type,
			   const json_t *payload);
/*
 * Call cb for each event of the session whose seq is > after_seq, in order: what a
 * client that saw after_seq missed (0 for all of them; the last seq for none).
 * type and payload are borrowed for the duration of cb. cb may call other store
 * functions (events it appends to this session may or may not be visited by this
 * walk). A non-zero return from cb stops the walk and is returned. Returns 0,
 * cb's value, or HEARTH_E* (HEARTH_ENOENT for an unknown session).
 */
int store_events_since(struct store *st, const char *session_id, int64_t after_seq,
		       int (*cb)(void *arg, int64_t seq, const char *type,
				 const json_t *payload),
		       void *arg);

/* --------------------------------------------------------- messages, parts -- */

/* A message's metadata; strings owned by the struct (store_message_clear()). */
struct store_message {
	char *id;
	char *session_id;
	int64_t idx;           /* its position in the session, from 0 */
	char *role;            /* "user", "assistant" or "tool" */
	char *model;           /* or NULL */
	char *finish;          /* store_finish_name() of how it ended, NULL until finished */
	int64_t created_at;
	struct hearth_usage usage;
	int64_t cost_micros;   /* millionths of a US dollar */
};

void store_message_clear(struct store_message *m);

/*
 * Append a message to a session: role "user", "assistant" or "tool", model (may be
 * NULL) the one that produced it. Its id ("msg_" + 26 base32 characters) goes to
 * *id_out, malloc'd, the caller frees it. Returns 0, HEARTH_EINVAL for a bad role,
 * HEARTH_ENOENT for an unknown session.
 */
int store_message_add(struct store *st, const char *session_id, const char *role,
		      const char *model, char **id_out);
/* Fill *out; HEARTH_ENOENT if no such message. *out is zeroed on every error. */
int store_message_get(struct store *st, const char *message_id, struct store_message *out);

/*
 * Append a part (borrowed; stored as it is, extra members included) to a message.
 * It must be an object of one of these types, with these members (provider.h):
 *   text        text: string;                           meta: object, optional
 *   reasoning   text: string;                           meta: object, optional
 *   tool_call   id, name: non-empty strings; input: object; meta: object, optional
 *   tool_result id: non-empty string; content: string;
 *               name: string, optional; is_error: boolean, optional
 *   image       mime, data (base64): strings
 *   file        mime, data (base64): strings;            name: string, optional
 *   diff        diff (unified): string;                  path: string, optional
 * Which role may carry which part is not checked. Returns the part's index in the
 * message (0, 1, ...), HEARTH_EINVAL with a message naming the problem
 * ("store: adding part to message msg_...: a tool_call part needs a non-empty
 * string \"id\""), HEARTH_ELIMIT over STORE_VALUE_MAX, HEARTH_ENOENT for an unknown
 * message.
 */
int store_part_add(struct store *st, const char *message_id, const json_t *part);
/*
 * Append len bytes of UTF-8 text to the "text" of part part_idx of a message (a
 * text or reasoning part): streamed deltas, coalesced by the caller and flushed
 * here. The part is rewritten each time, so flush batches, not every delta.
 * HEARTH_EINVAL if the part has no "text" or the text is not valid UTF-8,
 * HEARTH_ENOENT if there is no such part, HEARTH_ELIMIT over STORE_VALUE_MAX.
 */
int store_part_append_text(struct store *st, const char *message_id, int part_idx,
			   const char *text, size_t len);
/*
 * Set the "meta" object of part part_idx of a message (replacing any): what a
 * provider attaches once a part is complete (a thinking signature). meta is
 * borrowed (copied). HEARTH_EINVAL if meta is not an object, HEARTH_ENOENT if
 * there is no such part.
 */
int store_part_set_meta(struct store *st, const char *message_id, int part_idx,
			const json_t *meta);

/*
 * Record how a message ended, its usage (NULL: none reported) and cost. Calling it
 * again replaces the earlier values; the session's totals follow. HEARTH_EINVAL for
 * a finish out of range, HEARTH_ENOENT for an unknown message.
 */
int store_message_finish(struct store *st, const char *message_id, enum hearth_finish finish,
			 const struct hearth_usage *usage, int64_t cost_micros);

/*
 * A session's messages in order, as provider.h's request "messages" wants them:
 * [{"role": "user", "parts": [part, ...]}, ...], every part exactly as it was added
 * (with appended text). A message without parts has "parts": []. Returns a new
 * reference, or NULL on error (store_errmsg(); an unknown session is an error).
 */
json_t *store_history(struct store *st, const char *session_id);
/* The same, and *ids_out (a new array) the id of each message, in the same order. */
json_t *store_history_ids(struct store *st, const char *session_id, json_t **ids_out);

int store_session_usage(struct store *st, const char *session_id, struct store_usage *out);

/* -------------------------------------------------------------------- kv -- */

/*
 * A module's key-value data (plugin.h's kv_get/kv_put/kv_delete). module and key
 * are non-empty strings; values are bytes (NUL included), at most STORE_VALUE_MAX.
 * store_kv_get() puts a malloc'd copy in *value (with one NUL byte after the
 * value, so text can be used as a string; the caller frees it) and its length in
 * *len (len may be NULL); HEARTH_ENOENT when the key is absent. store_kv_put()
 * replaces any earlier value. store_kv_delete() returns HEARTH_ENOENT when the key
 * was absent.
 */
int store_kv_get(struct store *st, const char *module, const char *key, char **value,
		 size_t *len);
int store_kv_put(struct store *st, const char *module, const char *key, const void *value,
		 size_t len);
int store_kv_delete(struct store *st, const char *module, const char *key);

/* ------------------------------------------------------------ permissions -- */

/*
 * Remembered "always" answers to permission requests, per project directory and
 * tool. For now a pattern matches a subject (a command, a path) only when the two
 * strings are equal; globs and prefixes are the permission module's business.
 * store_permission_put() replaces an earlier decision for the same pattern;
 * decision is "allow" or "deny". store_permission_get() puts the matching decision
 * in *decision (malloc'd, the caller frees it) or returns HEARTH_ENOENT.
 */
int store_permission_put(struct store *st, const char *project, const char *tool,
			 const char *pattern, const char *decision);
int store_permission_get(struct store *st, const char *project, const char *tool,
			 const char *subject, char **decision);

#endif
