/* context.c: building provider requests (see context.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "log.h"
#include "store.h"
#include "tools.h"
#include "xmalloc.h"

/* One session's history, as store_history() would return it now. */
struct context_hist {
	char *session_id;          /* owned */
	json_t *messages;          /* [{role, parts}] */
	json_t *by_id;             /* {message id: its object in messages} */
	struct context_hist *next;
};

struct context_build {
	uv_work_t work;
	char *session_id;          /* owned */
	char *cwd;                 /* owned: read on the pool thread */
	char *model_id;            /* owned */
	char *system;              /* owned: written on the pool thread */
	context_done_fn done;
	void *arg;
	int abandoned;
};

static uv_loop_t *context_loop;
static struct context_hist *context_cache;   /* most recently used first */

void
context_init(uv_loop_t *loop)
{
	context_loop = loop;
}

/* ----------------------------------------------------------- the history -- */

static void
context_hist_free(struct context_hist *h)
{
	free(h->session_id);
	json_decref(h->messages);
	json_decref(h->by_id);
	free(h);
}

/* The cached history of a session, moved to the front; NULL if not cached. */
static struct context_hist *
context_hist_find(const char *session_id)
{
	for (struct context_hist **pp = &context_cache; *pp != NULL; pp = &(*pp)->next) {
		struct context_hist *h = *pp;
		if (strcmp(h->session_id, session_id) == 0) {
			*pp = h->next;
			h->next = context_cache;
			context_cache = h;
			return h;
		}
	}
	return NULL;
}

const json_t *
context_history(struct session *s)
{
	struct context_hist *h = context_hist_find(s->id);
	if (h != NULL)
		return h->messages;
	struct store *st = session_store();
	json_t *ids = NULL;
	json_t *messages = store_history_ids(st, s->id, &ids);
	if (messages == NULL)
		return NULL;
	h = xcalloc(1, sizeof *h);
	h->session_id = xstrdup(s->id);
	h->messages = messages;
	h->by_id = json_object();
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
		json_object_set(h->by_id, json_string_value(id), json_array_get(messages, i));
	json_decref(ids);
	h->next = context_cache;
	context_cache = h;
	/* Keep at most CONTEXT_CACHE_SESSIONS: drop the least recently used. */
	size_t n = 0;
	for (struct context_hist **pp = &context_cache; *pp != NULL; pp = &(*pp)->next) {
		if (++n > CONTEXT_CACHE_SESSIONS) {
			struct context_hist *old = *pp;
			*pp = NULL;
			while (old != NULL) {
				struct context_hist *next = old->next;
				context_hist_free(old);
				old = next;
			}
			break;
		}
	}
	return h->messages;
}

void
context_note_message(const char *session_id, const char *msg_id, const char *role)
{
	struct context_hist *h = context_hist_find(session_id);
	if (h == NULL || json_object_get(h->by_id, msg_id) != NULL)
		return;
	json_t *m = json_pack("{s:s,s:[]}", "role", role, "parts");
	json_array_append_new(h->messages, m);
	json_object_set(h->by_id, msg_id, m);
}

/* The part of a cached message, or NULL (not cached, or out of step: forgotten). */
static json_t *
context_part(const char *session_id, const char *msg_id, int part_idx)
{
	struct context_hist *h = context_hist_find(session_id);
	if (h == NULL)
		return NULL;
	json_t *part = json_array_get(json_object_get(json_object_get(h->by_id, msg_id), "parts"),
				      (size_t)part_idx);
	if (part == NULL) {
		log_error("session %s: the cached history has no part %d of %s; read again",
			  session_id, part_idx, msg_id);
		context_forget(session_id);
	}
	return part;
}

void
context_note_part(const char *session_id, const char *msg_id, const char *role,
		  const json_t *part)
{
	struct context_hist *h = context_hist_find(session_id);
	if (h == NULL)
		return;
	context_note_message(session_id, msg_id, role);
	json_array_append_new(json_object_get(json_object_get(h->by_id, msg_id), "parts"),
			      json_deep_copy(part));
}

void
context_note_text(const char *session_id, const char *msg_id, int part_idx, const char *text,
		  size_t len)
{
	json_t *part = context_part(session_id, msg_id, part_idx);
	if (part == NULL)
		return;
	const char *before = json_string_value(json_object_get(part, "text"));
	size_t blen = before != NULL ? json_string_length(json_object_get(part, "text")) : 0;
	char *all = xmalloc(blen + len + 1);
	memcpy(all, before != NULL ? before : "", blen);
	memcpy(all + blen, text, len);
	all[blen + len] = '\0';
	json_object_set_new(part, "text", json_stringn_nocheck(all, blen + len));
	free(all);
}

void
context_note_meta(const char *session_id, const char *msg_id, int part_idx, const json_t *meta)
{
	json_t *part = context_part(session_id, msg_id, part_idx);
	if (part != NULL)
		json_object_set_new(part, "meta", json_deep_copy(meta));
}

void
context_forget(const char *session_id)
{
	for (struct context_hist **pp = &context_cache; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->session_id, session_id) == 0) {
			struct context_hist *h = *pp;
			*pp = h->next;
			context_hist_free(h);
			return;
		}
	}
}

/* ------------------------------------------------------------ the budget -- */

size_t
context_estimate_tokens(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	size_t n = text != NULL ? strlen(text) / 4 : 0;
	free(text);
	return n;
}

json_t *
context_fit(struct session *s, const json_t *messages, json_int_t window)
{
	(void)s;
	(void)window;
	/*
	 * Compaction (issue 14) goes here: estimate the request against the window,
	 * and past the threshold summarise the oldest turns. Until then the whole
	 * history is sent; a shallow copy, so the provider's view does not grow with
	 * the parts written while it streams.
	 */
	return json_copy((json_t *)messages);
}

/* ------------------------------------------------------- the system prompt -- */

/* The contents of dir/name (at most CONTEXT_FILE_MAX bytes), or NULL. */
static char *
context_read_file(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return NULL;
	char *buf = xmalloc(CONTEXT_FILE_MAX + 1);
	size_t n = 0;
	ssize_t r;
	while (n < CONTEXT_FILE_MAX && (r = read(fd, buf + n, CONTEXT_FILE_MAX - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return buf;
}

/* On a pool thread: touches only the build. */
static void
context_system_work_cb(uv_work_t *w)
{
	struct context_build *b = w->data;
	char *prompt = xasprintf(
		"You are hearth, a coding agent working in the project directory %s. Use the "
		"tools you are given to read and change the project; keep answers short and "
		"exact.", b->cwd);
	/* AGENTS.md is the common name; CLAUDE.md where a project has only that. */
	static const char *const files[] = { "AGENTS.md", "CLAUDE.md" };
	for (size_t i = 0; i < 2; i++) {
		char *text = context_read_file(b->cwd, files[i]);
		if (text == NULL)
			continue;
		char *more = xasprintf("%s\n\nProject instructions from %s:\n%s", prompt, files[i],
				       text);
		free(prompt);
		free(text);
		prompt = more;
		break;
	}
	b->system = prompt;
}

/* The tools the model may call: every tool not denied outright. A new array. */
static json_t *
context_tools(void)
{
	json_t *tools = tools_list();
	json_t *defs = json_array();
	size_t i;
	json_t *tool;
	json_array_foreach(tools, i, tool) {
		if (strcmp(json_string_value(json_object_get(tool, "permission")), "deny") == 0)
			continue;
		json_array_append_new(defs, json_pack("{s:O,s:O,s:O}", "name",
						      json_object_get(tool, "name"), "description",
						      json_object_get(tool, "description"),
						      "input_schema",
						      json_object_get(tool, "input_schema")));
	}
	json_decref(tools);
	return defs;
}

static void
context_build_free(struct context_build *b)
{
	free(b->session_id);
	free(b->cwd);
	free(b->model_id);
	free(b->system);
	free(b);
}

static void
context_system_done_cb(uv_work_t *w, int status)
{
	struct context_build *b = w->data;
	(void)status;
	if (b->abandoned) {
		context_build_free(b);
		return;
	}
	struct session *s = session_find(b->session_id);
	const json_t *history = s != NULL ? context_history(s) : NULL;
	if (history == NULL) {
		char *error = s == NULL ? xasprintf("session %s is gone", b->session_id) :
			xstrdup(store_errmsg(session_store()));
		b->done(b->arg, NULL, error);
		free(error);
		context_build_free(b);
		return;
	}
	json_t *request = json_pack("{s:s,s:s,s:o,s:o}", "model", b->model_id, "system",
				    b->system, "messages", context_fit(s, history, 0),
				    "tools", context_tools());
	b->done(b->arg, request, NULL);
	context_build_free(b);
}

struct context_build *
context_build(struct session *s, const char *model_id, context_done_fn done, void *arg)
{
	struct context_build *b = xcalloc(1, sizeof *b);
	b->session_id = xstrdup(s->id);
	b->cwd = xstrdup(s->cwd);
	b->model_id = xstrdup(model_id);
	b->done = done;
	b->arg = arg;
	b->work.data = b;
	int rc = uv_queue_work(context_loop, &b->work, context_system_work_cb,
			       context_system_done_cb);
	if (rc != 0) {
		/* Cannot happen with a live loop; abort rather than lose the step. */
		log_error("queueing the system prompt's read: %s", uv_strerror(rc));
		abort();
	}
	return b;
}

void
context_abandon(struct context_build *b)
{
	if (b != NULL)
		b->abandoned = 1;
}

void
context_close(void)
{
	while (context_cache != NULL) {
		struct context_hist *h = context_cache;
		context_cache = h->next;
		context_hist_free(h);
	}
}
