/* session.c: sessions in memory, their followers, and the bus (see session.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "rpc.h"
#include "session.h"
#include "xmalloc.h"

static struct store *session_st;
static struct session *session_list;
static json_t *session_pending;        /* updates emitted in the open transaction */
static char *session_db_path;          /* for checkpoints, on a pool thread */
static uv_loop_t *session_loop;
static uv_timer_t session_checkpoint_timer;
static uv_work_t session_checkpoint_work;
static int session_checkpoint_running;

static void session_replay_conn_gone(struct hearth_conn *c);
static void session_replay_session_gone(struct session *s);

void
session_set_store(struct store *st, const char *path, uv_loop_t *loop)
{
	session_st = st;
	if (session_pending == NULL)
		session_pending = json_array();
	free(session_db_path);
	session_db_path = path != NULL ? xstrdup(path) : NULL;
	session_loop = loop;
	if (loop != NULL) {
		uv_timer_init(loop, &session_checkpoint_timer);
		uv_unref((uv_handle_t *)&session_checkpoint_timer);
	}
}

static void
session_checkpoint_work_cb(uv_work_t *req)
{
	char *error = NULL;
	int rc = store_checkpoint(session_db_path, &error);
	if (rc != 0 && rc != HEARTH_EBUSY)
		log_warn("checkpoint of %s failed: %s", session_db_path,
			 error != NULL ? error : hearth_strerror(rc));
	free(error);
}

static void
session_checkpoint_done_cb(uv_work_t *req, int status)
{
	session_checkpoint_running = 0;
}

static void
session_checkpoint_cb(uv_timer_t *timer)
{
	if (session_checkpoint_running)
		return;
	session_checkpoint_running = 1;
	uv_queue_work(session_loop, &session_checkpoint_work, session_checkpoint_work_cb,
		      session_checkpoint_done_cb);
}

/*
 * After writes, checkpoint once things are quiet, or at once when the WAL has
 * grown large; no timer runs while the daemon is idle.
 */
static void
session_dirty(void)
{
	if (session_loop == NULL || session_db_path == NULL)
		return;
	if (store_wal_pages(session_st) >= STORE_CHECKPOINT_PAGES) {
		uv_timer_stop(&session_checkpoint_timer);
		session_checkpoint_cb(&session_checkpoint_timer);
	} else if (!uv_is_active((uv_handle_t *)&session_checkpoint_timer)) {
		uv_timer_start(&session_checkpoint_timer, session_checkpoint_cb,
			       SESSION_CHECKPOINT_DELAY_MS, 0);
	}
}

struct store *
session_store(void)
{
	return session_st;
}

static char *
session_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static struct session *
session_from_store(const struct store_session *ss)
{
	struct session *s = xcalloc(1, sizeof *s);
	s->id = xstrdup(ss->id);
	s->cwd = xstrdup(ss->cwd);
	s->model = session_strdup_or_null(ss->model);
	s->title = session_strdup_or_null(ss->title);
	s->status = ss->status;
	s->next = session_list;
	session_list = s;
	return s;
}

struct session *
session_find(const char *id)
{
	for (struct session *s = session_list; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	struct store_session ss;
	if (store_session_get(session_st, id, &ss) != 0)
		return NULL;
	struct session *s = session_from_store(&ss);
	store_session_clear(&ss);
	return s;
}

struct session *
session_create(const char *cwd, const char *model, char **error)
{
	struct stat st;
	if (cwd[0] != '/') {
		*error = xasprintf("cwd '%s' is not an absolute path", cwd);
		return NULL;
	}
	if (stat(cwd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*error = xasprintf("cwd '%s' is not a directory", cwd);
		return NULL;
	}
	char *id = NULL;
	if (store_session_create(session_st, cwd, NULL, model, &id) != 0) {
		*error = xstrdup(store_errmsg(session_st));
		return NULL;
	}
	struct store_session ss;
	int rc = store_session_get(session_st, id, &ss);
	free(id);
	if (rc != 0) {
		*error = xstrdup(store_errmsg(session_st));
		return NULL;
	}
	struct session *s = session_from_store(&ss);
	store_session_clear(&ss);
	log_info("session %s created in %s", s->id, s->cwd);
	return s;
}

static void
session_free(struct session *s)
{
	while (s->followers != NULL) {
		struct session_follower *f = s->followers;
		s->followers = f->next;
		free(f);
	}
	free(s->id);
	free(s->cwd);
	free(s->model);
	free(s->title);
	free(s);
}

int
session_delete(struct session *s)
{
	int rc = store_session_delete(session_st, s->id);
	if (rc != 0 && rc != HEARTH_ENOENT)
		return rc;
	for (struct session **pp = &session_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	log_info("session %s deleted", s->id);
	session_replay_session_gone(s);
	session_free(s);
	return 0;
}

int
session_is_followed_by(struct session *s, struct hearth_conn *c)
{
	for (struct session_follower *f = s->followers; f != NULL; f = f->next)
		if (f->conn == c)
			return 1;
	return 0;
}

void
session_follow(struct session *s, struct hearth_conn *c)
{
	if (session_is_followed_by(s, c))
		return;
	struct session_follower *f = xcalloc(1, sizeof *f);
	f->conn = c;
	f->next = s->followers;
	s->followers = f;
}

void
session_unfollow(struct session *s, struct hearth_conn *c)
{
	for (struct session_follower **pp = &s->followers; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->conn == c) {
			struct session_follower *f = *pp;
			*pp = f->next;
			free(f);
			return;
		}
	}
}

void
session_conn_gone(struct hearth_conn *c)
{
	session_replay_conn_gone(c);
	for (struct session *s = session_list; s != NULL; s = s->next)
		session_unfollow(s, c);
}

/* The session/update notification of one stored update, serialized; free it. */
static char *
session_update_text(const char *session_id, int64_t seq, const json_t *update, size_t *len)
{
	json_t *params = json_pack("{s:s,s:O,s:{s:{s:I}}}", "sessionId", session_id, "update",
				   update, "_meta", "hearth", "seq", (json_int_t)seq);
	json_t *n = rpc_notification("session/update", params);
	char *text = rpc_dump(n, len);
	json_decref(n);
	return text;
}

/* Serialized once for every follower. A follower whose copy is dropped (its queue
 * is full) gets no more until it resumes: what it sees stays a gapless prefix. */
static void
session_broadcast(struct session *s, int64_t seq, const json_t *update,
		  const struct hearth_conn *except)
{
	char *text = NULL;
	size_t len = 0;
	for (struct session_follower *f = s->followers; f != NULL; f = f->next) {
		if (f->stale || f->conn == except)
			continue;
		if (text == NULL)
			text = session_update_text(s->id, seq, update, &len);
		if (conn_queue(f->conn, text, len, 1) == HEARTH_ELIMIT)
			f->stale = 1;
	}
	free(text);
}

int64_t
session_emit(struct session *s, const json_t *update)
{
	return session_emit_except(s, update, NULL);
}

int64_t
session_emit_except(struct session *s, const json_t *update, const struct hearth_conn *except)
{
	const char *type = json_string_value(json_object_get(update, "sessionUpdate"));
	int64_t seq = store_event_append(session_st, s->id, type != NULL ? type : "update",
					 update);
	if (seq < 0) {
		log_error("%s", store_errmsg(session_st));
		return seq;
	}
	session_dirty();
	if (store_in_transaction(session_st)) {
		/* Said only once committed: session_commit() sends it. */
		/* The connection to skip is compared, never followed: kept as a number. */
		json_array_append_new(session_pending, json_pack("{s:s,s:I,s:O,s:I}", "id", s->id,
								 "seq", (json_int_t)seq,
								 "update", update, "except",
								 (json_int_t)(uintptr_t)except));
		return seq;
	}
	session_broadcast(s, seq, update, except);
	return seq;
}

int
session_begin(void)
{
	int rc = store_begin(session_st);
	if (rc != 0)
		log_error("%s", store_errmsg(session_st));
	return rc;
}

int
session_commit(void)
{
	int rc = store_commit(session_st);
	json_t *pending = session_pending;
	session_pending = json_array();
	if (rc != 0) {
		log_error("%s; %zu update%s not sent", store_errmsg(session_st),
			  json_array_size(pending), json_array_size(pending) == 1 ? "" : "s");
	} else {
		size_t i;
		json_t *p;
		json_array_foreach(pending, i, p) {
			struct session *s = session_find(json_string_value(json_object_get(p, "id")));
			if (s != NULL)
				session_broadcast(s, json_integer_value(json_object_get(p, "seq")),
						  json_object_get(p, "update"),
						  (const struct hearth_conn *)(uintptr_t)json_integer_value(
							  json_object_get(p, "except")));
		}
	}
	json_decref(pending);
	return rc;
}

void
session_rollback(void)
{
	store_rollback(session_st);
	json_array_clear(session_pending);
}

/* ---------------------------------------------------------------- replays -- */

/* One replay to one connection; queued behind the earlier ones to that connection. */
struct session_replay {
	struct session *s;
	struct hearth_conn *conn;
	int64_t last;                /* the last seq queued */
	char *held;                  /* owned: the next update, waiting for room */
	size_t held_len;
	int64_t held_seq;
	int was_following;
	int started;
	session_replay_fn done;
	void *arg;
	struct session_replay *next;
};

static struct session_replay *session_replays;   /* oldest first */

static struct session_follower *
session_follower_of(struct session *s, struct hearth_conn *c)
{
	for (struct session_follower *f = s->followers; f != NULL; f = f->next)
		if (f->conn == c)
			return f;
	return NULL;
}

static void session_replay_run(struct session_replay *r);

static void
session_replay_unlink(struct session_replay *r)
{
	for (struct session_replay **pp = &session_replays; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

/* The first replay to this connection still waiting, if none runs. */
static void
session_replay_next(struct hearth_conn *c)
{
	for (struct session_replay *r = session_replays; r != NULL; r = r->next) {
		if (r->conn != c)
			continue;
		if (!r->started)
			session_replay_run(r);
		return;
	}
}

static void
session_replay_finish(struct session_replay *r, int rc)
{
	struct session_follower *f = session_follower_of(r->s, r->conn);
	if (rc == 0 && f != NULL)
		f->stale = 0;   /* caught up: the live updates follow on */
	else if (rc != 0 && !r->was_following)
		session_unfollow(r->s, r->conn);
	session_replay_unlink(r);
	struct hearth_conn *c = r->conn;
	r->done(r->arg, r->s, c, rc, r->last);
	free(r->held);
	free(r);
	session_replay_next(c);
}

static void
session_replay_room_cb(void *arg, struct hearth_conn *c)
{
	session_replay_run(arg);
}

/* Queue one stored update if it fits; else hold it and stop the walk (1). */
static int
session_replay_cb(void *arg, int64_t seq, const char *type, const json_t *payload)
{
	struct session_replay *r = arg;
	size_t len;
	char *text = session_update_text(r->s->id, seq, payload, &len);
	if (!conn_has_room(r->conn, len)) {
		r->held = text;
		r->held_len = len;
		r->held_seq = seq;
		return 1;
	}
	int rc = conn_queue(r->conn, text, len, 0);
	free(text);
	if (rc != 0)
		return 2;   /* the connection is going: its conn_gone drops this replay */
	r->last = seq;
	return 0;
}

/* One batch: as much as fits in the connection's queue, then wait for room. */
static void
session_replay_run(struct session_replay *r)
{
	r->started = 1;
	if (r->held != NULL) {
		if (!conn_has_room(r->conn, r->held_len)) {
			conn_on_room(r->conn, r->held_len, session_replay_room_cb, r);
			return;
		}
		int rc = conn_queue(r->conn, r->held, r->held_len, 0);
		free(r->held);
		r->held = NULL;
		if (rc != 0)
			return;
		r->last = r->held_seq;
	}
	int rc = store_events_since(session_st, r->s->id, r->last, session_replay_cb, r);
	if (rc == 1) {
		conn_on_room(r->conn, r->held_len, session_replay_room_cb, r);
	} else if (rc < 0) {
		log_error("%s", store_errmsg(session_st));
		session_replay_finish(r, rc);
	} else if (rc == 0) {
		session_replay_finish(r, 0);
	}
}

void
session_replay(struct session *s, struct hearth_conn *c, int64_t after_seq,
	       session_replay_fn done, void *arg)
{
	struct session_replay *r = xcalloc(1, sizeof *r);
	r->s = s;
	r->conn = c;
	r->last = after_seq;
	r->done = done;
	r->arg = arg;
	struct session_follower *f = session_follower_of(s, c);
	r->was_following = f != NULL;
	if (f == NULL) {
		session_follow(s, c);
		f = session_follower_of(s, c);
	}
	f->stale = 1;   /* no live update until the replay has caught up */
	int busy = 0;
	struct session_replay **pp = &session_replays;
	for (; *pp != NULL; pp = &(*pp)->next)
		busy |= (*pp)->conn == c;
	*pp = r;
	if (!busy)
		session_replay_run(r);
}

/* A connection has gone: its replays end with HEARTH_ECANCELED. */
static void
session_replay_conn_gone(struct hearth_conn *c)
{
	for (struct session_replay **pp = &session_replays; *pp != NULL;) {
		struct session_replay *r = *pp;
		if (r->conn != c) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->done(r->arg, r->s, c, HEARTH_ECANCELED, r->last);
		free(r->held);
		free(r);
	}
}

/* The session is being deleted: its replays end with HEARTH_ENOENT. */
static void
session_replay_session_gone(struct session *s)
{
	for (struct session_replay *r = session_replays, *next; r != NULL; r = next) {
		next = r->next;
		if (r->s != s)
			continue;
		if (r->started)
			conn_on_room(r->conn, 0, NULL, NULL);
		r->was_following = 1;   /* session_free drops the followers */
		session_replay_finish(r, HEARTH_ENOENT);
		next = session_replays;   /* finish may have started (and ended) others */
	}
}

int
session_set_status(struct session *s, enum store_status status)
{
	int rc = store_session_set_status(session_st, s->id, status);
	if (rc != 0)
		log_error("%s", store_errmsg(session_st));
	s->status = status;
	return rc;
}

int
session_set_model(struct session *s, const char *model)
{
	int rc = store_session_set_model(session_st, s->id, model);
	if (rc != 0) {
		log_error("%s", store_errmsg(session_st));
		return rc;
	}
	free(s->model);
	s->model = session_strdup_or_null(model);
	return 0;
}

int
session_set_title(struct session *s, const char *title)
{
	int rc = store_session_set_title(session_st, s->id, title);
	if (rc != 0) {
		log_error("%s", store_errmsg(session_st));
		return rc;
	}
	free(s->title);
	s->title = session_strdup_or_null(title);
	return 0;
}

void
session_close(void)
{
	if (session_loop != NULL) {
		uv_timer_stop(&session_checkpoint_timer);
		uv_close((uv_handle_t *)&session_checkpoint_timer, NULL);
		session_loop = NULL;
	}
	free(session_db_path);
	session_db_path = NULL;
	json_decref(session_pending);
	session_pending = NULL;
}

void
session_free_all(void)
{
	while (session_list != NULL) {
		struct session *s = session_list;
		session_list = s->next;
		session_free(s);
	}
}
