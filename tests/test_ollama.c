/*
 * test_ollama.c: the Ollama provider module (plugins/providers/ollama.c), loaded
 * through the real registry and talking through the real host HTTP client to
 * the fake Ollama server (tests/fake_ollama.c) on 127.0.0.1.
 *
 * Each sink call is written to a transcript, one line each:
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
#include "fake_ollama.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "provider_harness.h"
#include "testutil.h"
#include "xmalloc.h"

/* The shared harness (tests/provider_harness.h) and this provider's fake. */
struct fixture {
	struct provider_fixture h;
	struct fake_ollama *fo;
	char *hostport;   /* "127.0.0.1:PORT" of the fake */
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	provider_harness_setup(&f->h, "ollama", "llama3.2");
	f->h.rec_no_vendor = 1;
	f->fo = fake_ollama_start();
	assert_non_null(f->fo);
	f->hostport = xasprintf("127.0.0.1:%d", fake_ollama_port(f->fo));
	unsetenv("OLLAMA_HOST");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	provider_harness_teardown(&f->h, NULL);
	fake_ollama_free(f->fo);
	free(f->hostport);
	unsetenv("OLLAMA_HOST");
	free(f);
	return 0;
}

/* host = the fake, and `extra` lines. Returns the number of registry errors. */
static size_t
load(struct fixture *f, const char *extra)
{
	return provider_harness_load_kv(&f->h, "host", f->hostport, extra);
}

static const struct hearth_provider *
prov(struct fixture *f)
{
	return provider_harness_prov(&f->h);
}

/* Start a stream of `request` (NULL: a one-line question) against the queued reply. */
static struct provider_rec *
start(struct fixture *f, const json_t *request)
{
	return provider_rec_start(&f->h, request);
}

static void
push(struct fixture *f, const char *steps)
{
	char *error = NULL;
	if (fake_ollama_push_text(f->fo, steps, &error) != 0)
		fail_msg("bad script: %s", error);
}

static struct provider_rec *
run(struct fixture *f, const char *steps)
{
	push(f, steps);
	struct provider_rec *r = start(f, NULL);
	provider_rec_wait(r);
	return r;
}

static void
assert_error(const struct provider_rec *r, uint32_t type, long status, int retryable, const char *message)
{
	provider_rec_assert_error(r, type, status, retryable, 0, message, NULL);
}

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

/* ------------------------------------------------------------- streams -- */

static void
test_text_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	static const size_t writes[] = { 1, 1, 1, 2, 3, 5, 8, 13, 64, 0 };
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		fake_ollama_set_chunking(f->fo, writes[i], (unsigned)i + 1);
		struct provider_rec *r = run(f, "[{\"type\":\"text\",\"text\":[\"Hel\",\"lo, w\\u00f6rld\","
				    "\" <a&b>\",\"\",\"!\\n\"]},{\"type\":\"done\","
				    "\"prompt_eval_count\":169,\"eval_count\":15}]");
		assert_string_equal(r->log, "T:Hel\nT:lo, w\xc3\xb6rld\nT: <a&b>\nT:!\n\nE:-\n"
				    "U:169,15,0,0,0\nD:1\n");
		provider_rec_free(r);
	}
	assert_int_equal(fake_ollama_count(f->fo), 10);
	const struct fakehttp_request *rq = fake_ollama_request(f->fo, 0);
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->target, "/api/chat");
	assert_string_equal(fakehttp_header(rq, "content-type"), "application/json");
	assert_null(fakehttp_header(rq, "authorization"));
	/* Exactly these bytes: no think, no options, no tools. */
	assert_string_equal(rq->body, "{\"model\":\"llama3.2\",\"stream\":true,\"messages\":"
			    "[{\"role\":\"user\",\"content\":\"Hi\"}]}");
}

static void
test_thinking(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "think = yes\nnum_ctx = 8192\ntemperature = 0.25\n"), 0);
	fake_ollama_set_chunking(f->fo, 1, 42);
	struct provider_rec *r = run(f, "[{\"type\":\"thinking\",\"thinking\":[\"The user \",\"wants\"]},"
			    "{\"type\":\"text\",\"text\":[\"Hi\",\"!\"]},"
			    "{\"type\":\"thinking\",\"thinking\":\"more\"},"
			    "{\"type\":\"done\"}]");
	assert_string_equal(r->log, "R:The user \nR:wants\nE:{\"provider\":\"ollama\"}\n"
			    "T:Hi\nT:!\nE:-\nR:more\nE:{\"provider\":\"ollama\"}\n"
			    "U:10,5,0,0,0\nD:1\n");
	provider_rec_free(r);
	json_t *got = fake_ollama_request_body(f->fo, 0);
	json_t *want = json_pack("{s:s,s:b,s:[{s:s,s:s}],s:b,s:{s:i,s:f}}", "model", "llama3.2",
				 "stream", 1, "messages", "role", "user", "content", "Hi",
				 "think", 1, "options", "num_ctx", 8192, "temperature", 0.25);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
}

static void
test_tool_calls(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* One call with the id a current server gives. */
	struct provider_rec *r = run(f, "[{\"type\":\"text\",\"text\":\"Let me look.\"},"
			    "{\"type\":\"tool_calls\",\"calls\":[{\"id\":\"call_9j2k4m1x\","
			    "\"name\":\"read\",\"arguments\":{\"path\":\"src/m\\u00e4in.c\","
			    "\"opts\":{\"a\":[1,2.5,\"<x>\"],\"b\":null}}}]},"
			    "{\"type\":\"done\",\"prompt_eval_count\":169,\"eval_count\":15}]");
	assert_string_equal(r->log, "T:Let me look.\nE:-\n"
			    "C:call_9j2k4m1x read {\"opts\":{\"a\":[1,2.5,\"<x>\"],\"b\":null},"
			    "\"path\":\"src/m\xc3\xa4in.c\"}\nU:169,15,0,0,0\nD:2\n");
	provider_rec_free(r);

	/* Parallel calls without ids (older servers), in one line and in two: each
	 * gets an id made from the reply, the same every time the same reply comes. */
	static const char *const parallel =
		"[{\"type\":\"tool_calls\",\"calls\":[{\"name\":\"read\",\"arguments\":{\"path\":\"a\"}},"
		"{\"name\":\"read\",\"arguments\":{\"path\":\"b\"}}]},"
		"{\"type\":\"tool_calls\",\"calls\":[{\"name\":\"now\"}]},"
		"{\"type\":\"done\",\"eval_count\":null}]";
	char *first = NULL;
	for (unsigned seed = 1; seed <= 4; seed++) {
		fake_ollama_set_chunking(f->fo, seed, seed);
		r = run(f, parallel);
		if (first == NULL)
			first = xstrdup(r->log);
		assert_string_equal(r->log, first);
		provider_rec_free(r);
	}
	/* C:ollama_<16 hex> read {"path":"a"} ... */
	char ids[3][32];
	char names[3][16], args[3][32];
	assert_int_equal(sscanf(first, "C:%31s %15s %31s\nC:%31s %15s %31s\nC:%31s %15s %31s\n",
				ids[0], names[0], args[0], ids[1], names[1], args[1], ids[2],
				names[2], args[2]), 9);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(strlen(ids[i]), 7 + 16);
		assert_prefix(ids[i], "ollama_");
		assert_int_equal(strspn(ids[i] + 7, "0123456789abcdef"), 16);
	}
	assert_string_not_equal(ids[0], ids[1]);
	assert_string_not_equal(ids[1], ids[2]);
	assert_string_not_equal(ids[0], ids[2]);
	assert_string_equal(args[0], "{\"path\":\"a\"}");
	assert_string_equal(args[1], "{\"path\":\"b\"}");
	assert_string_equal(args[2], "{}");
	assert_non_null(strstr(first, "\nU:10,0,0,0,0\nD:2\n"));
	/* The same reply to another request (a later turn): other ids. */
	push(f, parallel);
	json_t *later = json_pack("{s:s,s:[{s:s,s:[{s:s,s:s}]}]}", "model", "llama3.2", "messages",
				  "role", "user", "parts", "type", "text", "text", "Hi again");
	r = start(f, later);
	json_decref(later);
	RUN_UNTIL(&f->h, r->done);
	assert_null(strstr(r->log, ids[0]));
	assert_null(strstr(r->log, ids[1]));
	assert_null(strstr(r->log, ids[2]));
	assert_int_equal(testutil_count(r->log, "C:ollama_"), 3);
	provider_rec_free(r);
	free(first);

	/* Arguments as a JSON text, as some servers send them. */
	r = run(f, "[{\"type\":\"line\",\"data\":{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
		"\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"grep\",\"arguments\":"
		"\"{\\\"p\\\":\\\"x\\\"}\"},\"id\":\"call_1\"}]},\"done\":false}},"
		"{\"type\":\"done\",\"prompt_eval_count\":null,\"eval_count\":null}]");
	assert_string_equal(r->log, "C:call_1 grep {\"p\":\"x\"}\nD:2\n");
	provider_rec_free(r);
}

static void
test_done_reasons(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *reason;
		enum hearth_finish finish;
	} cases[] = {
		{ "\"stop\"", HEARTH_FINISH_END_TURN },
		{ "\"length\"", HEARTH_FINISH_MAX_TOKENS },
		{ "\"load\"", HEARTH_FINISH_END_TURN },
		{ "\"unload\"", HEARTH_FINISH_END_TURN },
		{ "\"a_reason_from_the_future\"", HEARTH_FINISH_END_TURN },
		{ "null", HEARTH_FINISH_END_TURN },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"done\","
					"\"done_reason\":%s,\"prompt_eval_count\":7,"
					"\"eval_count\":%zu}]", cases[i].reason, i);
		struct provider_rec *r = run(f, steps);
		char *want = xasprintf("T:x\nE:-\nU:7,%zu,0,0,0\nD:%d\n", i, (int)cases[i].finish);
		assert_string_equal(r->log, want);
		free(want);
		provider_rec_free(r);
		free(steps);
	}
	/* length after a tool call: the limit wins. */
	struct provider_rec *r = run(f, "[{\"type\":\"tool_calls\",\"calls\":[{\"id\":\"c\",\"name\":\"n\","
			    "\"arguments\":{}}]},{\"type\":\"done\",\"done_reason\":\"length\"}]");
	assert_string_equal(r->log, "C:c n {}\nU:10,1,0,0,0\nD:3\n");
	provider_rec_free(r);
	/* Lines after done are ignored; negative counts too. */
	r = run(f, "[{\"type\":\"done\",\"prompt_eval_count\":-1,\"eval_count\":3},"
		"{\"type\":\"text\",\"text\":\"late\"},{\"type\":\"error\"}]");
	assert_string_equal(r->log, "U:0,3,0,0,0\nD:1\n");
	provider_rec_free(r);
	/* The last line without its newline still counts. */
	r = run(f, "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"raw\",\"data\":"
		"\"{\\\"model\\\":\\\"m\\\",\\\"done\\\":true,\\\"eval_count\\\":2}\"}]");
	assert_string_equal(r->log, "T:a\nE:-\nU:0,2,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_error_line(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *message;
		uint32_t type;
		int retryable;
	} cases[] = {
		{ "an error was encountered while running the model", HEARTH_PERR_SERVER, 1 },
		{ "model is overloaded, please try again", HEARTH_PERR_OVERLOADED, 1 },
		{ "model \\\"x\\\" not found", HEARTH_PERR_NOT_FOUND, 0 },
		{ "input exceeds the context length", HEARTH_PERR_CONTEXT, 0 },
		{ "unauthorized", HEARTH_PERR_AUTH, 0 },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"text\",\"text\":\"partial\"},{\"type\":\"error\","
					"\"message\":\"%s\"},{\"type\":\"done\"}]", cases[i].message);
		struct provider_rec *r = run(f, steps);
		assert_string_equal(r->log, "T:partial\nE:-\nD:7\n");
		char *quoted = xasprintf("\"%s\"", cases[i].message);
		json_t *m = json_loads(quoted, JSON_DECODE_ANY, NULL);
		free(quoted);
		assert_error(r, cases[i].type, 0, cases[i].retryable, json_string_value(m));
		json_decref(m);
		provider_rec_free(r);
		free(steps);
	}
}

static void
test_truncated_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* The body ends cleanly, but no done:true line came. */
	struct provider_rec *r = run(f, "[{\"type\":\"thinking\",\"thinking\":\"hm\"},"
			    "{\"type\":\"text\",\"text\":\"Hel\"}]");
	assert_string_equal(r->log, "R:hm\nE:{\"provider\":\"ollama\"}\nT:Hel\nE:-\nD:7\n");
	assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, "stream ended before a \"done\": true line");
	provider_rec_free(r);
	/* done:false on the last line. */
	r = run(f, "[{\"type\":\"line\",\"data\":{\"model\":\"m\",\"done\":false}}]");
	assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, "stream ended before a \"done\": true line");
	provider_rec_free(r);
	/* An empty 200 body. */
	r = run(f, "[{\"type\":\"raw\",\"data\":\"\"}]");
	assert_string_equal(r->log, "D:7\n");
	assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, "stream ended before a \"done\": true line");
	provider_rec_free(r);
	/* Half a line, then the body ends. */
	r = run(f, "[{\"type\":\"raw\",\"data\":\"{\\\"model\\\":\\\"m\\\",\\\"do\"}]");
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_prefix(r->message, "malformed NDJSON stream: line 1: invalid JSON");
	provider_rec_free(r);
	/* The connection drops inside the chunked body: a network error. */
	r = run(f, "[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"cut\"}]");
	assert_string_equal(r->log, "T:Hel\nE:-\nD:7\n");
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_NETWORK);
	assert_int_equal(r->err.retryable, 1);
	assert_int_equal(r->err.http_status, 0);
	assert_non_null(strstr(r->message, "POST 127.0.0.1:"));
	provider_rec_free(r);
}

static struct provider_rec *
run_protocol(struct fixture *f, const char *steps)
{
	struct provider_rec *r = run(f, steps);
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_int_equal(r->err.retryable, 0);
	assert_int_equal(r->err.http_status, 0);
	return r;
}

static void
test_malformed_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	static const struct {
		const char *line, *want;
	} cases[] = {
		{ "[1,2]", "line 2 is not a JSON object" },
		{ "{\"message\":\"hi\"}", "line 2: \"message\" is not an object" },
		{ "{\"message\":{\"content\":5}}", "line 2: message content or thinking is not a "
		  "string" },
		{ "{\"message\":{\"content\":\"\",\"thinking\":[]}}", "line 2: message content or "
		  "thinking is not a string" },
		{ "{\"message\":{\"content\":\"\",\"tool_calls\":{}}}", "line 2: \"tool_calls\" is not "
		  "an array" },
		{ "{\"message\":{\"content\":\"\",\"tool_calls\":[{\"function\":{}}]}}", "line 2: tool "
		  "call 0 has no function name" },
		{ "{\"message\":{\"content\":\"\",\"tool_calls\":[7]}}", "line 2: tool call 0 has no "
		  "function name" },
		{ "{\"message\":{\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"x\","
		  "\"arguments\":[1]}}]}}", "line 2: tool call 0 (x): its arguments are not a JSON "
		  "object" },
		{ "{\"message\":{\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"x\","
		  "\"arguments\":\"{oops\"}}]}}", "line 2: tool call 0 (x): its arguments are not a "
		  "JSON object" },
		{ "{\"done\":\"yes\"}", "line 2: \"done\" is not a boolean" },
		{ "{\"error\":{\"code\":1}}", "line 2: an error that is not a string" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *steps = json_pack("[{s:s,s:s},{s:s,s:s},{s:s}]", "type", "text", "text", "a",
					  "type", "line", "data", cases[i].line, "type", "done");
		assert_int_equal(fake_ollama_push(f->fo, steps, NULL), 0);
		json_decref(steps);
		struct provider_rec *r = start(f, NULL);
		RUN_UNTIL(&f->h, r->done);
		assert_true(r->has_err);
		assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
		assert_int_equal(r->err.retryable, 0);
		assert_string_equal(r->message, cases[i].want);
		assert_string_equal(r->log, "T:a\nE:-\nD:7\n");
		provider_rec_free(r);
	}
	/* Not JSON at all. */
	struct provider_rec *r = run_protocol(f, "[{\"type\":\"line\",\"data\":\"data: {}\"},"
				     "{\"type\":\"done\"}]");
	assert_prefix(r->message, "malformed NDJSON stream: line 1: invalid JSON at column ");
	assert_string_equal(r->log, "D:7\n");
	provider_rec_free(r);
	/* Binary garbage. */
	r = run_protocol(f, "[{\"type\":\"raw\",\"data\":\"\\u0001\\u0002\\u00ff\\n\"}]");
	assert_prefix(r->message, "malformed NDJSON stream: line 1: ");
	provider_rec_free(r);
	/* A line over the 16 MiB bound, in one write. */
	size_t n = 17u * 1024 * 1024;
	char *big = xmalloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n] = '\0';
	json_t *steps = json_pack("[{s:s,s:s}]", "type", "raw", "data", big);
	free(big);
	fake_ollama_set_chunking(f->fo, 0, 0);
	assert_int_equal(fake_ollama_push(f->fo, steps, NULL), 0);
	json_decref(steps);
	r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_prefix(r->message, "a line is longer than 16777216 bytes (");
	provider_rec_free(r);
}

/* ---------------------------------------------------------- HTTP errors -- */

static void
test_model_not_pulled(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	json_t *names = json_pack("[s]", "llama3.2:latest");
	fake_ollama_set_models(f->fo, names);
	json_decref(names);
	push(f, "[{\"type\":\"done\"}]");
	/* "llama3.2" is "llama3.2:latest": answered. */
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "U:10,0,0,0,0\nD:1\n");
	provider_rec_free(r);
	json_t *req = json_pack("{s:s,s:[{s:s,s:[{s:s,s:s}]}]}", "model", "qwen3:8b", "messages",
				"role", "user", "parts", "type", "text", "text", "Hi");
	r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "D:7\n");
	assert_error(r, HEARTH_PERR_NOT_FOUND, 404, 0, "model \"qwen3:8b\" not found, try pulling "
		     "it first: run `ollama pull qwen3:8b`");
	provider_rec_free(r);
}

static void
test_http_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int status;
		const char *message;
		uint32_t want;
		int retryable;
		const char *expect;
	} cases[] = {
		{ 400, "invalid options: foo", HEARTH_PERR_BAD_REQUEST, 0, NULL },
		{ 401, "unauthorized", HEARTH_PERR_AUTH, 0, "unauthorized: run `ollama signin`" },
		{ 403, "forbidden", HEARTH_PERR_PERMISSION, 0, NULL },
		{ 404, "model 'llama3.2' not found", HEARTH_PERR_NOT_FOUND, 0,
		  "model 'llama3.2' not found: run `ollama pull llama3.2`" },
		{ 404, "no route", HEARTH_PERR_NOT_FOUND, 0, NULL },
		{ 413, "too big", HEARTH_PERR_TOO_LARGE, 0, NULL },
		{ 429, "rate limited", HEARTH_PERR_RATE_LIMITED, 1, NULL },
		{ 500, "llama runner process has terminated", HEARTH_PERR_SERVER, 1, NULL },
		{ 502, "cloud model unreachable", HEARTH_PERR_SERVER, 1, NULL },
		{ 503, "model is overloaded", HEARTH_PERR_OVERLOADED, 1, NULL },
		{ 418, "teapot", HEARTH_PERR_BAD_REQUEST, 0, NULL },
		{ 302, "moved", HEARTH_PERR_PROTOCOL, 0, NULL },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"http_error\",\"status\":%d,\"message\":\"%s\"}]",
					cases[i].status, cases[i].message);
		struct provider_rec *r = run(f, steps);
		assert_string_equal(r->log, "D:7\n");
		assert_error(r, cases[i].want, cases[i].status, cases[i].retryable,
			     cases[i].expect != NULL ? cases[i].expect : cases[i].message);
		provider_rec_free(r);
		free(steps);
	}
	/* Bodies that are not Ollama's. */
	struct provider_rec *r = run(f, "[{\"type\":\"http_error\",\"status\":502,\"body\":"
			    "\"<html>\\r\\n<b>Bad Gateway</b>\"}]");
	assert_error(r, HEARTH_PERR_SERVER, 502, 1, "HTTP 502 with a body that is not an Ollama "
		     "error: <html>  <b>Bad Gateway</b>");
	provider_rec_free(r);
	r = run(f, "[{\"type\":\"http_error\",\"status\":500,\"body\":\"\"}]");
	assert_error(r, HEARTH_PERR_SERVER, 500, 1, "HTTP 500 with an empty body");
	provider_rec_free(r);
}

/* A port on 127.0.0.1 where nothing listens. */
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

struct models_rec {
	int done;
	json_t *models;
	int has_err;
	uint32_t type;
	long status;
	int retryable;
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
		m->retryable = err->retryable;
		m->message = xstrdup(err->message);
	}
}

static void
test_connection_refused(void **state)
{
	struct fixture *f = *state;
	int port = dead_port();
	char *env = xasprintf("127.0.0.1:%d", port);
	setenv("OLLAMA_HOST", env, 1);
	assert_int_equal(provider_harness_load(&f->h, ""), 0);
	free(env);
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "D:7\n");
	char *want = xasprintf("cannot reach Ollama at http://127.0.0.1:%d: connection refused; "
			       "is `ollama serve` running?", port);
	assert_error(r, HEARTH_PERR_NETWORK, 0, 1, want);
	provider_rec_free(r);
	struct models_rec m = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	assert_true(m.has_err);
	assert_int_equal(m.type, HEARTH_PERR_NETWORK);
	assert_int_equal(m.retryable, 1);
	assert_string_equal(m.message, want);
	free(m.message);
	free(want);
	assert_int_equal(fake_ollama_count(f->fo), 0);
}

static void
test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "timeout_ms = 300\n"), 0);
	fake_ollama_set_chunking(f->fo, 0, 0);
	push(f, "[{\"type\":\"text\",\"text\":\"slow\"},{\"type\":\"hang\"}]");
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "T:slow\nE:-\nD:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_TIMEOUT);
	assert_int_equal(r->err.retryable, 1);
	provider_rec_free(r);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	push(f, "[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"hang\"}]");
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->log != NULL && strstr(r->log, "T:Hel\n") != NULL);
	prov(f)->cancel(f->h.mod->state, r->call);
	RUN_UNTIL(&f->h, fakehttp_open_connections(fake_ollama_http(f->fo)) == 0);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_string_equal(r->log, "T:Hel\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* From inside a sink callback, with more of the reply already in. */
	fake_ollama_set_chunking(f->fo, 0, 0);
	push(f, "[{\"type\":\"text\",\"text\":[\"one\",\"two\"]},{\"type\":\"tool_calls\","
	     "\"calls\":[{\"name\":\"x\"}]},{\"type\":\"done\"}]");
	r = provider_rec_new(&f->h);
	r->cancel_on_text = 1;
	json_t *req = provider_harness_request(&f->h);
	int error = 0;
	r->call = prov(f)->stream(f->h.mod->state, req, &provider_rec_sink, r, &error);
	json_decref(req);
	assert_non_null(r->call);
	RUN_UNTIL(&f->h, r->cancelled);
	for (int i = 0; i < 50; i++) {
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_string_equal(r->log, "T:one\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* A call still running at shutdown is dropped by fini(), without a callback. */
	push(f, "[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"hang\"}]");
	r = start(f, NULL);
	RUN_UNTIL(&f->h, r->log != NULL);
	registry_fini_all(f->h.reg);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_string_equal(r->log, "T:x\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);
	char *log = provider_harness_log_text();
	assert_non_null(strstr(log, "WARN  provider/ollama: a stream was still running at "
			       "shutdown\n"));
	free(log);
}

/* -------------------------------------------------------------- models -- */

static void
test_list_models(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	json_t *names = json_pack("[s,s]", "llama3.2:latest", "qwen3:8b");
	fake_ollama_set_models(f->fo, names);
	json_decref(names);
	struct models_rec m = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	assert_false(m.has_err);
	char *got = provider_harness_dump_sorted(m.models);
	assert_string_equal(got, "[{\"id\":\"llama3.2:latest\",\"name\":\"llama3.2:latest\"},"
			    "{\"id\":\"qwen3:8b\",\"name\":\"qwen3:8b\"}]");
	free(got);
	json_decref(m.models);
	const struct fakehttp_request *rq = fake_ollama_request(f->fo, 0);
	assert_string_equal(rq->method, "GET");
	assert_string_equal(rq->target, "/api/tags");
	assert_int_equal(rq->body_len, 0);

	/* A newer server's context_length; entries without a name skipped. */
	fake_ollama_set_tags_body(f->fo, "{\"models\":[{\"name\":\"a\",\"details\":"
				  "{\"context_length\":131072}},{\"size\":1},{\"model\":\"b\"}]}");
	memset(&m, 0, sizeof m);
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	got = provider_harness_dump_sorted(m.models);
	assert_string_equal(got, "[{\"context_window\":131072,\"id\":\"a\",\"name\":\"a\"},"
			    "{\"id\":\"b\",\"name\":\"b\"}]");
	free(got);
	json_decref(m.models);

	static const struct {
		const char *body, *want;
	} bad[] = {
		{ "not json", "the model list is not JSON: " },
		{ "{\"models\":{}}", "the model list has no \"models\" array" },
		{ "[]", "the model list has no \"models\" array" },
		{ "", "the model list is not JSON: " },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fake_ollama_set_tags_body(f->fo, bad[i].body);
		memset(&m, 0, sizeof m);
		assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
		RUN_UNTIL(&f->h, m.done);
		assert_true(m.has_err);
		assert_int_equal(m.type, HEARTH_PERR_PROTOCOL);
		assert_prefix(m.message, bad[i].want);
		free(m.message);
	}
}

/* ---------------------------------------------------------- the request -- */

static void
test_translate_request(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "model = qwen3\n"), 0);
	json_t *req = json_loads(
		"{\"system\":\"You are terse.\",\"max_tokens\":1000,"
		"\"messages\":["
		" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Look:\"},"
		"  {\"type\":\"image\",\"mime\":\"image/png\",\"data\":\"iVBORw0KGgo=\"},"
		"  {\"type\":\"file\",\"mime\":\"text/plain\",\"name\":\"h.txt\",\"data\":\"aGVsbG8=\"},"
		"  {\"type\":\"file\",\"mime\":\"application/pdf\",\"name\":\"a.pdf\",\"data\":\"JVBERi0=\"},"
		"  {\"type\":\"text\",\"text\":\"\"},"
		"  {\"type\":\"text\",\"text\":\"and fix it\"}]},"
		" {\"role\":\"assistant\",\"parts\":["
		"  {\"type\":\"reasoning\",\"text\":\"Mine.\",\"meta\":{\"provider\":\"ollama\"}},"
		"  {\"type\":\"reasoning\",\"text\":\"Theirs.\",\"meta\":{\"provider\":\"anthropic\","
		"   \"signature\":\"X\"}},"
		"  {\"type\":\"reasoning\",\"text\":\"No meta.\"},"
		"  {\"type\":\"text\",\"text\":\"Reading.\"},"
		"  {\"type\":\"tool_call\",\"id\":\"toolu_A\",\"name\":\"read\",\"input\":{\"path\":\"a\"}},"
		"  {\"type\":\"tool_call\",\"id\":\"call_B\",\"name\":\"grep\",\"input\":{\"p\":\"x\"}},"
		"  {\"type\":\"tool_call\",\"id\":\"toolu_C\",\"name\":\"ls\",\"input\":\"oops\"}]},"
		" {\"role\":\"tool\",\"parts\":["
		"  {\"type\":\"tool_result\",\"id\":\"call_B\",\"name\":\"grep\",\"content\":\"3 hits\"},"
		"  {\"type\":\"tool_result\",\"id\":\"toolu_A\",\"name\":\"read\",\"content\":\"no such file\","
		"   \"is_error\":true},"
		"  {\"type\":\"tool_result\",\"id\":\"toolu_gone\",\"name\":\"old\",\"content\":["
		"   {\"type\":\"text\",\"text\":\"stale\"},"
		"   {\"type\":\"image\",\"mime\":\"image/png\",\"data\":\"QUJD\"}]}]},"
		" {\"role\":\"assistant\",\"parts\":[{\"type\":\"reasoning\",\"text\":\"gemini\","
		"   \"meta\":{\"provider\":\"gemini\"}}]},"
		" {\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"g1\",\"name\":\"now\","
		"   \"input\":{}}]},"
		" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Go on.\"}]},"
		" {\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"text\":\"ignored\"}]},"
		" {\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\"Done.\"},"
		"   {\"type\":\"tool_call\",\"id\":\"z\",\"name\":\"ls\",\"input\":{}}]}],"
		"\"tools\":[{\"name\":\"read\",\"description\":\"Read a file\",\"input_schema\":"
		" {\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}},"
		" {\"name\":\"ls\"},{\"description\":\"nameless\"}]}", 0, NULL);
	assert_non_null(req);
	push(f, "[{\"type\":\"done\"}]");
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	assert_false(r->has_err);
	provider_rec_free(r);

	json_t *want = json_loads(
		"{\"model\":\"qwen3\",\"stream\":true,"
		"\"messages\":["
		" {\"role\":\"system\",\"content\":\"You are terse.\"},"
		" {\"role\":\"user\",\"content\":\"Look:\\n\\n[file h.txt]\\nhello\\n\\n[file a.pdf "
		"(application/pdf) not sent: Ollama takes text and images]\\n\\nand fix it\","
		"  \"images\":[\"iVBORw0KGgo=\"]},"
		" {\"role\":\"assistant\",\"content\":\"Reading.\",\"thinking\":\"Mine.\","
		"  \"tool_calls\":[{\"function\":{\"name\":\"read\",\"arguments\":{\"path\":\"a\"}}},"
		"   {\"function\":{\"name\":\"grep\",\"arguments\":{\"p\":\"x\"}}},"
		"   {\"function\":{\"name\":\"ls\",\"arguments\":{}}}]},"
		" {\"role\":\"tool\",\"content\":\"error: no such file\",\"tool_name\":\"read\"},"
		" {\"role\":\"tool\",\"content\":\"3 hits\",\"tool_name\":\"grep\"},"
		" {\"role\":\"tool\",\"content\":\"no result: the call did not run\",\"tool_name\":\"ls\"},"
		" {\"role\":\"user\",\"content\":\"[result of tool old (call toolu_gone)]\\nstale\","
		"  \"images\":[\"QUJD\"]},"
		" {\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"now\","
		"  \"arguments\":{}}}]},"
		" {\"role\":\"tool\",\"content\":\"no result: the call did not run\",\"tool_name\":\"now\"},"
		" {\"role\":\"user\",\"content\":\"Go on.\"},"
		" {\"role\":\"assistant\",\"content\":\"Done.\",\"tool_calls\":[{\"function\":{\"name\":"
		"  \"ls\",\"arguments\":{}}}]},"
		" {\"role\":\"tool\",\"content\":\"no result: the call did not run\",\"tool_name\":\"ls\"}],"
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read\",\"description\":"
		" \"Read a file\",\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":"
		" {\"type\":\"string\"}},\"required\":[\"path\"]}}},"
		" {\"type\":\"function\",\"function\":{\"name\":\"ls\",\"parameters\":{\"type\":\"object\"}}}],"
		"\"options\":{\"num_predict\":1000}}", 0, NULL);
	assert_non_null(want);
	json_t *got = fake_ollama_request_body(f->fo, 0);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_INDENT(1));
		fprintf(stderr, "got:\n%s\n", g);
		free(g);
	}
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
}

static void
test_bad_request_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	int error = 0;
	json_t *req = json_pack("{s:s}", "model", "x");
	assert_null(prov(f)->stream(f->h.mod->state, req, &provider_rec_sink, NULL, &error));
	assert_int_equal(error, HEARTH_EINVAL);
	json_decref(req);
	error = 0;
	req = json_string("not an object");
	assert_null(prov(f)->stream(f->h.mod->state, req, &provider_rec_sink, NULL, &error));
	assert_int_equal(error, HEARTH_EINVAL);
	json_decref(req);
	assert_int_equal(fake_ollama_count(f->fo), 0);
	char *log = provider_harness_log_text();
	assert_non_null(strstr(log, "ERROR provider/ollama: request refused: the request has "
			       "no \"messages\" array\n"));
	free(log);
}

/* ------------------------------------------------------ configuration -- */

/* The base URL the module settles on for OLLAMA_HOST = env and host = key (either
 * may be NULL); NULL when it refuses to load. malloc'd. */
static char *
host_url(struct fixture *f, const char *env, const char *key)
{
	if (env != NULL)
		setenv("OLLAMA_HOST", env, 1);
	else
		unsetenv("OLLAMA_HOST");
	char *section = key != NULL ? xasprintf("host = %s\n", key) : xstrdup("");
	free(provider_harness_log_text());
	size_t errors = provider_harness_load(&f->h, section);
	free(section);
	unsetenv("OLLAMA_HOST");
	char *log = provider_harness_log_text();
	char *url = NULL;
	if (errors == 0) {
		assert_non_null(f->h.mod);
		const char *p = strstr(log, "DEBUG provider/ollama: server at ");
		assert_non_null(p);
		p += strlen("DEBUG provider/ollama: server at ");
		url = xstrndup(p, strcspn(p, "\n"));
	}
	free(log);
	provider_harness_unload(&f->h);
	return url;
}

static void
test_host_parsing(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *env, *key, *want;
	} cases[] = {
		{ NULL, NULL, "http://127.0.0.1:11434" },
		{ "", NULL, "http://127.0.0.1:11434" },
		{ "example.com", NULL, "http://example.com:11434" },
		{ "  example.com  ", NULL, "http://example.com:11434" },
		{ "example.com:8080", NULL, "http://example.com:8080" },
		{ "0.0.0.0", NULL, "http://0.0.0.0:11434" },
		{ ":9999", NULL, "http://127.0.0.1:9999" },
		{ "http://example.com", NULL, "http://example.com:80" },
		{ "https://example.com", NULL, "https://example.com:443" },
		{ "HTTPS://example.com:8443/", NULL, "https://example.com:8443" },
		{ "http://example.com:11434/ollama/", NULL, "http://example.com:11434/ollama" },
		{ "[::1]:11434", NULL, "http://[::1]:11434" },
		{ "[::1]", NULL, "http://[::1]:11434" },
		{ "::1", NULL, "http://[::1]:11434" },
		{ "http://[::1]:8000", NULL, "http://[::1]:8000" },
		{ "https://[fe80::1]", NULL, "https://[fe80::1]:443" },
		/* The host key wins over OLLAMA_HOST. */
		{ "example.com:1", "127.0.0.1:2", "http://127.0.0.1:2" },
		{ NULL, "https://ollama.example.org", "https://ollama.example.org:443" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *url = host_url(f, cases[i].env, cases[i].key);
		if (url == NULL || strcmp(url, cases[i].want) != 0)
			fail_msg("case %zu (%s, %s): got %s, want %s", i, cases[i].env, cases[i].key,
				 url, cases[i].want);
		free(url);
	}
	static const struct {
		const char *env, *message;
	} bad[] = {
		{ "example.com:http", "ERROR provider/ollama: OLLAMA_HOST: bad port 'http'\n" },
		{ "example.com:70000", "ERROR provider/ollama: OLLAMA_HOST: bad port '70000'\n" },
		{ "example.com:", "ERROR provider/ollama: OLLAMA_HOST: bad port ''\n" },
		{ "[::1", "ERROR provider/ollama: OLLAMA_HOST: an IPv6 address without its "
		  "closing ']'\n" },
		{ "[::1]x", "ERROR provider/ollama: OLLAMA_HOST: unexpected 'x' after the IPv6 "
		  "address\n" },
		{ "ftp://example.com", "ERROR provider/ollama: OLLAMA_HOST: unknown scheme 'ftp' "
		  "(http or https)\n" },
		{ "http://user:secret@example.com", "ERROR provider/ollama: OLLAMA_HOST: the host "
		  "holds a character a host name cannot\n" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("OLLAMA_HOST", bad[i].env, 1);
		assert_int_equal(provider_harness_load(&f->h, ""), 1);
		unsetenv("OLLAMA_HOST");
		assert_null(f->h.mod);
		char *log = provider_harness_log_text();
		if (strstr(log, bad[i].message) == NULL)
			fail_msg("case %zu: '%s' not in the log:\n%s", i, bad[i].message, log);
		assert_null(strstr(log, "secret"));
		free(log);
		provider_harness_unload(&f->h);
	}
}

/* OLLAMA_HOST forms that reach the fake for real. */
static void
test_host_reaches_server(void **state)
{
	struct fixture *f = *state;
	char *forms[] = {
		xasprintf("%s", f->hostport),
		xasprintf("http://%s/", f->hostport),
		xasprintf(" http://%s ", f->hostport),
	};
	for (size_t i = 0; i < 3; i++) {
		setenv("OLLAMA_HOST", forms[i], 1);
		assert_int_equal(provider_harness_load(&f->h, ""), 0);
		unsetenv("OLLAMA_HOST");
		struct provider_rec *r = run(f, "[{\"type\":\"text\",\"text\":\"ok\"},{\"type\":\"done\"}]");
		assert_string_equal(r->log, "T:ok\nE:-\nU:10,1,0,0,0\nD:1\n");
		provider_rec_free(r);
		assert_string_equal(fake_ollama_request(f->fo, i)->target, "/api/chat");
		provider_harness_unload(&f->h);
		free(forms[i]);
	}
}

static void
test_config(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "flavour = mint\nprice.some-model = 3, 15\n"), 0);
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "llama3.2");
	/* No key needed: always 1. */
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 1);
	char *log = provider_harness_log_text();
	assert_non_null(strstr(log, "WARN  provider/ollama: unknown key 'flavour' ignored\n"));
	assert_null(strstr(log, "price.")); /* the core's key, not the module's */
	free(log);
	provider_harness_unload(&f->h);
	assert_int_equal(load(f, "model = qwen3:8b\n"), 0);
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "qwen3:8b");
	/* A request without a model uses it. */
	push(f, "[{\"type\":\"done\"}]");
	json_t *req = json_pack("{s:[{s:s,s:[{s:s,s:s}]}]}", "messages", "role", "user", "parts",
				"type", "text", "text", "Hi");
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	provider_rec_free(r);
	json_t *got = fake_ollama_request_body(f->fo, 0);
	assert_string_equal(json_string_value(json_object_get(got, "model")), "qwen3:8b");
	json_decref(got);
	provider_harness_unload(&f->h);

	static const struct {
		const char *section, *message;
	} bad[] = {
		{ "temperature = hot\n", "ERROR provider/ollama: temperature: 'hot' is not a number "
		  "from 0 to 100\n" },
		{ "temperature = -1\n", "ERROR provider/ollama: temperature: '-1' is not a number "
		  "from 0 to 100\n" },
		{ "num_ctx = big\n", "test.conf:5: [provider ollama] num_ctx: 'big' is not an "
		  "integer" },
		{ "think = maybe\n", "test.conf:5: [provider ollama] think: " },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(load(f, bad[i].section), 1);
		assert_null(f->h.mod);
		log = provider_harness_log_text();
		if (strstr(log, bad[i].message) == NULL)
			fail_msg("case %zu: '%s' not in the log:\n%s", i, bad[i].message, log);
		free(log);
		provider_harness_unload(&f->h);
	}
}

/* ----------------------------------------------------- the fake itself -- */

static void
test_fake_render(void **state)
{
	(void)state;
	/* Byte for byte what Ollama writes, in one chunk. */
	json_t *steps = json_loads("[{\"type\":\"text\",\"text\":\"a<b\"},"
				   "{\"type\":\"tool_calls\",\"calls\":[{\"name\":\"f\",\"arguments\":"
				   "{\"x\":1}}]},{\"type\":\"error\"}]", 0, NULL);
	char *out = NULL, *error = NULL;
	size_t len;
	int close, hang;
	assert_int_equal(fake_ollama_render(steps, 0, 1, &out, &len, &close, &hang, &error), 0);
	json_decref(steps);
	const char *body = strstr(out, "\r\n\r\n");
	assert_non_null(body);
	assert_prefix(out, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n");
	const char *want =
		"{\"model\":\"llama3.2\",\"created_at\":\"2025-07-07T20:22:19.184789Z\",\"message\":"
		"{\"role\":\"assistant\",\"content\":\"a\\u003cb\"},\"done\":false}\n"
		"{\"model\":\"llama3.2\",\"created_at\":\"2025-07-07T20:22:19.184790Z\",\"message\":"
		"{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"index\":0,"
		"\"name\":\"f\",\"arguments\":{\"x\":1}}}]},\"done\":false}\n"
		"{\"error\":\"an error was encountered while running the model\"}\n";
	char *chunk = xasprintf("\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(want), want);
	assert_string_equal(body, chunk);
	free(chunk);
	free(out);
	assert_int_equal(close, 0);
	assert_int_equal(hang, 0);

	static const struct {
		const char *script, *error;
	} bad[] = {
		{ "[]", "a reply must be a non-empty array of steps" },
		{ "[{}]", "step 0 has no \"type\"" },
		{ "[{\"type\":\"nope\"}]", "step 0: unknown type 'nope'" },
		{ "[{\"type\":\"text\",\"text\":5}]", "step 0 (text): missing or malformed members" },
		{ "[{\"type\":\"tool_calls\",\"calls\":[{}]}]", "step 0 (tool_calls): missing or "
		  "malformed members" },
		{ "[{\"type\":\"cut\"},{\"type\":\"done\"}]", "step 1 comes after a cut or hang, "
		  "which must be last" },
		{ "[{\"type\":\"done\"},{\"type\":\"http_error\",\"status\":500}]", "an http_error "
		  "step must be the reply's only step" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		steps = json_loads(bad[i].script, 0, NULL);
		assert_non_null(steps);
		error = NULL;
		assert_int_equal(fake_ollama_render(steps, 3, 1, &out, &len, &close, &hang, &error),
				 -1);
		assert_string_equal(error, bad[i].error);
		free(error);
		json_decref(steps);
	}
}

/* The fake's request check: what it accepts and what it refuses, and why. */
static void
test_fake_check_request(void **state)
{
	(void)state;
	static const struct {
		const char *body, *why;   /* why NULL: accepted */
	} cases[] = {
		{ "{\"model\":\"m\",\"messages\":[]}", NULL },
		{ "{\"model\":\"m\",\"stream\":true,\"think\":\"high\",\"options\":{},\"messages\":["
		  "{\"role\":\"system\",\"content\":\"s\"},"
		  "{\"role\":\"user\",\"content\":\"u\",\"images\":[\"QUJD\"]},"
		  "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
		  " {\"function\":{\"name\":\"a\",\"arguments\":{}}},"
		  " {\"function\":{\"name\":\"b\",\"arguments\":{\"x\":1}}}]},"
		  "{\"role\":\"tool\",\"content\":\"1\",\"tool_name\":\"a\"},"
		  "{\"role\":\"tool\",\"content\":\"2\",\"tool_name\":\"b\"},"
		  "{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":["
		  " {\"function\":{\"name\":\"c\",\"arguments\":{}}}]}],"
		  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":{}}}]}",
		  NULL },
		{ "[]", "the body is not a JSON object" },
		{ "{\"messages\":[]}", "model is required" },
		{ "{\"model\":\"m\"}", "messages: not an array" },
		{ "{\"model\":\"m\",\"messages\":[],\"stream\":1}", "stream: not a boolean" },
		{ "{\"model\":\"m\",\"messages\":[],\"think\":1}", "think: not a boolean or a level" },
		{ "{\"model\":\"m\",\"messages\":[],\"options\":[]}", "options: not an object" },
		{ "{\"model\":\"m\",\"messages\":[],\"tools\":{}}", "tools: not an array" },
		{ "{\"model\":\"m\",\"messages\":[],\"tools\":[{\"name\":\"a\"}]}",
		  "tools[0]: not {type: function, function: {name, parameters}}" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"bot\",\"content\":\"\"}]}",
		  "messages[0]: no valid role" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}",
		  "messages[0]: content is not a string" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\",\"images\":"
		  "[\"not base64!\"]}]}", "messages[0]: images[0]: not base64" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\",\"tool_calls\":"
		  "[]}]}", "messages[0]: tool_calls on a user message" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"\",\"tool_name\":"
		  "\"a\"}]}", "messages[0]: a tool result that answers no call" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
		  "[{\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}]}",
		  "messages[0]: tool_calls[0]: not {function: {name, arguments: object}}" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
		  "[{\"function\":{\"name\":\"a\",\"arguments\":{}}},{\"function\":{\"name\":\"b\","
		  "\"arguments\":{}}}]},{\"role\":\"tool\",\"content\":\"\",\"tool_name\":\"b\"}]}",
		  "messages[1]: tool_name b, but call 0 is a" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
		  "[{\"function\":{\"name\":\"a\",\"arguments\":{}}},{\"function\":{\"name\":\"b\","
		  "\"arguments\":{}}}]},{\"role\":\"tool\",\"content\":\"\",\"tool_name\":\"a\"},"
		  "{\"role\":\"user\",\"content\":\"\"}]}",
		  "messages[2]: call 1 of messages before has no result" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
		  "[{\"function\":{\"name\":\"a\",\"arguments\":{}}}]},{\"role\":\"tool\",\"content\":"
		  "\"\",\"tool_name\":\"a\"},{\"role\":\"tool\",\"content\":\"\",\"tool_name\":\"a\"}]}",
		  "messages[2]: a tool result that answers no call" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *body = json_loads(cases[i].body, JSON_DECODE_ANY, NULL);
		assert_non_null(body);
		char *why = NULL;
		int rc = fake_ollama_check_request(body, &why);
		json_decref(body);
		if (cases[i].why == NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, why);
			assert_null(why);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(why, cases[i].why);
			free(why);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thinking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tool_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_not_pulled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_request_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_reaches_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test(test_fake_render),
		cmocka_unit_test(test_fake_check_request),
	};
	return cmocka_run_group_tests_name("ollama", tests, NULL, NULL);
}
