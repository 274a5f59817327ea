/*
 * test_sse.c: the SSE parser, fed whole, byte by byte and at random boundaries;
 * line ends, fields, limits, truncation and garbage.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hearth/plugin.h>

#include "sse.h"
#include "xmalloc.h"

/* Events are recorded as "type|id|data\n" lines. */
struct rec {
	char *log;
	size_t len;
	int stop_after;   /* return 1 from the n-th event (0: never) */
	int n;
};

static int
rec_event(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	struct rec *r = arg;
	assert_int_equal(strlen(data), len);
	char *line = xasprintf("%s|%s|%s\n", event, id, data);
	size_t l = strlen(line);
	r->log = xrealloc(r->log, r->len + l + 1);
	memcpy(r->log + r->len, line, l + 1);
	r->len += l;
	free(line);
	return ++r->n == r->stop_after ? 1 : 0;
}

/* Feed `text` in chunks of `chunk` bytes (0: random sizes from `seed`); check the log. */
static void
feed_check(const char *text, size_t len, size_t chunk, unsigned seed, const char *want,
	   int want_finish)
{
	struct rec r = { .log = xstrdup("") };
	struct hearth_sse *p = sse_new(0, rec_event, &r);
	srand(seed);
	size_t off = 0;
	while (off < len) {
		size_t n = chunk > 0 ? chunk : (size_t)(rand() % 17) + 1;
		if (n > len - off)
			n = len - off;
		assert_int_equal(sse_feed(p, text + off, n), 0);
		off += n;
	}
	assert_int_equal(sse_finish(p), want_finish);
	assert_string_equal(r.log, want);
	free(r.log);
	sse_free(p);
}

/* Every chunking of one input gives the same events. */
static void
check_all_ways(const char *text, const char *want, int want_finish)
{
	size_t len = strlen(text);
	feed_check(text, len, len > 0 ? len : 1, 0, want, want_finish);
	feed_check(text, len, 1, 0, want, want_finish);
	feed_check(text, len, 2, 0, want, want_finish);
	for (unsigned seed = 1; seed <= 50; seed++)
		feed_check(text, len, 0, seed, want, want_finish);
}

static void
test_basic_fields(void **state)
{
	(void)state;
	check_all_ways("data: hello\n\n", "message||hello\n", 0);
	check_all_ways("event: ping\ndata: {}\n\n", "ping||{}\n", 0);
	check_all_ways("id: 7\nevent: a\ndata: x\n\ndata: y\n\n", "a|7|x\nmessage|7|y\n", 0);
	/* Several data lines are joined by "\n"; one leading space only is dropped. */
	check_all_ways("data:one\ndata:  two\ndata\n\n", "message||one\n two\n\n", 0);
	/* Comments, unknown fields, events without data. */
	check_all_ways(": keep-alive\nfoo: bar\n\nevent: empty\n\ndata: z\n\n", "message||z\n", 0);
	/* The event type does not leak into the next event. */
	check_all_ways("event: a\ndata: 1\n\ndata: 2\n\n", "a||1\nmessage||2\n", 0);
}

static void
test_line_ends(void **state)
{
	(void)state;
	check_all_ways("data: a\r\n\r\ndata: b\r\rdata: c\n\n", "message||a\nmessage||b\nmessage||c\n", 0);
	/* A CR at the end of one chunk and its LF at the start of the next: one line end. */
	struct rec r = { .log = xstrdup("") };
	struct hearth_sse *p = sse_new(0, rec_event, &r);
	assert_int_equal(sse_feed(p, "data: x\r", 8), 0);
	assert_int_equal(sse_feed(p, "\n", 1), 0);
	assert_int_equal(sse_feed(p, "\r", 1), 0);
	assert_int_equal(sse_feed(p, "\n", 1), 0);
	assert_string_equal(r.log, "message||x\n");
	assert_int_equal(sse_finish(p), 0);
	free(r.log);
	sse_free(p);
}

static void
test_bom_and_retry_and_id(void **state)
{
	(void)state;
	check_all_ways("\xef\xbb\xbf" "data: b\n\n", "message||b\n", 0);
	/* Half a BOM is ordinary text: here part of an unknown field name. */
	check_all_ways("\xef\xbb" "data: b\n\ndata: c\n\n", "message||c\n", 0);
	struct rec r = { .log = xstrdup("") };
	struct hearth_sse *p = sse_new(0, rec_event, &r);
	assert_int_equal(sse_retry_ms(p), -1);
	const char *t = "retry: 1500\nretry: 12x\nid: a\0b\ndata: d\n\n";
	assert_int_equal(sse_feed(p, t, 40), 0);
	assert_int_equal(sse_retry_ms(p), 1500);
	/* An id with a NUL is ignored. */
	assert_string_equal(r.log, "message||d\n");
	free(r.log);
	sse_free(p);
}

static void
test_truncated(void **state)
{
	(void)state;
	check_all_ways("data: a\n\ndata: cut", "message||a\n", HEARTH_EPROTO);
	check_all_ways("data: a\n\ndata: cut\n", "message||a\n", HEARTH_EPROTO);
	check_all_ways("data: a\n\nevent: x\n", "message||a\n", HEARTH_EPROTO);
	check_all_ways("", "", 0);
	struct rec r = { .log = xstrdup("") };
	struct hearth_sse *p = sse_new(0, rec_event, &r);
	sse_feed(p, "data: a\n\ndata: b", 16);
	assert_int_equal(sse_finish(p), HEARTH_EPROTO);
	assert_string_equal(sse_error(p), "stream ended inside an event at byte 16");
	free(r.log);
	sse_free(p);
}

static void
test_limit(void **state)
{
	(void)state;
	struct rec r = { .log = xstrdup("") };
	/* "data: " + 10 bytes = 16 bytes of lines: exactly the limit passes. */
	struct hearth_sse *p = sse_new(16, rec_event, &r);
	assert_int_equal(sse_feed(p, "data: 0123456789\n\n", 18), 0);
	assert_string_equal(r.log, "message||0123456789\n");
	assert_int_equal(sse_feed(p, "data: 01234567890\n\n", 19), HEARTH_ELIMIT);
	assert_string_equal(sse_error(p), "event larger than the limit of 16 bytes at byte 35 "
			    "of the stream");
	/* Failed stays failed. */
	assert_int_equal(sse_feed(p, "data: a\n\n", 9), HEARTH_ELIMIT);
	assert_int_equal(sse_finish(p), HEARTH_ELIMIT);
	sse_free(p);
	free(r.log);

	/* A 10 MB line without a newline is refused once it passes 1 MB, fed in pieces. */
	r.log = xstrdup("");
	p = sse_new(1024 * 1024, rec_event, &r);
	char *junk = xmalloc(65536);
	memset(junk, 'x', 65536);
	int rc = 0;
	size_t fed = 0;
	while (rc == 0 && fed < 10 * 1024 * 1024) {
		rc = sse_feed(p, junk, 65536);
		fed += 65536;
	}
	assert_int_equal(rc, HEARTH_ELIMIT);
	assert_true(fed <= 1024 * 1024 + 65536);
	free(junk);
	sse_free(p);
	free(r.log);
}

static void
test_callback_stops(void **state)
{
	(void)state;
	struct rec r = { .log = xstrdup(""), .stop_after = 2 };
	struct hearth_sse *p = sse_new(0, rec_event, &r);
	assert_int_equal(sse_feed(p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27), 1);
	assert_string_equal(r.log, "message||1\nmessage||2\n");
	assert_int_equal(sse_feed(p, "data: 4\n\n", 9), 1);
	free(r.log);
	sse_free(p);
}

static void
test_garbage(void **state)
{
	(void)state;
	struct rec r = { .log = xstrdup("") };
	struct hearth_sse *p = sse_new(4096, rec_event, &r);
	srand(99);
	char buf[1024];
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (char)(rand() % 256);
		int rc = sse_feed(p, buf, sizeof buf);
		assert_true(rc == 0 || rc == HEARTH_ELIMIT);
		if (rc != 0)
			break;
	}
	sse_finish(p);
	free(r.log);
	sse_free(p);
}

/* A real Anthropic stream, as providers.md shows it, parsed every which way. */
static void
test_anthropic_stream(void **state)
{
	(void)state;
	const char *stream =
		"event: message_start\n"
		"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
		"\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"usage\":"
		"{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
		"event: content_block_start\n"
		"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
		"\"text\",\"text\":\"\"}}\n\n"
		"event: ping\n"
		"data: {\"type\": \"ping\"}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
		"\"text\":\"Hello\"}}\n\n"
		"event: content_block_stop\n"
		"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
		"event: content_block_start\n"
		"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
		"\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read\",\"input\":{}}}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
		"\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \\\"a.c\"}}\n\n"
		"event: message_delta\n"
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":"
		"{\"output_tokens\":15}}\n\n"
		"event: message_stop\n"
		"data: {\"type\":\"message_stop\"}\n\n";
	struct rec r = { .log = xstrdup("") };
	struct hearth_sse *p = sse_new(0, rec_event, &r);
	assert_int_equal(sse_feed(p, stream, strlen(stream)), 0);
	assert_int_equal(sse_finish(p), 0);
	assert_int_equal(r.n, 9);
	char *want = xstrdup(r.log);
	free(r.log);
	sse_free(p);
	check_all_ways(stream, want, 0);
	assert_non_null(strstr(want, "ping||{\"type\": \"ping\"}\n"));
	assert_non_null(strstr(want, "message_stop||{\"type\":\"message_stop\"}\n"));
	free(want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_fields),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_bom_and_retry_and_id),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_anthropic_stream),
	};
	return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
