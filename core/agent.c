/* agent.c: the agent loop (see agent.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hearth/provider.h>

#include "agent.h"
#include "log.h"
#include "models.h"
#include "permission.h"
#include "rpc.h"
#include "store.h"
#include "tools.h"
#include "xmalloc.h"

enum turn_part { TURN_PART_NONE, TURN_PART_TEXT, TURN_PART_REASONING };

struct turn_ask {
	struct hearth_conn *conn;
	json_int_t id;
};

struct turn {
	struct session *s;
	struct hearth_conn *conn;       /* who asked; NULL once gone */
	json_t *req_id;                 /* owned */
	struct module *provider;
	char *model_id;                 /* owned */
	int steps;
	int retries;
	int cancelled;
	int ended;

	/* The assistant message being streamed. */
	char *msg_id;                   /* owned */
	enum turn_part part;
	int part_idx;
	char *pending;                  /* text not yet committed */
	size_t pending_len, pending_cap;
	struct hearth_usage usage;
	json_t *calls;                  /* [{id, name, input, subject, done}] of this step */
	struct hearth_provider_call *pcall;
	uv_timer_t flush_timer;
	uv_timer_t retry_timer;
	int open_handles;

	/* Tool calls. */
	size_t next_call;
	struct tools_call *tcall;
	char *tool_msg_id;              /* owned: the tool message of this step */
	struct turn_ask *asks;          /* permission requests out */
	size_t n_asks;
	json_t *asking;                 /* the call asked about, borrowed from calls */
	struct permission_rules *rules; /* owned: the prompt's own rules, or NULL */

	struct turn *next;
};

static uv_loop_t *agent_loop;
static struct registry *agent_registry;
static struct turn *agent_turns;
static int agent_max_steps = AGENT_MAX_STEPS;

void
agent_set_max_steps(int max_steps)
{
	agent_max_steps = max_steps > 0 ? max_steps : AGENT_MAX_STEPS;
}

void
agent_init(uv_loop_t *loop, struct registry *registry)
{
	agent_loop = loop;
	agent_registry = registry;
}

/* ------------------------------------------------------------- models -- */

char *
agent_default_model(void)
{
	struct module *fallback = NULL;
	for (size_t i = 0; agent_registry != NULL && i < agent_registry->n_modules; i++) {
		struct module *m = agent_registry->modules[i];
		if (m->kind != HEARTH_KIND_PROVIDER || !m->inited ||
		    m->desc->provider->default_model == NULL ||
		    m->desc->provider->default_model(m->state) == NULL)
			continue;
		int keyed = m->desc->provider->has_credentials == NULL ||
			    m->desc->provider->has_credentials(m->state);
		if (keyed)
			return xasprintf("%s/%s", m->name, m->desc->provider->default_model(m->state));
		if (fallback == NULL)
			fallback = m;
	}
	return fallback != NULL ?
		xasprintf("%s/%s", fallback->name,
			  fallback->desc->provider->default_model(fallback->state)) : NULL;
}

int
agent_resolve_model(const char *model, struct module **provider, char **model_id, char **error)
{
	char *dflt = NULL;
	if (model == NULL) {
		model = dflt = agent_default_model();
		if (model == NULL) {
			*error = xstrdup("no model: no provider module is loaded that names a "
					 "default model (load one in plugins.conf)");
			return HEARTH_EINVAL;
		}
	}
	const char *slash = strchr(model, '/');
	if (slash == NULL || slash == model || slash[1] == '\0') {
		*error = xasprintf("model '%s' is not of the form provider/model", model);
		free(dflt);
		return HEARTH_EINVAL;
	}
	char *pname = xstrndup(model, (size_t)(slash - model));
	struct module *m = agent_registry != NULL ?
		registry_find(agent_registry, HEARTH_KIND_PROVIDER, pname) : NULL;
	if (m == NULL || !m->inited) {
		*error = xasprintf("model '%s': no provider module '%s' is loaded", model, pname);
		free(pname);
		free(dflt);
		return HEARTH_EINVAL;
	}
	free(pname);
	*provider = m;
	*model_id = xstrdup(slash + 1);
	free(dflt);
	return 0;
}

/* ----------------------------------------------------- turn bookkeeping -- */

static struct store *
agent_store(void)
{
	return session_store();
}

static void
turn_handle_closed_cb(uv_handle_t *h)
{
	struct turn *t = h->data;
	if (--t->open_handles > 0)
		return;
	json_decref(t->req_id);
	json_decref(t->calls);
	permission_rules_free(t->rules);
	free(t->model_id);
	free(t->msg_id);
	free(t->tool_msg_id);
	free(t->pending);
	free(t->asks);
	free(t);
}

static void
turn_unlink(struct turn *t)
{
	for (struct turn **pp = &agent_turns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

/* End the turn: answer the requester, settle the session, free the turn later. */
static void
turn_end(struct turn *t, const char *stop_reason, int rpc_code, const char *error)
{
	if (t->ended)
		return;
	t->ended = 1;
	if (t->conn != NULL) {
		if (stop_reason != NULL)
			conn_reply(t->conn, t->req_id, json_pack("{s:s}", "stopReason", stop_reason));
		else
			conn_reply_error(t->conn, t->req_id, rpc_code, "%s", error);
	}
	if (error != NULL)
		log_warn("session %s: turn failed: %s", t->s->id, error);
	session_set_status(t->s, stop_reason != NULL ? STORE_IDLE : STORE_ERROR);
	t->s->turn = NULL;
	turn_unlink(t);
	uv_timer_stop(&t->flush_timer);
	uv_timer_stop(&t->retry_timer);
	uv_close((uv_handle_t *)&t->flush_timer, turn_handle_closed_cb);
	uv_close((uv_handle_t *)&t->retry_timer, turn_handle_closed_cb);
}

static void
turn_fail(struct turn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
turn_fail(struct turn *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	turn_end(t, NULL, RPC_INTERNAL_ERROR, msg);
	free(msg);
}

/* ------------------------------------------------------------ streaming -- */

static void
turn_emit_chunk(struct turn *t, const char *kind, const char *text, size_t len)
{
	json_t *content = json_pack("{s:s,s:s%}", "type", "text", "text", text, len);
	if (content == NULL)   /* not UTF-8: never from a provider that parsed JSON */
		content = json_pack("{s:s,s:s}", "type", "text", "text", "\xef\xbf\xbd");
	json_t *update = json_pack("{s:s,s:o,s:s}", "sessionUpdate", kind, "content", content,
				   "messageId", t->msg_id);
	session_emit(t->s, update);
	json_decref(update);
}

/* Commit the pending text: the part's text and one chunk update, together. */
static void
turn_flush(struct turn *t)
{
	uv_timer_stop(&t->flush_timer);
	if (t->pending_len == 0 || t->part == TURN_PART_NONE)
		return;
	struct store *st = agent_store();
	session_begin();
	if (store_part_append_text(st, t->msg_id, t->part_idx, t->pending, t->pending_len) != 0)
		log_error("%s", store_errmsg(st));
	turn_emit_chunk(t, t->part == TURN_PART_TEXT ? "agent_message_chunk" :
			"agent_thought_chunk", t->pending, t->pending_len);
	session_commit();
	t->pending_len = 0;
}

static void
turn_flush_cb(uv_timer_t *timer)
{
	turn_flush(timer->data);
}

static void
turn_close_part(struct turn *t, const json_t *meta)
{
	turn_flush(t);
	if (t->part != TURN_PART_NONE && json_is_object(meta) &&
	    store_part_set_meta(agent_store(), t->msg_id, t->part_idx, meta) != 0)
		log_error("%s", store_errmsg(agent_store()));
	t->part = TURN_PART_NONE;
}

static void
turn_delta(struct turn *t, enum turn_part kind, const char *text, size_t len)
{
	if (t->part != kind) {
		turn_close_part(t, NULL);
		json_t *part = json_pack("{s:s,s:s}", "type",
					 kind == TURN_PART_TEXT ? "text" : "reasoning", "text", "");
		int idx = store_part_add(agent_store(), t->msg_id, part);
		json_decref(part);
		if (idx < 0) {
			log_error("%s", store_errmsg(agent_store()));
			return;
		}
		t->part = kind;
		t->part_idx = idx;
	}
	if (t->pending_len + len + 1 > t->pending_cap) {
		t->pending_cap = (t->pending_len + len + 1) * 2;
		t->pending = xrealloc(t->pending, t->pending_cap);
	}
	memcpy(t->pending + t->pending_len, text, len);
	t->pending_len += len;
	t->pending[t->pending_len] = '\0';
	if (t->pending_len >= AGENT_FLUSH_BYTES)
		turn_flush(t);
	else if (!uv_is_active((uv_handle_t *)&t->flush_timer))
		uv_timer_start(&t->flush_timer, turn_flush_cb, AGENT_FLUSH_MS, 0);
}

static void
sink_text(void *arg, const char *text, size_t len)
{
	turn_delta(arg, TURN_PART_TEXT, text, len);
}

static void
sink_reasoning(void *arg, const char *text, size_t len)
{
	turn_delta(arg, TURN_PART_REASONING, text, len);
}

static void
sink_part_end(void *arg, const json_t *meta)
{
	turn_close_part(arg, meta);
}

static void
sink_tool_call(void *arg, const char *id, const char *name, const json_t *input,
	       const json_t *meta)
{
	struct turn *t = arg;
	turn_close_part(t, NULL);
	json_t *part = json_pack("{s:s,s:s,s:s,s:O}", "type", "tool_call", "id", id, "name", name,
				 "input", input);
	if (json_is_object(meta))
		json_object_set(part, "meta", (json_t *)meta);
	json_t *d = tools_describe(name, input, t->s->id, t->s->cwd);
	session_begin();
	if (store_part_add(agent_store(), t->msg_id, part) < 0)
		log_error("%s", store_errmsg(agent_store()));
	json_t *update = json_pack("{s:s,s:s,s:O,s:O,s:s,s:O,s:O}", "sessionUpdate", "tool_call",
				   "toolCallId", id, "title", json_object_get(d, "title"),
				   "kind", json_object_get(d, "kind"), "status", "pending",
				   "locations", json_object_get(d, "locations"), "rawInput", input);
	session_emit(t->s, update);
	session_commit();
	json_decref(update);
	json_array_append_new(t->calls, json_pack("{s:s,s:s,s:O,s:O,s:b}", "id", id, "name", name,
						  "input", input, "subject",
						  json_object_get(d, "subject"), "done", 0));
	json_decref(d);
	json_decref(part);
}

static void
sink_usage(void *arg, const struct hearth_usage *usage)
{
	struct turn *t = arg;
	t->usage = *usage;
}

static void turn_step(struct turn *t);
static void turn_run_next_call(struct turn *t);
static void turn_close_calls(struct turn *t, const char *why);

static const char *
agent_stop_reason(enum hearth_finish finish)
{
	switch (finish) {
	case HEARTH_FINISH_MAX_TOKENS: return "max_tokens";
	case HEARTH_FINISH_REFUSAL: return "refusal";
	case HEARTH_FINISH_CANCELLED: return "cancelled";
	default: return "end_turn";
	}
}

static const char *
agent_errtype_name(uint32_t type)
{
	static const char *const names[] = {
		"error", "authentication failed", "permission denied", "not found",
		"bad request", "request too large", "context too long", "rate limited",
		"overloaded", "server error", "network error", "timed out", "protocol error" };
	return type < sizeof names / sizeof names[0] ? names[type] : "error";
}

/* What the user should do about an error, where it is theirs to fix. */
static const char *
agent_errtype_hint(uint32_t type)
{
	switch (type) {
	case HEARTH_PERR_AUTH: return " (check the provider's API key)";
	case HEARTH_PERR_NOT_FOUND: return " (check the model name: `hearth models`)";
	case HEARTH_PERR_CONTEXT: return " (the conversation is longer than the model's context)";
	default: return "";
	}
}

static void
turn_retry_cb(uv_timer_t *timer)
{
	turn_step(timer->data);
}

static uint64_t
agent_backoff_ms(int attempt, uint64_t retry_after_ms)
{
	if (retry_after_ms > 0)
		return retry_after_ms;
	uint64_t base = (uint64_t)AGENT_RETRY_BASE_MS << (attempt < 16 ? attempt : 16);
	if (base > AGENT_RETRY_MAX_MS)
		base = AGENT_RETRY_MAX_MS;
	/* Full jitter between half and all of the backoff, so clients do not stampede. */
	return base / 2 + (uint64_t)(rand() % (int)(base / 2 + 1));
}

/*
 * The cost of a call in millionths of a dollar, from the provider's
 * `price.<model> = input, output[, cache_read, cache_write]` key (dollars per
 * million tokens); 0 when no price is configured.
 */
static int64_t
agent_cost_micros(const struct turn *t)
{
	char *key = xasprintf("price.%s", t->model_id);
	const char *v = json_string_value(json_object_get(t->provider->conf->section, key));
	free(key);
	if (v == NULL)
		return 0;
	double p[4] = { 0, 0, 0, 0 };
	int n = sscanf(v, "%lf , %lf , %lf , %lf", &p[0], &p[1], &p[2], &p[3]);
	if (n < 2) {
		log_warn("%s: price.%s = '%s' is not 'input, output[, cache read, cache write]' "
			 "in dollars per million tokens", t->provider->who, t->model_id, v);
		return 0;
	}
	if (n < 3)
		p[2] = p[0];
	if (n < 4)
		p[3] = p[0];
	/* tokens x dollars per million tokens = millionths of a dollar. */
	double micros = (double)t->usage.input_tokens * p[0] +
			(double)t->usage.output_tokens * p[1] +
			(double)t->usage.cache_read_tokens * p[2] +
			(double)t->usage.cache_write_tokens * p[3];
	return (int64_t)(micros + 0.5);
}

/* The model's context window from the providers' cached lists, or 0 if unknown. */
static json_int_t
agent_context_window(const struct turn *t)
{
	char *id = xasprintf("%s/%s", t->provider->name, t->model_id);
	json_int_t size = 0;
	size_t i;
	json_t *m;
	json_array_foreach((json_t *)models_cached(), i, m) {
		if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0) {
			size = json_integer_value(json_object_get(m, "contextWindow"));
			break;
		}
	}
	free(id);
	return size;
}

/* Tell the followers how full the context is and what the session has cost. */
static void
turn_emit_usage(struct turn *t)
{
	const struct hearth_usage *u = &t->usage;
	struct store_usage total;
	if (store_session_usage(agent_store(), t->s->id, &total) != 0)
		return;
	json_t *update = json_pack(
		"{s:s,s:I,s:I,s:{s:f,s:s},s:{s:{s:I,s:I,s:I,s:I,s:I}}}",
		"sessionUpdate", "usage_update",
		"used", (json_int_t)(u->input_tokens + u->cache_read_tokens + u->cache_write_tokens +
				     u->output_tokens),
		"size", agent_context_window(t),
		"cost", "amount", (double)total.cost_micros / 1e6, "currency", "USD",
		"_meta", "hearth", "inputTokens", (json_int_t)total.tokens.input_tokens,
		"outputTokens", (json_int_t)total.tokens.output_tokens,
		"reasoningTokens", (json_int_t)total.tokens.reasoning_tokens,
		"cacheReadTokens", (json_int_t)total.tokens.cache_read_tokens,
		"cacheWriteTokens", (json_int_t)total.tokens.cache_write_tokens);
	session_emit(t->s, update);
	json_decref(update);
}

static void
sink_done(void *arg, enum hearth_finish finish, const struct hearth_provider_error *err)
{
	struct turn *t = arg;
	t->pcall = NULL;
	turn_close_part(t, NULL);
	int has_usage = t->usage.input_tokens + t->usage.output_tokens +
			t->usage.cache_read_tokens + t->usage.cache_write_tokens > 0;
	if (store_message_finish(agent_store(), t->msg_id, finish, &t->usage,
				 agent_cost_micros(t)) != 0)
		log_error("%s", store_errmsg(agent_store()));
	if (has_usage)
		turn_emit_usage(t);

	if (finish == HEARTH_FINISH_ERROR) {
		uint32_t type = err != NULL ? err->type : HEARTH_PERR_PROTOCOL;
		const char *msg = err != NULL && err->message != NULL ? err->message : "unknown error";
		/* Calls of a reply cut short never run: their results say so. */
		turn_close_calls(t, "not run: the model's reply failed");
		if (err != NULL && err->retryable && t->retries < AGENT_MAX_RETRIES && !t->cancelled) {
			uint64_t delay = agent_backoff_ms(t->retries, err->retry_after_ms);
			t->retries++;
			log_warn("session %s: %s: %s (HTTP %ld); retry %d of %d in %llu ms", t->s->id,
				 t->provider->name, msg, err->http_status, t->retries,
				 AGENT_MAX_RETRIES, (unsigned long long)delay);
			uv_timer_start(&t->retry_timer, turn_retry_cb, delay, 0);
			return;
		}
		char status[32] = "";
		if (err != NULL && err->http_status > 0)
			snprintf(status, sizeof status, " (HTTP %ld)", err->http_status);
		turn_fail(t, "%s: %s%s: %s%s", t->provider->name, agent_errtype_name(type), status,
			  msg, agent_errtype_hint(type));
		return;
	}
	t->retries = 0;
	if (json_array_size(t->calls) > 0) {
		t->next_call = 0;
		turn_run_next_call(t);
		return;
	}
	turn_end(t, agent_stop_reason(finish), 0, NULL);
}

static const struct hearth_stream_sink agent_sink = {
	.struct_size = sizeof(struct hearth_stream_sink),
	.text = sink_text,
	.reasoning = sink_reasoning,
	.part_end = sink_part_end,
	.tool_call = sink_tool_call,
	.usage = sink_usage,
	.done = sink_done,
};

/* -------------------------------------------------------------- context -- */

/* The contents of cwd/name (at most AGENT_CONTEXT_FILE_MAX bytes), or NULL. */
static char *
agent_read_context_file(const char *cwd, const char *name)
{
	char *path = xasprintf("%s/%s", cwd, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return NULL;
	char *buf = xmalloc(AGENT_CONTEXT_FILE_MAX + 1);
	size_t n = 0;
	ssize_t r;
	while (n < AGENT_CONTEXT_FILE_MAX &&
	       (r = read(fd, buf + n, AGENT_CONTEXT_FILE_MAX - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return buf;
}

static char *
agent_system_prompt(struct session *s)
{
	char *prompt = xasprintf(
		"You are hearth, a coding agent working in the project directory %s. Use the "
		"tools you are given to read and change the project; keep answers short and "
		"exact.", s->cwd);
	/* AGENTS.md is the common name; CLAUDE.md where a project has only that. */
	static const char *const files[] = { "AGENTS.md", "CLAUDE.md" };
	for (size_t i = 0; i < 2; i++) {
		char *text = agent_read_context_file(s->cwd, files[i]);
		if (text == NULL)
			continue;
		char *more = xasprintf("%s\n\nProject instructions from %s:\n%s", prompt, files[i],
				       text);
		free(prompt);
		free(text);
		prompt = more;
		break;
	}
	return prompt;
}

/*
 * Every tool call in the history gets a result: a turn cut short (a crash, a
 * failed reply) can leave calls without one, which no provider accepts.
 */
static void
agent_repair_history(struct session *s)
{
	json_t *history = store_history(agent_store(), s->id);
	json_t *open = json_object();
	size_t i;
	json_t *msg;
	json_array_foreach(history, i, msg) {
		size_t j;
		json_t *part;
		json_array_foreach(json_object_get(msg, "parts"), j, part) {
			const char *type = json_string_value(json_object_get(part, "type"));
			const char *id = json_string_value(json_object_get(part, "id"));
			if (type == NULL || id == NULL)
				continue;
			if (strcmp(type, "tool_call") == 0)
				json_object_set(open, id, json_object_get(part, "name"));
			else if (strcmp(type, "tool_result") == 0)
				json_object_del(open, id);
		}
	}
	if (json_object_size(open) > 0) {
		char *mid = NULL;
		if (store_message_add(agent_store(), s->id, "tool", NULL, &mid) == 0) {
			const char *id;
			json_t *name;
			json_object_foreach(open, id, name) {
				json_t *r = json_pack("{s:s,s:s,s:O,s:s,s:b}", "type", "tool_result",
						      "id", id, "name", name, "content",
						      "interrupted: this call did not run", "is_error", 1);
				store_part_add(agent_store(), mid, r);
				json_decref(r);
			}
			store_message_finish(agent_store(), mid, HEARTH_FINISH_END_TURN, NULL, 0);
		}
		log_info("session %s: closed %zu tool call%s left open by an interrupted turn",
			 s->id, json_object_size(open), json_object_size(open) == 1 ? "" : "s");
		free(mid);
	}
	json_decref(open);
	json_decref(history);
}

/* ---------------------------------------------------------------- steps -- */

/* One request to the model. */
static void
turn_step(struct turn *t)
{
	if (t->cancelled) {
		turn_end(t, "cancelled", 0, NULL);
		return;
	}
	if (t->steps >= agent_max_steps) {
		turn_end(t, "max_turn_requests", 0, NULL);
		return;
	}
	t->steps++;
	json_decref(t->calls);
	t->calls = json_array();
	free(t->tool_msg_id);
	t->tool_msg_id = NULL;
	free(t->msg_id);
	t->msg_id = NULL;
	memset(&t->usage, 0, sizeof t->usage);

	json_t *history = store_history(agent_store(), t->s->id);
	if (history == NULL) {
		turn_fail(t, "%s", store_errmsg(agent_store()));
		return;
	}
	char *system = agent_system_prompt(t->s);
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
	json_t *request = json_pack("{s:s,s:s,s:o,s:o}", "model", t->model_id, "system", system,
				    "messages", history, "tools", defs);
	free(system);

	if (store_message_add(agent_store(), t->s->id, "assistant", t->s->model ? t->s->model :
			      t->model_id, &t->msg_id) != 0) {
		json_decref(request);
		turn_fail(t, "%s", store_errmsg(agent_store()));
		return;
	}
	t->part = TURN_PART_NONE;
	int error = 0;
	t->pcall = t->provider->desc->provider->stream(t->provider->state, request, &agent_sink,
						       t, &error);
	json_decref(request);
	if (t->pcall == NULL) {
		store_message_finish(agent_store(), t->msg_id, HEARTH_FINISH_ERROR, NULL, 0);
		turn_fail(t, "%s: could not start the request: %s", t->provider->name,
			  hearth_strerror(error));
	}
}

/* ------------------------------------------------------------ tool calls -- */

static void
turn_add_result(struct turn *t, json_t *call, const char *text, int is_error)
{
	if (t->tool_msg_id == NULL &&
	    store_message_add(agent_store(), t->s->id, "tool", NULL, &t->tool_msg_id) != 0) {
		log_error("%s", store_errmsg(agent_store()));
		return;
	}
	json_t *r = json_pack("{s:s,s:O,s:O,s:s,s:b}", "type", "tool_result", "id",
			      json_object_get(call, "id"), "name", json_object_get(call, "name"),
			      "content", text, "is_error", is_error);
	if (r == NULL)
		r = json_pack("{s:s,s:O,s:O,s:s,s:b}", "type", "tool_result", "id",
			      json_object_get(call, "id"), "name", json_object_get(call, "name"),
			      "content", "(output was not valid UTF-8)", "is_error", 1);
	if (store_part_add(agent_store(), t->tool_msg_id, r) < 0)
		log_error("%s", store_errmsg(agent_store()));
	json_decref(r);
	json_object_set_new(call, "done", json_true());
}

static void
turn_emit_call_status(struct turn *t, json_t *call, const char *status, json_t *content,
		      const json_t *raw_output)
{
	json_t *u = json_pack("{s:s,s:O,s:s}", "sessionUpdate", "tool_call_update", "toolCallId",
			      json_object_get(call, "id"), "status", status);
	if (content != NULL)
		json_object_set_new(u, "content", content);
	if (raw_output != NULL)
		json_object_set(u, "rawOutput", (json_t *)raw_output);
	session_emit(t->s, u);
	json_decref(u);
}

/* Give every call of this step that has no result one saying why. */
static void
turn_close_calls(struct turn *t, const char *why)
{
	size_t i;
	json_t *call;
	json_array_foreach(t->calls, i, call) {
		if (json_is_true(json_object_get(call, "done")))
			continue;
		session_begin();
		turn_add_result(t, call, why, 1);
		turn_emit_call_status(t, call, "failed", NULL, NULL);
		session_commit();
	}
	if (t->tool_msg_id != NULL)
		store_message_finish(agent_store(), t->tool_msg_id, HEARTH_FINISH_END_TURN, NULL, 0);
}

/* Text for the model from a tool result's content blocks. */
static char *
agent_result_text(const json_t *content)
{
	size_t cap = 256, len = 0, i;
	char *out = xmalloc(cap);
	out[0] = '\0';
	json_t *block;
	json_array_foreach(content, i, block) {
		const char *type = json_string_value(json_object_get(block, "type"));
		const char *text = json_string_value(json_object_get(block, "text"));
		char *piece = NULL;
		if (text != NULL)
			piece = xstrdup(text);
		else if (type != NULL && strcmp(type, "diff") == 0)
			piece = xasprintf("(diff of %s)", json_is_string(json_object_get(block, "path")) ?
					  json_string_value(json_object_get(block, "path")) : "?");
		else
			piece = xasprintf("(%s content)", type != NULL ? type : "unknown");
		size_t plen = strlen(piece);
		if (len + plen + 2 > cap) {
			cap = (len + plen + 2) * 2;
			out = xrealloc(out, cap);
		}
		if (len > 0)
			out[len++] = '\n';
		memcpy(out + len, piece, plen + 1);
		len += plen;
		free(piece);
	}
	return out;
}

/* ACP tool call content: diffs and terminals as they are, blocks wrapped. */
static json_t *
agent_acp_content(const json_t *content)
{
	json_t *out = json_array();
	size_t i;
	json_t *block;
	json_array_foreach(content, i, block) {
		const char *type = json_string_value(json_object_get(block, "type"));
		if (type != NULL && (strcmp(type, "diff") == 0 || strcmp(type, "terminal") == 0))
			json_array_append(out, block);
		else
			json_array_append_new(out, json_pack("{s:s,s:O}", "type", "content",
							     "content", block));
	}
	return out;
}

/*
 * The streamed text of an update ({"content": [{"type": "content", "content":
 * {"type": "text", "text"}}...]}) joined, or NULL when the update is not only text.
 * malloc'd.
 */
static char *
agent_update_text(const json_t *content)
{
	if (!json_is_array(content) || json_array_size(content) == 0)
		return NULL;
	size_t i;
	json_t *item;
	char *out = xstrdup("");
	json_array_foreach(content, i, item) {
		const json_t *block = json_object_get(item, "content");
		const char *type = json_string_value(json_object_get(item, "type"));
		const char *text = json_string_value(json_object_get(block, "text"));
		if (type == NULL || strcmp(type, "content") != 0 || text == NULL) {
			free(out);
			return NULL;
		}
		char *more = xasprintf("%s%s", out, text);
		free(out);
		out = more;
	}
	return out;
}

/*
 * Progress of a running call. ACP's tool_call_update replaces the call's content,
 * so streamed text (a tool sending only what is new) is kept per call, its last
 * AGENT_PROGRESS_TAIL bytes, and each update shows that tail: an editor sees the
 * output scroll, not only the latest piece. Other updates pass through as they are.
 */
static void
turn_tool_update(void *arg, const json_t *update)
{
	struct turn *t = arg;
	json_t *call = json_array_get(t->calls, t->next_call);
	json_t *u = json_deep_copy(update);
	json_object_del(u, "status");
	json_object_set_new(u, "sessionUpdate", json_string("tool_call_update"));
	json_object_set(u, "toolCallId", json_object_get(call, "id"));
	char *text = agent_update_text(json_object_get(update, "content"));
	if (text != NULL) {
		const char *before = json_string_value(json_object_get(call, "progress"));
		char *all = xasprintf("%s%s", before != NULL ? before : "", text);
		size_t len = strlen(all), cut = 0;
		if (len > AGENT_PROGRESS_TAIL) {
			cut = len - AGENT_PROGRESS_TAIL;
			/* Never start inside a UTF-8 character. */
			while (cut < len && ((unsigned char)all[cut] & 0xc0) == 0x80)
				cut++;
		}
		json_object_set_new(call, "progress", json_string(all + cut));
		json_object_set_new(u, "content", json_pack("[{s:s,s:{s:s,s:s}}]", "type", "content",
							    "content", "type", "text", "text",
							    all + cut));
		free(all);
		free(text);
	}
	session_emit(t->s, u);
	json_decref(u);
}

static void
turn_tool_done(void *arg, json_t *result)
{
	struct turn *t = arg;
	t->tcall = NULL;
	json_t *call = json_array_get(t->calls, t->next_call);
	int is_error = json_is_true(json_object_get(result, "isError"));
	const json_t *content = json_object_get(result, "content");
	char *text = agent_result_text(content);
	session_begin();
	turn_add_result(t, call, text, is_error);
	turn_emit_call_status(t, call, is_error ? "failed" : "completed",
			      agent_acp_content(content), json_object_get(result, "rawOutput"));
	session_commit();
	free(text);
	json_decref(result);
	t->next_call++;
	turn_run_next_call(t);
}

static void
turn_run_call(struct turn *t, json_t *call)
{
	turn_emit_call_status(t, call, "in_progress", NULL, NULL);
	t->tcall = tools_start(json_string_value(json_object_get(call, "name")),
			       json_string_value(json_object_get(call, "id")),
			       json_object_get(call, "input"), t->s->id, t->s->cwd,
			       turn_tool_update, turn_tool_done, t);
}

static void
turn_refuse_call(struct turn *t, json_t *call, const char *why)
{
	session_begin();
	turn_add_result(t, call, why, 1);
	/* The reason goes to the clients too, not only to the model. */
	turn_emit_call_status(t, call, "failed", json_pack("[{s:s,s:{s:s,s:s}}]", "type", "content",
							   "content", "type", "text", "text", why),
			      NULL);
	session_commit();
	t->next_call++;
	turn_run_next_call(t);
}

static void
turn_withdraw_asks(struct turn *t, struct hearth_conn *except)
{
	for (size_t i = 0; i < t->n_asks; i++)
		if (t->asks[i].conn != except && t->asks[i].conn != NULL)
			conn_withdraw(t->asks[i].conn, t->asks[i].id);
	free(t->asks);
	t->asks = NULL;
	t->n_asks = 0;
	t->asking = NULL;
	if (t->s->status == STORE_WAITING)
		session_set_status(t->s, STORE_RUNNING);
}

static void
turn_permission_cb(void *arg, struct hearth_conn *c, const json_t *result, const json_t *error)
{
	struct turn *t = arg;
	json_t *call = t->asking;
	if (call == NULL)
		return;
	if (result == NULL && error == NULL) {
		/* That client went away or the request was withdrawn: wait for the others. */
		for (size_t i = 0; i < t->n_asks; i++)
			if (t->asks[i].conn == c)
				t->asks[i].conn = NULL;
		for (size_t i = 0; i < t->n_asks; i++)
			if (t->asks[i].conn != NULL)
				return;
		turn_withdraw_asks(t, NULL);
		turn_refuse_call(t, call, "permission was not given: no client answered");
		return;
	}
	const json_t *outcome = json_object_get(result, "outcome");
	const char *kind = json_string_value(json_object_get(outcome, "outcome"));
	const char *option = json_string_value(json_object_get(outcome, "optionId"));
	turn_withdraw_asks(t, c);
	if (t->cancelled)
		return;
	if (error != NULL || kind == NULL || strcmp(kind, "selected") != 0 || option == NULL) {
		turn_refuse_call(t, call, "the user refused permission for this call");
		return;
	}
	const char *tool = json_string_value(json_object_get(call, "name"));
	const char *subject = json_string_value(json_object_get(call, "subject"));
	if (strcmp(option, "allow_always") == 0 || strcmp(option, "reject_always") == 0)
		store_permission_put(agent_store(), t->s->cwd, tool, subject,
				     option[0] == 'a' ? "allow" : "deny");
	if (strncmp(option, "allow", 5) == 0)
		turn_run_call(t, call);
	else
		turn_refuse_call(t, call, "the user refused permission for this call");
}

/* Ask every follower; the first answer wins. */
static void
turn_ask(struct turn *t, json_t *call)
{
	json_t *d = tools_describe(json_string_value(json_object_get(call, "name")),
				   json_object_get(call, "input"), t->s->id, t->s->cwd);
	size_t n = 0;
	for (struct session_follower *f = t->s->followers; f != NULL; f = f->next)
		n++;
	if (n == 0) {
		json_decref(d);
		turn_refuse_call(t, call, "permission needed, but no client is attached to ask");
		return;
	}
	t->asks = xcalloc(n, sizeof *t->asks);
	t->asking = call;
	session_set_status(t->s, STORE_WAITING);
	for (struct session_follower *f = t->s->followers; f != NULL; f = f->next) {
		json_t *params = json_pack(
			"{s:s,s:{s:O,s:O,s:O,s:O,s:s,s:O},s:[{s:s,s:s,s:s},{s:s,s:s,s:s},"
			"{s:s,s:s,s:s},{s:s,s:s,s:s}]}",
			"sessionId", t->s->id,
			"toolCall", "toolCallId", json_object_get(call, "id"), "title",
			json_object_get(d, "title"), "kind", json_object_get(d, "kind"),
			"locations", json_object_get(d, "locations"), "status", "pending",
			"rawInput", json_object_get(call, "input"),
			"options",
			"optionId", "allow_once", "name", "Allow once", "kind", "allow_once",
			"optionId", "allow_always", "name", "Always allow", "kind", "allow_always",
			"optionId", "reject_once", "name", "Reject", "kind", "reject_once",
			"optionId", "reject_always", "name", "Always reject", "kind", "reject_always");
		t->asks[t->n_asks].conn = f->conn;
		t->asks[t->n_asks].id = conn_request(f->conn, "session/request_permission", params,
						     turn_permission_cb, t);
		t->n_asks++;
	}
	json_decref(d);
}

static void
turn_run_next_call(struct turn *t)
{
	if (t->cancelled) {
		turn_close_calls(t, "cancelled: not run");
		turn_end(t, "cancelled", 0, NULL);
		return;
	}
	json_t *call = json_array_get(t->calls, t->next_call);
	if (call == NULL) {
		if (t->tool_msg_id != NULL)
			store_message_finish(agent_store(), t->tool_msg_id, HEARTH_FINISH_END_TURN,
					     NULL, 0);
		turn_step(t);
		return;
	}
	const char *name = json_string_value(json_object_get(call, "name"));
	struct module *m;
	const struct hearth_tool_def *def;
	if (tools_lookup(name, &m, &def) != 0) {
		turn_refuse_call(t, call, "unknown tool");
		return;
	}
	const char *why = NULL;
	enum hearth_permission perm = permission_decide(
		m, def, json_string_value(json_object_get(call, "subject")), t->s->cwd,
		agent_store(), &why);
	perm = permission_rules_apply(t->rules, name,
				      json_string_value(json_object_get(call, "subject")), perm, &why);
	if (perm == HEARTH_PERM_DENY)
		turn_refuse_call(t, call, why);
	else if (perm == HEARTH_PERM_ALLOW)
		turn_run_call(t, call);
	else
		turn_ask(t, call);
}

/* --------------------------------------------------------------- prompts -- */

/* Store the user's message: a part per prompt block, and echo each as an update. */
static int
turn_store_prompt(struct turn *t, const json_t *blocks, char **error)
{
	struct store *st = agent_store();
	char *mid = NULL;
	session_begin();
	if (store_message_add(st, t->s->id, "user", NULL, &mid) != 0) {
		*error = xstrdup(store_errmsg(st));
		session_rollback();
		return HEARTH_EIO;
	}
	size_t i;
	json_t *b;
	json_array_foreach(blocks, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		json_t *part = NULL;
		if (type == NULL) {
			*error = xasprintf("prompt block %zu has no 'type'", i);
		} else if (strcmp(type, "text") == 0 && json_is_string(json_object_get(b, "text"))) {
			part = json_pack("{s:s,s:O}", "type", "text", "text", json_object_get(b, "text"));
		} else if (strcmp(type, "image") == 0 && json_is_string(json_object_get(b, "data")) &&
			   json_is_string(json_object_get(b, "mimeType"))) {
			part = json_pack("{s:s,s:O,s:O}", "type", "image", "mime",
					 json_object_get(b, "mimeType"), "data", json_object_get(b, "data"));
		} else if (strcmp(type, "resource_link") == 0 &&
			   json_is_string(json_object_get(b, "uri"))) {
			char *text = xasprintf("[resource: %s]",
					       json_string_value(json_object_get(b, "uri")));
			part = json_pack("{s:s,s:s}", "type", "text", "text", text);
			free(text);
		} else if (strcmp(type, "resource") == 0 &&
			   json_is_string(json_object_get(json_object_get(b, "resource"), "text"))) {
			const json_t *r = json_object_get(b, "resource");
			char *text = xasprintf("<file uri=\"%s\">\n%s\n</file>",
					       json_is_string(json_object_get(r, "uri")) ?
					       json_string_value(json_object_get(r, "uri")) : "",
					       json_string_value(json_object_get(r, "text")));
			part = json_pack("{s:s,s:s}", "type", "text", "text", text);
			free(text);
		} else {
			*error = xasprintf("prompt block %zu: unsupported or malformed '%s' block", i,
					   type);
		}
		if (part == NULL) {
			session_rollback();
			free(mid);
			return HEARTH_EINVAL;
		}
		store_part_add(st, mid, part);
		json_decref(part);
		json_t *u = json_pack("{s:s,s:O,s:s}", "sessionUpdate", "user_message_chunk",
				      "content", b, "messageId", mid);
		session_emit(t->s, u);
		json_decref(u);
	}
	store_message_finish(st, mid, HEARTH_FINISH_END_TURN, NULL, 0);
	free(mid);
	if (session_commit() != 0) {
		*error = xstrdup(store_errmsg(st));
		return HEARTH_EIO;
	}
	return 0;
}

/* The rules agent_prompt() gives the next turn it starts (agent_prompt_rules()). */
static struct permission_rules *agent_next_rules;

static int agent_prompt_start(struct session *s, const json_t *blocks, struct hearth_conn *c,
			      const json_t *req_id, struct permission_rules *rules,
			      char **error);

void
agent_prompt_rules(struct permission_rules *rules)
{
	permission_rules_free(agent_next_rules);
	agent_next_rules = rules;
}

int
agent_prompt(struct session *s, const json_t *blocks, struct hearth_conn *c,
	     const json_t *req_id, char **error)
{
	/* Taken now, so that they never reach a later prompt's turn. */
	struct permission_rules *rules = agent_next_rules;
	agent_next_rules = NULL;
	int rc = agent_prompt_start(s, blocks, c, req_id, rules, error);
	if (rc != 0)
		permission_rules_free(rules);
	return rc;
}

static int
agent_prompt_start(struct session *s, const json_t *blocks, struct hearth_conn *c,
		   const json_t *req_id, struct permission_rules *rules, char **error)
{
	if (s->turn != NULL) {
		*error = xasprintf("session %s is busy: a turn is running", s->id);
		return HEARTH_EBUSY;
	}
	if (!json_is_array(blocks) || json_array_size(blocks) == 0) {
		*error = xstrdup("'prompt' must be a non-empty array of content blocks");
		return HEARTH_EINVAL;
	}
	struct turn *t = xcalloc(1, sizeof *t);
	t->s = s;
	if (agent_resolve_model(s->model, &t->provider, &t->model_id, error) != 0) {
		free(t);
		return HEARTH_EINVAL;
	}
	agent_repair_history(s);
	if (turn_store_prompt(t, blocks, error) != 0) {
		free(t->model_id);
		free(t);
		return HEARTH_EINVAL;
	}
	t->conn = c;
	t->req_id = json_deep_copy(req_id);
	t->rules = rules;
	t->calls = json_array();
	uv_timer_init(agent_loop, &t->flush_timer);
	uv_timer_init(agent_loop, &t->retry_timer);
	t->flush_timer.data = t->retry_timer.data = t;
	t->open_handles = 2;
	t->next = agent_turns;
	agent_turns = t;
	s->turn = t;
	session_set_status(s, STORE_RUNNING);
	turn_step(t);
	return 0;
}

void
agent_cancel(struct session *s)
{
	struct turn *t = s->turn;
	if (t == NULL || t->cancelled)
		return;
	t->cancelled = 1;
	log_info("session %s: turn cancelled", s->id);
	if (t->pcall != NULL) {
		t->provider->desc->provider->cancel(t->provider->state, t->pcall);
		t->pcall = NULL;
		turn_close_part(t, NULL);
		store_message_finish(agent_store(), t->msg_id, HEARTH_FINISH_CANCELLED, &t->usage, 0);
		turn_close_calls(t, "cancelled: not run");
		turn_end(t, "cancelled", 0, NULL);
		return;
	}
	if (t->asking != NULL) {
		json_t *call = t->asking;
		turn_withdraw_asks(t, NULL);
		(void)call;
		turn_close_calls(t, "cancelled: not run");
		turn_end(t, "cancelled", 0, NULL);
		return;
	}
	if (t->tcall != NULL) {
		/* Its done (with the "cancelled" result) ends the turn. */
		tools_cancel(t->tcall);
		return;
	}
	/* Waiting to retry, or between steps. */
	turn_close_calls(t, "cancelled: not run");
	turn_end(t, "cancelled", 0, NULL);
}

void
agent_cancel_request(struct hearth_conn *c, const json_t *req_id)
{
	for (struct turn *t = agent_turns; t != NULL; t = t->next)
		if (t->conn == c && json_equal(t->req_id, req_id)) {
			agent_cancel(t->s);
			return;
		}
}

void
agent_conn_gone(struct hearth_conn *c)
{
	for (struct turn *t = agent_turns; t != NULL; t = t->next)
		if (t->conn == c)
			t->conn = NULL;
}

void
agent_shutdown(void)
{
	while (agent_turns != NULL) {
		struct turn *t = agent_turns;
		struct session *s = t->s;
		t->conn = NULL;   /* the daemon is going: nobody to answer */
		agent_cancel(s);
		if (s->turn == t) {
			/* A tool still finishing: end it here; its late result goes nowhere. */
			tools_abandon(t->tcall);
			t->tcall = NULL;
			turn_close_calls(t, "cancelled: the daemon stopped");
			turn_end(t, "cancelled", 0, NULL);
		}
		session_set_status(s, STORE_INTERRUPTED);
	}
}

void
agent_close(void)
{
	agent_shutdown();
}
