/*
 * test_switch.c: one session that switches model mid-session through every
 * provider, Anthropic -> OpenAI (chat) -> OpenAI (responses, a second instance of
 * the module) -> Gemini -> Ollama -> Anthropic, with a tool call in every step. The
 * real provider modules talk real HTTP to the fake vendor APIs; each request a fake
 * gets is checked to be valid for its API (tool calls paired with their results,
 * roles, ids), and the final history holds every step.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "acp.h"
#include "agent.h"
#include "conf.h"
#include "conn.h"
#include "defer.h"
#include "fake_anthropic.h"
#include "fake_gemini.h"
#include "fake_ollama.h"
#include "fake_openai.h"
#include "daemon_ops.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "session.h"
#include "store.h"
#include "testutil.h"
#include "tools.h"
#include "xmalloc.h"

#define BUILDDIR TEST_BUILDDIR "/.."

static uv_loop_t loop;
static json_t *got;   /* every message the core sent the test's connection */

static void
on_message(void *arg, const char *json, size_t len)
{
	json_array_append_new(got, json_loadb(json, len, 0, NULL));
}

static void
on_close(void *arg, const char *reason)
{
}

static json_t *
call(struct hearth_conn *c, json_int_t id, const char *method, json_t *params)
{
	json_t *m = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
			      "params", params);
	char *text = json_dumps(m, JSON_COMPACT);
	assert_int_equal(conn_send(c, text, strlen(text)), 0);
	free(text);
	json_decref(m);
	for (int spins = 0; spins < 1000000; spins++) {
		size_t i;
		json_t *r;
		json_array_foreach(got, i, r)
			if (json_object_get(r, "method") == NULL &&
			    json_integer_value(json_object_get(r, "id")) == id) {
				if (json_object_get(r, "error") != NULL) {
					char *s = json_dumps(r, 0);
					fail_msg("%s failed: %s", method, s);
				}
				return json_object_get(r, "result");
			}
		uv_run(&loop, UV_RUN_ONCE);
	}
	fail_msg("no answer to %s", method);
	return NULL;
}

/* --- validity of each vendor's request, as its API demands ------------------ */

/* Anthropic: roles alternate from user; every tool_use answered in the next message. */
static void
check_anthropic(const json_t *body)
{
	const json_t *msgs = json_object_get(body, "messages");
	assert_true(json_array_size(msgs) > 0);
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		assert_string_equal(role, i % 2 == 0 ? "user" : "assistant");
		size_t j;
		json_t *b;
		json_array_foreach(json_object_get(m, "content"), j, b) {
			if (strcmp(json_string_value(json_object_get(b, "type")), "tool_use") != 0)
				continue;
			const char *id = json_string_value(json_object_get(b, "id"));
			json_t *next = json_array_get(msgs, i + 1), *rb;
			size_t k;
			int answered = 0;
			json_array_foreach(json_object_get(next, "content"), k, rb)
				answered |= strcmp(json_string_value(json_object_get(rb, "type")),
						   "tool_result") == 0 &&
					    strcmp(json_string_value(json_object_get(rb, "tool_use_id")),
						   id) == 0;
			if (!answered)
				fail_msg("anthropic: tool_use %s is not answered in message %zu", id, i + 1);
		}
	}
}

/* OpenAI chat: after an assistant message with tool_calls, one tool message per call. */
static void
check_openai_chat(const json_t *body)
{
	const json_t *msgs = json_object_get(body, "messages");
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		if (strcmp(role, "tool") == 0) {
			/* Every tool message answers a call made before it. */
			const char *id = json_string_value(json_object_get(m, "tool_call_id"));
			int found = 0;
			for (size_t k = 0; k < i && !found; k++) {
				size_t n;
				json_t *tc;
				json_array_foreach(json_object_get(json_array_get(msgs, k), "tool_calls"),
						   n, tc)
					found |= strcmp(json_string_value(json_object_get(tc, "id")), id) == 0;
			}
			if (!found)
				fail_msg("openai chat: tool message %zu answers no call (%s)", i, id);
		}
		json_t *calls = json_object_get(m, "tool_calls");
		size_t n;
		json_t *tc;
		json_array_foreach(calls, n, tc) {
			json_t *reply = json_array_get(msgs, i + 1 + n);
			assert_string_equal(json_string_value(json_object_get(reply, "role")), "tool");
			assert_string_equal(json_string_value(json_object_get(reply, "tool_call_id")),
					    json_string_value(json_object_get(tc, "id")));
		}
	}
}

/* OpenAI responses: every function_call has a function_call_output with its call_id. */
static void
check_openai_responses(const json_t *body)
{
	const json_t *items = json_object_get(body, "input");
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		const char *type = json_string_value(json_object_get(it, "type"));
		if (type == NULL || strcmp(type, "function_call") != 0)
			continue;
		const char *id = json_string_value(json_object_get(it, "call_id"));
		int found = 0;
		for (size_t k = i + 1; k < json_array_size(items) && !found; k++) {
			json_t *o = json_array_get(items, k);
			const char *t = json_string_value(json_object_get(o, "type"));
			found = t != NULL && strcmp(t, "function_call_output") == 0 &&
				strcmp(json_string_value(json_object_get(o, "call_id")), id) == 0;
		}
		if (!found)
			fail_msg("openai responses: function_call %s has no output", id);
	}
}

/* Gemini: a model turn's functionCalls answered, in order and by name, next turn. */
static void
check_gemini(const json_t *body)
{
	const json_t *contents = json_object_get(body, "contents");
	size_t i;
	json_t *c;
	json_array_foreach(contents, i, c) {
		const char *role = json_string_value(json_object_get(c, "role"));
		assert_true(strcmp(role, "user") == 0 || strcmp(role, "model") == 0);
		json_t *names = json_array();
		size_t j;
		json_t *p;
		json_array_foreach(json_object_get(c, "parts"), j, p) {
			json_t *fc = json_object_get(p, "functionCall");
			if (fc != NULL)
				json_array_append(names, json_object_get(fc, "name"));
		}
		if (json_array_size(names) > 0) {
			json_t *next = json_array_get(contents, i + 1);
			assert_string_equal(json_string_value(json_object_get(next, "role")), "user");
			size_t k = 0;
			json_array_foreach(json_object_get(next, "parts"), j, p) {
				json_t *fr = json_object_get(p, "functionResponse");
				if (fr == NULL)
					continue;
				assert_string_equal(json_string_value(json_object_get(fr, "name")),
						    json_string_value(json_array_get(names, k)));
				k++;
			}
			assert_int_equal(k, json_array_size(names));
		}
		json_decref(names);
	}
}

/* --------------------------------------------------------------- the test -- */

static void
test_switch_through_every_provider(void **state)
{
	struct fake_anthropic *fa = fake_anthropic_start();
	struct fake_openai *fo = fake_openai_start();
	struct fake_gemini *fg = fake_gemini_start();
	struct fake_ollama *fl = fake_ollama_start();
	assert_non_null(fa);
	assert_non_null(fo);
	assert_non_null(fg);
	assert_non_null(fl);
	char *err = NULL;
#define PUSH(ok) do { if ((ok) != 0) fail_msg("bad script: %s", err); } while (0)
	/* Anthropic, first and last: a tool call, then the answer. */
	PUSH(fake_anthropic_push_text(fa, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":"
		"\"Checking.\"},{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"echo\",\"input\":"
		"{\"text\":\"from anthropic\"}},{\"type\":\"stop\",\"stop_reason\":\"tool_use\"}]", &err));
	PUSH(fake_anthropic_push_text(fa, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":"
		"\"anthropic done\"},{\"type\":\"stop\",\"stop_reason\":\"end_turn\"}]", &err));
	PUSH(fake_openai_push_text(fo, FAKE_OPENAI_CHAT, "[{\"type\":\"role\"},{\"type\":\"tool_call\","
		"\"index\":0,\"id\":\"call_chat\",\"name\":\"echo\",\"arguments\":{\"text\":\"from chat\"}},"
		"{\"type\":\"finish\",\"finish_reason\":\"tool_calls\"},{\"type\":\"usage\"},"
		"{\"type\":\"done\"}]", &err));
	PUSH(fake_openai_push_text(fo, FAKE_OPENAI_CHAT, "[{\"type\":\"role\"},{\"type\":\"text\","
		"\"text\":\"chat done\"},{\"type\":\"finish\"},{\"type\":\"usage\"},{\"type\":\"done\"}]",
		&err));
	PUSH(fake_openai_push_text(fo, FAKE_OPENAI_RESPONSES, "[{\"type\":\"created\"},{\"type\":"
		"\"function_call\",\"call_id\":\"call_resp\",\"name\":\"echo\",\"arguments\":"
		"{\"text\":\"from responses\"}},{\"type\":\"completed\"}]", &err));
	PUSH(fake_openai_push_text(fo, FAKE_OPENAI_RESPONSES, "[{\"type\":\"created\"},{\"type\":"
		"\"text\",\"text\":\"responses done\"},{\"type\":\"completed\"}]", &err));
	PUSH(fake_gemini_push_text(fg, "[{\"type\":\"call\",\"name\":\"echo\",\"args\":{\"text\":"
		"\"from gemini\"}},{\"type\":\"finish\"}]", &err));
	PUSH(fake_gemini_push_text(fg, "[{\"type\":\"text\",\"text\":\"gemini done\"},"
		"{\"type\":\"finish\"}]", &err));
	PUSH(fake_ollama_push_text(fl, "[{\"type\":\"tool_calls\",\"calls\":[{\"name\":\"echo\","
		"\"arguments\":{\"text\":\"from ollama\"}}]},{\"type\":\"done\"}]", &err));
	PUSH(fake_ollama_push_text(fl, "[{\"type\":\"text\",\"text\":\"ollama done\"},"
		"{\"type\":\"done\"}]", &err));
	PUSH(fake_anthropic_push_text(fa, "[{\"type\":\"message_start\"},{\"type\":\"tool_use\","
		"\"id\":\"toolu_b\",\"name\":\"echo\",\"input\":{\"text\":\"back home\"}},"
		"{\"type\":\"stop\",\"stop_reason\":\"tool_use\"}]", &err));
	PUSH(fake_anthropic_push_text(fa, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":"
		"\"back to anthropic\"},{\"type\":\"stop\",\"stop_reason\":\"end_turn\"}]", &err));

	char *aurl = fake_anthropic_url(fa), *ourl = fake_openai_url(fo), *gurl = fake_gemini_url(fg),
	     *lurl = fake_ollama_url(fl);
	setenv("ANTHROPIC_API_KEY", "k-anthropic", 1);
	setenv("OPENAI_API_KEY", "k-openai", 1);
	setenv("GEMINI_API_KEY", "k-gemini", 1);
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("GEMINI_BASE_URL");
	unsetenv("OLLAMA_HOST");
	char *tmp = testutil_mkdtemp("switch");
	char *text = xasprintf(
		"module_dir %s/plugins\nmodule_dir %s/tests/modules\n"
		"load provider anthropic\nload provider openai\nload provider openai_r openai\n"
		"load provider gemini\nload provider ollama\nload tool good_tool\n"
		"[provider anthropic]\nbase_url = %s\n"
		"[provider openai]\nbase_url = %s\napi = chat\n"
		"[provider openai_r]\nbase_url = %s\napi = responses\n"
		"[provider gemini]\nbase_url = %s\n"
		"[provider ollama]\nhost = %s\n", BUILDDIR, BUILDDIR, aurl, ourl, ourl, gurl, lurl);

	uv_loop_init(&loop);
	struct host_context ctx = { .loop = &loop, .state_dir = tmp, .runtime_dir = tmp };
	char *db = xasprintf("%s/hearth.db", tmp);
	ctx.store = store_open(db, NULL);
	assert_non_null(ctx.store);
	ctx.http = http_client_new(&loop);
	ctx.daemon = &core_host_ops;
	host_context_set(&ctx);
	defer_init(&loop);
	assert_int_equal(loader_init(), 0);
	testutil_log_capture();
	struct conf *conf = conf_parse("switch.conf", text, strlen(text));
	assert_int_equal(conf->n_errors, 0);
	struct registry *reg = registry_new(conf);
	assert_int_equal(registry_load_all(reg), 0);
	session_set_store(ctx.store, NULL, NULL);
	tools_set_registry(reg);
	agent_init(&loop, reg);
	acp_init(reg, NULL);

	got = json_array();
	struct hearth_conn *c = conn_open(on_message, on_close, NULL);
	json_int_t id = 1;
	json_t *r = call(c, id++, "session/new", json_pack("{s:s,s:[],s:{s:{s:s}}}", "cwd", tmp,
		"mcpServers", "_meta", "hearth", "model", "anthropic/claude-test"));
	char *sid = xstrdup(json_string_value(json_object_get(r, "sessionId")));
	static const char *const models[] = {
		"anthropic/claude-test", "openai/gpt-test", "openai_r/gpt-test",
		"gemini/gemini-test", "ollama/llama-test", "anthropic/claude-test" };
	for (size_t i = 0; i < 6; i++) {
		if (i > 0)
			call(c, id++, "session/set_config_option", json_pack("{s:s,s:s,s:s}",
				"sessionId", sid, "configId", "model", "value", models[i]));
		char *prompt = xasprintf("step %zu", i + 1);
		r = call(c, id++, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
			"prompt", "type", "text", "text", prompt));
		free(prompt);
		assert_string_equal(json_string_value(json_object_get(r, "stopReason")), "end_turn");
	}

	/* Every vendor got valid requests: 4 for Anthropic, 2 for each of the others
	 * (the model lists the first session asked for are GETs, without a body). */
	size_t messages = 0;
	json_t *last = NULL;
	for (size_t i = 0; i < fake_anthropic_count(fa); i++) {
		json_t *body = fake_anthropic_request_body(fa, i);
		if (json_object_get(body, "messages") != NULL) {
			check_anthropic(body);
			messages++;
			json_decref(last);
			last = json_incref(body);
		}
		json_decref(body);
	}
	assert_int_equal(messages, 4);
	size_t chat = 0, resp = 0;
	for (size_t i = 0; i < fake_openai_count(fo); i++) {
		json_t *body = fake_openai_request_body(fo, i);
		if (json_object_get(body, "messages") != NULL) {
			check_openai_chat(body);
			chat++;
		} else if (json_object_get(body, "input") != NULL) {
			check_openai_responses(body);
			resp++;
		}
		json_decref(body);
	}
	assert_int_equal(chat, 2);
	assert_int_equal(resp, 2);
	for (size_t i = 0; i < fake_gemini_count(fg); i++) {
		json_t *body = fake_gemini_request_body(fg, i);
		if (json_object_get(body, "contents") != NULL)
			check_gemini(body);
		json_decref(body);
	}
	/* Ollama's fake refuses an invalid request with a 400: its turn ended well. */

	/* The last Anthropic request carries the whole journey, every call answered. */
	char *dump = json_dumps(last, JSON_COMPACT);
	const char *expect[] = { "from anthropic", "from chat", "from responses", "from gemini",
				 "from ollama", "back home", "chat done", "responses done",
				 "gemini done", "ollama done", "step 6" };
	for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
		if (strstr(dump, expect[i]) == NULL)
			fail_msg("the last request lacks '%s': %s", expect[i], dump);
	free(dump);
	json_decref(last);

	/* And the store has every step: 6 prompts, each with a call and its result. */
	json_t *h = store_history(ctx.store, sid);
	size_t results = 0, calls = 0, i;
	json_t *m;
	json_array_foreach(h, i, m) {
		size_t j;
		json_t *p;
		json_array_foreach(json_object_get(m, "parts"), j, p) {
			const char *t = json_string_value(json_object_get(p, "type"));
			calls += strcmp(t, "tool_call") == 0;
			results += strcmp(t, "tool_result") == 0 &&
				   !json_is_true(json_object_get(p, "is_error"));
		}
	}
	assert_int_equal(calls, 6);
	assert_int_equal(results, 6);
	json_decref(h);

	conn_close(c);
	agent_shutdown();
	registry_fini_all(reg);
	acp_close();
	http_client_close(ctx.http, NULL, NULL);
	defer_close();
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	registry_free(reg);
	session_free_all();
	store_close(ctx.store);
	conf_free(conf);
	loader_exit();
	char *log = testutil_log_release();
	assert_null(strstr(log, "k-openai"));   /* keys never reach the log */
	free(log);
	json_decref(got);
	testutil_rmtree(tmp);
	free(tmp);
	free(db);
	free(text);
	free(sid);
	free(aurl);
	free(ourl);
	free(gurl);
	free(lurl);
	fake_anthropic_free(fa);
	fake_openai_free(fo);
	fake_gemini_free(fg);
	fake_ollama_free(fl);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_through_every_provider),
	};
	return cmocka_run_group_tests_name("switch", tests, NULL, NULL);
}
