/*
 * test_openai.c: the OpenAI provider module (plugins/providers/openai.c),
 * loaded through the real registry and talking through the real host HTTP client
 * to the fake OpenAI API (tests/fake_openai.c) on 127.0.0.1.
 *
 * Each sink call is written to a transcript, one line each, so a test states the
 * exact sequence it expects:
 *
 *   T:text  R:reasoning  E:meta-or-"-" (part_end)  C:id name input  U:in,out,reason,cr,cw
 *   D:finish
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "fake_openai.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "provider_harness.h"
#include "testutil.h"
#include "xmalloc.h"

#define TEST_KEY "sk-proj-test-0123456789"

/* The shared harness (tests/provider_harness.h) and this provider's fake. */
struct fixture {
	struct provider_fixture h;
	struct fake_openai *fo;
	char *url;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	provider_harness_setup(&f->h, "openai", "gpt-4.1");
	f->fo = fake_openai_start();
	assert_non_null(f->fo);
	f->url = fake_openai_url(f->fo);
	setenv("OPENAI_API_KEY", TEST_KEY, 1);
	unsetenv("OPENAI_BASE_URL");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	provider_harness_teardown(&f->h, TEST_KEY);
	fake_openai_free(f->fo);
	free(f->url);
	free(f);
	return 0;
}

/* Load the module with base_url at the fake and `extra` section lines. Returns
 * the number of registry errors. */
static size_t
load(struct fixture *f, const char *extra)
{
	return provider_harness_load_kv(&f->h, "base_url", f->url, extra);
}

static const struct hearth_provider *
prov(struct fixture *f)
{
	return provider_harness_prov(&f->h);
}

/* JSON written as it is, without escapes. */
#define J(...) #__VA_ARGS__

/* Start a stream of `request` (NULL: a one-line question) against the queued reply. */
static struct provider_rec *
start(struct fixture *f, const json_t *request)
{
	return provider_rec_start(&f->h, request);
}

static void
push(struct fixture *f, enum fake_openai_api api, const char *steps)
{
	char *error = NULL;
	if (fake_openai_push_text(f->fo, api, steps, &error) != 0)
		fail_msg("bad script: %s", error);
}

/* Queue `steps`, stream, and run until done. */
static struct provider_rec *
run(struct fixture *f, enum fake_openai_api api, const char *steps)
{
	push(f, api, steps);
	struct provider_rec *r = start(f, NULL);
	provider_rec_wait(r);
	return r;
}

#define CHAT FAKE_OPENAI_CHAT
#define RESP FAKE_OPENAI_RESPONSES

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void
assert_json(json_t *got /* stolen */, const char *want_text)
{
	json_error_t je;
	json_t *want = json_loads(want_text, 0, &je);
	if (want == NULL)
		fail_msg("bad expected JSON: %s", je.text);
	if (!json_equal(got, want)) {
		char *g = provider_harness_dump_sorted(got), *w = provider_harness_dump_sorted(want);
		fprintf(stderr, "got:  %s\nwant: %s\n", g, w);
		free(g);
		free(w);
		fail_msg("JSON differs");
	}
	json_decref(got);
	json_decref(want);
}

/* -------------------------------------------------------- chat streams -- */

static const size_t writes[] = { 1, 1, 1, 2, 3, 5, 8, 13, 64, 0 };

static void
test_chat_text(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		fake_openai_set_chunking(f->fo, writes[i], (unsigned)i + 1);
		struct provider_rec *r = run(f, CHAT, J([{"type":"role"},
			{"type":"text","text":["Hel","lo, w\u00f6rld","!\n"]},
			{"type":"finish","finish_reason":"stop"},{"type":"usage"},{"type":"done"}]));
		assert_string_equal(r->log, "T:Hel\nT:lo, w\xc3\xb6rld\nT:!\n\nE:-\n"
				    "U:10,5,0,0,0\nD:1\n");
		provider_rec_free(r);
	}
	assert_int_equal(fake_openai_count(f->fo), 10);
	const struct fakehttp_request *rq = fake_openai_request(f->fo, 0);
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->target, "/v1/chat/completions");
	assert_string_equal(fakehttp_header(rq, "authorization"), "Bearer " TEST_KEY);
	assert_string_equal(fakehttp_header(rq, "content-type"), "application/json");
	assert_json(fake_openai_request_body(f->fo, 0), J({"model":"gpt-4.1","stream":true,
		"stream_options":{"include_usage":true},
		"messages":[{"role":"user","content":"Hi"}]}));
}

static void
test_chat_reasoning(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	fake_openai_set_chunking(f->fo, 1, 9);
	struct provider_rec *r = run(f, CHAT, J([{"type":"role"},{"type":"reasoning","text":["Hm","m."]},
		{"type":"text","text":"Yes."},{"type":"finish"},
		{"type":"usage","usage":{"prompt_tokens":100,"completion_tokens":40,
		 "prompt_tokens_details":{"cached_tokens":64},
		 "completion_tokens_details":{"reasoning_tokens":30}}},{"type":"done"}]));
	assert_string_equal(r->log, "R:Hm\nR:m.\nE:{\"provider\":\"openai\"}\nT:Yes.\nE:-\n"
			    "U:36,40,30,64,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_chat_tool_call(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	for (unsigned seed = 1; seed <= 6; seed++) {
		fake_openai_set_chunking(f->fo, seed % 3 + 1, seed);
		struct provider_rec *r = run(f, CHAT, J([{"type":"role"},{"type":"text","text":"Let me look."},
			{"type":"tool_call","index":0,"id":"call_abc","name":"read",
			 "arguments":{"path":"src/a.c","lines":[1,20],"q":"a \"b\""}},
			{"type":"finish","finish_reason":"tool_calls"},{"type":"usage"},
			{"type":"done"}]));
		assert_string_equal(r->log, "T:Let me look.\nE:-\n"
			"C:call_abc read {\"lines\":[1,20],\"path\":\"src/a.c\",\"q\":\"a \\\"b\\\"\"}\n"
			"U:10,5,0,0,0\nD:2\n");
		provider_rec_free(r);
	}
	/* No arguments at all is an empty object. */
	struct provider_rec *r = run(f, CHAT, J([{"type":"tool_start","index":0,"id":"call_1","name":"ls"},
		{"type":"finish","finish_reason":"tool_calls"},{"type":"done"}]));
	assert_string_equal(r->log, "C:call_1 ls {}\nD:2\n");
	provider_rec_free(r);
	/* Servers that end tool calls with "stop", or with no finish_reason at all. */
	r = run(f, CHAT, J([{"type":"tool_start","index":0,"id":"call_1","name":"ls"},
		{"type":"finish","finish_reason":"stop"},{"type":"done"}]));
	assert_string_equal(r->log, "C:call_1 ls {}\nD:2\n");
	provider_rec_free(r);
	r = run(f, CHAT, J([{"type":"event","data":{"choices":[{"delta":{"tool_calls":[
		{"id":"call_x","function":{"name":"ls","arguments":"{\"a\":"}}]}}]}},
		{"type":"event","data":{"choices":[{"delta":{"tool_calls":[
		{"function":{"arguments":"1}"}}]}}]}},
		{"type":"event","data":{"choices":[{"delta":{"tool_calls":[
		{"id":"call_y","function":{"name":"pwd","arguments":""}}]}}]}},{"type":"done"}]));
	assert_string_equal(r->log, "C:call_x ls {\"a\":1}\nC:call_y pwd {}\nD:2\n");
	provider_rec_free(r);
}

static void
test_chat_parallel_tool_calls(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		fake_openai_set_chunking(f->fo, writes[i], (unsigned)i + 3);
		struct provider_rec *r = run(f, CHAT, J([{"type":"role"},
			{"type":"tool_start","index":0,"id":"call_a","name":"read"},
			{"type":"tool_start","index":1,"id":"call_b","name":"grep"},
			{"type":"tool_delta","index":1,"arguments":"{\"pat"},
			{"type":"tool_delta","index":0,"arguments":"{\"path\":"},
			{"type":"tool_start","index":2,"id":"call_c","name":"ls"},
			{"type":"tool_delta","index":1,"arguments":"tern\":\"y\"}"},
			{"type":"tool_delta","index":0,"arguments":"\"x\"}"},
			{"type":"finish","finish_reason":"tool_calls"},{"type":"usage"},
			{"type":"done"}]));
		assert_string_equal(r->log, "C:call_a read {\"path\":\"x\"}\n"
				    "C:call_b grep {\"pattern\":\"y\"}\nC:call_c ls {}\n"
				    "U:10,5,0,0,0\nD:2\n");
		provider_rec_free(r);
	}
}

static void
test_chat_finish_reasons(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *reason;
		enum hearth_finish want;
	} cases[] = {
		{ "stop", HEARTH_FINISH_END_TURN }, { "length", HEARTH_FINISH_MAX_TOKENS },
		{ "tool_calls", HEARTH_FINISH_TOOL_USE }, { "function_call", HEARTH_FINISH_TOOL_USE },
		{ "content_filter", HEARTH_FINISH_REFUSAL }, { "something_new", HEARTH_FINISH_END_TURN },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"finish\","
					"\"finish_reason\":\"%s\"},{\"type\":\"done\"}]",
					cases[i].reason);
		struct provider_rec *r = run(f, CHAT, steps);
		char *want = xasprintf("T:a\nE:-\nD:%d\n", (int)cases[i].want);
		assert_string_equal(r->log, want);
		free(want);
		free(steps);
		provider_rec_free(r);
	}
	/* No finish_reason at all (some servers): the end of the stream decides. */
	struct provider_rec *r = run(f, CHAT, J([{"type":"text","text":"a"},{"type":"done"}]));
	assert_string_equal(r->log, "T:a\nE:-\nD:1\n");
	provider_rec_free(r);
	/* Keep-alive comments, unknown fields and other choices are ignored. */
	r = run(f, CHAT, J([{"type":"raw","data":": keep-alive\n\n"},
		{"type":"event","data":{"choices":[{"index":1,"delta":{"content":"other"}}]}},
		{"type":"event","data":{"choices":[{"index":0,"delta":{"content":"mine",
		 "refusal":null,"x":1},"finish_reason":null}],"usage":null,"novel":[]}},
		{"type":"finish"},{"type":"done"}]));
	assert_string_equal(r->log, "T:mine\nE:-\nD:1\n");
	provider_rec_free(r);
}

static void
test_chat_stream_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* An error chunk after text (sometimes followed by [DONE]). */
	struct provider_rec *r = run(f, CHAT, J([{"type":"role"},{"type":"text","text":"Hel"},
		{"type":"error"},{"type":"done"}]));
	assert_string_equal(r->log, "T:Hel\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 0, 1, 0, "The server had an error while processing "
		     "your request. Sorry about that!", "server_error");
	provider_rec_free(r);
	r = run(f, CHAT, J([{"type":"error","error_type":"invalid_request_error",
		"code":"context_length_exceeded","message":"This model's maximum context length is 128000 tokens."}]));
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_CONTEXT, 0, 0, 0, "This model's maximum context length is "
		     "128000 tokens.", "context_length_exceeded");
	provider_rec_free(r);
	r = run(f, CHAT, J([{"type":"error","error_type":"tokens","code":"rate_limit_exceeded",
		"message":"Rate limit reached"}]));
	provider_rec_assert_error(r, HEARTH_PERR_RATE_LIMITED, 0, 1, 0, "Rate limit reached",
		     "rate_limit_exceeded");
	provider_rec_free(r);
	/* An error whose kind we do not know: a server error, not retried. */
	r = run(f, CHAT, J([{"type":"event","data":{"error":{"message":"odd"}}}]));
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 0, 0, 0, "odd", NULL);
	provider_rec_free(r);
	r = run(f, CHAT, J([{"type":"event","data":{"error":"plain text error"}}]));
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 0, 0, 0, "plain text error", NULL);
	provider_rec_free(r);
}

static void
test_chat_truncated(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* The body ends cleanly, but [DONE] never came: not a success. */
	struct provider_rec *r = run(f, CHAT, J([{"type":"role"},{"type":"text","text":"Hel"},
		{"type":"finish"},{"type":"usage"}]));
	assert_string_equal(r->log, "T:Hel\nE:-\nU:10,5,0,0,0\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before data: [DONE]", NULL);
	provider_rec_free(r);
	/* A tool call cut short by the end of the stream is not sent. */
	r = run(f, CHAT, J([{"type":"tool_call","index":0,"id":"c","name":"read",
		"arguments":["{\"pa","th\":\"x\"}"]}]));
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before data: [DONE]", NULL);
	provider_rec_free(r);
	/* The body ends inside an event. */
	r = run(f, CHAT, J([{"type":"raw","data":"data: [DONE]\n"}]));
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before data: [DONE]", NULL);
	provider_rec_free(r);
	/* An empty 200 body. */
	r = run(f, CHAT, J([{"type":"raw","data":""}]));
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before data: [DONE]", NULL);
	provider_rec_free(r);
	/* The connection drops in the middle of the chunked body: a network error. */
	r = run(f, CHAT, J([{"type":"text","text":"Hel"},{"type":"cut"}]));
	assert_string_equal(r->log, "T:Hel\nD:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_NETWORK);
	assert_int_equal(r->err.retryable, 1);
	assert_int_equal(r->err.http_status, 0);
	provider_rec_free(r);
}

/* The message of a protocol error; the rest of the error checked. */
static struct provider_rec *
run_protocol(struct fixture *f, enum fake_openai_api api, const char *steps)
{
	struct provider_rec *r = run(f, api, steps);
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_int_equal(r->err.retryable, 0);
	assert_int_equal(r->err.http_status, 0);
	assert_null(r->vendor);
	return r;
}

static void
test_chat_malformed(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	struct provider_rec *r = run_protocol(f, CHAT, J([{"type":"text","text":"a"},
		{"type":"event","data":"{\"choices\":[{\"delta\":"},{"type":"done"}]));
	assert_prefix(r->message, "event 2: its data is not JSON: ");
	assert_string_equal(r->log, "T:a\nD:7\n");
	provider_rec_free(r);
	r = run_protocol(f, CHAT, J([{"type":"event","data":[1,2]}]));
	assert_string_equal(r->message, "event 1: its data is not a JSON object");
	provider_rec_free(r);
	r = run_protocol(f, CHAT, J([{"type":"event","data":{"choices":{"index":0}}}]));
	assert_string_equal(r->message, "event 1: \"choices\" is not an array");
	provider_rec_free(r);
	r = run_protocol(f, CHAT, J([{"type":"event","data":{"choices":[{"index":0,
		"delta":{"tool_calls":{"index":0}}}]}}]));
	assert_string_equal(r->message, "event 1: \"tool_calls\" is not an array");
	provider_rec_free(r);
	r = run_protocol(f, CHAT, J([{"type":"event","data":{"choices":[{"index":0,
		"delta":{"tool_calls":[7]}}]}}]));
	assert_string_equal(r->message, "event 1: a tool_calls entry is not an object");
	provider_rec_free(r);
	/* Arguments that never close (cut by the output limit), or are no object. */
	r = run_protocol(f, CHAT, J([{"type":"tool_call","index":0,"id":"c1","name":"read",
		"arguments":["{\"path\": ","\"a.t"]},{"type":"finish","finish_reason":"length"},
		{"type":"done"}]));
	assert_prefix(r->message, "tool call 0 (read): its arguments are not valid JSON: ");
	assert_string_equal(r->log, "D:7\n");
	provider_rec_free(r);
	r = run_protocol(f, CHAT, J([{"type":"tool_call","index":3,"id":"c1","name":"read",
		"arguments":["[1,","2]"]},{"type":"finish"},{"type":"done"}]));
	assert_string_equal(r->message, "tool call 3 (read): its arguments are not a JSON object");
	provider_rec_free(r);
	/* A call with no name; fragments for a call already sent. */
	r = run_protocol(f, CHAT, J([{"type":"tool_delta","index":0,"arguments":"{}"},
		{"type":"finish"},{"type":"done"}]));
	assert_string_equal(r->message, "tool call 0 has no name");
	provider_rec_free(r);
	r = run_protocol(f, CHAT, J([{"type":"tool_start","index":0,"id":"c","name":"ls"},
		{"type":"finish"},{"type":"tool_delta","index":0,"arguments":"{}"},{"type":"done"}]));
	assert_string_equal(r->message, "event 3: tool call 0 goes on after it finished");
	assert_string_equal(r->log, "C:c ls {}\nD:7\n");
	provider_rec_free(r);
	/* An oversized event. */
	size_t n = 9u * 1024 * 1024;
	char *big = xmalloc(n + 64);
	strcpy(big, "data: ");
	memset(big + 6, 'x', n);
	strcpy(big + 6 + n, "\n\n");
	json_t *steps = json_pack("[{s:s,s:s}]", "type", "raw", "data", big);
	free(big);
	fake_openai_set_chunking(f->fo, 0, 0);
	assert_int_equal(fake_openai_push(f->fo, CHAT, steps, NULL), 0);
	json_decref(steps);
	r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_prefix(r->message, "an event is longer than 8388608 bytes (");
	provider_rec_free(r);
}

/* --------------------------------------------------- responses streams -- */

static void
test_resp_text(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "api = responses\n"), 0);
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		fake_openai_set_chunking(f->fo, writes[i], (unsigned)i + 1);
		struct provider_rec *r = run(f, RESP, J([{"type":"created"},
			{"type":"text","text":["Hel","lo, w\u00f6rld"]},{"type":"completed"}]));
		assert_string_equal(r->log, "T:Hel\nT:lo, w\xc3\xb6rld\nE:-\nU:10,5,0,0,0\nD:1\n");
		provider_rec_free(r);
	}
	const struct fakehttp_request *rq = fake_openai_request(f->fo, 0);
	assert_string_equal(rq->target, "/v1/responses");
	assert_string_equal(fakehttp_header(rq, "authorization"), "Bearer " TEST_KEY);
	assert_json(fake_openai_request_body(f->fo, 0), J({"model":"gpt-4.1","stream":true,
		"input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]}]}));
}

static void
test_resp_reasoning(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "api = responses\n"), 0);
	fake_openai_set_chunking(f->fo, 2, 5);
	struct provider_rec *r = run(f, RESP, J([{"type":"created"},
		{"type":"reasoning","id":"rs_1","summary":["Think","ing."],
		 "encrypted_content":"gAAAA"},
		{"type":"reasoning","id":"rs_2","encrypted_content":"gBBBB"},
		{"type":"text","text":"Ok"},
		{"type":"completed","usage":{"input_tokens":100,"input_tokens_details":
		 {"cached_tokens":40},"output_tokens":50,"output_tokens_details":
		 {"reasoning_tokens":30},"total_tokens":150}}]));
	assert_string_equal(r->log, "R:Think\nR:ing.\n"
		"E:{\"encrypted_content\":\"gAAAA\",\"id\":\"rs_1\",\"provider\":\"openai\"}\n"
		"R:\nE:{\"encrypted_content\":\"gBBBB\",\"id\":\"rs_2\",\"provider\":\"openai\"}\n"
		"T:Ok\nE:-\nU:60,50,30,40,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_resp_tool_calls(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "api = responses\n"), 0);
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		fake_openai_set_chunking(f->fo, writes[i], (unsigned)i + 11);
		struct provider_rec *r = run(f, RESP, J([{"type":"created"},{"type":"text","text":"Two."},
			{"type":"function_call","id":"fc_1","call_id":"call_1","name":"read",
			 "arguments":{"path":"a.c","n":[1,2]}},
			{"type":"function_call","id":"fc_2","call_id":"call_2","name":"grep",
			 "arguments":["","{\"pat","tern\":\"y\"}"]},{"type":"completed"}]));
		assert_string_equal(r->log, "T:Two.\nE:-\nC:call_1 read {\"n\":[1,2],\"path\":\"a.c\"}\n"
				    "C:call_2 grep {\"pattern\":\"y\"}\nU:10,5,0,0,0\nD:2\n");
		provider_rec_free(r);
	}
}

static void
test_resp_endings(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "api = responses\n"), 0);
	struct provider_rec *r = run(f, RESP, J([{"type":"text","text":"abc"},{"type":"incomplete"}]));
	assert_string_equal(r->log, "T:abc\nE:-\nU:10,5,0,0,0\nD:3\n");
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"incomplete","reason":"content_filter"}]));
	assert_string_equal(r->log, "U:10,5,0,0,0\nD:5\n");
	provider_rec_free(r);
	/* response.failed and the error event. */
	r = run(f, RESP, J([{"type":"created"},{"type":"text","text":"partial"},
		{"type":"failed"}]));
	assert_string_equal(r->log, "T:partial\nE:-\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 0, 1, 0,
		     "The server had an error while processing your request.", "server_error");
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"failed","code":"invalid_prompt","message":"flagged"}]));
	provider_rec_assert_error(r, HEARTH_PERR_BAD_REQUEST, 0, 0, 0, "flagged", "invalid_prompt");
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"created"},{"type":"error","code":"rate_limit_exceeded",
		"message":"slow down"}]));
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_RATE_LIMITED, 0, 1, 0, "slow down", "rate_limit_exceeded");
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"error","code":"context_length_exceeded",
		"message":"Your input exceeds the context window of this model."}]));
	provider_rec_assert_error(r, HEARTH_PERR_CONTEXT, 0, 0, 0,
		     "Your input exceeds the context window of this model.",
		     "context_length_exceeded");
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"error"}]));
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 0, 0, 0, "An error occurred", NULL);
	provider_rec_free(r);
	/* Truncated: no terminal event, or cut inside a tool call. */
	r = run(f, RESP, J([{"type":"created"},{"type":"text","text":"x"}]));
	assert_string_equal(r->log, "T:x\nE:-\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before response.completed",
		     NULL);
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"event","event":"response.output_item.added","data":
		{"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1",
		 "type":"function_call","call_id":"call_1","name":"read","arguments":""}}},
		{"type":"event","event":"response.function_call_arguments.delta","data":
		{"type":"response.function_call_arguments.delta","item_id":"fc_1",
		 "output_index":0,"delta":"{\"a\""}}]));
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before response.completed",
		     NULL);
	provider_rec_free(r);
	/* Events after the end, and unknown events, are ignored. */
	r = run(f, RESP, J([{"type":"event","event":"response.web_search_call.searching",
		"data":{"type":"response.web_search_call.searching"}},{"type":"text","text":"a"},
		{"type":"completed"},{"type":"text","text":"late"}]));
	assert_string_equal(r->log, "T:a\nE:-\nU:10,5,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_resp_malformed(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "api = responses\n"), 0);
	struct provider_rec *r = run_protocol(f, RESP, J([{"type":"event","event":"response.created",
		"data":"{\"type\":"}]));
	assert_prefix(r->message, "event 1: its data is not JSON: ");
	provider_rec_free(r);
	r = run_protocol(f, RESP, J([{"type":"event","event":"response.output_text.delta",
		"data":{"type":"response.output_text.delta","delta":5}}]));
	assert_string_equal(r->message, "event 1 (response.output_text.delta): no string \"delta\"");
	provider_rec_free(r);
	r = run_protocol(f, RESP, J([{"type":"event","event":"x","data":{"type":
		"response.function_call_arguments.delta","item_id":"fc_9","delta":"{"}}]));
	assert_string_equal(r->message, "event 1 (response.function_call_arguments.delta): no "
			    "function_call item fc_9");
	provider_rec_free(r);
	r = run_protocol(f, RESP, J([{"type":"event","data":{"type":"response.output_item.added",
		"output_index":0,"item":{"type":"function_call","id":"fc_1","name":"x"}}}]));
	assert_string_equal(r->message, "event 1: a function_call item without call_id or name");
	provider_rec_free(r);
	r = run_protocol(f, RESP, J([{"type":"function_call","call_id":"c","name":"read",
		"arguments":["{\"a\":"]},{"type":"completed"}]));
	assert_prefix(r->message, "tool call 0 (read): its arguments are not valid JSON: ");
	provider_rec_free(r);
	r = run_protocol(f, RESP, J([{"type":"event","data":{"type":"response.output_item.done",
		"output_index":0,"item":{"type":"function_call","id":"fc_1"}}}]));
	assert_string_equal(r->message, "event 1: a function_call item ends that never began");
	provider_rec_free(r);
}

/* ---------------------------------------------------------- HTTP errors -- */

static void
test_http_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int status;
		const char *extra;
		uint32_t want;
		int retryable;
		uint64_t retry_after_ms;
		const char *vendor;
	} cases[] = {
		{ 400, NULL, HEARTH_PERR_BAD_REQUEST, 0, 0, "invalid_request_error" },
		{ 400, "\"code\":\"context_length_exceeded\"", HEARTH_PERR_CONTEXT, 0, 0,
		  "context_length_exceeded" },
		{ 401, "\"code\":\"invalid_api_key\"", HEARTH_PERR_AUTH, 0, 0, "invalid_api_key" },
		{ 403, NULL, HEARTH_PERR_PERMISSION, 0, 0, "permission_error" },
		{ 404, "\"code\":\"model_not_found\"", HEARTH_PERR_NOT_FOUND, 0, 0,
		  "model_not_found" },
		{ 413, NULL, HEARTH_PERR_TOO_LARGE, 0, 0, "invalid_request_error" },
		{ 422, NULL, HEARTH_PERR_BAD_REQUEST, 0, 0, "invalid_request_error" },
		{ 429, "\"code\":\"rate_limit_exceeded\",\"retry_after\":\"2\"",
		  HEARTH_PERR_RATE_LIMITED, 1, 2000, "rate_limit_exceeded" },
		{ 429, "\"headers\":{\"retry-after-ms\":\"1500\"},\"retry_after\":\"9\"",
		  HEARTH_PERR_RATE_LIMITED, 1, 1500, "requests" },
		{ 429, "\"headers\":{\"x-ratelimit-reset-requests\":\"1s\","
		  "\"x-ratelimit-reset-tokens\":\"6m0.5s\"}", HEARTH_PERR_RATE_LIMITED, 1, 360500,
		  "requests" },
		{ 429, "\"headers\":{\"x-ratelimit-reset-tokens\":\"120ms\"}",
		  HEARTH_PERR_RATE_LIMITED, 1, 120, "requests" },
		{ 429, "\"headers\":{\"x-ratelimit-reset-tokens\":\"soon\"}",
		  HEARTH_PERR_RATE_LIMITED, 1, 0, "requests" },
		{ 429, "\"code\":\"insufficient_quota\",\"error_type\":\"insufficient_quota\"",
		  HEARTH_PERR_RATE_LIMITED, 0, 0, "insufficient_quota" },
		{ 500, NULL, HEARTH_PERR_SERVER, 1, 0, "server_error" },
		{ 502, NULL, HEARTH_PERR_SERVER, 1, 0, "server_error" },
		{ 503, "\"retry_after\":\"3\"", HEARTH_PERR_OVERLOADED, 1, 3000, "server_error" },
		{ 500, "\"headers\":{\"x-should-retry\":\"false\"}", HEARTH_PERR_SERVER, 0, 0,
		  "server_error" },
	};
	assert_int_equal(load(f, NULL), 0);
	for (int api = 0; api < 2; api++) {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			char *msg = xasprintf("message %zu", i);
			char *steps = xasprintf("[{\"type\":\"http_error\",\"status\":%d,"
						"\"message\":\"%s\"%s%s}]", cases[i].status, msg,
						cases[i].extra ? "," : "",
						cases[i].extra ? cases[i].extra : "");
			struct provider_rec *r = run(f, api == 0 ? CHAT : RESP, steps);
			assert_string_equal(r->log, "D:7\n");
			provider_rec_assert_error(r, cases[i].want, cases[i].status, cases[i].retryable,
				     cases[i].retry_after_ms, msg, cases[i].vendor);
			provider_rec_free(r);
			free(steps);
			free(msg);
		}
		if (api == 0) {
			registry_fini_all(f->h.reg);
			registry_free(f->h.reg);
			conf_free(f->h.conf);
			f->h.reg = NULL;
			f->h.conf = NULL;
			assert_int_equal(load(f, "api = responses\n"), 0);
		}
	}
	/* Bodies that are not OpenAI errors. */
	struct provider_rec *r = run(f, RESP, J([{"type":"http_error","status":502,
		"body":"<html>Bad Gateway</html>"}]));
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 502, 1, 0, "HTTP 502 with a body that is not an "
		     "OpenAI error: <html>Bad Gateway</html>", NULL);
	provider_rec_free(r);
	/* A 200 that is not a stream: an error object, or a whole completion. */
	r = run(f, RESP, J([{"type":"http_error","status":200,"body":
		"{\"error\":{\"message\":\"no such model\",\"code\":\"model_not_found\"}}"}]));
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_NOT_FOUND, 200, 0, 0, "no such model", "model_not_found");
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"http_error","status":200,"body":
		"{\"object\":\"chat.completion\",\n\"choices\":[]}"}]));
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 200, 0, 0, "HTTP 200 with Content-Type "
		     "application/json, not an event stream: {\"object\":\"chat.completion\", "
		     "\"choices\":[]}", NULL);
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"http_error","status":404,"body":""}]));
	provider_rec_assert_error(r, HEARTH_PERR_NOT_FOUND, 404, 0, 0, "HTTP 404 with an empty body", NULL);
	provider_rec_free(r);
	r = run(f, RESP, J([{"type":"http_error","status":400,
		"body":"{\"error\":\"model is required\"}"}]));
	provider_rec_assert_error(r, HEARTH_PERR_BAD_REQUEST, 400, 0, 0, "model is required", NULL);
	provider_rec_free(r);
}

static int
dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void
test_network_error(void **state)
{
	struct fixture *f = *state;
	char *text = xasprintf("module_dir %s/plugins\nload provider openai\n", HEARTH_BUILDDIR);
	char *url = xasprintf("http://127.0.0.1:%d/v1", dead_port());
	/* No base_url key: OPENAI_BASE_URL says where. */
	setenv("OPENAI_BASE_URL", url, 1);
	f->h.conf = conf_parse("test.conf", text, strlen(text));
	f->h.reg = registry_new(f->h.conf);
	assert_int_equal(registry_load_all(f->h.reg), 0);
	f->h.mod = registry_find(f->h.reg, HEARTH_KIND_PROVIDER, "openai");
	unsetenv("OPENAI_BASE_URL");
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "D:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_NETWORK);
	assert_int_equal(r->err.retryable, 1);
	assert_int_equal(fake_openai_count(f->fo), 0);
	provider_rec_free(r);
	free(url);
	free(text);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	push(f, CHAT, J([{"type":"text","text":"Hel"},{"type":"hang"}]));
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->log != NULL && strstr(r->log, "T:Hel\n") != NULL);
	prov(f)->cancel(f->h.mod->state, r->call);
	RUN_UNTIL(&f->h, fakehttp_open_connections(fake_openai_http(f->fo)) == 0);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_string_equal(r->log, "T:Hel\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* From inside a sink callback, with more of the reply already here. */
	fake_openai_set_chunking(f->fo, 0, 0);
	push(f, CHAT, J([{"type":"text","text":["one","two"]},{"type":"finish"},{"type":"done"}]));
	r = provider_rec_new(&f->h);
	r->cancel_on_text = 1;
	json_t *req = provider_harness_request(&f->h);
	int error = 0;
	r->call = prov(f)->stream(f->h.mod->state, req, &provider_rec_sink, r, &error);
	json_decref(req);
	RUN_UNTIL(&f->h, r->cancelled);
	for (int i = 0; i < 50; i++) {
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_string_equal(r->log, "T:one\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* Still running at shutdown: dropped by fini() without a callback. */
	push(f, CHAT, J([{"type":"text","text":"x"},{"type":"hang"}]));
	r = start(f, NULL);
	RUN_UNTIL(&f->h, r->log != NULL);
	registry_fini_all(f->h.reg);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_string_equal(r->log, "T:x\n");
	provider_rec_free(r);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  provider/openai: a stream was still running at "
			       "shutdown\n"));
	free(log);
	testutil_log_capture();
}

static void
test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "timeout_ms = 300\napi = responses\n"), 0);
	fake_openai_set_chunking(f->fo, 0, 0);   /* in one write: only the hang is idle */
	push(f, RESP, J([{"type":"created"},{"type":"text","text":"slow"},{"type":"hang"}]));
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "T:slow\nE:-\nD:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_TIMEOUT);
	assert_int_equal(r->err.retryable, 1);
	provider_rec_free(r);
}

/* -------------------------------------------------------------- models -- */

struct models_rec {
	int done;
	json_t *models;
	int has_err;
	uint32_t type;
	long status;
	char *message;
};

static void
models_done(void *arg, json_t *models, const struct hearth_provider_error *err)
{
	struct models_rec *m = arg;
	m->done++;
	m->models = models;
	if (err != NULL) {
		assert_null(models);
		m->has_err = 1;
		m->type = err->type;
		m->status = err->http_status;
		m->message = xstrdup(err->message);
	}
}

static void
test_list_models(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	json_t *models = json_pack("[{s:s,s:s,s:i,s:s},{s:s,s:s},{s:i},{s:s,s:s,s:s}]",
		"id", "gpt-4.1", "object", "model", "created", 1744316542, "owned_by", "system",
		"id", "o3", "object", "model", "created", 1,
		"id", "meta-llama/llama-3-70b", "name", "Llama 3 70B", "object", "model");
	fake_openai_set_models(f->fo, models);
	fake_openai_set_key(f->fo, TEST_KEY);
	json_decref(models);
	struct models_rec m = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	assert_false(m.has_err);
	assert_json(m.models, J([{"id":"gpt-4.1","name":"gpt-4.1"},{"id":"o3","name":"o3"},
		{"id":"meta-llama/llama-3-70b","name":"Llama 3 70B"}]));
	const struct fakehttp_request *rq = fake_openai_request(f->fo, 0);
	assert_string_equal(rq->method, "GET");
	assert_string_equal(rq->target, "/v1/models");
	assert_string_equal(fakehttp_header(rq, "authorization"), "Bearer " TEST_KEY);

	fake_openai_set_key(f->fo, "another");
	struct models_rec e = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &e), 0);
	RUN_UNTIL(&f->h, e.done);
	assert_true(e.has_err);
	assert_int_equal(e.type, HEARTH_PERR_AUTH);
	assert_int_equal(e.status, 401);
	assert_string_equal(e.message, "Incorrect API key provided.");
	free(e.message);
}

static void
test_list_models_malformed(void **state)
{
	struct fixture *f = *state;
	struct fakehttp *srv = fakehttp_start();
	char *url = fakehttp_url(srv, "/v1");
	char *fake_url = f->url;
	f->url = url;
	assert_int_equal(load(f, NULL), 0);
	f->url = fake_url;
	static const struct {
		const char *body;
		const char *want;
	} cases[] = {
		{ "not json", "the model list is not JSON: " },
		{ "{\"object\":\"list\"}", "the model list has no \"data\" array" },
		{ "{\"data\":{}}", "the model list has no \"data\" array" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fakehttp_push(srv, &(struct fakehttp_response){ .body = cases[i].body });
		struct models_rec m = { 0 };
		assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
		RUN_UNTIL(&f->h, m.done);
		assert_true(m.has_err);
		assert_int_equal(m.type, HEARTH_PERR_PROTOCOL);
		assert_prefix(m.message, cases[i].want);
		free(m.message);
	}
	assert_string_equal(fakehttp_request(srv, 0)->target, "/v1/models");
	fakehttp_free(srv);
	free(url);
}

/* ---------------------------------------------------------- translation -- */

static const char *const history = J({"model":"gpt-5","system":"Be brief.","max_tokens":1000,
	"messages":[
	 {"role":"user","parts":[{"type":"text","text":"Look at this"},
	  {"type":"image","mime":"image/png","data":"iVBO"},
	  {"type":"file","mime":"application/pdf","name":"doc.pdf","data":"JVBE"},
	  {"type":"file","mime":"application/zip","name":"a.zip","data":"UEsD"}]},
	 {"role":"assistant","parts":[
	  {"type":"reasoning","text":"Claude thinks","meta":{"provider":"anthropic","signature":"s"}},
	  {"type":"reasoning","text":"GPT thinks","meta":{"provider":"openai","id":"rs_1",
	   "encrypted_content":"gAAA"}},
	  {"type":"text","text":"Reading both."},
	  {"type":"tool_call","id":"toolu_01","name":"read","input":{"path":"a.c"}},
	  {"type":"tool_call","id":"toolu_02","name":"read","input":{"path":"b.c"}},
	  {"type":"tool_call","id":"toolu_03","name":"ls","input":{}}]},
	 {"role":"tool","parts":[
	  {"type":"tool_result","id":"toolu_02","name":"read","content":"B","is_error":true},
	  {"type":"tool_result","id":"toolu_01","name":"read","content":[{"type":"text","text":"A1"},
	   {"type":"text","text":"A2"}],"is_error":false},
	  {"type":"tool_result","id":"toolu_99","name":"grep","content":"stray"}]},
	 {"role":"assistant","parts":[{"type":"reasoning","text":"no id","meta":{"provider":"openai"}},
	  {"type":"text","text":"Done."}]},
	 {"role":"user","parts":[{"type":"text","text":"Thanks"}]}],
	"tools":[{"name":"read","description":"Read a file","input_schema":{"type":"object",
	  "properties":{"path":{"type":"string"}}}},{"name":"ls"}]});

static void
translate(struct fixture *f, enum fake_openai_api api)
{
	push(f, api, api == CHAT ? J([{"type":"finish"},{"type":"done"}]) :
	     J([{"type":"completed"}]));
	json_t *req = json_loads(history, 0, NULL);
	assert_non_null(req);
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	assert_false(r->has_err);
	provider_rec_free(r);
}

static void
test_translate_chat(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	translate(f, CHAT);
	assert_json(fake_openai_request_body(f->fo, 0), J({"model":"gpt-5","stream":true,
	 "stream_options":{"include_usage":true},"max_completion_tokens":1000,
	 "messages":[
	  {"role":"system","content":"Be brief."},
	  {"role":"user","content":[{"type":"text","text":"Look at this"},
	   {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},
	   {"type":"file","file":{"filename":"doc.pdf",
	    "file_data":"data:application/pdf;base64,JVBE"}},
	   {"type":"text","text":"[file a.zip (application/zip) not sent: the API takes images and PDF files]"}]},
	  {"role":"assistant","content":"Reading both.","tool_calls":[
	   {"id":"toolu_01","type":"function","function":{"name":"read","arguments":"{\"path\":\"a.c\"}"}},
	   {"id":"toolu_02","type":"function","function":{"name":"read","arguments":"{\"path\":\"b.c\"}"}},
	   {"id":"toolu_03","type":"function","function":{"name":"ls","arguments":"{}"}}]},
	  {"role":"tool","tool_call_id":"toolu_02","content":"[tool error] B"},
	  {"role":"tool","tool_call_id":"toolu_01","content":"A1\nA2"},
	  {"role":"tool","tool_call_id":"toolu_03","content":"no result: the call did not run"},
	  {"role":"user","content":"[result of tool grep (call toolu_99)]\nstray"},
	  {"role":"assistant","content":"Done."},
	  {"role":"user","content":"Thanks"}],
	 "tools":[{"type":"function","function":{"name":"read","description":"Read a file",
	   "parameters":{"type":"object","properties":{"path":{"type":"string"}}}}},
	  {"type":"function","function":{"name":"ls","parameters":{"type":"object"}}}]}));
}

static void
test_translate_responses(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "api = responses\n"), 0);
	translate(f, RESP);
	assert_string_equal(fake_openai_request(f->fo, 0)->target, "/v1/responses");
	assert_json(fake_openai_request_body(f->fo, 0), J({"model":"gpt-5","stream":true,
	 "instructions":"Be brief.","max_output_tokens":1000,
	 "input":[
	  {"role":"user","content":[{"type":"input_text","text":"Look at this"},
	   {"type":"input_image","image_url":"data:image/png;base64,iVBO"},
	   {"type":"input_file","filename":"doc.pdf","file_data":"data:application/pdf;base64,JVBE"},
	   {"type":"input_text","text":"[file a.zip (application/zip) not sent: the API takes images and PDF files]"}]},
	  {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"GPT thinks"}],
	   "encrypted_content":"gAAA"},
	  {"role":"assistant","content":"Reading both."},
	  {"type":"function_call","call_id":"toolu_01","name":"read","arguments":"{\"path\":\"a.c\"}"},
	  {"type":"function_call","call_id":"toolu_02","name":"read","arguments":"{\"path\":\"b.c\"}"},
	  {"type":"function_call","call_id":"toolu_03","name":"ls","arguments":"{}"},
	  {"type":"function_call_output","call_id":"toolu_02","output":"[tool error] B"},
	  {"type":"function_call_output","call_id":"toolu_01","output":"A1\nA2"},
	  {"type":"function_call_output","call_id":"toolu_03","output":"no result: the call did not run"},
	  {"role":"user","content":[{"type":"input_text","text":"[result of tool grep (call toolu_99)]\nstray"}]},
	  {"role":"assistant","content":"Done."},
	  {"role":"user","content":[{"type":"input_text","text":"Thanks"}]}],
	 "tools":[{"type":"function","name":"read","description":"Read a file",
	   "parameters":{"type":"object","properties":{"path":{"type":"string"}}}},
	  {"type":"function","name":"ls","parameters":{"type":"object"}}]}));
}

static void
test_bad_request_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	static const char *const bad[] = { "[]", "{}", "{\"messages\":{}}", "{\"messages\":7}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *req = json_loads(bad[i], 0, NULL);
		int error = 0;
		assert_null(prov(f)->stream(f->h.mod->state, req, &provider_rec_sink, NULL, &error));
		assert_int_equal(error, HEARTH_EINVAL);
		json_decref(req);
	}
	assert_int_equal(fake_openai_count(f->fo), 0);
	/* Parts of every odd shape are skipped, never a crash. */
	push(f, CHAT, J([{"type":"finish"},{"type":"done"}]));
	json_t *req = json_loads(J({"messages":[7,{"role":5},{"role":"user","parts":7},
		{"role":"user","parts":[7,{"type":7},{"type":"text","text":""},{"type":"image"}]},
		{"role":"assistant","parts":[{"type":"tool_call"}]},
		{"role":"tool","parts":[{"type":"tool_result"}]}],"tools":[7,{"name":7}]}), 0, NULL);
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	provider_rec_free(r);
	assert_json(fake_openai_request_body(f->fo, 0), J({"model":"gpt-4.1","stream":true,
	 "stream_options":{"include_usage":true},"messages":[
	  {"role":"user","content":"[image (application/octet-stream) not sent: the API takes images and PDF files]"},
	  {"role":"assistant","content":null,"tool_calls":[{"id":"call_none","type":"function",
	   "function":{"name":"","arguments":"{}"}}]},
	  {"role":"tool","tool_call_id":"call_none","content":""}],"tools":[]}));
}

/* --------------------------------------------------------------- config -- */

static void
test_config(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "api = responses\nmodel = gpt-5-mini\nmax_tokens = 500\n"
			      "reasoning_effort = high\ntimeout_ms = 60000\nflavour = mint\nprice.some-model = 3, 15\n"), 0);
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "gpt-5-mini");
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 1);
	push(f, RESP, J([{"type":"completed"}]));
	json_t *req = json_pack("{s:[{s:s,s:[{s:s,s:s}]}]}", "messages", "role", "user", "parts",
				"type", "text", "text", "Hi");
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	provider_rec_free(r);
	assert_json(fake_openai_request_body(f->fo, 0), J({"model":"gpt-5-mini","stream":true,
		"input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]}],
		"max_output_tokens":500,"reasoning":{"effort":"high","summary":"auto"},
		"store":false,"include":["reasoning.encrypted_content"]}));
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  provider/openai: unknown key 'flavour' ignored\n"));
	assert_null(strstr(log, "price.")); /* the core's key, not the module's */
	free(log);
	testutil_log_capture();
}

static void
test_config_key_env(void **state)
{
	struct fixture *f = *state;
	/* Another instance's key, from the variable its section names. */
	setenv("GROQ_API_KEY", " gsk_test_42\n", 1);
	assert_int_equal(load(f, "api_key_env = GROQ_API_KEY\nmodel = llama-3.3-70b\n"
			      "reasoning_effort = low\n"), 0);
	unsetenv("GROQ_API_KEY");
	fake_openai_set_key(f->fo, "gsk_test_42");
	struct provider_rec *r = run(f, CHAT, J([{"type":"text","text":"ok"},{"type":"finish"},
		{"type":"done"}]));
	assert_string_equal(r->log, "T:ok\nE:-\nD:1\n");
	provider_rec_free(r);
	assert_json(fake_openai_request_body(f->fo, 0), J({"model":"gpt-4.1","stream":true,
		"stream_options":{"include_usage":true},"reasoning_effort":"low",
		"messages":[{"role":"user","content":"Hi"}]}));
}

static void
test_config_no_key(void **state)
{
	struct fixture *f = *state;
	unsetenv("OPENAI_API_KEY");
	fake_openai_set_key(f->fo, TEST_KEY);
	assert_int_equal(load(f, NULL), 0);
	setenv("OPENAI_API_KEY", TEST_KEY, 1);
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "gpt-4.1");
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 0);
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	provider_rec_assert_error(r, HEARTH_PERR_AUTH, 401, 0, 0, "You didn't provide an API key.",
		     "invalid_request_error");
	assert_null(fakehttp_header(fake_openai_request(f->fo, 0), "authorization"));
	provider_rec_free(r);
}

static void
test_config_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_not_equal(load(f, "api = soap\n"), 0);
	assert_null(f->h.mod);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "api = soap: want chat or responses"));
	free(log);
	testutil_log_capture();
}

static void
test_config_bad_url(void **state)
{
	struct fixture *f = *state;
	free(f->url);
	f->url = xstrdup("ftp://user:secret@example.com");
	assert_int_not_equal(load(f, NULL), 0);
	assert_null(f->h.mod);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "the base URL (base_url) is not an http:// or https:// URL"));
	assert_null(strstr(log, "secret"));
	free(log);
	testutil_log_capture();
}

/* --------------------------------------------------------- the fake -- */

static void
test_fake_render(void **state)
{
	(void)state;
	char *out = NULL, *error = NULL;
	size_t len;
	int close, hang;
	json_t *steps = json_loads(J([{"type":"text","text":"Hi"},{"type":"done"}]), 0, NULL);
	assert_int_equal(fake_openai_render(FAKE_OPENAI_CHAT, steps, 0, 1, &out, &len, &close,
					    &hang, &error), 0);
	json_decref(steps);
	assert_prefix(out, "HTTP/1.1 200 OK\r\n");
	assert_non_null(strstr(out, "\r\n\r\n" "122\r\n"
		"data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\","
		"\"created\":1727346180,\"model\":\"gpt-4.1-2025-04-14\",\"service_tier\":"
		"\"default\",\"system_fingerprint\":\"fp_fake\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}],"
		"\"obfuscation\":\"r4N7\"}\n\ndata: [DONE]\n\n\r\n0\r\n\r\n"));
	assert_int_equal(close, 0);
	assert_int_equal(hang, 0);
	free(out);

	steps = json_loads(J([{"type":"function_call","call_id":"c","name":"n",
		"arguments":"{}"}]), 0, NULL);
	assert_int_equal(fake_openai_render(FAKE_OPENAI_RESPONSES, steps, 0, 1, &out, &len,
					    &close, &hang, &error), 0);
	json_decref(steps);
	assert_non_null(strstr(out, "event: response.output_item.added\ndata: {\"type\":"
		"\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"fc_0\","
		"\"type\":\"function_call\",\"status\":\"in_progress\",\"arguments\":\"\","
		"\"call_id\":\"c\",\"name\":\"n\"},\"sequence_number\":0}\n\n"));
	free(out);

	/* Bad scripts are refused with a reason. */
	static const char *const bad[] = {
		"[]", "{}", "[{\"type\":\"nope\"}]", "[{\"type\":\"tool_call\",\"index\":0}]",
		"[{\"type\":\"cut\"},{\"type\":\"done\"}]",
		"[{\"type\":\"http_error\",\"status\":500},{\"type\":\"done\"}]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		steps = json_loads(bad[i], 0, NULL);
		assert_int_equal(fake_openai_render(FAKE_OPENAI_CHAT, steps, 0, 1, &out, &len,
						    &close, &hang, &error), -1);
		assert_non_null(error);
		free(error);
		error = NULL;
		json_decref(steps);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chat_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_reasoning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_tool_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_parallel_tool_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_finish_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_stream_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resp_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resp_reasoning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resp_tool_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resp_endings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resp_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_models_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_chat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_responses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_request_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_key_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_no_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_url, setup, teardown),
		cmocka_unit_test(test_fake_render),
	};
	return cmocka_run_group_tests_name("openai", tests, NULL, NULL);
}
