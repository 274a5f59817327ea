/*
 * tui.c: the terminal frontend module. One core connection carries ACP both ways,
 * exactly as a socket client's would: initialize, then the project's latest session
 * loaded (or a new one), prompts, permission answers, slash commands. Drawing is
 * coalesced to one frame per DRAW_MS and happens only when something changed; the
 * only repeating timer is the spinner's, which runs only while a turn does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tui_app.h"

#define TUI_DRAW_MS 16      /* frames are coalesced to at most ~60 a second */
#define TUI_SPIN_MS 100     /* the spinner: 10 frames a second, only while waiting */
#define TUI_HISTORY_MAX 500 /* prompts kept per project */
#define TUI_READ_MAX 65536

typedef void (*tui_reply_fn)(struct tui *t, const json_t *result, const json_t *error,
			     void *arg);

struct tui_call {
	struct tui_call *next;
	long long id;
	tui_reply_fn fn;
	void *arg; /* owned by fn: freed there (it gets every reply, or NULL at stop) */
};

static void tui_load_session(struct tui *t, const char *id);
static void tui_new_session(struct tui *t);

/* ------------------------------------------------------------ helpers -- */

static char *
tui_strdup(const char *s)
{
	char *d = strdup(s != NULL ? s : "");
	if (d == NULL)
		abort();
	return d;
}

static void
tui_set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? tui_strdup(value) : NULL;
}

static void
tui_note(struct tui *t, enum tui_entry_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
tui_note(struct tui *t, enum tui_entry_kind kind, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	tui_view_add(&t->view, kind, buf);
	t->scroll = 0;
	tui_dirty(t);
}

/* ------------------------------------------------------------ drawing -- */

static void
tui_draw_cb(void *arg)
{
	struct tui *t = arg;
	t->host->timer_stop(t->draw_timer);
	t->draw_timer = NULL;
	tui_term_draw(t);
}

void
tui_dirty(struct tui *t)
{
	if (t->draw_timer != NULL || !t->term_on || t->stopping)
		return;
	t->draw_timer = t->host->timer_start(t->host, TUI_DRAW_MS, 0, tui_draw_cb, t);
}

static void tui_status_cb(struct tui *t, const json_t *result, const json_t *error, void *arg);
static void tui_request(struct tui *t, const char *method, json_t *params, tui_reply_fn fn,
			void *arg);

static void
tui_spin_cb(void *arg)
{
	struct tui *t = arg;
	t->spin++;
	/*
	 * Another client's turn: without _hearth/turn_state nothing says when it ends,
	 * so ask once a second while the spinner runs (never while idle).
	 */
	if (!t->busy && !t->have_turn_state && t->spin % 10 == 0 && t->session_id != NULL)
		tui_request(t, "_hearth/status", json_pack("{s:s}", "sessionId", t->session_id),
			    tui_status_cb, NULL);
	tui_dirty(t);
}

/* The turn state shown; the spinner runs exactly while it is not idle. */
static void
tui_set_state(struct tui *t, const char *state)
{
	if (state == NULL)
		state = "idle";
	if (t->state == NULL || strcmp(t->state, state) != 0) {
		tui_set(&t->state, state);
		t->state_since = t->host->now_ms(t->host);
	}
	int idle = strcmp(state, "idle") == 0;
	if (idle && t->spin_timer != NULL) {
		t->host->timer_stop(t->spin_timer);
		t->spin_timer = NULL;
	} else if (!idle && t->spin_timer == NULL && !t->stopping) {
		t->spin_timer = t->host->timer_start(t->host, TUI_SPIN_MS, TUI_SPIN_MS, tui_spin_cb, t);
	}
	tui_dirty(t);
}

/* ---------------------------------------------------------------- ACP -- */

static void
tui_send_json(struct tui *t, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (s == NULL || t->conn == NULL) {
		free(s);
		return;
	}
	int rc = t->host->conn_send(t->conn, s, strlen(s));
	if (rc < 0)
		tui_note(t, TE_ERROR, "could not send to the daemon: %s",
			 rc == HEARTH_ELIMIT ? "the message is over the frame limit" : "connection error");
	free(s);
}

/* Send a request; params is stolen. fn gets the answer. */
static void
tui_request(struct tui *t, const char *method, json_t *params, tui_reply_fn fn, void *arg)
{
	struct tui_call *c = calloc(1, sizeof *c);
	if (c == NULL)
		abort();
	c->id = ++t->next_id;
	c->fn = fn;
	c->arg = arg;
	c->next = t->calls;
	t->calls = c;
	tui_send_json(t, json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", c->id, "method",
				   method, "params", params));
}

static void
tui_notify(struct tui *t, const char *method, json_t *params)
{
	tui_send_json(t, json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params",
				   params));
}

static const char *
tui_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The text of a content block, or a placeholder naming it. Malloc'd. */
static char *
tui_content_text(const json_t *c)
{
	const char *type = tui_str(c, "type");
	if (type == NULL)
		return tui_strdup("");
	if (strcmp(type, "text") == 0)
		return tui_strdup(tui_str(c, "text"));
	const char *uri = tui_str(c, "uri");
	if (uri == NULL)
		uri = tui_str(json_object_get(c, "resource"), "uri");
	char buf[1024];
	snprintf(buf, sizeof buf, "[%s%s%s]", type, uri != NULL ? ": " : "", uri != NULL ? uri : "");
	return tui_strdup(buf);
}

/* Append s to a growing malloc'd buffer. */
static void
tui_cat(char **buf, const char *s)
{
	size_t a = *buf != NULL ? strlen(*buf) : 0, b = strlen(s);
	char *n = realloc(*buf, a + b + 1);
	if (n == NULL)
		abort();
	memcpy(n + a, s, b + 1);
	*buf = n;
}

/* A diff of two texts for display: the common head and tail dropped. Malloc'd. */
static char *
tui_simple_diff(const char *path, const char *old, const char *new)
{
	char *out = NULL;
	char head[1200];
	snprintf(head, sizeof head, "--- %s\n+++ %s\n@@ @@\n", path, path);
	tui_cat(&out, head);
	if (old == NULL)
		old = "";
	if (new == NULL)
		new = "";
	size_t ol = strlen(old), nl = strlen(new), pre = 0, suf = 0;
	while (pre < ol && pre < nl && old[pre] == new[pre])
		pre++;
	while (pre > 0 && old[pre - 1] != '\n')
		pre--;
	while (suf < ol - pre && suf < nl - pre && old[ol - 1 - suf] == new[nl - 1 - suf])
		suf++;
	while (suf > 0 && old[ol - suf] != '\n')
		suf--;
	const char *texts[2] = { old + pre, new + pre };
	size_t lens[2] = { ol - pre - suf, nl - pre - suf };
	const char sign[2] = { '-', '+' };
	for (int k = 0; k < 2; k++) {
		const char *p = texts[k], *end = texts[k] + lens[k];
		while (p < end) {
			const char *e = memchr(p, '\n', (size_t)(end - p));
			size_t n = e != NULL ? (size_t)(e - p) : (size_t)(end - p);
			char *line = malloc(n + 3);
			if (line == NULL)
				abort();
			line[0] = sign[k];
			memcpy(line + 1, p, n);
			line[n + 1] = '\n';
			line[n + 2] = '\0';
			tui_cat(&out, line);
			free(line);
			p = e != NULL ? e + 1 : end;
		}
	}
	size_t len = strlen(out);
	if (len > 0 && out[len - 1] == '\n')
		out[len - 1] = '\0';
	return out;
}

/* What a tool call's content shows: text, diffs (one kind, not both), terminals. */
static char *
tui_tool_body(const json_t *content)
{
	char *out = NULL;
	int has_unified = 0;
	size_t i;
	json_t *item;
	json_array_foreach(content, i, item) {
		const char *text = tui_str(json_object_get(item, "content"), "text");
		if (text != NULL && (strncmp(text, "--- ", 4) == 0 || strstr(text, "\n@@ ") != NULL))
			has_unified = 1;
	}
	json_array_foreach(content, i, item) {
		const char *type = tui_str(item, "type");
		char *piece = NULL;
		if (type == NULL)
			continue;
		if (strcmp(type, "content") == 0)
			piece = tui_content_text(json_object_get(item, "content"));
		else if (strcmp(type, "diff") == 0 && !has_unified)
			piece = tui_simple_diff(tui_str(item, "path") ? tui_str(item, "path") : "",
						tui_str(item, "oldText"), tui_str(item, "newText"));
		else if (strcmp(type, "terminal") == 0)
			piece = tui_strdup("[terminal]");
		if (piece == NULL)
			continue;
		if (out != NULL && piece[0] != '\0')
			tui_cat(&out, "\n");
		tui_cat(&out, piece);
		free(piece);
	}
	return out;
}

/* What a tool's input shows before it has output: a command, an edit, or JSON. */
static char *
tui_input_body(const json_t *input)
{
	if (!json_is_object(input))
		return NULL;
	const char *cmd = tui_str(input, "command");
	if (cmd != NULL) {
		char *out = tui_strdup("$ ");
		tui_cat(&out, cmd);
		return out;
	}
	const char *path = tui_str(input, "path") ? tui_str(input, "path") : tui_str(input, "file_path");
	const char *olds = tui_str(input, "old_string"), *news = tui_str(input, "new_string");
	if (olds != NULL || news != NULL)
		return tui_simple_diff(path ? path : "", olds, news);
	const char *content = tui_str(input, "content");
	if (content != NULL && path != NULL)
		return tui_simple_diff(path, "", content);
	char *s = json_dumps(input, JSON_COMPACT);
	if (s != NULL && strlen(s) > 2000)
		strcpy(s + 1996, " …");
	return s;
}

static void
tui_update_usage(struct tui *t, const json_t *u)
{
	t->used = json_integer_value(json_object_get(u, "used"));
	t->size = json_integer_value(json_object_get(u, "size"));
	const json_t *cost = json_object_get(u, "cost");
	if (json_is_object(cost))
		t->cost = json_number_value(json_object_get(cost, "amount"));
	const json_t *h = json_object_get(json_object_get(u, "_meta"), "hearth");
	if (json_is_object(h)) {
		t->in_tokens = json_integer_value(json_object_get(h, "inputTokens")) +
			       json_integer_value(json_object_get(h, "cacheReadTokens")) +
			       json_integer_value(json_object_get(h, "cacheWriteTokens"));
		t->out_tokens = json_integer_value(json_object_get(h, "outputTokens"));
	}
}

static void
tui_config_options(struct tui *t, const json_t *opts)
{
	size_t i;
	json_t *o;
	json_array_foreach(opts, i, o) {
		const char *id = tui_str(o, "id");
		if (id != NULL && strcmp(id, "model") == 0 && tui_str(o, "currentValue") != NULL)
			tui_set(&t->model, tui_str(o, "currentValue"));
	}
}

static void
tui_on_tool(struct tui *t, const json_t *u, int is_new)
{
	const char *id = tui_str(u, "toolCallId");
	if (id == NULL)
		return;
	struct tui_entry *e = tui_view_tool(&t->view, id);
	if (e == NULL) {
		e = tui_view_add(&t->view, TE_TOOL, NULL);
		tui_entry_set(&e->tool_id, id);
		tui_entry_set(&e->status, "pending");
		if (!t->replaying)
			e->started_ms = t->host->now_ms(t->host);
	}
	(void)is_new;
	if (tui_str(u, "title") != NULL)
		tui_entry_set(&e->title, tui_str(u, "title"));
	if (tui_str(u, "kind") != NULL)
		tui_entry_set(&e->tool_kind, tui_str(u, "kind"));
	const char *status = tui_str(u, "status");
	if (status != NULL) {
		tui_entry_set(&e->status, status);
		if ((strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0) &&
		    e->started_ms != 0 && e->ended_ms == 0)
			e->ended_ms = t->host->now_ms(t->host);
		if (!t->replaying && strcmp(status, "in_progress") == 0 && !t->asking) {
			tui_set(&t->state_title, e->title);
			tui_set_state(t, "tool");
		}
	}
	const json_t *content = json_object_get(u, "content");
	if (json_is_array(content)) {
		char *body = tui_tool_body(content);
		tui_entry_set(&e->body, body);
		free(body);
	} else if (e->body == NULL && json_object_get(u, "rawInput") != NULL) {
		char *body = tui_input_body(json_object_get(u, "rawInput"));
		if (body != NULL && strncmp(body, "$ ", 2) == 0)
			tui_entry_set(&e->body, body);
		free(body);
	}
	tui_entry_touch(e);
}

static void
tui_on_update(struct tui *t, const json_t *params)
{
	const json_t *u = json_object_get(params, "update");
	const char *sid = tui_str(params, "sessionId");
	if (sid == NULL || t->session_id == NULL || strcmp(sid, t->session_id) != 0)
		return;
	const json_t *seq = json_object_get(json_object_get(json_object_get(params, "_meta"),
							    "hearth"), "seq");
	if (json_is_integer(seq))
		t->last_seq = json_integer_value(seq);
	const char *kind = tui_str(u, "sessionUpdate");
	if (kind == NULL)
		return;
	if (strcmp(kind, "user_message_chunk") == 0 || strcmp(kind, "agent_message_chunk") == 0 ||
	    strcmp(kind, "agent_thought_chunk") == 0) {
		char *text = tui_content_text(json_object_get(u, "content"));
		enum tui_entry_kind ek = kind[0] == 'u' ? TE_USER : kind[6] == 'm' ? TE_AGENT : TE_THOUGHT;
		tui_view_append(&t->view, ek, text, strlen(text));
		free(text);
		if (!t->replaying) {
			if (ek == TE_USER && strcmp(t->state ? t->state : "idle", "idle") == 0)
				tui_set_state(t, "thinking");
			else if (ek == TE_AGENT && t->state != NULL && strcmp(t->state, "idle") != 0 &&
				 strcmp(t->state, "streaming") != 0)
				tui_set_state(t, "streaming");
		}
	} else if (strcmp(kind, "tool_call") == 0) {
		tui_on_tool(t, u, 1);
	} else if (strcmp(kind, "tool_call_update") == 0) {
		tui_on_tool(t, u, 0);
	} else if (strcmp(kind, "plan") == 0) {
		char *text = tui_strdup("plan:");
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(u, "entries"), i, p) {
			const char *st = tui_str(p, "status");
			tui_cat(&text, st != NULL && strcmp(st, "completed") == 0 ? "\n☑ " : "\n☐ ");
			tui_cat(&text, tui_str(p, "content") ? tui_str(p, "content") : "");
		}
		tui_view_add(&t->view, TE_NOTE, text);
		free(text);
	} else if (strcmp(kind, "usage_update") == 0) {
		tui_update_usage(t, u);
	} else if (strcmp(kind, "config_option_update") == 0) {
		tui_config_options(t, json_object_get(u, "configOptions"));
	} else if (strcmp(kind, "session_info_update") == 0) {
		if (tui_str(u, "title") != NULL)
			tui_set(&t->title, tui_str(u, "title"));
	}
	if (!t->replaying && t->scroll == 0)
		t->scroll = 0;
	tui_dirty(t);
}

/* ---------------------------------------------------------- permission -- */

static void
tui_on_permission(struct tui *t, const json_t *id, const json_t *params)
{
	const json_t *tc = json_object_get(params, "toolCall");
	struct tui_entry *e = tui_view_add(&t->view, TE_PERMISSION, NULL);
	char *rid = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
	e->request_id = rid;
	tui_entry_set(&e->title, tui_str(tc, "title"));
	tui_entry_set(&e->tool_kind, tui_str(tc, "kind"));
	char *body = tui_input_body(json_object_get(tc, "rawInput"));
	tui_entry_set(&e->body, body);
	free(body);
	t->asking = e;
	t->scroll = 0;
	tui_set_state(t, "permission");
}

static void
tui_answer(struct tui *t, const char *option, const char *label)
{
	struct tui_entry *e = t->asking;
	if (e == NULL)
		return;
	json_error_t err;
	json_t *id = json_loads(e->request_id, JSON_DECODE_ANY, &err);
	json_t *outcome = option != NULL
		? json_pack("{s:s,s:s}", "outcome", "selected", "optionId", option)
		: json_pack("{s:s}", "outcome", "cancelled");
	tui_send_json(t, json_pack("{s:s,s:o,s:{s:o}}", "jsonrpc", "2.0", "id", id, "result",
				   "outcome", outcome));
	e->answered = 1;
	free(e->text);
	e->text = NULL;
	e->len = e->cap = 0;
	char buf[128];
	snprintf(buf, sizeof buf, "answered: %s", label);
	e->text = tui_strdup(buf);
	e->len = strlen(buf);
	e->cap = e->len + 1;
	tui_entry_touch(e);
	t->asking = NULL;
	tui_set_state(t, "tool");
}

static void
tui_withdraw(struct tui *t, const json_t *params)
{
	char *rid = json_dumps(json_object_get(params, "requestId"), JSON_COMPACT | JSON_ENCODE_ANY);
	for (size_t i = t->view.n; rid != NULL && i > 0; i--) {
		struct tui_entry *e = t->view.v[i - 1];
		if (e->kind == TE_PERMISSION && !e->answered && e->request_id != NULL &&
		    strcmp(e->request_id, rid) == 0) {
			e->answered = 1;
			free(e->text);
			e->text = tui_strdup("answered by another client");
			e->len = strlen(e->text);
			e->cap = e->len + 1;
			tui_entry_touch(e);
			if (t->asking == e) {
				t->asking = NULL;
				tui_set_state(t, "tool");
			}
			break;
		}
	}
	free(rid);
	tui_dirty(t);
}

/* ---------------------------------------------------------- messages -- */

static void
tui_on_turn_state(struct tui *t, const json_t *p)
{
	const char *sid = tui_str(p, "sessionId");
	if (sid == NULL || t->session_id == NULL || strcmp(sid, t->session_id) != 0)
		return;
	t->have_turn_state = 1;
	t->attempt = json_integer_value(json_object_get(p, "attempt"));
	t->max_attempts = json_integer_value(json_object_get(p, "maxAttempts"));
	t->wait_ms = json_integer_value(json_object_get(p, "waitMs"));
	tui_set(&t->state_reason, tui_str(p, "reason"));
	if (tui_str(p, "title") != NULL)
		tui_set(&t->state_title, tui_str(p, "title"));
	const char *st = tui_str(p, "state");
	if (st != NULL && strcmp(st, "retrying") == 0)
		t->state_since = t->host->now_ms(t->host), tui_set(&t->state, "retrying");
	tui_set_state(t, st);
}

static void
tui_on_message_cb(void *arg, const char *json, size_t len)
{
	struct tui *t = arg;
	json_error_t err;
	json_t *m = json_loadb(json, len, 0, &err);
	if (!json_is_object(m)) {
		json_decref(m);
		return;
	}
	const char *method = tui_str(m, "method");
	const json_t *id = json_object_get(m, "id");
	const json_t *params = json_object_get(m, "params");
	if (method == NULL && json_is_integer(id)) {
		long long n = json_integer_value(id);
		for (struct tui_call **pp = &t->calls; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->id == n) {
				struct tui_call *c = *pp;
				*pp = c->next;
				c->fn(t, json_object_get(m, "result"), json_object_get(m, "error"), c->arg);
				free(c);
				break;
			}
		}
	} else if (method != NULL && id != NULL) {
		if (strcmp(method, "session/request_permission") == 0) {
			tui_on_permission(t, id, params);
		} else {
			tui_send_json(t, json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id,
						   "error", "code", -32601, "message",
						   "the TUI does not offer this method"));
		}
	} else if (method != NULL) {
		if (strcmp(method, "session/update") == 0)
			tui_on_update(t, params);
		else if (strcmp(method, "$/cancel_request") == 0)
			tui_withdraw(t, params);
		else if (strcmp(method, "_hearth/turn_state") == 0)
			tui_on_turn_state(t, params);
		else if (strcmp(method, "_hearth/resync") == 0 && t->session_id != NULL)
			tui_request(t, "session/resume",
				    json_pack("{s:s,s:s,s:[],s:{s:{s:I}}}", "sessionId", t->session_id,
					      "cwd", t->cwd, "mcpServers", "_meta", "hearth", "lastSeq",
					      t->last_seq), NULL, NULL);
	}
	json_decref(m);
}

/* ------------------------------------------------------------ sessions -- */

static const char *
tui_error_text(const json_t *error)
{
	const char *msg = tui_str(error, "message");
	return msg != NULL ? msg : "unknown error";
}

static void
tui_reset_view(struct tui *t)
{
	tui_view_clear(&t->view);
	t->asking = NULL;
	t->scroll = 0;
	t->last_seq = 0;
	t->used = t->size = t->in_tokens = t->out_tokens = 0;
	t->cost = 0;
	free(t->row_entry);
	t->row_entry = NULL;
	t->row_entry_n = 0;
}

static void
tui_status_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	(void)arg;
	if (error != NULL || result == NULL)
		return;
	if (tui_str(result, "model") != NULL && t->model == NULL)
		tui_set(&t->model, tui_str(result, "model"));
	if (tui_str(result, "title") != NULL)
		tui_set(&t->title, tui_str(result, "title"));
	const char *st = tui_str(result, "status");
	int idle = t->state == NULL || strcmp(t->state, "idle") == 0;
	int running = st != NULL && (strcmp(st, "running") == 0 || strcmp(st, "waiting") == 0);
	if (running && idle)
		tui_set_state(t, "thinking");
	else if (!running && !idle && !t->busy && t->asking == NULL)
		tui_set_state(t, "idle");
	tui_dirty(t);
}

static void
tui_loaded_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	char *id = arg;
	t->replaying = 0;
	if (error != NULL) {
		tui_note(t, TE_ERROR, "cannot open session %s: %s", id, tui_error_text(error));
		free(id);
		return;
	}
	tui_config_options(t, json_object_get(result, "configOptions"));
	free(id);
	tui_request(t, "_hearth/status", json_pack("{s:s}", "sessionId", t->session_id),
		    tui_status_cb, NULL);
	tui_dirty(t);
}

static void
tui_load_session(struct tui *t, const char *id)
{
	tui_reset_view(t);
	tui_set(&t->session_id, id);
	tui_set(&t->model, NULL);
	t->replaying = 1;
	t->busy = 0;
	tui_set_state(t, "idle");
	tui_request(t, "session/load",
		    json_pack("{s:s,s:s,s:[]}", "sessionId", id, "cwd", t->cwd, "mcpServers"),
		    tui_loaded_cb, tui_strdup(id));
}

static void
tui_created_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	(void)arg;
	if (error != NULL || tui_str(result, "sessionId") == NULL) {
		tui_note(t, TE_ERROR, "cannot create a session: %s", tui_error_text(error));
		return;
	}
	tui_reset_view(t);
	tui_set(&t->session_id, tui_str(result, "sessionId"));
	tui_set(&t->model, NULL);
	tui_config_options(t, json_object_get(result, "configOptions"));
	t->busy = 0;
	tui_set_state(t, "idle");
	tui_note(t, TE_NOTE, "new session %s in %s  (/help for keys and commands)",
		 t->session_id, t->cwd);
}

static void
tui_new_session(struct tui *t)
{
	tui_request(t, "session/new", json_pack("{s:s,s:[]}", "cwd", t->cwd, "mcpServers"),
		    tui_created_cb, NULL);
}

static void
tui_latest_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	char *want = arg;
	const json_t *list = json_object_get(result, "sessions");
	const char *found = NULL;
	size_t matches = 0, i;
	json_t *s;
	if (error == NULL) {
		json_array_foreach(list, i, s) {
			const char *sid = tui_str(s, "sessionId"), *cwd = tui_str(s, "cwd");
			if (sid == NULL)
				continue;
			if (want != NULL) {
				if (strncmp(sid, want, strlen(want)) == 0) {
					if (found == NULL || strcmp(found, sid) != 0)
						matches++;
					found = sid;
				}
			} else if (found == NULL && cwd != NULL && strcmp(cwd, t->cwd) == 0) {
				found = sid;
			}
		}
	}
	if (want != NULL && matches != 1) {
		tui_note(t, TE_ERROR, matches == 0 ? "no session has an id starting with %s" :
			 "%s is the start of more than one session id: give more of it", want);
		free(want);
		return;
	}
	free(want);
	if (found != NULL)
		tui_load_session(t, found);
	else
		tui_new_session(t);
}

static void
tui_initialized_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	(void)result;
	char *mode = arg; /* "new", "latest", or an id prefix */
	if (error != NULL) {
		tui_note(t, TE_ERROR, "the daemon refused initialize: %s", tui_error_text(error));
		free(mode);
		return;
	}
	if (strcmp(mode, "new") == 0) {
		tui_new_session(t);
		free(mode);
	} else {
		tui_request(t, "_hearth/sessions", json_pack("{}"), tui_latest_cb,
			    strcmp(mode, "latest") == 0 ? NULL : tui_strdup(mode));
		free(mode);
	}
}

/* ------------------------------------------------------------- history -- */

static char *
tui_history_path(struct tui *t)
{
	const char *dir = HEARTH_HOST_HAS(t->host, state_dir) ? t->host->state_dir(t->host) : NULL;
	if (dir == NULL)
		return NULL;
	size_t n = strlen(dir) + 32;
	char *p = malloc(n);
	if (p == NULL)
		abort();
	snprintf(p, n, "%s/tui-history.jsonl", dir);
	return p;
}

static void
tui_history_push(struct tui *t, const char *text)
{
	if (t->n_history > 0 && strcmp(t->history[t->n_history - 1], text) == 0)
		return;
	if (t->n_history == TUI_HISTORY_MAX) {
		free(t->history[0]);
		memmove(t->history, t->history + 1, (t->n_history - 1) * sizeof *t->history);
		t->n_history--;
	}
	char **h = realloc(t->history, (t->n_history + 1) * sizeof *h);
	if (h == NULL)
		abort();
	t->history = h;
	t->history[t->n_history++] = tui_strdup(text);
}

/* This project's prompts from the history file (one JSON object a line). */
static void
tui_history_load(struct tui *t)
{
	char *path = tui_history_path(t);
	FILE *f = path != NULL ? fopen(path, "r") : NULL;
	free(path);
	if (f == NULL)
		return;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);
		if (tui_str(o, "cwd") != NULL && strcmp(tui_str(o, "cwd"), t->cwd) == 0 &&
		    tui_str(o, "text") != NULL)
			tui_history_push(t, tui_str(o, "text"));
		json_decref(o);
	}
	free(line);
	fclose(f);
	t->hist_pos = t->n_history;
}

static void
tui_history_add(struct tui *t, const char *text)
{
	tui_history_push(t, text);
	t->hist_pos = t->n_history;
	char *path = tui_history_path(t);
	if (path == NULL)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0)
		return;
	json_t *o = json_pack("{s:s,s:s}", "cwd", t->cwd, "text", text);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s != NULL) {
		tui_cat(&s, "\n");
		/* one write, so two TUIs appending never interleave a line */
		if (write(fd, s, strlen(s)) < 0)
			t->host->log(t->host, HEARTH_LOG_WARN, "cannot save the prompt history: %s",
				     strerror(errno));
	}
	free(s);
	close(fd);
}

static void
tui_history_move(struct tui *t, int dir)
{
	if (t->n_history == 0)
		return;
	if (t->hist_pos == t->n_history) {
		if (dir > 0)
			return;
		tui_set(&t->hist_saved, t->edit.buf != NULL ? t->edit.buf : "");
	}
	if (dir < 0 && t->hist_pos > 0)
		t->hist_pos--;
	else if (dir > 0 && t->hist_pos < t->n_history)
		t->hist_pos++;
	tui_edit_set(&t->edit, t->hist_pos < t->n_history ? t->history[t->hist_pos]
			       : t->hist_saved != NULL ? t->hist_saved : "");
}

/* -------------------------------------------------------------- prompts -- */

static void
tui_prompt_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	(void)arg;
	t->busy = 0;
	if (error != NULL) {
		tui_note(t, TE_ERROR, "%s", tui_error_text(error));
	} else {
		const char *stop = tui_str(result, "stopReason");
		if (stop != NULL && strcmp(stop, "end_turn") != 0)
			tui_note(t, TE_NOTE, "turn ended: %s", stop);
	}
	tui_set_state(t, "idle");
}

/* @path words become resource links the model can read. */
static json_t *
tui_prompt_blocks(struct tui *t, const char *text)
{
	json_t *blocks = json_array();
	json_array_append_new(blocks, json_pack("{s:s,s:s}", "type", "text", "text", text));
	for (const char *p = text; (p = strchr(p, '@')) != NULL; p++) {
		if (p != text && p[-1] != ' ' && p[-1] != '\n')
			continue;
		const char *e = p + 1;
		while (*e != '\0' && *e != ' ' && *e != '\n')
			e++;
		if (e == p + 1)
			continue;
		char rel[4096];
		snprintf(rel, sizeof rel, "%.*s", (int)(e - p - 1), p + 1);
		char abs[8192];
		snprintf(abs, sizeof abs, "%s/%s", t->cwd, rel);
		struct stat st;
		if (rel[0] == '/' ? stat(rel, &st) != 0 : stat(abs, &st) != 0)
			continue;
		char uri[8300];
		snprintf(uri, sizeof uri, "file://%s", rel[0] == '/' ? rel : abs);
		json_array_append_new(blocks, json_pack("{s:s,s:s,s:s}", "type", "resource_link",
							"uri", uri, "name", rel));
	}
	return blocks;
}

static void
tui_send_prompt(struct tui *t, const char *text)
{
	if (t->session_id == NULL) {
		tui_note(t, TE_ERROR, "no session is open yet");
		return;
	}
	if (t->busy || (t->state != NULL && strcmp(t->state, "idle") != 0)) {
		tui_note(t, TE_NOTE, "a turn is running: your prompt stays in the editor (Esc cancels the turn)");
		return;
	}
	tui_history_add(t, text);
	/* the daemon does not echo a prompt to the client that sent it */
	tui_view_add(&t->view, TE_USER, text);
	t->busy = 1;
	t->scroll = 0;
	tui_set_state(t, "thinking");
	tui_request(t, "session/prompt",
		    json_pack("{s:s,s:o}", "sessionId", t->session_id, "prompt",
			      tui_prompt_blocks(t, text)), tui_prompt_cb, NULL);
	tui_edit_set(&t->edit, "");
}

static void
tui_cancel_turn(struct tui *t)
{
	if (t->session_id == NULL)
		return;
	if (t->asking != NULL)
		tui_answer(t, NULL, "cancelled");
	tui_notify(t, "session/cancel", json_pack("{s:s}", "sessionId", t->session_id));
}

/* ------------------------------------------------------------- pickers -- */

static void
tui_picks_clear(struct tui *t)
{
	for (size_t i = 0; i < t->n_picks; i++) {
		free(t->picks[i].label);
		free(t->picks[i].value);
	}
	free(t->picks);
	t->picks = NULL;
	t->n_picks = t->pick_sel = 0;
	t->filter[0] = '\0';
	t->picker = TP_NONE;
}

static void
tui_pick_add(struct tui *t, const char *label, const char *value, int section)
{
	struct tui_pick *p = realloc(t->picks, (t->n_picks + 1) * sizeof *p);
	if (p == NULL)
		abort();
	t->picks = p;
	p[t->n_picks].label = tui_sanitize(label, strlen(label), 0);
	p[t->n_picks].value = tui_strdup(value);
	p[t->n_picks].section = section;
	t->n_picks++;
}

static void
tui_models_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	(void)arg;
	if (error != NULL) {
		tui_note(t, TE_ERROR, "cannot list models: %s", tui_error_text(error));
		return;
	}
	tui_picks_clear(t);
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(result, "models"), i, m) {
		const char *id = tui_str(m, "id");
		if (id == NULL)
			continue;
		char label[1024];
		long long cw = json_integer_value(json_object_get(m, "contextWindow"));
		char ctx[32] = "";
		if (cw > 0)
			snprintf(ctx, sizeof ctx, "  %lldk", cw / 1000);
		snprintf(label, sizeof label, "%s%s%s%s%s", id, tui_str(m, "name") ? "  " : "",
			 tui_str(m, "name") ? tui_str(m, "name") : "", ctx,
			 t->model != NULL && strcmp(t->model, id) == 0 ? "  (current)" : "");
		if (t->model != NULL && strcmp(t->model, id) == 0)
			t->pick_sel = t->n_picks;
		tui_pick_add(t, label, id, 0);
	}
	json_array_foreach(json_object_get(result, "errors"), i, m)
		tui_note(t, TE_ERROR, "%s: %s", tui_str(m, "provider") ? tui_str(m, "provider") : "?",
			 tui_str(m, "message") ? tui_str(m, "message") : "");
	if (t->n_picks == 0) {
		tui_note(t, TE_ERROR, "no provider offers a model");
		return;
	}
	t->picker = TP_MODEL;
	tui_dirty(t);
}

static void
tui_sessions_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	(void)arg;
	if (error != NULL) {
		tui_note(t, TE_ERROR, "cannot list sessions: %s", tui_error_text(error));
		return;
	}
	tui_picks_clear(t);
	/* this project first, then the rest; each newest first as the daemon lists them */
	for (int pass = 0; pass < 2; pass++) {
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(result, "sessions"), i, s) {
			const char *sid = tui_str(s, "sessionId"), *cwd = tui_str(s, "cwd");
			if (sid == NULL)
				continue;
			int here = cwd != NULL && strcmp(cwd, t->cwd) == 0;
			if (here != (pass == 0))
				continue;
			const char *title = tui_str(s, "title");
			char label[2048];
			snprintf(label, sizeof label, "%-24.24s %-11s %5lld msgs  %s  %s%s%s",
				 title != NULL && title[0] ? title : "(untitled)",
				 tui_str(s, "status") ? tui_str(s, "status") : "",
				 json_integer_value(json_object_get(s, "messages")),
				 tui_str(s, "model") ? tui_str(s, "model") : "", sid, here ? "" : "  ",
				 here ? "" : (cwd != NULL ? cwd : ""));
			if (t->session_id != NULL && strcmp(sid, t->session_id) == 0)
				t->pick_sel = t->n_picks;
			tui_pick_add(t, label, sid, !here);
		}
	}
	if (t->n_picks == 0) {
		tui_note(t, TE_NOTE, "no sessions yet");
		return;
	}
	t->picker = TP_SESSION;
	tui_dirty(t);
}

static void
tui_set_model_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	char *model = arg;
	if (error != NULL) {
		tui_note(t, TE_ERROR, "cannot switch to %s: %s", model, tui_error_text(error));
	} else {
		tui_config_options(t, json_object_get(result, "configOptions"));
		tui_note(t, TE_NOTE, "model: %s", model);
	}
	free(model);
}

static int
tui_pick_visible(struct tui *t, size_t i)
{
	const char *f = t->filter;
	if (f[0] == '\0')
		return 1;
	const char *label = t->picks[i].label;
	size_t fl = strlen(f);
	for (const char *p = label; *p != '\0'; p++) {
		size_t k = 0;
		while (k < fl && p[k] != '\0' && (p[k] | 0x20) == (f[k] | 0x20))
			k++;
		if (k == fl)
			return 1;
	}
	return 0;
}

static void
tui_pick_move(struct tui *t, int dir)
{
	size_t i = t->pick_sel;
	for (;;) {
		if (dir < 0 && i == 0)
			return;
		if (dir > 0 && i + 1 >= t->n_picks)
			return;
		i += (size_t)dir;
		if (tui_pick_visible(t, i)) {
			t->pick_sel = i;
			return;
		}
	}
}

static void
tui_pick_choose(struct tui *t)
{
	if (t->n_picks == 0 || !tui_pick_visible(t, t->pick_sel)) {
		/* the selection is filtered out: take the first that shows */
		size_t i = 0;
		while (i < t->n_picks && !tui_pick_visible(t, i))
			i++;
		if (i == t->n_picks)
			return;
		t->pick_sel = i;
	}
	char *value = tui_strdup(t->picks[t->pick_sel].value);
	enum tui_picker kind = t->picker;
	tui_picks_clear(t);
	if (kind == TP_MODEL) {
		tui_request(t, "session/set_config_option",
			    json_pack("{s:s,s:s,s:s}", "sessionId", t->session_id, "configId", "model",
				      "value", value), tui_set_model_cb, tui_strdup(value));
	} else if (kind == TP_SESSION) {
		if (t->session_id == NULL || strcmp(value, t->session_id) != 0)
			tui_load_session(t, value);
	}
	free(value);
	tui_dirty(t);
}

static void
tui_picker_key(struct tui *t, const struct tui_key *k)
{
	size_t fl = strlen(t->filter);
	switch (k->type) {
	case TK_ESC: tui_picks_clear(t); break;
	case TK_UP: tui_pick_move(t, -1); break;
	case TK_DOWN: tui_pick_move(t, 1); break;
	case TK_PGUP: for (int i = 0; i < 10; i++) tui_pick_move(t, -1); break;
	case TK_PGDN: for (int i = 0; i < 10; i++) tui_pick_move(t, 1); break;
	case TK_ENTER: tui_pick_choose(t); break;
	case TK_BACKSPACE:
		while (fl > 0 && ((unsigned char)t->filter[fl - 1] & 0xC0) == 0x80)
			fl--;
		if (fl > 0)
			t->filter[fl - 1] = '\0';
		break;
	case TK_CTRL:
		if (k->cp == 'c' || k->cp == 'g')
			tui_picks_clear(t);
		break;
	case TK_CHAR:
		if (k->cp >= 0x20 && k->cp < 0x7F && fl + 2 < sizeof t->filter) {
			t->filter[fl] = (char)k->cp;
			t->filter[fl + 1] = '\0';
			if (!tui_pick_visible(t, t->pick_sel))
				tui_pick_move(t, 1);
		}
		break;
	default: break;
	}
	tui_dirty(t);
}

/* ------------------------------------------------------------ commands -- */

static void tui_quit(struct tui *t);

static void
tui_rename_cb(struct tui *t, const json_t *result, const json_t *error, void *arg)
{
	(void)result;
	char *title = arg;
	if (error != NULL)
		tui_note(t, TE_ERROR, "cannot rename: %s", tui_error_text(error));
	else
		tui_note(t, TE_NOTE, "renamed to “%s”", title);
	free(title);
}

static const char tui_help[] =
	"keys: Enter send · Alt+Enter or Ctrl+J new line · Esc cancel the turn · ↑↓ history\n"
	"      PgUp/PgDn or the wheel scroll · Ctrl+O open every tool block · click a block to fold it\n"
	"      Ctrl+G edit in $EDITOR · Ctrl+L redraw · Ctrl+D quit · @path attaches a file\n"
	"      permission: y allow once · a always allow · n reject · r always reject\n"
	"commands: /model /sessions /new /rename TITLE /cancel /help /quit";

static void
tui_command(struct tui *t, const char *line)
{
	char name[64];
	size_t n = strcspn(line + 1, " \n");
	snprintf(name, sizeof name, "%.*s", (int)(n < 60 ? n : 60), line + 1);
	const char *rest = line + 1 + n;
	while (*rest == ' ')
		rest++;
	if (strcmp(name, "help") == 0) {
		tui_note(t, TE_NOTE, "%s", tui_help);
	} else if (strcmp(name, "quit") == 0 || strcmp(name, "exit") == 0) {
		tui_quit(t);
		return;
	} else if (strcmp(name, "new") == 0) {
		tui_new_session(t);
	} else if (strcmp(name, "cancel") == 0) {
		tui_cancel_turn(t);
	} else if (strcmp(name, "model") == 0 || strcmp(name, "models") == 0) {
		if (rest[0] != '\0' && t->session_id != NULL)
			tui_request(t, "session/set_config_option",
				    json_pack("{s:s,s:s,s:s}", "sessionId", t->session_id, "configId",
					      "model", "value", rest), tui_set_model_cb, tui_strdup(rest));
		else
			tui_request(t, "_hearth/models", json_pack("{}"), tui_models_cb, NULL);
	} else if (strcmp(name, "sessions") == 0) {
		tui_request(t, "_hearth/sessions", json_pack("{}"), tui_sessions_cb, NULL);
	} else if (strcmp(name, "rename") == 0) {
		if (rest[0] == '\0')
			tui_note(t, TE_ERROR, "/rename needs a title: /rename TITLE");
		else if (t->session_id != NULL)
			tui_request(t, "_hearth/rename",
				    json_pack("{s:s,s:s}", "sessionId", t->session_id, "title", rest),
				    tui_rename_cb, tui_strdup(rest));
	} else {
		char *safe = tui_sanitize(name, strlen(name), 0);
		tui_note(t, TE_ERROR, "unknown command /%s (/help lists them)", safe);
		free(safe);
	}
	tui_edit_set(&t->edit, "");
}

/* Ctrl+G: the prompt in $VISUAL or $EDITOR. The loop waits while it runs. */
static void
tui_external_editor(struct tui *t)
{
	const char *ed = getenv("VISUAL");
	if (ed == NULL || ed[0] == '\0')
		ed = getenv("EDITOR");
	if (ed == NULL || ed[0] == '\0')
		ed = "vi";
	char path[] = "/tmp/hearth-prompt-XXXXXX.md";
	int fd = mkstemps(path, 3);
	if (fd < 0) {
		tui_note(t, TE_ERROR, "cannot make a file for the editor: %s", strerror(errno));
		return;
	}
	const char *text = t->edit.buf != NULL ? t->edit.buf : "";
	if (write(fd, text, strlen(text)) < 0)
		tui_note(t, TE_ERROR, "cannot write %s: %s", path, strerror(errno));
	close(fd);
	tui_term_suspend(t);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exec $0 \"$1\"", ed, path, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	tui_term_resume(t);
	FILE *f = fopen(path, "r");
	if (f != NULL && pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		char *buf = NULL;
		size_t cap = 0;
		ssize_t got = getdelim(&buf, &cap, '\0', f);
		if (got >= 0) {
			while (got > 0 && buf[got - 1] == '\n')
				got--;
			buf[got] = '\0';
			tui_edit_set(&t->edit, buf);
		}
		free(buf);
	} else {
		tui_note(t, TE_NOTE, "the editor failed: the prompt is unchanged");
	}
	if (f != NULL)
		fclose(f);
	unlink(path);
	tui_dirty(t);
}

/* Tab after @prefix: complete a path under the project directory. */
static void
tui_complete_path(struct tui *t)
{
	const char *b = t->edit.buf != NULL ? t->edit.buf : "";
	size_t at = t->edit.cursor, start = at;
	while (start > 0 && b[start - 1] != ' ' && b[start - 1] != '\n' && b[start - 1] != '@')
		start--;
	if (start == 0 || b[start - 1] != '@')
		return;
	char prefix[4096];
	snprintf(prefix, sizeof prefix, "%.*s", (int)(at - start), b + start);
	char dir[4096] = ".", *slash = strrchr(prefix, '/');
	const char *base = prefix;
	if (slash != NULL) {
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - prefix), prefix);
		if (dir[0] == '\0')
			strcpy(dir, "/");
		base = slash + 1;
	}
	char full[8200];
	snprintf(full, sizeof full, "%s/%s", dir[0] == '/' ? "" : t->cwd, dir);
	uv_fs_t req;
	if (uv_fs_scandir(NULL, &req, full, 0, NULL) < 0) {
		uv_fs_req_cleanup(&req);
		return;
	}
	uv_dirent_t ent;
	char common[1024] = "";
	int n = 0, is_dir = 0;
	while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
		if (strncmp(ent.name, base, strlen(base)) != 0 || (ent.name[0] == '.' && base[0] != '.'))
			continue;
		if (n++ == 0) {
			snprintf(common, sizeof common, "%s", ent.name);
			is_dir = ent.type == UV_DIRENT_DIR;
		} else {
			size_t k = 0;
			while (common[k] != '\0' && common[k] == ent.name[k])
				k++;
			common[k] = '\0';
		}
	}
	uv_fs_req_cleanup(&req);
	if (n == 0) {
		tui_note(t, TE_NOTE, "no file matches @%s", prefix);
		return;
	}
	const char *add = common + strlen(base);
	tui_edit_insert(&t->edit, add, strlen(add));
	if (n == 1)
		tui_edit_insert(&t->edit, is_dir ? "/" : " ", 1);
}

/* ----------------------------------------------------------------- keys -- */

static void
tui_toggle_at(struct tui *t, int y)
{
	if (y < 0 || y >= t->row_entry_n || t->row_entry == NULL)
		return;
	struct tui_entry *e = t->row_entry[y];
	if (e == NULL || (e->kind != TE_TOOL && e->kind != TE_THOUGHT))
		return;
	if (e->kind == TE_TOOL)
		e->expanded = e->expanded > 0 ? -1 : e->expanded < 0 ? 0 : 1;
	else
		e->expanded = !e->expanded;
	tui_entry_touch(e);
}

static void
tui_touch_all(struct tui *t)
{
	for (size_t i = 0; i < t->view.n; i++)
		tui_entry_touch(t->view.v[i]);
}

static void
tui_key(struct tui *t, const struct tui_key *k)
{
	if (t->picker != TP_NONE) {
		tui_picker_key(t, k);
		return;
	}
	int page = tui_term_view_rows(t) - 2;
	if (page < 1)
		page = 1;
	switch (k->type) {
	case TK_WHEEL_UP: t->scroll += 3; tui_dirty(t); return;
	case TK_WHEEL_DOWN: t->scroll = t->scroll > 3 ? t->scroll - 3 : 0; tui_dirty(t); return;
	case TK_PGUP: t->scroll += page; tui_dirty(t); return;
	case TK_PGDN: t->scroll = t->scroll > page ? t->scroll - page : 0; tui_dirty(t); return;
	case TK_CLICK: tui_toggle_at(t, k->y); tui_dirty(t); return;
	default: break;
	}
	if (t->asking != NULL) {
		/* a question is up: its keys answer, Esc cancels the turn */
		if (k->type == TK_CHAR) {
			switch (k->cp) {
			case 'y': case '1': tui_answer(t, "allow_once", "Allow once"); break;
			case 'a': case '2': tui_answer(t, "allow_always", "Always allow"); break;
			case 'n': case '3': tui_answer(t, "reject_once", "Reject"); break;
			case 'r': case '4': tui_answer(t, "reject_always", "Always reject"); break;
			default: break;
			}
		} else if (k->type == TK_ESC || (k->type == TK_CTRL && k->cp == 'c')) {
			tui_cancel_turn(t);
		}
		tui_dirty(t);
		return;
	}
	if (k->type != TK_CTRL || k->cp != 'c')
		t->ctrl_c = 0;
	switch (k->type) {
	case TK_CHAR: {
		char buf[8];
		uint32_t cp = k->cp;
		size_t n = 0;
		if (cp < 0x80) buf[n++] = (char)cp;
		else if (cp < 0x800) { buf[n++] = (char)(0xC0 | (cp >> 6)); buf[n++] = (char)(0x80 | (cp & 0x3F)); }
		else if (cp < 0x10000) { buf[n++] = (char)(0xE0 | (cp >> 12)); buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[n++] = (char)(0x80 | (cp & 0x3F)); }
		else { buf[n++] = (char)(0xF0 | (cp >> 18)); buf[n++] = (char)(0x80 | ((cp >> 12) & 0x3F)); buf[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[n++] = (char)(0x80 | (cp & 0x3F)); }
		tui_edit_insert(&t->edit, buf, n);
		break;
	}
	case TK_PASTE: {
		/* terminals paste line ends as CR */
		char *p = malloc(k->len + 1);
		if (p == NULL)
			abort();
		size_t o = 0;
		for (size_t i = 0; i < k->len; i++) {
			if (k->text[i] == '\r') {
				p[o++] = '\n';
				if (i + 1 < k->len && k->text[i + 1] == '\n')
					i++;
			} else {
				p[o++] = k->text[i];
			}
		}
		tui_edit_insert(&t->edit, p, o);
		free(p);
		break;
	}
	case TK_NEWLINE: tui_edit_insert(&t->edit, "\n", 1); break;
	case TK_ENTER: {
		const char *text = t->edit.buf != NULL ? t->edit.buf : "";
		if (text[0] == '/' && strchr(text, '\n') == NULL) {
			char *line = tui_strdup(text);
			tui_history_add(t, line);
			tui_command(t, line);
			free(line);
		} else if (strspn(text, " \n") != strlen(text)) {
			char *p = tui_strdup(text);
			tui_send_prompt(t, p);
			free(p);
		}
		break;
	}
	case TK_BACKSPACE: tui_edit_backspace(&t->edit); break;
	case TK_DELETE: tui_edit_delete(&t->edit); break;
	case TK_LEFT: tui_edit_left(&t->edit); break;
	case TK_RIGHT: tui_edit_right(&t->edit); break;
	case TK_HOME: tui_edit_home(&t->edit); break;
	case TK_END: tui_edit_end(&t->edit); break;
	case TK_UP: if (!tui_edit_up(&t->edit)) tui_history_move(t, -1); break;
	case TK_DOWN: if (!tui_edit_down(&t->edit)) tui_history_move(t, 1); break;
	case TK_TAB: tui_complete_path(t); break;
	case TK_ESC:
		if (t->busy || (t->state != NULL && strcmp(t->state, "idle") != 0))
			tui_cancel_turn(t);
		break;
	case TK_CTRL:
		switch (k->cp) {
		case 'a': tui_edit_home(&t->edit); break;
		case 'e': tui_edit_end(&t->edit); break;
		case 'b': tui_edit_left(&t->edit); break;
		case 'f': tui_edit_right(&t->edit); break;
		case 'k': tui_edit_kill_line(&t->edit); break;
		case 'u': tui_edit_kill_back(&t->edit); break;
		case 'w': tui_edit_kill_word(&t->edit); break;
		case 'o': t->view.expand_all = !t->view.expand_all; tui_touch_all(t); break;
		case 'l': tui_term_redraw_all(t); break;
		case 'g': tui_external_editor(t); break;
		case 'd':
			if (t->edit.len == 0) {
				tui_quit(t);
				return;
			}
			tui_edit_delete(&t->edit);
			break;
		case 'c':
			if (t->edit.len > 0) {
				tui_edit_set(&t->edit, "");
			} else if (t->busy || (t->state != NULL && strcmp(t->state, "idle") != 0)) {
				tui_cancel_turn(t);
			} else if (t->ctrl_c) {
				tui_quit(t);
				return;
			} else {
				t->ctrl_c = 1;
				tui_note(t, TE_NOTE, "Ctrl+C again (or Ctrl+D, /quit) quits");
			}
			break;
		default: break;
		}
		break;
	default: break;
	}
	tui_dirty(t);
}

/* -------------------------------------------------------------- stdin -- */

static void
tui_input_cb(uv_poll_t *h, int status, int events)
{
	struct tui *t = h->data;
	(void)events;
	if (status < 0)
		return;
	char buf[TUI_READ_MAX];
	ssize_t n;
	int got = 0;
	while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0) {
		tui_keys_feed(&t->keys, buf, (size_t)n);
		got = 1;
		if ((size_t)n < sizeof buf)
			break;
	}
	if (n == 0 && !got) {
		tui_quit(t); /* the terminal went away */
		return;
	}
	struct tui_key k;
	while (!t->stopping && tui_keys_next(&t->keys, &k, 1))
		tui_key(t, &k);
	/* a key is echoed at once, not at the next coalesced frame */
	if (!t->stopping && t->draw_timer != NULL) {
		t->host->timer_stop(t->draw_timer);
		t->draw_timer = NULL;
		tui_term_draw(t);
	}
}

static void
tui_winch_cb(uv_signal_t *h, int sig)
{
	(void)sig;
	struct tui *t = h->data;
	tui_term_resize(t);
	tui_touch_all(t);
	tui_term_draw(t);
}

static void
tui_close_cb(uv_handle_t *h)
{
	free(h);
}

static void
tui_on_close_cb(void *arg, const char *reason)
{
	struct tui *t = arg;
	t->conn = NULL;
	t->conn_state = "disconnected";
	tui_note(t, TE_ERROR, "the daemon closed the connection: %s", reason ? reason : "");
}

static void
tui_release(struct tui *t)
{
	if (t->draw_timer != NULL)
		t->host->timer_stop(t->draw_timer);
	if (t->spin_timer != NULL)
		t->host->timer_stop(t->spin_timer);
	t->draw_timer = t->spin_timer = NULL;
	if (t->in != NULL) {
		uv_poll_stop(t->in);
		uv_close((uv_handle_t *)t->in, tui_close_cb);
		t->in = NULL;
	}
	if (t->winch != NULL) {
		uv_signal_stop(t->winch);
		uv_close((uv_handle_t *)t->winch, tui_close_cb);
		t->winch = NULL;
	}
	if (t->conn != NULL) {
		t->host->conn_close(t->conn);
		t->conn = NULL;
	}
	while (t->calls != NULL) {
		struct tui_call *c = t->calls;
		t->calls = c->next;
		free(c->arg);
		free(c);
	}
	tui_term_stop(t);
}

/* /quit, Ctrl+D: the terminal back, then the process that carries the TUI ends. */
static void
tui_quit(struct tui *t)
{
	if (t->stopping)
		return;
	t->stopping = 1;
	tui_release(t);
	kill(getpid(), SIGTERM);
}

/* -------------------------------------------------------------- module -- */

static int
tui_init(const struct hearth_host *host, const json_t *config, void **state)
{
	(void)config;
	struct tui *t = calloc(1, sizeof *t);
	if (t == NULL)
		return HEARTH_ENOMEM;
	t->host = host;
	t->conn_state = "connecting";
	const char *cwd = host->config_string(host, "cwd", NULL);
	char buf[4096];
	if (cwd == NULL)
		cwd = getenv("HEARTH_TUI_CWD");
	if (cwd == NULL)
		cwd = getcwd(buf, sizeof buf);
	t->cwd = tui_strdup(cwd != NULL ? cwd : "/");
	const char *ff = getenv("HEARTH_TUI_FRAME_FILE");
	if (ff != NULL)
		t->frame_file = tui_strdup(ff);
	*state = t;
	return 0;
}

static int
tui_start(void *state)
{
	struct tui *t = state;
	const struct hearth_host *h = t->host;
	if (!HEARTH_HOST_HAS(h, uv_loop) || h->uv_loop(h) == NULL) {
		h->log(h, HEARTH_LOG_ERROR, "the host has no event loop to give the TUI");
		return HEARTH_ENOTSUP;
	}
	t->loop = h->uv_loop(h);
	int rc = tui_term_start(t);
	if (rc < 0)
		return rc;
	int fl = fcntl(STDIN_FILENO, F_GETFL);
	if (fl >= 0)
		fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
	t->in = calloc(1, sizeof *t->in);
	t->winch = calloc(1, sizeof *t->winch);
	if (t->in == NULL || t->winch == NULL)
		abort();
	uv_poll_init(t->loop, t->in, STDIN_FILENO);
	t->in->data = t;
	uv_poll_start(t->in, UV_READABLE, tui_input_cb);
	uv_signal_init(t->loop, t->winch);
	t->winch->data = t;
	uv_signal_start(t->winch, tui_winch_cb, SIGWINCH);
	t->conn = h->conn_open(h, tui_on_message_cb, tui_on_close_cb, t);
	if (t->conn == NULL) {
		tui_release(t);
		h->log(h, HEARTH_LOG_ERROR, "cannot open a connection to the core");
		return HEARTH_EIO;
	}
	t->conn_state = "connected";
	tui_history_load(t);
	tui_set_state(t, "idle");
	/* which session: [frontend tui] session = ID-prefix | new, else the latest here */
	const char *which = h->config_string(h, "session", NULL);
	if (which == NULL)
		which = getenv("HEARTH_TUI_SESSION");
	if (which == NULL || which[0] == '\0')
		which = "latest";
	tui_request(t, "initialize",
		    json_pack("{s:i,s:{s:s,s:s},s:{s:{s:b,s:b},s:b}}", "protocolVersion", 1,
			      "clientInfo", "name", "hearth-tui", "version", PACKAGE_VERSION,
			      "clientCapabilities", "fs", "readTextFile", 0, "writeTextFile", 0,
			      "terminal", 0),
		    tui_initialized_cb, tui_strdup(which));
	tui_dirty(t);
	return 0;
}

static void
tui_stop(void *state)
{
	struct tui *t = state;
	t->stopping = 1;
	tui_release(t);
}

static void
tui_fini(void *state)
{
	struct tui *t = state;
	tui_release(t);
	tui_view_clear(&t->view);
	tui_edit_clear(&t->edit);
	tui_keys_clear(&t->keys);
	tui_picks_clear(t);
	for (size_t i = 0; i < t->n_history; i++)
		free(t->history[i]);
	free(t->history);
	free(t->hist_saved);
	free(t->row_entry);
	free(t->session_id);
	free(t->cwd);
	free(t->title);
	free(t->model);
	free(t->state);
	free(t->state_title);
	free(t->state_reason);
	free(t->frame_file);
	free(t);
}

static const struct hearth_frontend tui_vtable = {
	.struct_size = sizeof(struct hearth_frontend),
	.start = tui_start,
	.stop = tui_stop,
};

static const struct hearth_plugin tui_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_FRONTEND, .name = "tui", .version = PACKAGE_VERSION,
	.description = "the terminal interface: a live view of one session",
	.init = tui_init, .fini = tui_fini, .frontend = &tui_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &tui_plugin;
}
