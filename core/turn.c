/* turn.c: the turn state machine (see turn.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hearth/provider.h>

#include "context.h"
#include "log.h"
#include "models.h"
#include "permission.h"
#include "rpc.h"
#include "store.h"
#include "tools.h"
#include "transcript.h"
#include "turn.h"
#include "xmalloc.h"

struct turn_ask {
	struct hearth_conn *conn;
	json_int_t id;
};

struct turn {
	struct session *s;
	struct turn_requester req;      /* who asked: told once, when the turn ends */
	struct module *provider;
	char *model_id;                 /* owned */
	int steps;
	int retries;
	int cancelled;
	int ended;

	/* The assistant message being streamed. */
	struct transcript_msg reply;
	enum transcript_kind part;      /* the kind of the part being streamed */
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
	struct context_build *build;    /* the next request being built, or NULL */
	struct transcript_msg results;  /* the tool message of this step */
	struct turn_ask *asks;          /* permission requests out */
	size_t n_asks;
	json_t *asking;                 /* the call asked about, borrowed from calls */

	char *failed;                   /* owned: a write failed while streaming: why */
	const char *state;              /* the last _hearth/turn_state sent */
	json_t *state_extra;            /* and its other members */

	struct turn *next;
};

static uv_loop_t *turn_loop;
static struct turn *turn_list;
static int turn_max_steps = TURN_MAX_STEPS;

void
turn_init(uv_loop_t *loop, int max_steps)
{
	turn_loop = loop;
	turn_max_steps = max_steps > 0 ? max_steps : TURN_MAX_STEPS;
	context_init(loop);
}

/* ----------------------------------------------------- turn bookkeeping -- */

static void turn_step(struct turn *t);
static void turn_run_next_call(struct turn *t);
static void turn_close_calls(struct turn *t, const char *why);

static struct store *
turn_store(void)
{
	return session_store();
}

/*
 * Tell every follower what the turn is doing now (`_hearth/turn_state`, not
 * stored: a client that joins later learns it from the next change). extra
 * (stolen, or NULL) holds the state's other members; nothing is sent when neither
 * changed.
 */
static void
turn_state(struct turn *t, const char *state, json_t *extra)
{
	if (extra == NULL)
		extra = json_object();
	if (t->state != NULL && strcmp(t->state, state) == 0 && json_equal(t->state_extra, extra)) {
		json_decref(extra);
		return;
	}
	t->state = state;
	json_decref(t->state_extra);
	t->state_extra = extra;
	for (struct session_follower *f = t->s->followers; f != NULL; f = f->next) {
		json_t *params = json_pack("{s:s,s:s}", "sessionId", t->s->id, "state", state);
		json_object_update(params, extra);
		json_t *n = rpc_notification("_hearth/turn_state", params);
		conn_write(f->conn, n);
		json_decref(n);
	}
}

static void
turn_handle_closed_cb(uv_handle_t *h)
{
	struct turn *t = h->data;
	if (--t->open_handles > 0)
		return;
	json_decref(t->calls);
	free(t->model_id);
	transcript_msg_reset(&t->reply);
	transcript_msg_reset(&t->results);
	free(t->pending);
	free(t->failed);
	json_decref(t->state_extra);
	free(t->asks);
	free(t);
}

static void
turn_unlink(struct turn *t)
{
	for (struct turn **pp = &turn_list; *pp != NULL; pp = &(*pp)->next) {
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
	if (error != NULL)
		log_warn("session %s: turn failed: %s", t->s->id, error);
	context_abandon(t->build);
	t->build = NULL;
	turn_state(t, "idle", NULL);
	session_set_status(t->s, stop_reason != NULL ? STORE_IDLE : STORE_ERROR);
	t->s->turn = NULL;
	turn_unlink(t);
	uv_timer_stop(&t->flush_timer);
	uv_timer_stop(&t->retry_timer);
	uv_close((uv_handle_t *)&t->flush_timer, turn_handle_closed_cb);
	uv_close((uv_handle_t *)&t->retry_timer, turn_handle_closed_cb);
	/* Last (t lives until the handles are closed): the requester may start the
	 * session's next turn from here. */
	t->req.done(t->req.arg, t->s, stop_reason, rpc_code, error);
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

/* A write of the conversation failed: the turn ends, saying so. */
static void
turn_fail_store(struct turn *t)
{
	turn_fail(t, "session %s: could not store the conversation: %s", t->s->id,
		  transcript_errmsg());
}

/* ------------------------------------------------------------ streaming -- */

/*
 * A write failed inside a sink callback: no more is written, and the turn ends
 * on the next loop iteration, outside the provider's call stack (cancel() is not
 * for use inside its own callbacks).
 */
static void
turn_abort_cb(uv_timer_t *timer)
{
	struct turn *t = timer->data;
	if (t->pcall != NULL) {
		t->provider->desc->provider->cancel(t->provider->state, t->pcall);
		t->pcall = NULL;
	}
	turn_close_calls(t, "not run: the reply could not be stored");
	turn_fail(t, "session %s: could not store the reply: %s", t->s->id, t->failed);
}

static void
turn_abort(struct turn *t)
{
	if (t->failed != NULL)
		return;
	t->failed = xstrdup(transcript_errmsg());
	uv_timer_stop(&t->flush_timer);
	uv_timer_start(&t->retry_timer, turn_abort_cb, 0, 0);
}

/* Commit the pending text: the part's text and one chunk update, together. */
static void
turn_flush(struct turn *t)
{
	uv_timer_stop(&t->flush_timer);
	if (t->pending_len == 0 || t->part == TRANSCRIPT_NONE || t->failed != NULL)
		return;
	if (transcript_text(t->s, &t->reply, t->part, t->pending, t->pending_len) != 0)
		turn_abort(t);
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
	if (t->failed == NULL && transcript_part_end(t->s, &t->reply, meta) != 0)
		turn_abort(t);
	t->part = TRANSCRIPT_NONE;
}

static void
turn_delta(struct turn *t, enum transcript_kind kind, const char *text, size_t len)
{
	if (t->failed != NULL)
		return;
	turn_state(t, "streaming", NULL);
	if (t->part != kind) {
		turn_close_part(t, NULL);
		t->part = kind;
	}
	if (t->pending_len + len + 1 > t->pending_cap) {
		t->pending_cap = (t->pending_len + len + 1) * 2;
		t->pending = xrealloc(t->pending, t->pending_cap);
	}
	memcpy(t->pending + t->pending_len, text, len);
	t->pending_len += len;
	t->pending[t->pending_len] = '\0';
	if (t->pending_len >= TURN_FLUSH_BYTES)
		turn_flush(t);
	else if (!uv_is_active((uv_handle_t *)&t->flush_timer))
		uv_timer_start(&t->flush_timer, turn_flush_cb, TURN_FLUSH_MS, 0);
}

static void
sink_text(void *arg, const char *text, size_t len)
{
	turn_delta(arg, TRANSCRIPT_TEXT, text, len);
}

static void
sink_reasoning(void *arg, const char *text, size_t len)
{
	turn_delta(arg, TRANSCRIPT_REASONING, text, len);
}

static void
sink_part_end(void *arg, const json_t *meta)
{
	struct turn *t = arg;
	if (t->failed == NULL)
		turn_close_part(t, meta);
}

static void
sink_tool_call(void *arg, const char *id, const char *name, const json_t *input,
	       const json_t *meta)
{
	struct turn *t = arg;
	if (t->failed != NULL)
		return;
	turn_state(t, "streaming", NULL);
	turn_close_part(t, NULL);
	if (t->failed != NULL)
		return;
	json_t *d = tools_describe(name, input, t->s->id, t->s->cwd);
	if (transcript_tool_call(t->s, &t->reply, id, name, input, meta, d) != 0) {
		json_decref(d);
		turn_abort(t);
		return;
	}
	json_array_append_new(t->calls, json_pack("{s:s,s:s,s:O,s:O,s:O,s:b}", "id", id, "name",
						  name, "input", input, "subject",
						  json_object_get(d, "subject"), "title",
						  json_object_get(d, "title"), "done", 0));
	json_decref(d);
}

static void
sink_usage(void *arg, const struct hearth_usage *usage)
{
	struct turn *t = arg;
	t->usage = *usage;
}

static const char *
turn_stop_reason(enum hearth_finish finish)
{
	switch (finish) {
	case HEARTH_FINISH_MAX_TOKENS: return "max_tokens";
	case HEARTH_FINISH_REFUSAL: return "refusal";
	case HEARTH_FINISH_CANCELLED: return "cancelled";
	default: return "end_turn";
	}
}

static const char *
turn_errtype_name(uint32_t type)
{
	static const char *const names[] = {
		"error", "authentication failed", "permission denied", "not found",
		"bad request", "request too large", "context too long", "rate limited",
		"overloaded", "server error", "network error", "timed out", "protocol error" };
	return type < sizeof names / sizeof names[0] ? names[type] : "error";
}

/* What the user should do about an error, where it is theirs to fix. */
static const char *
turn_errtype_hint(uint32_t type)
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
turn_backoff_ms(int attempt, uint64_t retry_after_ms)
{
	if (retry_after_ms > 0)
		return retry_after_ms;
	uint64_t base = (uint64_t)TURN_RETRY_BASE_MS << (attempt < 16 ? attempt : 16);
	if (base > TURN_RETRY_MAX_MS)
		base = TURN_RETRY_MAX_MS;
	/* Full jitter between half and all of the backoff, so clients do not stampede. */
	return base / 2 + (uint64_t)(rand() % (int)(base / 2 + 1));
}

/* The reply is complete: store how it ended with its usage and the usage update. */
static int
turn_finish_reply(struct turn *t, enum hearth_finish finish)
{
	return transcript_finish(t->s, &t->reply, finish, &t->usage,
				 models_cost_micros(t->provider, t->model_id, &t->usage),
				 models_context_window(t->provider, t->model_id));
}

static void
sink_done(void *arg, enum hearth_finish finish, const struct hearth_provider_error *err)
{
	struct turn *t = arg;
	t->pcall = NULL;
	if (t->failed != NULL)
		return;   /* turn_abort_cb ends the turn */
	turn_close_part(t, NULL);
	if (t->failed != NULL)
		return;
	if (turn_finish_reply(t, finish) != 0) {
		turn_close_calls(t, "not run: the reply could not be stored");
		turn_fail_store(t);
		return;
	}

	if (finish == HEARTH_FINISH_ERROR) {
		uint32_t type = err != NULL ? err->type : HEARTH_PERR_PROTOCOL;
		const char *msg = err != NULL && err->message != NULL ? err->message : "unknown error";
		/* Calls of a reply cut short never run: their results say so. */
		turn_close_calls(t, "not run: the model's reply failed");
		if (err != NULL && err->retryable && t->retries < TURN_MAX_RETRIES && !t->cancelled &&
		    !t->ended) {
			uint64_t delay = turn_backoff_ms(t->retries, err->retry_after_ms);
			t->retries++;
			log_warn("session %s: %s: %s (HTTP %ld); retry %d of %d in %llu ms", t->s->id,
				 t->provider->name, msg, err->http_status, t->retries,
				 TURN_MAX_RETRIES, (unsigned long long)delay);
			char *reason = err->http_status > 0 ?
				xasprintf("%s (HTTP %ld): %s", turn_errtype_name(type),
					  err->http_status, msg) :
				xasprintf("%s: %s", turn_errtype_name(type), msg);
			turn_state(t, "retrying", json_pack("{s:i,s:i,s:s,s:I}", "attempt", t->retries,
							    "maxAttempts", TURN_MAX_RETRIES,
							    "reason", reason,
							    "waitMs", (json_int_t)delay));
			free(reason);
			uv_timer_start(&t->retry_timer, turn_retry_cb, delay, 0);
			return;
		}
		char status[32] = "";
		if (err != NULL && err->http_status > 0)
			snprintf(status, sizeof status, " (HTTP %ld)", err->http_status);
		turn_fail(t, "%s: %s%s: %s%s", t->provider->name, turn_errtype_name(type), status,
			  msg, turn_errtype_hint(type));
		return;
	}
	t->retries = 0;
	if (json_array_size(t->calls) > 0) {
		t->next_call = 0;
		turn_run_next_call(t);
		return;
	}
	turn_end(t, turn_stop_reason(finish), 0, NULL);
}

static const struct hearth_stream_sink turn_sink = {
	.struct_size = sizeof(struct hearth_stream_sink),
	.text = sink_text,
	.reasoning = sink_reasoning,
	.part_end = sink_part_end,
	.tool_call = sink_tool_call,
	.usage = sink_usage,
	.done = sink_done,
};

/* ---------------------------------------------------------------- steps -- */

static void turn_request_cb(void *arg, json_t *request, const char *error);

/* One request to the model. */
static void
turn_step(struct turn *t)
{
	if (t->cancelled) {
		turn_end(t, "cancelled", 0, NULL);
		return;
	}
	if (t->steps >= turn_max_steps) {
		turn_end(t, "max_turn_requests", 0, NULL);
		return;
	}
	t->steps++;
	json_decref(t->calls);
	t->calls = json_array();
	transcript_msg_reset(&t->results);
	transcript_msg_reset(&t->reply);
	t->part = TRANSCRIPT_NONE;
	memset(&t->usage, 0, sizeof t->usage);

	turn_state(t, "thinking", NULL);
	t->build = context_build(t->s, t->model_id, turn_request_cb, t);
}

/* The request is built: send it. */
static void
turn_request_cb(void *arg, json_t *request, const char *error)
{
	struct turn *t = arg;
	t->build = NULL;
	if (request == NULL) {
		turn_fail(t, "%s", error);
		return;
	}
	int rc = 0;
	t->pcall = t->provider->desc->provider->stream(t->provider->state, request, &turn_sink,
						       t, &rc);
	json_decref(request);
	if (t->pcall == NULL && !t->ended)
		turn_fail(t, "%s: could not start the request: %s", t->provider->name,
			  hearth_strerror(rc));
}

/* ------------------------------------------------------------ tool calls -- */

/* A call's result and its final status, together; a failed write ends the turn. */
static int
turn_add_result(struct turn *t, json_t *call, const char *text, int is_error,
		const json_t *content, const json_t *raw_output)
{
	json_object_set_new(call, "done", json_true());
	if (transcript_tool_result(t->s, &t->results, json_string_value(json_object_get(call, "id")),
				   json_string_value(json_object_get(call, "name")), text, is_error,
				   content, raw_output) != 0) {
		turn_fail_store(t);
		return HEARTH_EIO;
	}
	return 0;
}

/* Give every call of this step that has no result one saying why. */
static void
turn_close_calls(struct turn *t, const char *why)
{
	size_t i;
	json_t *call;
	json_array_foreach(t->calls, i, call) {
		if (!json_is_true(json_object_get(call, "done")) &&
		    turn_add_result(t, call, why, 1, NULL, NULL) != 0)
			return;
	}
	if (transcript_finish(t->s, &t->results, HEARTH_FINISH_END_TURN, NULL, 0, 0) != 0)
		turn_fail_store(t);
}

/* Text for the model from a tool result's content blocks. */
static char *
turn_result_text(const json_t *content)
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
turn_acp_content(const json_t *content)
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

static void
turn_tool_update(void *arg, const json_t *update)
{
	struct turn *t = arg;
	json_t *call = json_array_get(t->calls, t->next_call);
	char *tail = xstrdup(json_string_value(json_object_get(call, "progress")) != NULL ?
			     json_string_value(json_object_get(call, "progress")) : "");
	/* Progress is an event without a part: a lost one is logged, the turn goes on. */
	transcript_tool_progress(t->s, json_string_value(json_object_get(call, "id")), update,
				 &tail, TURN_PROGRESS_TAIL);
	json_object_set_new(call, "progress", json_string(tail));
	free(tail);
}

static void
turn_tool_done(void *arg, json_t *result)
{
	struct turn *t = arg;
	t->tcall = NULL;
	json_t *call = json_array_get(t->calls, t->next_call);
	int is_error = json_is_true(json_object_get(result, "isError"));
	const json_t *content = json_object_get(result, "content");
	char *text = turn_result_text(content);
	json_t *acp = turn_acp_content(content);
	int rc = turn_add_result(t, call, text, is_error, acp, json_object_get(result, "rawOutput"));
	json_decref(acp);
	free(text);
	json_decref(result);
	if (rc != 0)
		return;
	t->next_call++;
	turn_run_next_call(t);
}

static void
turn_run_call(struct turn *t, json_t *call)
{
	const char *id = json_string_value(json_object_get(call, "id"));
	turn_state(t, "tool", json_pack("{s:s,s:O}", "toolCallId", id, "title",
					json_object_get(call, "title")));
	transcript_tool_running(t->s, id);
	t->tcall = tools_start(json_string_value(json_object_get(call, "name")), id,
			       json_object_get(call, "input"), t->s->id, t->s->cwd,
			       turn_tool_update, turn_tool_done, t);
}

static void
turn_refuse_call(struct turn *t, json_t *call, const char *why)
{
	if (turn_add_result(t, call, why, 1, NULL, NULL) != 0)
		return;
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
		store_permission_put(turn_store(), t->s->cwd, tool, subject,
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
	turn_state(t, "permission", json_pack("{s:O,s:O}", "toolCallId", json_object_get(call, "id"),
					      "title", json_object_get(d, "title")));
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
		if (transcript_finish(t->s, &t->results, HEARTH_FINISH_END_TURN, NULL, 0, 0) != 0) {
			turn_fail_store(t);
			return;
		}
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
		turn_store(), &why);
	if (perm == HEARTH_PERM_DENY)
		turn_refuse_call(t, call, why);
	else if (perm == HEARTH_PERM_ALLOW)
		turn_run_call(t, call);
	else
		turn_ask(t, call);
}

/* --------------------------------------------------------------- entries -- */

int
turn_start(struct session *s, const json_t *blocks, struct hearth_conn *sender,
	   const struct turn_requester *req, char **error)
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
	if (models_resolve(s->model, &t->provider, &t->model_id, error) != 0) {
		free(t);
		return HEARTH_EINVAL;
	}
	int rc = transcript_repair(s, NULL);
	if (rc == 0)
		rc = transcript_prompt(s, blocks, sender, error);
	else
		*error = xasprintf("could not repair the history: %s", transcript_errmsg());
	if (rc != 0) {
		free(t->model_id);
		free(t);
		return HEARTH_EINVAL;
	}
	transcript_msg_init(&t->reply, "assistant", s->model != NULL ? s->model : t->model_id);
	transcript_msg_init(&t->results, "tool", NULL);
	t->req = *req;
	t->calls = json_array();
	uv_timer_init(turn_loop, &t->flush_timer);
	uv_timer_init(turn_loop, &t->retry_timer);
	t->flush_timer.data = t->retry_timer.data = t;
	t->open_handles = 2;
	t->next = turn_list;
	turn_list = t;
	s->turn = t;
	session_set_status(s, STORE_RUNNING);
	turn_step(t);
	return 0;
}

void
turn_cancel(struct session *s)
{
	struct turn *t = s->turn;
	if (t == NULL || t->cancelled)
		return;
	t->cancelled = 1;
	log_info("session %s: turn cancelled", s->id);
	if (t->pcall != NULL) {
		t->provider->desc->provider->cancel(t->provider->state, t->pcall);
		t->pcall = NULL;
		if (t->failed == NULL) {
			turn_close_part(t, NULL);
			if (t->failed == NULL && turn_finish_reply(t, HEARTH_FINISH_CANCELLED) != 0)
				t->failed = xstrdup(transcript_errmsg());
		}
		turn_close_calls(t, "cancelled: not run");
		turn_end(t, "cancelled", 0, NULL);
		return;
	}
	if (t->asking != NULL) {
		turn_withdraw_asks(t, NULL);
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
turn_shutdown(void)
{
	while (turn_list != NULL) {
		struct turn *t = turn_list;
		struct session *s = t->s;
		turn_cancel(s);
		if (s->turn == t) {
			/* A tool still finishing: end it here; its late result goes nowhere. */
			tools_abandon(t->tcall);
			t->tcall = NULL;
			turn_close_calls(t, "cancelled: the daemon stopped");
			turn_end(t, "cancelled", 0, NULL);
		}
		session_set_status(s, STORE_INTERRUPTED);
	}
	/* No turn writes any more: what the transcript and the requests kept can go. */
	context_close();
	transcript_close();
}

void
turn_close(void)
{
	turn_shutdown();
}
