/*
 * test_anthropic.c: the Anthropic provider module (plugins/providers/anthropic.c),
 * loaded through the real registry and talking through the real host HTTP client
 * to the fake Anthropic API (tests/fake_anthropic.c) on 127.0.0.1.
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
#include "fake_anthropic.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "provider_harness.h"
#include "testutil.h"
#include "xmalloc.h"

#define TEST_KEY "sk-ant-test-0123456789"

/* The shared harness (tests/provider_harness.h) and this provider's fake. */
struct fixture {
	struct provider_fixture h;
	struct fake_anthropic *fa;
	char *url;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	provider_harness_setup(&f->h, "anthropic", "claude-sonnet-4-5");
	f->fa = fake_anthropic_start();
	assert_non_null(f->fa);
	f->url = fake_anthropic_url(f->fa);
	setenv("ANTHROPIC_API_KEY", TEST_KEY, 1);
	unsetenv("ANTHROPIC_BASE_URL");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	provider_harness_teardown(&f->h, TEST_KEY);
	fake_anthropic_free(f->fa);
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
	if (fake_anthropic_push_text(f->fa, steps, &error) != 0)
		fail_msg("bad script: %s", error);
}

/* Queue `steps`, stream, and run until done. */
static struct provider_rec *
run(struct fixture *f, const char *steps)
{
	push(f, steps);
	struct provider_rec *r = start(f, NULL);
	provider_rec_wait(r);
	return r;
}

/* ------------------------------------------------------------- streams -- */

static void
test_text_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* Cut into pieces of every size from one byte up, and in one piece. */
	static const size_t writes[] = { 1, 1, 1, 2, 3, 5, 8, 13, 64, 0 };
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		fake_anthropic_set_chunking(f->fa, writes[i], (unsigned)i + 1);
		struct provider_rec *r = run(f, "[{\"type\":\"message_start\",\"usage\":{\"input_tokens\":25,"
				    "\"output_tokens\":1}},{\"type\":\"ping\"},"
				    "{\"type\":\"text\",\"text\":[\"Hel\",\"lo, w\\u00f6rld\",\"!\\n\"]},"
				    "{\"type\":\"ping\"},"
				    "{\"type\":\"stop\",\"stop_reason\":\"end_turn\","
				    "\"usage\":{\"output_tokens\":15}}]");
		assert_string_equal(r->log, "U:25,1,0,0,0\nT:Hel\nT:lo, w\xc3\xb6rld\nT:!\n\nE:-\n"
				    "U:25,15,0,0,0\nD:1\n");
		provider_rec_free(r);
	}

	/* What went out: the Messages API call the brief describes. */
	assert_int_equal(fake_anthropic_count(f->fa), 10);
	const struct fakehttp_request *rq = fake_anthropic_request(f->fa, 0);
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->target, "/v1/messages");
	assert_string_equal(fakehttp_header(rq, "x-api-key"), TEST_KEY);
	assert_string_equal(fakehttp_header(rq, "anthropic-version"), "2023-06-01");
	assert_string_equal(fakehttp_header(rq, "content-type"), "application/json");
	assert_null(fakehttp_header(rq, "anthropic-beta"));
	json_t *body = fake_anthropic_request_body(f->fa, 0);
	json_t *want = json_pack("{s:s,s:i,s:b,s:[{s:s,s:[{s:s,s:s,s:{s:s}}]}]}",
				 "model", "claude-sonnet-4-5", "max_tokens", 8192, "stream", 1,
				 "messages", "role", "user", "content", "type", "text", "text", "Hi",
				 "cache_control", "type", "ephemeral");
	assert_true(json_equal(body, want));
	json_decref(body);
	json_decref(want);
}

static void
test_thinking(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	fake_anthropic_set_chunking(f->fa, 1, 42);
	struct provider_rec *r = run(f, "[{\"type\":\"message_start\"},"
			    "{\"type\":\"thinking\",\"thinking\":[\"Let me \",\"think.\"],"
			    "\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3h\"},"
			    "{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy3va3pzix\"},"
			    "{\"type\":\"thinking\",\"thinking\":[],\"signature\":\"sig2\"},"
			    "{\"type\":\"text\",\"text\":\"Answer.\"},"
			    "{\"type\":\"stop\",\"stop_reason\":\"end_turn\"}]");
	assert_string_equal(r->log,
		"U:10,1,0,0,0\n"
		"R:Let me \nR:think.\n"
		"E:{\"provider\":\"anthropic\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3h\"}\n"
		"R:\nE:{\"provider\":\"anthropic\",\"redacted_data\":\"EmwKAhgBEgy3va3pzix\"}\n"
		"R:\nE:{\"provider\":\"anthropic\",\"signature\":\"sig2\"}\n"
		"T:Answer.\nE:-\n"
		"U:10,6,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_tool_use(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	for (unsigned seed = 1; seed <= 6; seed++) {
		fake_anthropic_set_chunking(f->fa, seed % 3 + 1, seed);
		struct provider_rec *r = run(f,
			"[{\"type\":\"message_start\"},"
			"{\"type\":\"text\",\"text\":\"I'll read both.\"},"
			"{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
			"\"name\":\"read\",\"input\":{\"path\":\"src/m\\u00e4in.c\",\"limit\":10,"
			"\"opts\":{\"a\":[1,2.5,\"x\\\"y\\\\z\"],\"b\":null,\"c\":true}}},"
			"{\"type\":\"tool_use\",\"id\":\"toolu_02\",\"name\":\"grep\","
			"\"partial_json\":[\"\",\"{\\\"pat\",\"tern\\\": \\\"fo\",\"o\\\", \\\"n\\\": 1\",\"2}\"]},"
			"{\"type\":\"tool_use\",\"id\":\"toolu_03\",\"name\":\"now\"},"
			"{\"type\":\"stop\",\"stop_reason\":\"tool_use\",\"usage\":{\"output_tokens\":77}}]");
		assert_string_equal(r->log,
			"U:10,1,0,0,0\n"
			"T:I'll read both.\nE:-\n"
			"C:toolu_01A09q90qw90lq917835lq9 read {\"limit\":10,\"opts\":{\"a\":[1,2.5,"
			"\"x\\\"y\\\\z\"],\"b\":null,\"c\":true},\"path\":\"src/m\xc3\xa4in.c\"}\n"
			"C:toolu_02 grep {\"n\":12,\"pattern\":\"foo\"}\n"
			"C:toolu_03 now {}\n"
			"U:10,77,0,0,0\nD:2\n");
		provider_rec_free(r);
	}
}

static void
test_stop_reasons(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *reason;
		enum hearth_finish finish;
	} cases[] = {
		{ "end_turn", HEARTH_FINISH_END_TURN },
		{ "tool_use", HEARTH_FINISH_TOOL_USE },
		{ "max_tokens", HEARTH_FINISH_MAX_TOKENS },
		{ "model_context_window_exceeded", HEARTH_FINISH_MAX_TOKENS },
		{ "stop_sequence", HEARTH_FINISH_STOP_SEQUENCE },
		{ "refusal", HEARTH_FINISH_REFUSAL },
		{ "pause_turn", HEARTH_FINISH_PAUSE },
		{ "a_reason_from_the_future", HEARTH_FINISH_END_TURN },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"message_start\"},{\"type\":\"text\","
					"\"text\":\"x\"},{\"type\":\"stop\",\"stop_reason\":\"%s\"}]",
					cases[i].reason);
		struct provider_rec *r = run(f, steps);
		assert_int_equal(r->finish, cases[i].finish);
		assert_false(r->has_err);
		provider_rec_free(r);
		free(steps);
	}
	/* No stop_reason at all (null, or no message_delta): the turn simply ended. */
	struct provider_rec *r = run(f, "[{\"type\":\"message_start\"},{\"type\":\"message_delta\","
			    "\"stop_reason\":null},{\"type\":\"message_stop\"}]");
	assert_string_equal(r->log, "U:10,1,0,0,0\nU:10,1,0,0,0\nD:1\n");
	provider_rec_free(r);
	r = run(f, "[{\"type\":\"message_start\"},{\"type\":\"message_stop\"}]");
	assert_string_equal(r->log, "U:10,1,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_usage(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* Cache counters from message_start; message_delta's numbers replace, never add. */
	struct provider_rec *r = run(f,
		"[{\"type\":\"message_start\",\"usage\":{\"input_tokens\":2095,"
		"\"cache_creation_input_tokens\":2051,\"cache_read_input_tokens\":40960,"
		"\"output_tokens\":503,\"service_tier\":\"standard\"}},"
		"{\"type\":\"text\",\"text\":\"ok\"},"
		"{\"type\":\"message_delta\",\"stop_reason\":\"end_turn\","
		"\"usage\":{\"output_tokens\":600}},"
		"{\"type\":\"message_delta\",\"stop_reason\":\"end_turn\",\"usage\":{"
		"\"input_tokens\":2100,\"cache_read_input_tokens\":40961,\"output_tokens\":650}},"
		"{\"type\":\"message_stop\"}]");
	assert_string_equal(r->log, "U:2095,503,0,40960,2051\nT:ok\nE:-\nU:2095,600,0,40960,2051\n"
			    "U:2100,650,0,40961,2051\nD:1\n");
	provider_rec_free(r);
	/* Negative and non-integer counters are ignored. */
	r = run(f, "[{\"type\":\"message_start\",\"usage\":{\"input_tokens\":-5,"
		"\"output_tokens\":\"many\"}},{\"type\":\"stop\",\"usage\":{\"output_tokens\":3}}]");
	assert_string_equal(r->log, "U:0,3,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_unknown_events_ignored(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	struct provider_rec *r = run(f,
		"[{\"type\":\"message_start\"},"
		"{\"type\":\"event\",\"event\":\"brand_new_event\",\"data\":\"not even json\"},"
		"{\"type\":\"raw\",\"data\":\": a comment\\n\\n\"},"
		"{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{\"type\":"
		"\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\","
		"\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}},"
		"{\"type\":\"event\",\"event\":\"content_block_delta\",\"data\":{\"type\":"
		"\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\","
		"\"partial_json\":\"{\\\"query\"}}},"
		"{\"type\":\"event\",\"event\":\"content_block_stop\",\"data\":{\"type\":"
		"\"content_block_stop\",\"index\":0}},"
		"{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{\"type\":"
		"\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\","
		"\"citations\":[]}}},"
		"{\"type\":\"event\",\"event\":\"content_block_delta\",\"data\":{\"type\":"
		"\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"citations_delta\","
		"\"citation\":{\"type\":\"web_search_result_location\"}}}},"
		"{\"type\":\"event\",\"event\":\"content_block_delta\",\"data\":{\"type\":"
		"\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
		"\"text\":\"cited\"}}},"
		"{\"type\":\"event\",\"event\":\"content_block_stop\",\"data\":{\"type\":"
		"\"content_block_stop\",\"index\":1}},"
		"{\"type\":\"stop\"}]");
	assert_string_equal(r->log, "U:10,1,0,0,0\nT:cited\nE:-\nU:10,1,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_stream_error_event(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *type, *message;
		uint32_t want;
		int retryable;
	} cases[] = {
		{ "overloaded_error", "Overloaded", HEARTH_PERR_OVERLOADED, 1 },
		{ "api_error", "Internal server error", HEARTH_PERR_SERVER, 1 },
		{ "rate_limit_error", "Slow down", HEARTH_PERR_RATE_LIMITED, 1 },
		{ "invalid_request_error", "bad thing", HEARTH_PERR_BAD_REQUEST, 0 },
		{ "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum",
		  HEARTH_PERR_CONTEXT, 0 },
		{ "authentication_error", "invalid x-api-key", HEARTH_PERR_AUTH, 0 },
		{ "permission_error", "no", HEARTH_PERR_PERMISSION, 0 },
		{ "not_found_error", "model: nope", HEARTH_PERR_NOT_FOUND, 0 },
		{ "request_too_large", "too big", HEARTH_PERR_TOO_LARGE, 0 },
		{ "timeout_error", "took too long", HEARTH_PERR_TIMEOUT, 1 },
		{ "an_error_from_the_future", "what", HEARTH_PERR_SERVER, 0 },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"message_start\"},{\"type\":\"text\","
					"\"text\":\"partial\"},{\"type\":\"error\",\"error_type\":\"%s\","
					"\"message\":\"%s\"}]", cases[i].type, cases[i].message);
		struct provider_rec *r = run(f, steps);
		assert_string_equal(r->log, "U:10,1,0,0,0\nT:partial\nE:-\nD:7\n");
		provider_rec_assert_error(r, cases[i].want, 0, cases[i].retryable, 0, cases[i].message,
			     cases[i].type);
		provider_rec_free(r);
		free(steps);
	}
	/* An error event with no message still says what it was. */
	struct provider_rec *r = run(f, "[{\"type\":\"event\",\"event\":\"error\",\"data\":{\"type\":"
			    "\"error\",\"error\":{\"type\":\"overloaded_error\"}}}]");
	provider_rec_assert_error(r, HEARTH_PERR_OVERLOADED, 0, 1, 0,
		     "an error event of type overloaded_error", "overloaded_error");
	provider_rec_free(r);
}

static void
test_truncated_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* The body ends cleanly, but message_stop never came. */
	struct provider_rec *r = run(f, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":\"Hel\"},"
			    "{\"type\":\"message_delta\",\"stop_reason\":\"end_turn\"}]");
	assert_string_equal(r->log, "U:10,1,0,0,0\nT:Hel\nE:-\nU:10,2,0,0,0\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before message_stop", NULL);
	provider_rec_free(r);
	/* The body ends inside an event (no blank line after its data). */
	r = run(f, "[{\"type\":\"message_start\"},{\"type\":\"raw\",\"data\":"
		"\"event: message_stop\\ndata: {\\\"type\\\":\\\"message_stop\\\"}\\n\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before message_stop", NULL);
	provider_rec_free(r);
	/* An empty 200 body. */
	r = run(f, "[{\"type\":\"raw\",\"data\":\"\"}]");
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 0, 1, 0, "stream ended before message_stop", NULL);
	provider_rec_free(r);
	/* The connection drops in the middle of the chunked body: a network error. */
	r = run(f, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":\"Hel\"},"
		"{\"type\":\"cut\"}]");
	assert_string_equal(r->log, "U:10,1,0,0,0\nT:Hel\nE:-\nD:7\n");
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_NETWORK);
	assert_int_equal(r->err.retryable, 1);
	assert_int_equal(r->err.http_status, 0);
	assert_non_null(strstr(r->message, "POST 127.0.0.1:"));
	provider_rec_free(r);
}

/* The message of a protocol error; the rest of the error checked. */
static struct provider_rec *
run_protocol(struct fixture *f, const char *steps)
{
	struct provider_rec *r = run(f, steps);
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_int_equal(r->err.retryable, 0);
	assert_int_equal(r->err.http_status, 0);
	assert_null(r->vendor);
	return r;
}

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void
test_malformed_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);

	/* A data line that is not JSON. */
	struct provider_rec *r = run_protocol(f, "[{\"type\":\"message_start\"},{\"type\":\"ping\"},"
		"{\"type\":\"event\",\"event\":\"content_block_delta\",\"data\":\"{\\\"type\\\":"
		"\\\"content_block_delta\\\",\\\"index\\\":0,\\\"delta\\\":{\"},"
		"{\"type\":\"stop\"}]");
	assert_prefix(r->message, "event 3 (content_block_delta): its data is not JSON: ");
	assert_string_equal(r->log, "U:10,1,0,0,0\nD:7\n");
	provider_rec_free(r);

	/* JSON, but not an object; and an object without a type. */
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"message_start\",\"data\":[1,2]}]");
	assert_string_equal(r->message, "event 1 (message_start): its data is not a JSON object");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"message_delta\",\"data\":{}}]");
	assert_string_equal(r->message, "event 1 (message_delta): its data has no \"type\"");
	provider_rec_free(r);

	/* Tool input that never closes (cut by max_tokens, say), and one that is no object. */
	r = run_protocol(f, "[{\"type\":\"message_start\"},"
		"{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read\","
		"\"partial_json\":[\"\",\"{\\\"path\\\": \",\"\\\"a.t\"]},{\"type\":\"stop\"}]");
	assert_prefix(r->message, "tool_use block 0 (read): its input is not valid JSON: ");
	assert_string_equal(r->log, "U:10,1,0,0,0\nD:7\n");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":\"a\"},"
		"{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read\","
		"\"partial_json\":[\"[1,\",\"2]\"]},{\"type\":\"stop\"}]");
	assert_string_equal(r->message, "tool_use block 1 (read): its input is not a JSON object");
	provider_rec_free(r);

	/* Blocks out of order. */
	r = run_protocol(f, "[{\"type\":\"message_start\"},{\"type\":\"event\",\"event\":"
		"\"content_block_delta\",\"data\":{\"type\":\"content_block_delta\",\"index\":5,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}}]");
	assert_string_equal(r->message, "event 2 (content_block_delta): block 5 is not open");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{"
		"\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}},"
		"{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{"
		"\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\"}}}]");
	assert_string_equal(r->message, "event 2 (content_block_start): block 1 starts while "
			    "block 0 is open");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{"
		"\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\","
		"\"id\":\"t\",\"name\":\"n\",\"input\":{}}}},{\"type\":\"event\",\"event\":"
		"\"content_block_delta\",\"data\":{\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}}]");
	assert_string_equal(r->message, "event 2 (content_block_delta): text_delta in tool_use "
			    "block 0");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{"
		"\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}},"
		"{\"type\":\"event\",\"event\":\"content_block_delta\",\"data\":{\"type\":"
		"\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":7}}}]");
	assert_string_equal(r->message, "event 2 (content_block_delta): text_delta of block 0 has "
			    "no string \"text\"");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{"
		"\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
		"\"tool_use\",\"name\":\"n\"}}}]");
	assert_string_equal(r->message, "event 1 (content_block_start): tool_use block 0 has no "
			    "id or name");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"content_block_start\",\"data\":{"
		"\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}},"
		"{\"type\":\"message_stop\"}]");
	assert_string_equal(r->message, "event 2 (message_stop): block 0 is still open");
	provider_rec_free(r);
	r = run_protocol(f, "[{\"type\":\"event\",\"event\":\"content_block_stop\",\"data\":{"
		"\"type\":\"content_block_stop\"}}]");
	assert_string_equal(r->message, "event 1 (content_block_stop): no index");
	provider_rec_free(r);
}

static void
test_oversized_event(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* One data line of 9 MiB: over the 8 MiB event bound. */
	size_t n = 9u * 1024 * 1024;
	char *big = xmalloc(n + 64);
	strcpy(big, "event: content_block_delta\ndata: ");
	size_t off = strlen(big);
	memset(big + off, 'x', n);
	strcpy(big + off + n, "\n\n");
	json_t *steps = json_pack("[{s:s},{s:s,s:s}]", "type", "message_start", "type", "raw",
				  "data", big);
	free(big);
	fake_anthropic_set_chunking(f->fa, 0, 0);
	assert_int_equal(fake_anthropic_push(f->fa, steps, NULL), 0);
	json_decref(steps);
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_prefix(r->message, "an event is longer than 8388608 bytes (");
	provider_rec_free(r);
}

/* ---------------------------------------------------------- HTTP errors -- */

static void
test_http_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int status;
		const char *type, *message, *extra;
		uint32_t want;
		int retryable;
		uint64_t retry_after_ms;
	} cases[] = {
		{ 400, "invalid_request_error", "messages: field required", NULL,
		  HEARTH_PERR_BAD_REQUEST, 0, 0 },
		{ 400, "invalid_request_error", "prompt is too long: 250123 tokens > 200000 maximum",
		  NULL, HEARTH_PERR_CONTEXT, 0, 0 },
		{ 401, "authentication_error", "invalid x-api-key", NULL, HEARTH_PERR_AUTH, 0, 0 },
		{ 402, "billing_error", "Your credit balance is too low", NULL,
		  HEARTH_PERR_PERMISSION, 0, 0 },
		{ 403, "permission_error", "not allowed", NULL, HEARTH_PERR_PERMISSION, 0, 0 },
		{ 404, "not_found_error", "model: claude-nope", NULL, HEARTH_PERR_NOT_FOUND, 0, 0 },
		{ 409, "api_error", "conflict", NULL, HEARTH_PERR_SERVER, 1, 0 },
		{ 413, "request_too_large", "Request exceeds the maximum allowed number of bytes.",
		  NULL, HEARTH_PERR_TOO_LARGE, 0, 0 },
		{ 422, "invalid_request_error", "unprocessable", NULL, HEARTH_PERR_BAD_REQUEST, 0, 0 },
		{ 429, "rate_limit_error", "This request would exceed your organization's rate "
		  "limit of 30,000 input tokens per minute.", "\"retry_after\":\"7\"",
		  HEARTH_PERR_RATE_LIMITED, 1, 7000 },
		{ 429, "rate_limit_error", "fractions", "\"retry_after\":\"1.25\"",
		  HEARTH_PERR_RATE_LIMITED, 1, 1250 },
		{ 429, "rate_limit_error", "ms wins", "\"retry_after\":\"7\",\"headers\":"
		  "{\"retry-after-ms\":\"1500\"}", HEARTH_PERR_RATE_LIMITED, 1, 1500 },
		{ 429, "rate_limit_error", "no header", NULL, HEARTH_PERR_RATE_LIMITED, 1, 0 },
		{ 429, "rate_limit_error", "bad header", "\"retry_after\":\"soon\"",
		  HEARTH_PERR_RATE_LIMITED, 1, 0 },
		{ 500, "api_error", "Internal server error", NULL, HEARTH_PERR_SERVER, 1, 0 },
		{ 502, "api_error", "bad gateway", NULL, HEARTH_PERR_SERVER, 1, 0 },
		{ 503, "api_error", "unavailable", "\"retry_after\":\"3\"", HEARTH_PERR_OVERLOADED, 1,
		  3000 },
		{ 504, "timeout_error", "Request timed out", NULL, HEARTH_PERR_SERVER, 1, 0 },
		{ 529, "overloaded_error", "Overloaded", NULL, HEARTH_PERR_OVERLOADED, 1, 0 },
		/* The server's x-should-retry overrides the status. */
		{ 529, "overloaded_error", "do not", "\"headers\":{\"x-should-retry\":\"false\"}",
		  HEARTH_PERR_OVERLOADED, 0, 0 },
		{ 400, "invalid_request_error", "do", "\"headers\":{\"x-should-retry\":\"true\"}",
		  HEARTH_PERR_BAD_REQUEST, 1, 0 },
		{ 418, "invalid_request_error", "teapot", NULL, HEARTH_PERR_BAD_REQUEST, 0, 0 },
		{ 302, "api_error", "moved", NULL, HEARTH_PERR_PROTOCOL, 0, 0 },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"http_error\",\"status\":%d,\"error_type\":\"%s\","
					"\"message\":\"%s\"%s%s}]", cases[i].status, cases[i].type,
					cases[i].message, cases[i].extra ? "," : "",
					cases[i].extra ? cases[i].extra : "");
		struct provider_rec *r = run(f, steps);
		assert_string_equal(r->log, "D:7\n");
		provider_rec_assert_error(r, cases[i].want, cases[i].status, cases[i].retryable,
			     cases[i].retry_after_ms, cases[i].message, cases[i].type);
		provider_rec_free(r);
		free(steps);
	}
}

static void
test_http_error_bodies(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* Not Anthropic's JSON (a proxy's HTML page): the start of it, on one line. */
	struct provider_rec *r = run(f, "[{\"type\":\"http_error\",\"status\":413,\"body\":"
			    "\"<html>\\r\\n<head><title>413 Request Entity Too Large</title></head>\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_TOO_LARGE, 413, 0, 0, "HTTP 413 with a body that is not an "
		     "Anthropic error: <html>  <head><title>413 Request Entity Too Large</title>"
		     "</head>", NULL);
	provider_rec_free(r);
	r = run(f, "[{\"type\":\"http_error\",\"status\":502,\"body\":\"\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 502, 1, 0, "HTTP 502 with an empty body", NULL);
	provider_rec_free(r);
	/* A 2 MiB body is read up to its 1 MiB bound: the JSON is then incomplete. */
	size_t n = 2u * 1024 * 1024;
	char *big = xmalloc(n + 1);
	memset(big, 'x', n);
	static const char head[] = "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
		"\"message\":\"";
	memcpy(big, head, strlen(head));
	big[n] = '\0';
	json_t *steps = json_pack("[{s:s,s:i,s:s}]", "type", "http_error", "status", 500, "body",
				  big);
	assert_int_equal(fake_anthropic_push(f->fa, steps, NULL), 0);
	json_decref(steps);
	r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	char *want = xasprintf("HTTP 500 with a body that is not an Anthropic error: %.200s", big);
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 500, 1, 0, want, NULL);
	free(want);
	free(big);
	provider_rec_free(r);
	/* retry-after as an HTTP date, two minutes from now. */
	char date[64];
	time_t when = time(NULL) + 120;
	struct tm tm;
	gmtime_r(&when, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	char *s = xasprintf("[{\"type\":\"http_error\",\"status\":429,\"retry_after\":\"%s\"}]",
			    date);
	r = run(f, s);
	free(s);
	assert_true(r->has_err);
	assert_int_equal(r->err.type, HEARTH_PERR_RATE_LIMITED);
	assert_string_equal(r->message, "Too Many Requests");
	assert_in_range(r->err.retry_after_ms, 100000, 120000);
	provider_rec_free(r);
	/* An absurd retry-after is capped at a day. */
	r = run(f, "[{\"type\":\"http_error\",\"status\":429,\"retry_after\":\"99999999999\"}]");
	assert_int_equal(r->err.retry_after_ms, 24ull * 3600 * 1000);
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

static void
test_network_error(void **state)
{
	struct fixture *f = *state;
	char *url = xasprintf("http://127.0.0.1:%d", dead_port());
	setenv("ANTHROPIC_BASE_URL", url, 1);   /* wins over base_url */
	assert_int_equal(load(f, NULL), 0);
	unsetenv("ANTHROPIC_BASE_URL");
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "D:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_NETWORK);
	assert_int_equal(r->err.retryable, 1);
	assert_int_equal(r->err.http_status, 0);
	assert_non_null(strstr(r->message, "POST 127.0.0.1:"));
	assert_int_equal(fake_anthropic_count(f->fa), 0);
	provider_rec_free(r);
	free(url);
}

static void
test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "timeout_ms = 300\n"), 0);
	/* in one write, so only the hang can be idle */
	fake_anthropic_set_chunking(f->fa, 0, 0);
	push(f, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":\"slow\"},"
	     "{\"type\":\"hang\"}]");
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "U:10,1,0,0,0\nT:slow\nE:-\nD:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_TIMEOUT);
	assert_int_equal(r->err.retryable, 1);
	provider_rec_free(r);
}

/* ---------------------------------------------------------- cancelling -- */

static void
test_cancel_mid_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	push(f, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":\"Hel\"},"
	     "{\"type\":\"hang\"}]");
	struct provider_rec *r = start(f, NULL);
	/* Everything before the hang is in once the text block has closed. */
	RUN_UNTIL(&f->h, r->log != NULL && strstr(r->log, "T:Hel\nE:-\n") != NULL);
	prov(f)->cancel(f->h.mod->state, r->call);
	/* The request is gone: the server sees the connection close... */
	RUN_UNTIL(&f->h, fakehttp_open_connections(fake_anthropic_http(f->fa)) == 0);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	/* ...and the sink heard nothing more, done() included. */
	assert_string_equal(r->log, "U:10,1,0,0,0\nT:Hel\nE:-\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* Cancelled from inside a sink callback, with more of the reply already here. */
	fake_anthropic_set_chunking(f->fa, 0, 0);
	push(f, "[{\"type\":\"message_start\"},{\"type\":\"text\",\"text\":[\"one\",\"two\"]},"
	     "{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"x\",\"input\":{}},{\"type\":\"stop\"}]");
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
	assert_string_equal(r->log, "U:10,1,0,0,0\nT:one\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* A call still running at shutdown is dropped by fini(), without a callback. */
	push(f, "[{\"type\":\"message_start\"},{\"type\":\"hang\"}]");
	r = start(f, NULL);
	RUN_UNTIL(&f->h, r->log != NULL);
	registry_fini_all(f->h.reg);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_string_equal(r->log, "U:10,1,0,0,0\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  provider/anthropic: a stream was still running at "
			       "shutdown\n"));
	free(log);
	testutil_log_capture();
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
	json_t *models = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]",
		"id", "claude-opus-4-1-20250805", "display_name", "Claude Opus 4.1",
		"id", "claude id/with?odd&chars", "display_name", "Odd",
		"id", "claude-sonnet-4-5-20250929", "display_name", "Claude Sonnet 4.5",
		"id", "claude-3-5-haiku-20241022", "display_name", "Claude Haiku 3.5",
		"id", "claude-opus-4-20250514", "display_name", "Claude Opus 4");
	fake_anthropic_set_models(f->fa, models, 2);
	fake_anthropic_set_key(f->fa, TEST_KEY);
	json_decref(models);

	struct models_rec m = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	assert_false(m.has_err);
	char *got = provider_harness_dump_sorted(m.models);
	assert_string_equal(got,
		"[{\"id\":\"claude-opus-4-1-20250805\",\"name\":\"Claude Opus 4.1\"},"
		"{\"id\":\"claude id/with?odd&chars\",\"name\":\"Odd\"},"
		"{\"id\":\"claude-sonnet-4-5-20250929\",\"name\":\"Claude Sonnet 4.5\"},"
		"{\"id\":\"claude-3-5-haiku-20241022\",\"name\":\"Claude Haiku 3.5\"},"
		"{\"id\":\"claude-opus-4-20250514\",\"name\":\"Claude Opus 4\"}]");
	free(got);
	json_decref(m.models);

	/* Three pages, each after the last id of the one before. */
	assert_int_equal(fake_anthropic_count(f->fa), 3);
	const struct fakehttp_request *rq = fake_anthropic_request(f->fa, 0);
	assert_string_equal(rq->method, "GET");
	assert_string_equal(rq->target, "/v1/models?limit=1000");
	assert_string_equal(fakehttp_header(rq, "x-api-key"), TEST_KEY);
	assert_string_equal(fakehttp_header(rq, "anthropic-version"), "2023-06-01");
	assert_null(fakehttp_header(rq, "content-type"));
	assert_int_equal(rq->body_len, 0);
	assert_string_equal(fake_anthropic_request(f->fa, 1)->target,
			    "/v1/models?limit=1000&after_id=claude%20id%2Fwith%3Fodd%26chars");
	assert_string_equal(fake_anthropic_request(f->fa, 2)->target,
			    "/v1/models?limit=1000&after_id=claude-3-5-haiku-20241022");

	/* An error answer. */
	fake_anthropic_set_key(f->fa, "another key");
	struct models_rec e = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &e), 0);
	RUN_UNTIL(&f->h, e.done);
	assert_true(e.has_err);
	assert_int_equal(e.type, HEARTH_PERR_AUTH);
	assert_int_equal(e.status, 401);
	assert_string_equal(e.message, "invalid x-api-key");
	free(e.message);
}

/* A server whose model pages are broken, from a fakehttp queue. */
static void
test_list_models_malformed(void **state)
{
	struct fixture *f = *state;
	struct fakehttp *srv = fakehttp_start();
	assert_non_null(srv);
	free(f->url);
	f->url = fakehttp_url(srv, "");
	assert_int_equal(load(f, NULL), 0);
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "not json", "model list page 1 is not JSON: " },
		{ "{\"data\":{}}", "model list page 1 has no \"data\" array" },
		{ "{\"data\":[],\"has_more\":true}", "model list page 1 has more but no \"last_id\"" },
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
	/* A server that always says there is more: stopped after 100 pages. */
	for (int i = 0; i < 100; i++)
		fakehttp_push(srv, &(struct fakehttp_response){
			.body = "{\"data\":[{\"id\":\"m\",\"display_name\":\"M\"}],\"has_more\":true,"
				"\"last_id\":\"m\"}" });
	struct models_rec m = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	assert_int_equal(m.type, HEARTH_PERR_PROTOCOL);
	assert_string_equal(m.message, "the model list goes on past 100 pages");
	free(m.message);
	/* A page over the 1 MiB bound. */
	size_t n = 1024 * 1024 + 10;
	char *big = xmalloc(n + 1);
	memset(big, ' ', n);
	big[n] = '\0';
	fakehttp_push(srv, &(struct fakehttp_response){ .body = big });
	free(big);
	struct models_rec b = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &b), 0);
	RUN_UNTIL(&f->h, b.done);
	assert_int_equal(b.type, HEARTH_PERR_PROTOCOL);
	assert_string_equal(b.message, "model list page 1 is over 1048576 bytes");
	free(b.message);
	/* fini() with a listing in flight drops it without a callback. */
	fakehttp_push(srv, &(struct fakehttp_response){ .action = FAKEHTTP_HANG });
	struct models_rec h = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &h), 0);
	RUN_UNTIL(&f->h, fakehttp_count(srv) == 105);
	registry_fini_all(f->h.reg);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_int_equal(h.done, 0);
	fakehttp_free(srv);
}

/* ---------------------------------------------------------- the request -- */

static void
test_translate_request(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* "hello" as a text file; a 1x1 PNG; a PDF's magic bytes. */
	json_t *req = json_loads(
		"{\"model\":\"claude-opus-4-1\",\"system\":\"You are terse.\",\"max_tokens\":1000,"
		"\"messages\":["
		" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Look:\"},"
		"  {\"type\":\"image\",\"mime\":\"image/png\",\"data\":\"iVBORw0KGgo=\"},"
		"  {\"type\":\"image\",\"mime\":\"image/tiff\",\"data\":\"AAAA\"},"
		"  {\"type\":\"file\",\"mime\":\"application/pdf\",\"name\":\"a.pdf\",\"data\":\"JVBERi0=\"},"
		"  {\"type\":\"file\",\"mime\":\"text/plain\",\"name\":\"h.txt\",\"data\":\"aGVsbG8=\"},"
		"  {\"type\":\"file\",\"mime\":\"application/zip\",\"name\":\"z.zip\",\"data\":\"UEs=\"}]},"
		" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"\"},"
		"  {\"type\":\"text\",\"text\":\"and fix it\"}]},"
		" {\"role\":\"assistant\",\"parts\":["
		"  {\"type\":\"reasoning\",\"text\":\"Mine.\",\"meta\":{\"provider\":\"anthropic\","
		"   \"signature\":\"SIG1\"}},"
		"  {\"type\":\"reasoning\",\"text\":\"\",\"meta\":{\"provider\":\"anthropic\","
		"   \"redacted_data\":\"RED1\"}},"
		"  {\"type\":\"reasoning\",\"text\":\"Theirs.\",\"meta\":{\"provider\":\"openai\","
		"   \"signature\":\"X\"}},"
		"  {\"type\":\"reasoning\",\"text\":\"Unsigned.\",\"meta\":{\"provider\":\"anthropic\"}},"
		"  {\"type\":\"reasoning\",\"text\":\"No meta.\"},"
		"  {\"type\":\"text\",\"text\":\"Reading.\",\"meta\":{\"provider\":\"anthropic\"}},"
		"  {\"type\":\"tool_call\",\"id\":\"toolu_A\",\"name\":\"read\",\"input\":{\"path\":\"a\"}},"
		"  {\"type\":\"tool_call\",\"id\":\"call:B/1\",\"name\":\"grep\",\"input\":{\"p\":\"x\"}},"
		"  {\"type\":\"tool_call\",\"id\":\"toolu_C\",\"name\":\"ls\",\"input\":\"oops\"}]},"
		" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"(interrupting)\"}]},"
		" {\"role\":\"tool\",\"parts\":["
		"  {\"type\":\"tool_result\",\"id\":\"call:B/1\",\"name\":\"grep\",\"content\":\"3 hits\"},"
		"  {\"type\":\"tool_result\",\"id\":\"toolu_A\",\"name\":\"read\",\"content\":\"no such file\","
		"   \"is_error\":true},"
		"  {\"type\":\"tool_result\",\"id\":\"toolu_gone\",\"name\":\"old\",\"content\":\"stale\"}]},"
		" {\"role\":\"assistant\",\"parts\":[{\"type\":\"reasoning\",\"text\":\"gemini\","
		"   \"meta\":{\"provider\":\"gemini\"}}]},"
		" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Go on.\"}]},"
		" {\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\"Done.\"}]},"
		" {\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"text\":\"ignored\"}]},"
		" {\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Thanks\"}]}],"
		"\"tools\":[{\"name\":\"read\",\"description\":\"Read a file\",\"input_schema\":"
		" {\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}},"
		" {\"name\":\"ls\"},{\"description\":\"nameless\"}]}", 0, NULL);
	assert_non_null(req);
	push(f, "[{\"type\":\"message_start\"},{\"type\":\"stop\"}]");
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	assert_false(r->has_err);
	provider_rec_free(r);

	json_t *want = json_loads(
		"{\"model\":\"claude-opus-4-1\",\"max_tokens\":1000,\"stream\":true,"
		"\"system\":[{\"type\":\"text\",\"text\":\"You are terse.\","
		" \"cache_control\":{\"type\":\"ephemeral\"}}],"
		"\"messages\":["
		" {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look:\"},"
		"  {\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
		"   \"data\":\"iVBORw0KGgo=\"}},"
		"  {\"type\":\"text\",\"text\":\"[image (image/tiff) not sent: Anthropic takes "
		"JPEG, PNG, GIF and WebP images]\"},"
		"  {\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":"
		"   \"application/pdf\",\"data\":\"JVBERi0=\"},\"title\":\"a.pdf\"},"
		"  {\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\","
		"   \"data\":\"hello\"},\"title\":\"h.txt\"},"
		"  {\"type\":\"text\",\"text\":\"[file z.zip (application/zip) not sent: Anthropic "
		"takes PDF and text documents]\"},"
		"  {\"type\":\"text\",\"text\":\"and fix it\"}]},"
		" {\"role\":\"assistant\",\"content\":["
		"  {\"type\":\"thinking\",\"thinking\":\"Mine.\",\"signature\":\"SIG1\"},"
		"  {\"type\":\"redacted_thinking\",\"data\":\"RED1\"},"
		"  {\"type\":\"text\",\"text\":\"Reading.\"},"
		"  {\"type\":\"tool_use\",\"id\":\"toolu_A\",\"name\":\"read\",\"input\":{\"path\":\"a\"}},"
		"  {\"type\":\"tool_use\",\"id\":\"call_B_1\",\"name\":\"grep\",\"input\":{\"p\":\"x\"}},"
		"  {\"type\":\"tool_use\",\"id\":\"toolu_C\",\"name\":\"ls\",\"input\":{}}]},"
		" {\"role\":\"user\",\"content\":["
		"  {\"type\":\"tool_result\",\"tool_use_id\":\"call_B_1\",\"content\":\"3 hits\"},"
		"  {\"type\":\"tool_result\",\"tool_use_id\":\"toolu_A\",\"content\":\"no such file\","
		"   \"is_error\":true},"
		"  {\"type\":\"tool_result\",\"tool_use_id\":\"toolu_C\",\"content\":"
		"   \"no result: the call did not run\",\"is_error\":true},"
		"  {\"type\":\"text\",\"text\":\"(interrupting)\"},"
		"  {\"type\":\"text\",\"text\":\"[result of tool old (call toolu_gone)]\\nstale\"},"
		"  {\"type\":\"text\",\"text\":\"Go on.\"}]},"
		" {\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Done.\"}]},"
		" {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Thanks\","
		"  \"cache_control\":{\"type\":\"ephemeral\"}}]}],"
		"\"tools\":[{\"name\":\"read\",\"description\":\"Read a file\",\"input_schema\":"
		" {\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}},"
		" {\"name\":\"ls\",\"input_schema\":{\"type\":\"object\"},"
		"  \"cache_control\":{\"type\":\"ephemeral\"}}]}", 0, NULL);
	assert_non_null(want);
	json_t *got = fake_anthropic_request_body(f->fa, 0);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
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
	assert_int_equal(fake_anthropic_count(f->fa), 0);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR provider/anthropic: request refused: the request has "
			       "no \"messages\" array\n"));
	free(log);
	testutil_log_capture();
}

/* ------------------------------------------------------ configuration -- */

static void
test_config(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "model = claude-opus-4-1\nmax_tokens = 2000\n"
			      "thinking_budget = 4096\nprompt_cache = no\n"
			      "beta = interleaved-thinking-2025-05-14\nflavour = mint\nprice.some-model = 3, 15\n"), 0);
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "claude-opus-4-1");
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 1);
	push(f, "[{\"type\":\"message_start\"},{\"type\":\"stop\"}]");
	json_t *req = json_pack("{s:s,s:[{s:s,s:[{s:s,s:s}]}]}", "system", "Be brief.",
				"messages", "role", "user", "parts", "type", "text", "text", "Hi");
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	provider_rec_free(r);
	/* The model key is the default; max_tokens is raised past the thinking budget;
	 * no cache_control anywhere. */
	json_t *got = fake_anthropic_request_body(f->fa, 0);
	json_t *want = json_pack("{s:s,s:i,s:b,s:s,s:[{s:s,s:[{s:s,s:s}]}],s:{s:s,s:i}}",
				 "model", "claude-opus-4-1", "max_tokens", 4096 + 1024, "stream", 1,
				 "system", "Be brief.", "messages", "role", "user", "content",
				 "type", "text", "text", "Hi", "thinking", "type", "enabled",
				 "budget_tokens", 4096);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	assert_string_equal(fakehttp_header(fake_anthropic_request(f->fa, 0), "anthropic-beta"),
			    "interleaved-thinking-2025-05-14");
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  provider/anthropic: unknown key 'flavour' ignored\n"));
	assert_null(strstr(log, "price.")); /* the core's key, not the module's */
	free(log);
	testutil_log_capture();
}

static void
test_config_defaults(void **state)
{
	struct fixture *f = *state;
	unsetenv("ANTHROPIC_API_KEY");
	fake_anthropic_set_key(f->fa, TEST_KEY);
	assert_int_equal(load(f, NULL), 0);
	setenv("ANTHROPIC_API_KEY", TEST_KEY, 1);
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "claude-sonnet-4-5");
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 0);
	/* Without a key no x-api-key goes out, and the server's 401 says why. */
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	provider_rec_assert_error(r, HEARTH_PERR_AUTH, 401, 0, 0, "x-api-key header is required",
		     "authentication_error");
	assert_null(fakehttp_header(fake_anthropic_request(f->fa, 0), "x-api-key"));
	provider_rec_free(r);
}

static void
test_config_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "thinking_budget = 500\n"), 1);
	assert_null(f->h.mod);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR provider/anthropic: thinking_budget 500 is below the "
			       "API's minimum of 1024 (0 turns thinking off)\n"));
	free(log);
	testutil_log_capture();
}

static void
test_config_bad_values(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "max_tokens = lots\n"), 1);
	assert_null(f->h.mod);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "test.conf:5: [provider anthropic] max_tokens: 'lots' is not "
			       "an integer from 1 to 10000000\n"));
	free(log);
	testutil_log_capture();
}

static void
test_config_bad_url(void **state)
{
	struct fixture *f = *state;
	setenv("ANTHROPIC_BASE_URL", "ftp://user:secret@example.com", 1);
	assert_int_equal(load(f, NULL), 1);
	unsetenv("ANTHROPIC_BASE_URL");
	assert_null(f->h.mod);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR provider/anthropic: the base URL (ANTHROPIC_BASE_URL) "
			       "is not an http:// or https:// URL\n"));
	assert_null(strstr(log, "secret"));
	free(log);
	testutil_log_capture();
}

/* The base URL may end in '/', and the key may carry blanks around it. */
static void
test_config_trims(void **state)
{
	struct fixture *f = *state;
	char *url = xasprintf("%s//", f->url);
	free(f->url);
	f->url = url;
	setenv("ANTHROPIC_API_KEY", "  " TEST_KEY "\n", 1);
	assert_int_equal(load(f, NULL), 0);
	setenv("ANTHROPIC_API_KEY", TEST_KEY, 1);
	struct provider_rec *r = run(f, "[{\"type\":\"message_start\"},{\"type\":\"stop\"}]");
	provider_rec_free(r);
	const struct fakehttp_request *rq = fake_anthropic_request(f->fa, 0);
	assert_string_equal(rq->target, "/v1/messages");
	assert_string_equal(fakehttp_header(rq, "x-api-key"), TEST_KEY);
}

/* ----------------------------------------------------- the fake itself -- */

static void
test_fake_render(void **state)
{
	(void)state;
	json_t *steps = json_loads("[{\"type\":\"message_start\",\"id\":\"msg_1\",\"usage\":"
				   "{\"input_tokens\":25,\"output_tokens\":1}},{\"type\":\"ping\"},"
				   "{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"stop\"}]", 0, NULL);
	char *out, *error = NULL;
	size_t len;
	int close, hang;
	assert_int_equal(fake_anthropic_render(steps, 0, 5, &out, &len, &close, &hang, &error), 0);
	json_decref(steps);
	const char *sse =
		"event: message_start\n"
		"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
		"\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\","
		"\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
		"\"output_tokens\":1}}}\n\n"
		"event: ping\n"
		"data: {\"type\": \"ping\"}\n\n"
		"event: content_block_start\n"
		"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
		"\"text\",\"text\":\"\"}}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		"\"text_delta\",\"text\":\"Hi\"}}\n\n"
		"event: content_block_stop\n"
		"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
		"event: message_delta\n"
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
		"\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n"
		"event: message_stop\n"
		"data: {\"type\":\"message_stop\"}\n\n";
	/* max_write 0: one chunk, then the last-chunk marker. */
	char *tail = xasprintf("\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(sse), sse);
	assert_int_equal(close, 0);
	assert_int_equal(hang, 0);
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
	assert_non_null(strstr(out, "\r\nContent-Type: text/event-stream; charset=utf-8\r\n"));
	assert_non_null(strstr(out, "\r\nTransfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(out, "\r\nrequest-id: req_fake00000005\r\n"));
	assert_true(len > strlen(tail));
	assert_string_equal(out + len - strlen(tail), tail);
	free(tail);
	free(out);

	/* Bad scripts are refused with the step named. */
	static const struct {
		const char *script, *error;
	} bad[] = {
		{ "[]", "a reply must be a non-empty array of steps" },
		{ "[{\"type\":\"text\",\"text\":3}]", "step 0 (text): missing or malformed members" },
		{ "[{\"type\":\"bogus\"}]", "step 0: unknown type 'bogus'" },
		{ "[{\"text\":\"x\"}]", "step 0 has no \"type\"" },
		{ "[{\"type\":\"cut\"},{\"type\":\"ping\"}]",
		  "step 1 comes after a cut or hang, which must be last" },
		{ "[{\"type\":\"ping\"},{\"type\":\"http_error\",\"status\":500}]",
		  "an http_error step must be the reply's only step" },
		{ "[{\"type\":\"http_error\"}]", "step 0 (http_error): missing or malformed members" },
		{ "[{\"type\":\"tool_use\",\"id\":\"x\"}]",
		  "step 0 (tool_use): missing or malformed members" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		steps = json_loads(bad[i].script, 0, NULL);
		assert_non_null(steps);
		error = NULL;
		assert_int_equal(fake_anthropic_render(steps, 3, 1, &out, &len, &close, &hang,
						       &error), -1);
		assert_string_equal(error, bad[i].error);
		free(error);
		json_decref(steps);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thinking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tool_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_events_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_error_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_error_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_mid_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_models_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_request_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_trims, setup, teardown),
		cmocka_unit_test(test_fake_render),
	};
	return cmocka_run_group_tests_name("anthropic", tests, NULL, NULL);
}
