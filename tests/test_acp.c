/*
 * test_acp.c: the core end to end without a socket: ACP frames go in through core
 * connections (conn_open, as a frontend would), through the dispatcher, sessions,
 * the agent loop, the real store and real modules (script_provider, good_tool),
 * and every message the core sends back is checked.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "acp.h"
#include "agent.h"
#include "turn.h"
#include "conf.h"
#include "conn.h"
#include "defer.h"
#include "daemon_ops.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "session.h"
#include "store.h"
#include "testutil.h"
#include "tools.h"
#include "xmalloc.h"

#define MODDIR TEST_BUILDDIR "/modules"

struct client {
	struct hearth_conn *conn;
	json_t *got;        /* every message received, in order */
	size_t seen;        /* how many the test has looked at */
	int closed;
	json_int_t next_id;
	const char *answer; /* answer permission requests inside on_message with this */
	const char *close_on; /* conn_close inside on_message when this method comes */
};

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct store *store;
	struct conf *conf;
	struct registry *reg;
	char *tmp, *script, *record;
	int shutdown_asked;
};

static struct fixture *F;

static void
client_on_message(void *arg, const char *json, size_t len)
{
	struct client *c = arg;
	assert_null(memchr(json, '\n', len));
	json_error_t err;
	json_t *m = json_loadb(json, len, 0, &err);
	assert_non_null(m);
	json_array_append_new(c->got, m);
	const char *method = json_string_value(json_object_get(m, "method"));
	if (c->close_on != NULL && method != NULL && strcmp(method, c->close_on) == 0) {
		/* Going away inside the callback, as an in-process client may. */
		c->closed = 1;
		conn_close(c->conn);
		return;
	}
	if (c->answer != NULL && method != NULL &&
	    strcmp(method, "session/request_permission") == 0) {
		/* Answered inside the callback, as an in-process TUI does. */
		json_t *reply = json_pack("{s:s,s:O,s:{s:{s:s,s:s}}}", "jsonrpc", "2.0", "id",
					  json_object_get(m, "id"), "result", "outcome", "outcome",
					  "selected", "optionId", c->answer);
		char *text = json_dumps(reply, JSON_COMPACT);
		assert_int_equal(conn_send(c->conn, text, strlen(text)), 0);
		free(text);
		json_decref(reply);
	}
}

static void
client_on_close(void *arg, const char *reason)
{
	((struct client *)arg)->closed = 1;
}

static struct client *
client_new(void)
{
	struct client *c = xcalloc(1, sizeof *c);
	c->got = json_array();
	c->next_id = 1;
	c->conn = conn_open(client_on_message, client_on_close, c);
	return c;
}

static void
client_free(struct client *c)
{
	if (!c->closed)
		conn_close(c->conn);
	json_decref(c->got);
	free(c);
}

static void
client_send_text(struct client *c, const char *text)
{
	assert_int_equal(conn_send(c->conn, text, strlen(text)), 0);
}

/* Send a request built with json_pack; returns its id. */
static json_int_t
client_request(struct client *c, const char *method, json_t *params)
{
	json_int_t id = c->next_id++;
	json_t *m = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
			      "params", params != NULL ? params : json_object());
	char *text = json_dumps(m, JSON_COMPACT);
	client_send_text(c, text);
	free(text);
	json_decref(m);
	return id;
}

static void
client_notify(struct client *c, const char *method, json_t *params)
{
	json_t *m = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params", params);
	char *text = json_dumps(m, JSON_COMPACT);
	client_send_text(c, text);
	free(text);
	json_decref(m);
}

/* The response to request `id` (borrowed), running the loop until it comes. */
static json_t *
client_wait_response(struct client *c, json_int_t id)
{
	for (int spins = 0; spins < 200000; spins++) {
		size_t i;
		json_t *m;
		json_array_foreach(c->got, i, m) {
			if (json_integer_value(json_object_get(m, "id")) == id &&
			    json_object_get(m, "method") == NULL)
				return m;
		}
		uv_run(&F->loop, UV_RUN_ONCE);
	}
	fail_msg("no response to request %lld", (long long)id);
	return NULL;
}

/* The next message with this method (borrowed), after what the test has seen. */
static json_t *
client_wait_method(struct client *c, const char *method)
{
	for (int spins = 0; spins < 200000; spins++) {
		for (size_t i = c->seen; i < json_array_size(c->got); i++) {
			json_t *m = json_array_get(c->got, i);
			const char *mm = json_string_value(json_object_get(m, "method"));
			if (mm != NULL && strcmp(mm, method) == 0) {
				c->seen = i + 1;
				return m;
			}
		}
		uv_run(&F->loop, UV_RUN_ONCE);
	}
	fail_msg("no %s message", method);
	return NULL;
}

static json_t *
call(struct client *c, const char *method, json_t *params)
{
	return client_wait_response(c, client_request(c, method, params));
}

static json_t *
call_ok(struct client *c, const char *method, json_t *params)
{
	json_t *r = call(c, method, params);
	if (json_object_get(r, "error") != NULL) {
		char *s = json_dumps(r, 0);
		fail_msg("%s failed: %s", method, s);
		free(s);
	}
	return json_object_get(r, "result");
}

/* The updates (session/update params) a client got, as a new array. */
static json_t *
updates_of(struct client *c)
{
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(c->got, i, m) {
		const char *mm = json_string_value(json_object_get(m, "method"));
		if (mm != NULL && strcmp(mm, "session/update") == 0)
			json_array_append(out, json_object_get(m, "params"));
	}
	return out;
}

/* The states of the _hearth/turn_state notifications a client got, in order. */
static json_t *
turn_states_of(struct client *c)
{
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(c->got, i, m) {
		const char *mm = json_string_value(json_object_get(m, "method"));
		if (mm != NULL && strcmp(mm, "_hearth/turn_state") == 0)
			json_array_append(out, json_object_get(json_object_get(m, "params"), "state"));
	}
	return out;
}

/* The _hearth/turn_state notifications' params a client got whose state is `state`. */
static json_t *
turn_states_named(struct client *c, const char *state)
{
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(c->got, i, m) {
		const char *mm = json_string_value(json_object_get(m, "method"));
		json_t *p = json_object_get(m, "params");
		if (mm != NULL && strcmp(mm, "_hearth/turn_state") == 0 &&
		    strcmp(json_string_value(json_object_get(p, "state")), state) == 0)
			json_array_append(out, p);
	}
	return out;
}

/* Every stored update of a session, in order (a new array). */
static int
store_events_cb(void *arg, int64_t seq, const char *type, const json_t *payload)
{
	(void)seq;
	(void)type;
	json_array_append((json_t *)arg, (json_t *)payload);
	return 0;
}

static json_t *
store_events_json(const char *sid)
{
	json_t *out = json_array();
	assert_true(store_events_since(F->store, sid, 0, store_events_cb, out) >= 0);
	return out;
}

/* The agent text a client saw, all chunks joined. */
static char *
agent_text(struct client *c, const char *kind)
{
	json_t *ups = updates_of(c);
	char *text = xstrdup("");
	size_t i;
	json_t *u;
	json_array_foreach(ups, i, u) {
		json_t *up = json_object_get(u, "update");
		if (strcmp(json_string_value(json_object_get(up, "sessionUpdate")), kind) != 0)
			continue;
		char *more = xasprintf("%s%s", text, json_string_value(json_object_get(
			json_object_get(up, "content"), "text")));
		free(text);
		text = more;
	}
	json_decref(ups);
	return text;
}

static void
write_script(const char *json)
{
	assert_int_equal(testutil_write_file(F->script, json, strlen(json)), 0);
}

static void
fixture_shutdown(void)
{
	F->shutdown_asked++;
}

/* Bring up the core with a script for the provider (written before modules load). */
static void
core_up(const char *script)
{
	write_script(script);
	char *text = xasprintf("module_dir %s\nload provider script_provider\nload tool good_tool\n"
			       "[provider script_provider]\nscript = %s\nrecord = %s\n"
			       "price.scripted = 3, 15\n", MODDIR,
			       F->script, F->record);
	F->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	assert_int_equal(F->conf->n_errors, 0);
	F->reg = registry_new(F->conf);
	assert_int_equal(registry_load_all(F->reg), 0);
	session_set_store(F->store, NULL, NULL);
	tools_set_registry(F->reg);
	agent_init(&F->loop, F->reg);
	acp_init(F->reg, fixture_shutdown);
}

static int
setup(void **state)
{
	F = xcalloc(1, sizeof *F);
	uv_loop_init(&F->loop);
	F->tmp = testutil_mkdtemp("acp");
	F->script = xasprintf("%s/script.json", F->tmp);
	F->record = xasprintf("%s/record.jsonl", F->tmp);
	char *db = xasprintf("%s/state/hearth.db", F->tmp), *err = NULL;
	F->store = store_open(db, &err);
	assert_non_null(F->store);
	free(db);
	F->ctx.loop = &F->loop;
	F->ctx.state_dir = F->tmp;
	F->ctx.runtime_dir = F->tmp;
	F->ctx.store = F->store;
	F->ctx.daemon = &core_host_ops;
	host_context_set(&F->ctx);
	defer_init(&F->loop);
	assert_int_equal(loader_init(), 0);
	testutil_log_capture();
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	agent_shutdown();
	conn_end_all("test over");
	if (F->reg != NULL)
		registry_fini_all(F->reg);
	acp_close();
	defer_close();
	uv_run(&F->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&F->loop), 0);
	registry_free(F->reg);
	session_free_all();
	store_close(F->store);
	conf_free(F->conf);
	loader_exit();
	free(testutil_log_release());
	testutil_rmtree(F->tmp);
	free(F->tmp);
	free(F->script);
	free(F->record);
	free(F);
	return 0;
}

static const char *
new_session(struct client *c)
{
	json_t *r = call_ok(c, "session/new", json_pack("{s:s,s:[]}", "cwd", F->tmp, "mcpServers"));
	return json_string_value(json_object_get(r, "sessionId"));
}

static const char *
stop_reason(json_t *response)
{
	return json_string_value(json_object_get(json_object_get(response, "result"),
						 "stopReason"));
}

/* ------------------------------------------------------------------ tests -- */

static void
test_initialize(void **state)
{
	core_up("[]");
	struct client *c = client_new();
	json_t *r = call_ok(c, "initialize", json_pack("{s:i,s:{}}", "protocolVersion", 1,
						       "clientCapabilities"));
	assert_int_equal(json_integer_value(json_object_get(r, "protocolVersion")), 1);
	json_t *caps = json_object_get(r, "agentCapabilities");
	assert_true(json_is_true(json_object_get(caps, "loadSession")));
	assert_non_null(json_object_get(json_object_get(caps, "sessionCapabilities"), "resume"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "agentInfo"),
							      "name")), "hearth");
	/* A version we do not speak is answered with ours. */
	r = call_ok(c, "initialize", json_pack("{s:i}", "protocolVersion", 7));
	assert_int_equal(json_integer_value(json_object_get(r, "protocolVersion")), 1);
	client_free(c);
}

static void
test_prompt_streams_and_persists(void **state)
{
	core_up("[[{\"text\":\"Hel\"},{\"text\":\"lo, \"},{\"text\":\"world\"},"
		"{\"usage\":{\"input\":10,\"output\":3}},{\"finish\":\"end_turn\"}]]");
	struct client *c = client_new();
	json_t *r = call_ok(c, "session/new", json_pack("{s:s,s:[]}", "cwd", F->tmp, "mcpServers"));
	const char *sid = json_string_value(json_object_get(r, "sessionId"));
	assert_memory_equal(sid, "ses_", 4);
	json_t *opt = json_array_get(json_object_get(r, "configOptions"), 0);
	assert_string_equal(json_string_value(json_object_get(opt, "category")), "model");
	assert_string_equal(json_string_value(json_object_get(opt, "currentValue")),
			    "script_provider/scripted");
	char *sid_copy = xstrdup(sid);

	json_t *resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId",
							  sid_copy, "prompt", "type", "text", "text",
							  "say hello"));
	assert_string_equal(stop_reason(resp), "end_turn");
	char *text = agent_text(c, "agent_message_chunk");
	assert_string_equal(text, "Hello, world");
	free(text);

	/*
	 * Sequence numbers: 1, 2, 3... in the order sent. Number 1 is the prompt's
	 * echo, stored but not sent back to the client that sent the prompt.
	 */
	json_t *ups = updates_of(c);
	assert_true(json_array_size(ups) >= 2);
	size_t i;
	json_t *u;
	json_array_foreach(ups, i, u) {
		assert_string_equal(json_string_value(json_object_get(u, "sessionId")), sid_copy);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(
			json_object_get(u, "_meta"), "hearth"), "seq")), (json_int_t)i + 2);
		assert_string_not_equal(json_string_value(json_object_get(json_object_get(
			u, "update"), "sessionUpdate")), "user_message_chunk");
	}
	json_decref(ups);
	/* The echo is in the store, first. */
	json_t *ev = store_events_json(sid_copy);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0),
							      "sessionUpdate")), "user_message_chunk");
	json_decref(ev);

	/* The turn's states, each sent once as it changed, ending idle. */
	json_t *states = turn_states_of(c);
	json_t *want_states = json_pack("[s,s,s]", "thinking", "streaming", "idle");
	assert_true(json_equal(states, want_states));
	json_decref(states);
	json_decref(want_states);

	/* The store has the conversation, in the provider-neutral shape. */
	json_t *h = store_history(F->store, sid_copy);
	json_t *want = json_pack("[{s:s,s:[{s:s,s:s}]},{s:s,s:[{s:s,s:s}]}]",
				 "role", "user", "parts", "type", "text", "text", "say hello",
				 "role", "assistant", "parts", "type", "text", "text", "Hello, world");
	assert_true(json_equal(h, want));
	json_decref(h);
	json_decref(want);
	struct store_session ss;
	assert_int_equal(store_session_get(F->store, sid_copy, &ss), 0);
	assert_int_equal(ss.status, STORE_IDLE);
	store_session_clear(&ss);
	struct store_usage us;
	assert_int_equal(store_session_usage(F->store, sid_copy, &us), 0);
	assert_int_equal(us.tokens.input_tokens, 10);
	assert_int_equal(us.tokens.output_tokens, 3);
	/* 10 x $3/M + 3 x $15/M = 75 millionths of a dollar. */
	assert_int_equal(us.cost_micros, 75);
	json_t *all = updates_of(c);
	json_t *last = json_object_get(json_array_get(all, json_array_size(all) - 1), "update");
	assert_string_equal(json_string_value(json_object_get(last, "sessionUpdate")), "usage_update");
	assert_int_equal(json_integer_value(json_object_get(last, "used")), 13);
	/* The context window from the provider's model list (asked for at session/new). */
	assert_int_equal(json_integer_value(json_object_get(last, "size")), 200000);
	assert_true(json_real_value(json_object_get(json_object_get(last, "cost"), "amount")) ==
		    75 / 1e6);
	assert_string_equal(json_string_value(json_object_get(json_object_get(last, "cost"),
							      "currency")), "USD");
	json_decref(all);

	/* The request the provider saw. */
	char *rec = testutil_read_file(F->record, NULL);
	assert_non_null(strstr(rec, "\"messages\":[{\"parts\":[{\"text\":\"say hello\",\"type\":"
				    "\"text\"}],\"role\":\"user\"}]"));
	assert_non_null(strstr(rec, "\"model\":\"scripted\""));
	assert_non_null(strstr(rec, "\"name\":\"echo\""));
	assert_null(strstr(rec, "\"name\":\"denied\""));   /* denied tools are not offered */
	free(rec);
	free(sid_copy);
	client_free(c);
}

static void
test_tool_calls_multi_step(void **state)
{
	core_up("[[{\"text\":\"Let me check.\"},"
		"{\"tool_call\":{\"id\":\"c1\",\"name\":\"echo\",\"input\":{\"text\":\"one\"}}},"
		"{\"tool_call\":{\"id\":\"c2\",\"name\":\"nosuch\",\"input\":{}}},"
		"{\"finish\":\"tool_use\"}],"
		"[{\"tool_call\":{\"id\":\"c3\",\"name\":\"denied\",\"input\":{}}},{\"finish\":\"tool_use\"}],"
		"[{\"text\":\"All done.\"},{\"finish\":\"end_turn\"}]]");
	struct client *c = client_new();
	char *sid = xstrdup(new_session(c));
	json_t *resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "go"));
	assert_string_equal(stop_reason(resp), "end_turn");

	/* The tool call updates, in order. */
	json_t *ups = updates_of(c);
	char log[2048] = "";
	size_t i;
	json_t *u;
	json_array_foreach(ups, i, u) {
		json_t *up = json_object_get(u, "update");
		const char *kind = json_string_value(json_object_get(up, "sessionUpdate"));
		if (strncmp(kind, "tool_call", 9) != 0)
			continue;
		char line[256];
		snprintf(line, sizeof line, "%s %s %s\n", kind,
			 json_string_value(json_object_get(up, "toolCallId")),
			 json_string_value(json_object_get(up, "status")));
		strcat(log, line);
	}
	assert_string_equal(log,
		"tool_call c1 pending\n"
		"tool_call c2 pending\n"
		"tool_call_update c1 in_progress\n"
		"tool_call_update c1 completed\n"
		"tool_call_update c2 failed\n"
		"tool_call c3 pending\n"
		"tool_call_update c3 failed\n");
	json_decref(ups);

	/* History pairs every call with its result, right after it. */
	json_t *h = store_history(F->store, sid);
	assert_int_equal(json_array_size(h), 6);
	const char *roles[] = { "user", "assistant", "tool", "assistant", "tool", "assistant" };
	for (i = 0; i < 6; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(h, i), "role")),
				    roles[i]);
	json_t *results = json_object_get(json_array_get(h, 2), "parts");
	json_t *want = json_pack("[{s:s,s:s,s:s,s:s,s:b},{s:s,s:s,s:s,s:s,s:b}]",
				 "type", "tool_result", "id", "c1", "name", "echo", "content", "one",
				 "is_error", 0,
				 "type", "tool_result", "id", "c2", "name", "nosuch", "content",
				 "unknown tool", "is_error", 1);
	assert_true(json_equal(results, want));
	json_decref(want);
	json_t *denied = json_array_get(json_object_get(json_array_get(h, 4), "parts"), 0);
	assert_string_equal(json_string_value(json_object_get(denied, "content")),
			    "the tool is not offered (its permission is deny)");
	json_decref(h);

	/* The second request carried the first step's results. */
	char *rec = testutil_read_file(F->record, NULL);
	assert_int_equal(testutil_count(rec, "\n"), 3);
	assert_non_null(strstr(rec, "{\"content\":\"one\",\"id\":\"c1\",\"is_error\":false,"
				    "\"name\":\"echo\",\"type\":\"tool_result\"}"));
	free(rec);
	free(sid);
	client_free(c);
}

/* Answer the next permission request with `option`; returns the request (borrowed). */
static json_t *
answer_permission(struct client *c, const char *option)
{
	json_t *req = client_wait_method(c, "session/request_permission");
	json_t *reply = json_pack("{s:s,s:O,s:{s:{s:s,s:s}}}", "jsonrpc", "2.0", "id",
				  json_object_get(req, "id"), "result", "outcome", "outcome",
				  "selected", "optionId", option);
	char *text = json_dumps(reply, JSON_COMPACT);
	client_send_text(c, text);
	free(text);
	json_decref(reply);
	return req;
}

static void
test_permissions(void **state)
{
	core_up("[[{\"tool_call\":{\"id\":\"p1\",\"name\":\"ask_echo\",\"input\":{\"text\":\"a\"}}},"
		"{\"finish\":\"tool_use\"}],[{\"finish\":\"end_turn\"}],"
		"[{\"tool_call\":{\"id\":\"p2\",\"name\":\"ask_echo\",\"input\":{\"text\":\"b\"}}},"
		"{\"finish\":\"tool_use\"}],[{\"finish\":\"end_turn\"}],"
		"[{\"tool_call\":{\"id\":\"p3\",\"name\":\"ask_echo\",\"input\":{\"text\":\"c\"}}},"
		"{\"finish\":\"tool_use\"}],[{\"finish\":\"end_turn\"}],"
		"[{\"tool_call\":{\"id\":\"p4\",\"name\":\"ask_echo\",\"input\":{\"text\":\"c\"}}},"
		"{\"finish\":\"tool_use\"}],[{\"finish\":\"end_turn\"}]]");
	struct client *a = client_new(), *b = client_new();
	char *sid = xstrdup(new_session(a));
	call_ok(b, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", F->tmp,
					     "mcpServers"));

	/* 1: both are asked; a allows once; b's request is withdrawn. */
	json_int_t id = client_request(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}",
		"sessionId", sid, "prompt", "type", "text", "text", "1"));
	json_t *req = answer_permission(a, "allow_once");
	json_t *params = json_object_get(req, "params");
	assert_string_equal(json_string_value(json_object_get(json_object_get(params, "toolCall"),
							      "title")), "ask_echo a");
	json_t *kinds = json_object_get(params, "options");
	assert_int_equal(json_array_size(kinds), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(kinds, 1), "kind")),
			    "allow_always");
	client_wait_method(b, "session/request_permission");
	json_t *withdrawn = client_wait_method(b, "$/cancel_request");
	assert_non_null(json_object_get(json_object_get(withdrawn, "params"), "requestId"));
	assert_string_equal(stop_reason(client_wait_response(a, id)), "end_turn");

	/* 2: rejected: the call fails, the turn goes on. */
	id = client_request(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							   "prompt", "type", "text", "text", "2"));
	answer_permission(b, "reject_once");
	assert_string_equal(stop_reason(client_wait_response(a, id)), "end_turn");
	client_wait_method(a, "session/request_permission");   /* a's copy, withdrawn */

	/* 3: allowed always for subject "c"; 4: not asked again. */
	id = client_request(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							   "prompt", "type", "text", "text", "3"));
	answer_permission(a, "allow_always");
	assert_string_equal(stop_reason(client_wait_response(a, id)), "end_turn");
	size_t before = json_array_size(a->got);
	id = client_request(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							   "prompt", "type", "text", "text", "4"));
	assert_string_equal(stop_reason(client_wait_response(a, id)), "end_turn");
	for (size_t i = before; i < json_array_size(a->got); i++)
		assert_null(strstr(json_string_value(json_object_get(json_array_get(a->got, i),
					"method")) ?: "", "request_permission"));

	json_t *h = store_history(F->store, sid);
	char *dump = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(dump, "{\"content\":\"a\",\"id\":\"p1\",\"is_error\":false"));
	assert_non_null(strstr(dump, "{\"content\":\"the user refused permission for this call\","
				     "\"id\":\"p2\",\"is_error\":true"));
	assert_non_null(strstr(dump, "{\"content\":\"c\",\"id\":\"p4\",\"is_error\":false"));
	free(dump);
	json_decref(h);
	char *decision = NULL;
	assert_int_equal(store_permission_get(F->store, F->tmp, "ask_echo", "c", &decision), 0);
	assert_string_equal(decision, "allow");
	free(decision);
	free(sid);
	client_free(a);
	client_free(b);
}

/* Clients that answer, and close, from inside their on_message (run it under ASan). */
static void
test_reentrant_clients(void **state)
{
	core_up("[[{\"tool_call\":{\"id\":\"r1\",\"name\":\"ask_echo\",\"input\":{\"text\":\"a\"}}},"
		"{\"finish\":\"tool_use\"}],[{\"text\":\"done\"},{\"finish\":\"end_turn\"}],"
		"[{\"tool_call\":{\"id\":\"r2\",\"name\":\"ask_echo\",\"input\":{\"text\":\"b\"}}},"
		"{\"finish\":\"tool_use\"}],[{\"finish\":\"end_turn\"}]]");
	struct client *a = client_new(), *b = client_new();
	a->answer = "allow_once";
	char *sid = xstrdup(new_session(a));
	json_int_t id = client_request(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}",
		"sessionId", sid, "prompt", "type", "text", "text", "1"));
	assert_string_equal(stop_reason(client_wait_response(a, id)), "end_turn");

	/* Two followers answer inside their callbacks: the first one asked wins, the
	 * other's answer comes to a withdrawn request and is ignored. */
	b->answer = "reject_once";
	call_ok(b, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", F->tmp,
					     "mcpServers"));
	id = client_request(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							   "prompt", "type", "text", "text", "2"));
	assert_string_equal(stop_reason(client_wait_response(a, id)), "end_turn");
	json_t *h = store_history(F->store, sid);
	char *dump = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(dump, "{\"content\":\"a\",\"id\":\"r1\",\"is_error\":false"));
	assert_non_null(strstr(dump, "\"id\":\"r2\""));
	free(dump);
	json_decref(h);

	/* A client that goes away inside its callback, in the middle of a replay. */
	struct client *c = client_new();
	c->close_on = "session/update";
	client_request(c, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd",
						    F->tmp, "mcpServers"));
	for (int i = 0; i < 10; i++)
		uv_run(&F->loop, UV_RUN_NOWAIT);
	assert_true(c->closed);
	assert_int_equal(json_array_size(c->got), 1);
	/* The others go on. */
	call_ok(a, "session/list", json_object());
	call_ok(b, "session/list", json_object());
	free(sid);
	client_free(a);
	client_free(b);
	client_free(c);
}

/* The stored updates of a session as a follower gets them (a new array). */
static json_t *
stored_updates(const char *sid)
{
	json_t *ev = store_events_json(sid);
	json_t *out = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(ev, i, u)
		json_array_append_new(out, json_pack("{s:s,s:O,s:{s:{s:I}}}", "sessionId", sid,
						     "update", u, "_meta", "hearth", "seq",
						     (json_int_t)i + 1));
	json_decref(ev);
	return out;
}

/* Those of `all` (borrowed) but the one numbered seq (a new array). */
static json_t *
without_seq(const json_t *all, json_int_t seq)
{
	json_t *out = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(all, i, u)
		if ((json_int_t)i + 1 != seq)
			json_array_append(out, u);
	return out;
}

static void
test_two_clients_and_resume(void **state)
{
	core_up("[[{\"text\":\"one\"},{\"finish\":\"end_turn\"}],"
		"[{\"text\":\"two\"},{\"finish\":\"end_turn\"}]]");
	struct client *a = client_new(), *b = client_new();
	char *sid = xstrdup(new_session(a));
	json_t *resp = call(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "first"));
	assert_string_equal(stop_reason(resp), "end_turn");
	json_t *all = stored_updates(sid);
	size_t n_first = json_array_size(all);
	/* a got everything but its own prompt's echo (number 1). */
	json_t *a_ups = updates_of(a), *want = without_seq(all, 1);
	assert_true(json_equal(a_ups, want));
	json_decref(want);

	/* b loads: the whole conversation is replayed, the echo too, with the same numbers. */
	json_t *r = call_ok(b, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd",
							 F->tmp, "mcpServers"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(
		r, "_meta"), "hearth"), "lastSeq")), (json_int_t)n_first);
	json_t *b_ups = updates_of(b);
	assert_true(json_equal(b_ups, all));
	json_decref(b_ups);

	/* A prompt from b reaches a too, its echo included; b gets all but its echo. */
	resp = call(b, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
						   "prompt", "type", "text", "text", "second"));
	assert_string_equal(stop_reason(resp), "end_turn");
	json_decref(all);
	all = stored_updates(sid);
	size_t n_all = json_array_size(all);
	assert_true(n_all > n_first);
	json_t *echo = json_object_get(json_array_get(all, n_first), "update");
	assert_string_equal(json_string_value(json_object_get(echo, "sessionUpdate")),
			    "user_message_chunk");
	assert_string_equal(json_string_value(json_object_get(json_object_get(echo, "content"),
							      "text")), "second");
	json_decref(a_ups);
	a_ups = updates_of(a);
	want = without_seq(all, 1);
	assert_true(json_equal(a_ups, want));
	json_decref(want);
	b_ups = updates_of(b);
	want = without_seq(all, (json_int_t)n_first + 1);
	assert_true(json_equal(b_ups, want));
	json_decref(want);

	/* c resumes having seen n_first: it gets exactly the rest, nothing else. */
	struct client *c = client_new();
	call_ok(c, "session/resume", json_pack("{s:s,s:s,s:[],s:{s:{s:I}}}", "sessionId", sid,
					       "cwd", F->tmp, "mcpServers", "_meta", "hearth",
					       "lastSeq", (json_int_t)n_first));
	json_t *c_ups = updates_of(c);
	assert_int_equal(json_array_size(c_ups), n_all - n_first);
	for (size_t i = 0; i < json_array_size(c_ups); i++)
		assert_true(json_equal(json_array_get(c_ups, i), json_array_get(all, n_first + i)));
	/* Resuming without a position replays nothing. */
	struct client *d = client_new();
	call_ok(d, "session/resume", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", F->tmp,
					       "mcpServers"));
	json_t *d_ups = updates_of(d);
	assert_int_equal(json_array_size(d_ups), 0);
	json_decref(d_ups);
	json_decref(c_ups);
	json_decref(a_ups);
	json_decref(b_ups);
	json_decref(all);
	free(sid);
	client_free(a);
	client_free(b);
	client_free(c);
	client_free(d);
}

static void
test_cancel(void **state)
{
	core_up("[[{\"text\":\"thinking...\"},{\"hang\":true}],"
		"[{\"tool_call\":{\"id\":\"s1\",\"name\":\"sleep\",\"input\":{\"ms\":600000}}},"
		"{\"tool_call\":{\"id\":\"s2\",\"name\":\"echo\",\"input\":{\"text\":\"x\"}}},"
		"{\"finish\":\"tool_use\"}],"
		"[{\"text\":\"after\"},{\"finish\":\"end_turn\"}]]");
	struct client *c = client_new();
	char *sid = xstrdup(new_session(c));
	json_int_t id = client_request(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}",
		"sessionId", sid, "prompt", "type", "text", "text", "1"));
	client_wait_method(c, "session/update");   /* the first chunk (the echo is not sent back) */
	/* Busy: a second prompt is refused while the first runs. */
	json_t *busy = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "x"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(busy, "error"), "code")),
			 -32602);
	client_notify(c, "session/cancel", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(stop_reason(client_wait_response(c, id)), "cancelled");

	/* Cancel while a tool runs: it is woken, the next call never runs. */
	id = client_request(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							   "prompt", "type", "text", "text", "2"));
	/* The tool streams "sleep" then "ing": each update shows the output so far. */
	json_t *sleep1 = json_pack("[{s:s,s:{s:s,s:s}}]", "type", "content", "content", "type",
				   "text", "text", "sleep");
	json_t *sleeping = json_pack("[{s:s,s:{s:s,s:s}}]", "type", "content", "content", "type",
				     "text", "text", "sleeping");
	int saw_first = 0;
	for (;;) {
		json_t *m = client_wait_method(c, "session/update");
		json_t *up = json_object_get(json_object_get(m, "params"), "update");
		saw_first |= json_equal(json_object_get(up, "content"), sleep1);
		if (json_equal(json_object_get(up, "content"), sleeping))
			break;
	}
	assert_true(saw_first);
	json_decref(sleep1);
	json_decref(sleeping);
	client_notify(c, "session/cancel", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(stop_reason(client_wait_response(c, id)), "cancelled");
	json_t *h = store_history(F->store, sid);
	char *dump = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(dump, "\"id\":\"s1\",\"is_error\":true"));
	assert_non_null(strstr(dump, "{\"content\":\"cancelled: not run\",\"id\":\"s2\""));
	free(dump);
	json_decref(h);

	/* The session is usable after: the next turn runs normally. */
	json_t *resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "3"));
	assert_string_equal(stop_reason(resp), "end_turn");
	free(sid);
	client_free(c);
}

static void
test_provider_errors(void **state)
{
	core_up("[[{\"text\":\"par\"},{\"error\":{\"type\":7,\"status\":429,\"retryable\":true,"
		"\"retry_after_ms\":5,\"message\":\"slow down\"}}],"
		"[{\"text\":\"ok\"},{\"finish\":\"end_turn\"}],"
		"[{\"error\":{\"type\":1,\"status\":401,\"retryable\":false,"
		"\"message\":\"invalid x-api-key\"}}]]");
	struct client *c = client_new();
	char *sid = xstrdup(new_session(c));
	json_t *resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "1"));
	assert_string_equal(stop_reason(resp), "end_turn");
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "script_provider: slow down (HTTP 429); retry 1 of 5 in 5 ms"));
	free(log);
	testutil_log_capture();
	/* The retry was shown to the client, with why and how long. */
	json_t *retrying = turn_states_named(c, "retrying");
	json_t *want = json_pack("[{s:s,s:s,s:i,s:i,s:s,s:i}]", "sessionId", sid, "state",
				 "retrying", "attempt", 1, "maxAttempts", 5, "reason",
				 "rate limited (HTTP 429): slow down", "waitMs", 5);
	assert_true(json_equal(retrying, want));
	json_decref(retrying);
	json_decref(want);

	resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
						   "prompt", "type", "text", "text", "2"));
	json_t *err = json_object_get(resp, "error");
	assert_int_equal(json_integer_value(json_object_get(err, "code")), -32603);
	assert_string_equal(json_string_value(json_object_get(err, "message")),
			    "script_provider: authentication failed (HTTP 401): invalid x-api-key "
			    "(check the provider's API key)");
	struct store_session ss;
	assert_int_equal(store_session_get(F->store, sid, &ss), 0);
	assert_int_equal(ss.status, STORE_ERROR);
	store_session_clear(&ss);
	/* Nothing committed was lost: the first turn is whole. */
	json_t *h = store_history(F->store, sid);
	char *dump = json_dumps(h, JSON_COMPACT);
	assert_non_null(strstr(dump, "\"text\":\"ok\""));
	free(dump);
	/* The attempt that failed before writing anything left no empty message. */
	json_t *last = json_array_get(h, json_array_size(h) - 1);
	assert_string_equal(json_string_value(json_object_get(last, "role")), "user");
	size_t i;
	json_t *m;
	json_array_foreach(h, i, m)
		assert_true(json_array_size(json_object_get(m, "parts")) > 0);
	json_decref(h);
	free(sid);
	client_free(c);
}

/* Run SQL on the test's database through a second connection (a fault to inject). */
static void
db_exec(const char *sql)
{
	char *db = xasprintf("%s/state/hearth.db", F->tmp);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	char *err = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(h);
	free(db);
}

/*
 * What the followers were told and what the store holds agree after a write
 * fails: the part that could not be stored is never announced, and the turn
 * ends with an error naming the failure.
 */
static void
test_store_failure(void **state)
{
	/* 150 one-millisecond text steps: a first flush (a new part), then an append. */
	size_t cap = 8192, len = 0;
	char *script = xmalloc(cap);
	len += (size_t)snprintf(script + len, cap - len, "[[");
	for (int i = 0; i < 150; i++)
		len += (size_t)snprintf(script + len, cap - len, "{\"text\":\"w%d \"},", i);
	len += (size_t)snprintf(script + len, cap - len, "{\"finish\":\"end_turn\"}],"
				"[{\"text\":\"calling\"},{\"tool_call\":{\"id\":\"e1\",\"name\":"
				"\"echo\",\"input\":{\"text\":\"x\"}}},{\"finish\":\"tool_use\"}],"
				"[{\"text\":\"fine\"},{\"finish\":\"end_turn\"}]]");
	core_up(script);
	free(script);
	struct client *c = client_new();
	char *sid = xstrdup(new_session(c));

	/* Appends to a part fail: the first flush is said, the failed one is not. */
	db_exec("CREATE TRIGGER no_append BEFORE UPDATE ON parts "
		"BEGIN SELECT RAISE(ABORT, 'injected: disk full'); END");
	json_t *resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "1"));
	json_t *err = json_object_get(resp, "error");
	assert_int_equal(json_integer_value(json_object_get(err, "code")), -32603);
	assert_non_null(strstr(json_string_value(json_object_get(err, "message")),
			       "could not store the reply"));
	assert_non_null(strstr(json_string_value(json_object_get(err, "message")),
			       "injected: disk full"));
	char *said = agent_text(c, "agent_message_chunk");
	json_t *h = store_history(F->store, sid);
	json_t *reply = json_array_get(h, 1);
	assert_string_equal(json_string_value(json_object_get(reply, "role")), "assistant");
	assert_int_equal(json_array_size(json_object_get(reply, "parts")), 1);
	const char *stored = json_string_value(json_object_get(json_array_get(
		json_object_get(reply, "parts"), 0), "text"));
	assert_memory_equal(stored, "w0 ", 3);
	assert_string_equal(said, stored);
	free(said);
	json_decref(h);
	db_exec("DROP TRIGGER no_append");

	/* Tool calls cannot be stored: no call is announced, none runs. */
	db_exec("CREATE TRIGGER no_calls BEFORE INSERT ON parts WHEN NEW.type = 'tool_call' "
		"BEGIN SELECT RAISE(ABORT, 'injected: no calls'); END");
	size_t before = json_array_size(c->got);
	resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
						   "prompt", "type", "text", "text", "2"));
	err = json_object_get(resp, "error");
	assert_int_equal(json_integer_value(json_object_get(err, "code")), -32603);
	assert_non_null(strstr(json_string_value(json_object_get(err, "message")),
			       "injected: no calls"));
	for (size_t i = before; i < json_array_size(c->got); i++) {
		json_t *up = json_object_get(json_object_get(json_array_get(c->got, i), "params"),
					     "update");
		const char *kind = json_string_value(json_object_get(up, "sessionUpdate"));
		assert_true(kind == NULL || strncmp(kind, "tool_call", 9) != 0);
	}
	h = store_history(F->store, sid);
	char *dump = json_dumps(h, JSON_COMPACT);
	assert_null(strstr(dump, "tool_call"));
	assert_null(strstr(dump, "tool_result"));
	free(dump);
	json_decref(h);
	db_exec("DROP TRIGGER no_calls");

	/* The session goes on. */
	resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
						   "prompt", "type", "text", "text", "3"));
	assert_string_equal(stop_reason(resp), "end_turn");
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "injected: disk full"));
	free(log);
	testutil_log_capture();
	free(sid);
	client_free(c);
}

static void
test_bad_input(void **state)
{
	core_up("[]");
	struct client *c = client_new();
	struct {
		const char *frame;
		int code;
		const char *message;
	} cases[] = {
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}", -32601,
		  "unknown method 'no/such'" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"session/prompt\",\"params\":{}}", -32602,
		  "invalid params for session/prompt: missing 'sessionId'" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"session/prompt\",\"params\":"
		  "{\"sessionId\":\"ses_nope\",\"prompt\":[]}}", -32002, "no session 'ses_nope'" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"session/new\",\"params\":"
		  "{\"cwd\":\"relative\"}}", -32602,
		  "invalid params for session/new: 'cwd' must be an absolute path" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"session/new\",\"params\":"
		  "{\"cwd\":\"/\",\"_meta\":{\"hearth\":{\"model\":\"nope/x\"}}}}", -32602,
		  "invalid params for session/new: model 'nope/x': no provider module 'nope' is "
		  "loaded" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"initialize\",\"params\":"
		  "{\"protocolVersion\":\"1\"}}", -32602,
		  "invalid params for initialize: 'protocolVersion' must be an integer" },
		{ "not json", -32700, NULL },
		{ "[1,2]", -32600, "batches are not supported: send one message per line" },
		{ "1", -32600, "a message must be a JSON object" },
		{ "null", -32600, "a message must be a JSON object" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"session/load\",\"params\":"
		  "{\"sessionId\":\"ses_nope\",\"mcpServers\":[1]}}", -32602,
		  "invalid params for session/load: 'mcpServers[0]' must be an object" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"session/list\",\"params\":"
		  "{\"cwd\":\"rel\"}}", -32602,
		  "invalid params for session/list: 'cwd' must be an absolute path" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"_hearth/rename\",\"params\":"
		  "{\"sessionId\":\"ses_nope\",\"title\":\"\"}}", -32602,
		  "invalid params for _hearth/rename: 'title' must not be empty" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t before = json_array_size(c->got);
		client_send_text(c, cases[i].frame);
		uv_run(&F->loop, UV_RUN_NOWAIT);
		assert_int_equal(json_array_size(c->got), before + 1);
		json_t *err = json_object_get(json_array_get(c->got, before), "error");
		assert_int_equal(json_integer_value(json_object_get(err, "code")), cases[i].code);
		if (cases[i].message != NULL)
			assert_string_equal(json_string_value(json_object_get(err, "message")),
					    cases[i].message);
	}
	c->next_id = 100;   /* past the ids the raw frames used */
	/* Unknown notifications are ignored; a prompt with a bad block is refused whole. */
	size_t before = json_array_size(c->got);
	client_send_text(c, "{\"jsonrpc\":\"2.0\",\"method\":\"_x/y\",\"params\":{}}");
	assert_int_equal(json_array_size(c->got), before);
	char *sid = xstrdup(new_session(c));
	json_t *r = call(c, "session/prompt", json_pack("{s:s,s:[{s:s}]}", "sessionId", sid, "prompt",
						       "type", "video"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"),
							      "message")),
			    "invalid params for session/prompt: prompt block 0: unsupported or "
			    "malformed 'video' block");
	json_t *h = store_history(F->store, sid);
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);
	/* A frame over the core's limit. */
	char *big = xmalloc(CONN_FRAME_MAX + 2);
	memset(big, ' ', CONN_FRAME_MAX + 1);
	assert_int_equal(conn_send(c->conn, big, CONN_FRAME_MAX + 1), HEARTH_ELIMIT);
	free(big);
	free(sid);
	client_free(c);
}

static void
test_session_management(void **state)
{
	core_up("[]");
	struct client *a = client_new(), *b = client_new();
	char *sid = xstrdup(new_session(a));
	call_ok(b, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", F->tmp,
					     "mcpServers"));
	call_ok(a, "_hearth/rename", json_pack("{s:s,s:s}", "sessionId", sid, "title", "Fix it"));
	json_t *up = json_object_get(json_object_get(client_wait_method(b, "session/update"),
						     "params"), "update");
	assert_string_equal(json_string_value(json_object_get(up, "sessionUpdate")),
			    "session_info_update");
	assert_string_equal(json_string_value(json_object_get(up, "title")), "Fix it");

	json_t *st = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(json_string_value(json_object_get(st, "title")), "Fix it");
	assert_string_equal(json_string_value(json_object_get(st, "status")), "idle");
	assert_string_equal(json_string_value(json_object_get(st, "cwd")), F->tmp);
	assert_int_equal(json_integer_value(json_object_get(st, "lastSeq")), 1);

	json_t *bad = call(a, "session/set_config_option", json_pack("{s:s,s:s,s:s}", "sessionId",
		sid, "configId", "model", "value", "nomodel"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(bad, "error"),
							      "message")),
			    "invalid params for session/set_config_option: model 'nomodel' is not "
			    "of the form provider/model");
	json_t *ok = call_ok(a, "session/set_config_option", json_pack("{s:s,s:s,s:s}", "sessionId",
		sid, "configId", "model", "value", "script_provider/other"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(ok, "configOptions"), 0), "currentValue")), "script_provider/other");
	up = json_object_get(json_object_get(client_wait_method(b, "session/update"), "params"),
			     "update");
	assert_string_equal(json_string_value(json_object_get(up, "sessionUpdate")),
			    "config_option_update");

	char *sid2 = xstrdup(new_session(a));
	json_t *list = json_object_get(call_ok(a, "session/list", json_pack("{s:s}", "cwd", F->tmp)),
				       "sessions");
	assert_int_equal(json_array_size(list), 2);
	list = json_object_get(call_ok(a, "_hearth/sessions", json_object()), "sessions");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "sessionId")),
			    sid2);   /* newest first */
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "model")),
			    "script_provider/other");

	call_ok(a, "session/delete", json_pack("{s:s}", "sessionId", sid2));
	list = json_object_get(call_ok(a, "_hearth/sessions", json_object()), "sessions");
	assert_int_equal(json_array_size(list), 1);
	json_t *models = call_ok(a, "_hearth/models", json_object());
	json_t *want = json_pack("{s:[{s:s,s:s,s:s,s:i}],s:[]}", "models", "id",
				 "script_provider/scripted", "provider", "script_provider", "name",
				 "Scripted", "contextWindow", 200000, "errors");
	assert_true(json_equal(models, want));
	json_decref(want);
	/* The listed models are the values of the session's model option. */
	json_t *opts = json_object_get(json_array_get(json_object_get(call_ok(a,
		"session/set_config_option", json_pack("{s:s,s:s,s:s}", "sessionId", sid, "configId",
		"model", "value", "script_provider/other")), "configOptions"), 0), "options");
	assert_int_equal(json_array_size(opts), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(opts, 1), "value")),
			    "script_provider/scripted");
	json_t *d = call_ok(a, "_hearth/daemon", json_object());
	assert_string_equal(json_string_value(json_object_get(d, "version")), PACKAGE_VERSION);
	assert_int_equal(json_array_size(json_object_get(d, "modules")), 2);
	call_ok(a, "_hearth/shutdown", json_object());
	uv_run(&F->loop, UV_RUN_NOWAIT);
	assert_int_equal(F->shutdown_asked, 1);
	free(sid);
	free(sid2);
	client_free(a);
	client_free(b);
}

/* A turn the daemon's death cut short left a tool call with no result: repaired. */
/* session/fork: a copy of the history that then goes its own way. */
static void
test_session_fork(void **state)
{
	core_up("[[{\"text\":\"Hello\"},{\"usage\":{\"input\":10,\"output\":3}},"
		"{\"finish\":\"end_turn\"}],"
		"[{\"text\":\"Again\"},{\"finish\":\"end_turn\"}]]");
	struct client *a = client_new(), *b = client_new();
	json_t *caps = json_object_get(call_ok(a, "initialize", json_pack("{s:i}", "protocolVersion",
									  1)), "agentCapabilities");
	assert_non_null(json_object_get(json_object_get(caps, "sessionCapabilities"), "fork"));
	char *sid = xstrdup(new_session(a));
	assert_string_equal(stop_reason(call(a, "session/prompt", json_pack(
		"{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt", "type", "text", "text", "hi"))),
		"end_turn");
	json_t *src = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	json_int_t src_seq = json_integer_value(json_object_get(src, "lastSeq"));

	json_t *r = call_ok(b, "session/fork", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd",
							 F->tmp, "mcpServers"));
	char *fid = xstrdup(json_string_value(json_object_get(r, "sessionId")));
	assert_memory_equal(fid, "ses_", 4);
	assert_string_not_equal(fid, sid);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(r, "configOptions"), 0), "currentValue")), "script_provider/scripted");
	json_t *st = call_ok(b, "_hearth/status", json_pack("{s:s}", "sessionId", fid));
	assert_int_equal(json_integer_value(json_object_get(st, "lastSeq")), src_seq);
	assert_int_equal(json_integer_value(json_object_get(st, "messages")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "usage"),
							    "inputTokens")), 10);

	/* Its replay is the source's history, under its own id. */
	call_ok(b, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", fid, "cwd", F->tmp,
					     "mcpServers"));
	char *text = agent_text(b, "agent_message_chunk");
	assert_string_equal(text, "Hello");
	free(text);

	/* A prompt to the fork leaves the source alone. */
	assert_string_equal(stop_reason(call(b, "session/prompt", json_pack(
		"{s:s,s:[{s:s,s:s}]}", "sessionId", fid, "prompt", "type", "text", "text", "more"))),
		"end_turn");
	src = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_int_equal(json_integer_value(json_object_get(src, "lastSeq")), src_seq);
	assert_int_equal(json_integer_value(json_object_get(src, "messages")), 2);
	st = call_ok(b, "_hearth/status", json_pack("{s:s}", "sessionId", fid));
	assert_int_equal(json_integer_value(json_object_get(st, "messages")), 4);

	/* Bad input. */
	json_t *bad = call(b, "session/fork", json_pack("{s:s,s:s}", "sessionId", sid, "cwd", "/"));
	char *want = xasprintf("a fork keeps its session's directory: cwd must be %s (or left "
			       "out)", F->tmp);
	assert_string_equal(json_string_value(json_object_get(json_object_get(bad, "error"),
							      "message")), want);
	free(want);
	bad = call(b, "session/fork", json_pack("{s:s}", "sessionId", "ses_nope"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(bad, "error"),
							      "message")), "no session 'ses_nope'");
	bad = call(b, "session/fork", json_pack("{s:i}", "sessionId", 5));
	assert_non_null(json_object_get(bad, "error"));
	bad = call(b, "session/fork", json_pack("{s:s,s:i}", "sessionId", sid, "mcpServers", 1));
	assert_non_null(json_object_get(bad, "error"));
	free(fid);
	free(sid);
	client_free(a);
	client_free(b);
}

/* The first prompt names an untitled session; later ones and a chosen title stay. */
static void
test_auto_title(void **state)
{
	core_up("[[{\"text\":\"a\"},{\"finish\":\"end_turn\"}],"
		"[{\"text\":\"b\"},{\"finish\":\"end_turn\"}],"
		"[{\"text\":\"c\"},{\"finish\":\"end_turn\"}],"
		"[{\"text\":\"d\"},{\"finish\":\"end_turn\"}]]");
	struct client *a = client_new();
	char *sid = xstrdup(new_session(a));
	json_t *st = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_true(json_is_null(json_object_get(st, "title")));
	call_ok(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt",
					       "type", "text", "text",
					       " \n  fix   the\tbuild \nand more lines"));
	st = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(json_string_value(json_object_get(st, "title")), "fix the build");
	/* Followers were told. */
	int told = 0;
	size_t i;
	json_t *u, *ups = updates_of(a);
	json_array_foreach(ups, i, u) {
		const json_t *up = json_object_get(u, "update");
		const char *k = json_string_value(json_object_get(up, "sessionUpdate"));
		if (strcmp(k, "session_info_update") == 0 &&
		    strcmp(json_string_value(json_object_get(up, "title")), "fix the build") == 0)
			told++;
	}
	json_decref(ups);
	assert_int_equal(told, 1);
	call_ok(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt",
					       "type", "text", "text", "something else"));
	st = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(json_string_value(json_object_get(st, "title")), "fix the build");

	/* Long: cut at a word, with an ellipsis; blank text blocks are skipped. */
	char *sid2 = xstrdup(new_session(a));
	call_ok(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}]}", "sessionId", sid2,
		"prompt", "type", "text", "text", " \t\n", "type", "text", "text",
		"refactor the configuration parser so that trailing comments are accepted "
		"everywhere"));
	st = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid2));
	assert_string_equal(json_string_value(json_object_get(st, "title")),
			    "refactor the configuration parser so that trailing comments…");

	/* A title given first is kept. */
	char *sid3 = xstrdup(new_session(a));
	call_ok(a, "_hearth/rename", json_pack("{s:s,s:s}", "sessionId", sid3, "title", "Mine"));
	call_ok(a, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid3, "prompt",
					       "type", "text", "text", "hello"));
	st = call_ok(a, "_hearth/status", json_pack("{s:s}", "sessionId", sid3));
	assert_string_equal(json_string_value(json_object_get(st, "title")), "Mine");
	free(sid);
	free(sid2);
	free(sid3);
	client_free(a);
}

static void
test_history_repair(void **state)
{
	core_up("[[{\"text\":\"fine\"},{\"finish\":\"end_turn\"}]]");
	struct client *c = client_new();
	char *sid = xstrdup(new_session(c));
	char *mid = NULL;
	assert_int_equal(store_message_add(F->store, sid, "user", NULL, &mid), 0);
	json_t *p = json_pack("{s:s,s:s}", "type", "text", "text", "before the crash");
	store_part_add(F->store, mid, p);
	json_decref(p);
	free(mid);
	assert_int_equal(store_message_add(F->store, sid, "assistant", NULL, &mid), 0);
	p = json_pack("{s:s,s:s,s:s,s:{}}", "type", "tool_call", "id", "lost", "name", "echo", "input");
	store_part_add(F->store, mid, p);
	json_decref(p);
	free(mid);
	json_t *resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "again"));
	assert_string_equal(stop_reason(resp), "end_turn");
	json_t *h = store_history(F->store, sid);
	json_t *tool = json_array_get(h, 2);
	assert_string_equal(json_string_value(json_object_get(tool, "role")), "tool");
	json_t *r = json_array_get(json_object_get(tool, "parts"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "lost");
	assert_string_equal(json_string_value(json_object_get(r, "content")),
			    "interrupted: this call did not run");
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 3), "role")), "user");
	json_decref(h);
	free(sid);
	client_free(c);
}

static void
test_max_steps(void **state)
{
	/* The model asks for a tool forever: the turn stops after TURN_MAX_STEPS. */
	size_t cap = 128 * (TURN_MAX_STEPS + 5) + 16, len = 0;
	char *script = xmalloc(cap);
	len += (size_t)snprintf(script + len, cap - len, "[");
	for (int i = 0; i < TURN_MAX_STEPS + 4; i++)
		len += (size_t)snprintf(script + len, cap - len, "%s[{\"tool_call\":{\"id\":\"t%d\","
					"\"name\":\"echo\",\"input\":{\"text\":\"x\"}}},{\"finish\":"
					"\"tool_use\"}]", i ? "," : "", i);
	snprintf(script + len, cap - len, "]");
	core_up(script);
	free(script);
	struct client *c = client_new();
	char *sid = xstrdup(new_session(c));
	json_t *resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							  "prompt", "type", "text", "text", "loop"));
	assert_string_equal(stop_reason(resp), "max_turn_requests");
	char *rec = testutil_read_file(F->record, NULL);
	assert_int_equal(testutil_count(rec, "\n"), TURN_MAX_STEPS);
	free(rec);
	/* The limit is plugins.conf's max_steps. */
	agent_set_max_steps(3);
	resp = call(c, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
						   "prompt", "type", "text", "text", "again"));
	assert_string_equal(stop_reason(resp), "max_turn_requests");
	rec = testutil_read_file(F->record, NULL);
	assert_int_equal(testutil_count(rec, "\n"), TURN_MAX_STEPS + 3);
	free(rec);
	agent_set_max_steps(0);
	free(sid);
	client_free(c);
}

/* AGENTS.md in the project goes into the system prompt; CLAUDE.md where it is alone. */
static void
test_project_instructions(void **state)
{
	core_up("[[{\"finish\":\"end_turn\"}],[{\"finish\":\"end_turn\"}],"
		"[{\"finish\":\"end_turn\"}]]");
	char *claude = xasprintf("%s/CLAUDE.md", F->tmp), *agents = xasprintf("%s/AGENTS.md", F->tmp);
	struct client *c = client_new();
	char *sid = xstrdup(new_session(c));
	json_t *prompt = json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt", "type", "text",
				   "text", "x");
	call(c, "session/prompt", json_incref(prompt));
	assert_int_equal(testutil_write_file(claude, "Use tabs.\n", 10), 0);
	call(c, "session/prompt", json_incref(prompt));
	assert_int_equal(testutil_write_file(agents, "Run make check.\n", 16), 0);
	call(c, "session/prompt", json_incref(prompt));
	json_decref(prompt);
	char *rec = testutil_read_file(F->record, NULL);
	char *line2 = strchr(rec, '\n') + 1, *line3 = strchr(line2, '\n') + 1;
	line2[-1] = line3[-1] = '\0';
	assert_null(strstr(rec, "Project instructions"));
	assert_non_null(strstr(line2, "\\n\\nProject instructions from CLAUDE.md:\\nUse tabs.\\n\""));
	assert_non_null(strstr(line3, "\\n\\nProject instructions from AGENTS.md:\\nRun make "
				      "check.\\n\""));
	assert_null(strstr(line3, "Use tabs"));
	free(rec);
	free(claude);
	free(agents);
	free(sid);
	client_free(c);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_initialize),
		T(test_prompt_streams_and_persists),
		T(test_tool_calls_multi_step),
		T(test_permissions),
		T(test_reentrant_clients),
		T(test_two_clients_and_resume),
		T(test_cancel),
		T(test_provider_errors),
		T(test_store_failure),
		T(test_bad_input),
		T(test_session_management),
		T(test_session_fork),
		T(test_auto_title),
		T(test_history_repair),
		T(test_max_steps),
		T(test_project_instructions),
#undef T
	};
	return cmocka_run_group_tests_name("acp", tests, NULL, NULL);
}
