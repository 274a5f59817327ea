/*
 * test_ndjson.c: the NDJSON push reader. Every input is fed whole, one byte at a
 * time and at many seeded random chunk boundaries, and must give the same values,
 * return codes and error text every time.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hearth/plugin.h>

#include "ndjson.h"
#include "xmalloc.h"

#define N_SEEDS 200

static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static size_t
rng_chunk(uint64_t *s)
{
	uint64_t r = rng_next(s);
	if (r % 8 == 0)
		return 1 + (size_t)((r >> 8) % 4096);
	return 1 + (size_t)((r >> 8) % 9);
}

/* Lines as "N:compact-json\n". */
struct rec {
	char *log;
	size_t len;
	int stop_at, stop_rc, n;
	struct hearth_ndjson *self;
	int free_in_cb, feed_in_cb, feed_in_cb_rc;
	json_t *kept;
};

static int
rec_cb(void *arg, json_t *value, size_t line_no)
{
	struct rec *r = arg;
	assert_non_null(value);
	char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(s);
	char *entry = xasprintf("%zu:%s\n", line_no, s);
	free(s);
	size_t n = strlen(entry);
	r->log = xrealloc(r->log, r->len + n + 1);
	memcpy(r->log + r->len, entry, n + 1);
	r->len += n;
	free(entry);
	r->n++;
	if (r->kept == NULL)
		r->kept = json_incref(value);   /* borrowed: keeping it takes a reference */
	if (r->feed_in_cb)
		r->feed_in_cb_rc = ndjson_feed(r->self, "1\n", 2);
	if (r->free_in_cb) {
		ndjson_free(r->self);
		return r->stop_rc;
	}
	if (r->stop_at && r->n == r->stop_at)
		return r->stop_rc;
	return 0;
}

struct run {
	char *log;
	size_t len;
	int feed_rc, finish_rc;
	char err[300];
};

enum { MODE_WHOLE = -1, MODE_BYTES = 0 };

static void
run_nd(const char *in, size_t n, size_t max, long mode, int stop_at, struct run *out)
{
	struct rec r = { .stop_at = stop_at, .stop_rc = 42 };
	struct hearth_ndjson *p = ndjson_new(max, rec_cb, &r);
	assert_non_null(p);
	uint64_t seed = (uint64_t)mode * 0x9E3779B97F4A7C15ULL + 1;
	int rc = 0;
	size_t i = 0;
	while (i < n) {
		size_t c = mode == MODE_WHOLE ? n - i : mode == MODE_BYTES ? 1 : rng_chunk(&seed);
		if (c > n - i)
			c = n - i;
		rc = ndjson_feed(p, in + i, c);
		i += c;
		if (rc != 0) {
			assert_int_equal(ndjson_feed(p, "{}\n", 3), rc);
			break;
		}
	}
	out->feed_rc = rc;
	out->finish_rc = ndjson_finish(p);
	if (rc != 0)
		assert_int_equal(out->finish_rc, rc);
	snprintf(out->err, sizeof out->err, "%s", ndjson_error(p));
	out->log = r.log ? r.log : xstrdup("");
	out->len = r.len;
	json_decref(r.kept);
	ndjson_free(p);
}

static void
check_full(const char *in, size_t n, size_t max, const char *want, int feed_rc,
	   int finish_rc, const char *err)
{
	for (long mode = MODE_WHOLE; mode <= N_SEEDS; mode++) {
		struct run r;
		run_nd(in, n, max, mode, 0, &r);
		assert_string_equal(r.log, want);
		assert_int_equal(r.feed_rc, feed_rc);
		assert_int_equal(r.finish_rc, finish_rc);
		assert_string_equal(r.err, err);
		free(r.log);
	}
}

#define CHECK(in, want) check_full(in, strlen(in), 0, want, 0, 0, "")

static void
test_ollama_chat(void **state)
{
	(void)state;
	const char *in =
		"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.000Z\","
		"\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}\n"
		"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.100Z\","
		"\"message\":{\"role\":\"assistant\",\"content\":\" sky \\u00e9\\n\"},\"done\":false}\n"
		"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.200Z\","
		"\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":"
		"{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},\"done\":false}\n"
		"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.300Z\","
		"\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
		"\"done_reason\":\"stop\",\"total_duration\":4883583458,\"load_duration\":1334875,"
		"\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,"
		"\"eval_count\":282,\"eval_duration\":4535599000}\n";
	const char *want =
		"1:{\"created_at\":\"2025-01-01T00:00:00.000Z\",\"done\":false,\"message\":"
		"{\"content\":\"The\",\"role\":\"assistant\"},\"model\":\"llama3.2\"}\n"
		"2:{\"created_at\":\"2025-01-01T00:00:00.100Z\",\"done\":false,\"message\":"
		"{\"content\":\" sky \xc3\xa9\\n\",\"role\":\"assistant\"},\"model\":\"llama3.2\"}\n"
		"3:{\"created_at\":\"2025-01-01T00:00:00.200Z\",\"done\":false,\"message\":"
		"{\"content\":\"\",\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
		"{\"arguments\":{\"city\":\"Paris\"},\"name\":\"get_weather\"}}]},\"model\":\"llama3.2\"}\n"
		"4:{\"created_at\":\"2025-01-01T00:00:00.300Z\",\"done\":true,\"done_reason\":\"stop\","
		"\"eval_count\":282,\"eval_duration\":4535599000,\"load_duration\":1334875,"
		"\"message\":{\"content\":\"\",\"role\":\"assistant\"},\"model\":\"llama3.2\","
		"\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,"
		"\"total_duration\":4883583458}\n";
	CHECK(in, want);
}

static void
test_values_and_blank_lines(void **state)
{
	(void)state;
	/* Any JSON value; blank and whitespace-only lines skipped but counted. */
	CHECK("1\n\"s\"\nnull\ntrue\n[1,{}]\n", "1:1\n2:\"s\"\n3:null\n4:true\n5:[1,{}]\n");
	CHECK("\n  \n\t\r\n{}\n\n[1]\n", "4:{}\n6:[1]\n");
	CHECK("", "");
	CHECK("\n\n\n", "");
	CHECK("  {\"a\" : 1 }  \n", "1:{\"a\":1}\n");
	/* Duplicate keys are allowed (the last one wins). */
	CHECK("{\"a\":1,\"a\":2}\n", "1:{\"a\":2}\n");
	/* An escaped NUL is accepted. */
	CHECK("\"a\\u0000b\"\n", "1:\"a\\u0000b\"\n");
}

static void
test_crlf(void **state)
{
	(void)state;
	CHECK("{\"a\":1}\r\n{\"b\":2}\r\n", "1:{\"a\":1}\n2:{\"b\":2}\n");
	CHECK("{\"a\":1}\r\n{\"b\":2}\n\r\n3\r\n", "1:{\"a\":1}\n2:{\"b\":2}\n4:3\n");
	/* A CR inside a line is JSON whitespace. */
	CHECK("{\"a\":\r1}\n", "1:{\"a\":1}\n");
	/* Not a line end on its own: two values on one line. */
	check_full("1\r2\n", 4, 0, "", HEARTH_EPROTO, HEARTH_EPROTO, 
		   "line 1: invalid JSON at column 3: end of file expected near '2'");
}

static void
test_last_line_without_newline(void **state)
{
	(void)state;
	CHECK("{\"a\":1}\n{\"b\":2}", "1:{\"a\":1}\n2:{\"b\":2}\n");
	CHECK("{\"a\":1}\n{\"b\":2}\r", "1:{\"a\":1}\n2:{\"b\":2}\n");
	CHECK("42", "1:42\n");
	CHECK("{\"a\":1}\n   ", "1:{\"a\":1}\n");
	/* A cut-off last line is not JSON. */
	check_full("{\"a\":1}\n{\"b\":", 13, 0, "1:{\"a\":1}\n", 0, HEARTH_EPROTO,
		   "line 2: invalid JSON at column 5: unexpected token near end of file");
}

static void
test_malformed(void **state)
{
	(void)state;
	const char *in = "{\"a\":1}\n\n{\"a\": tru}\n{\"c\":3}\n";
	check_full(in, strlen(in), 0, "1:{\"a\":1}\n", HEARTH_EPROTO, HEARTH_EPROTO,
		   "line 3: invalid JSON at column 9: invalid token near 'tru'");
	check_full("{} {}\n", 6, 0, "", HEARTH_EPROTO, HEARTH_EPROTO,
		   "line 1: invalid JSON at column 4: end of file expected near '{'");
	check_full("hello\n", 6, 0, "", HEARTH_EPROTO, HEARTH_EPROTO,
		   "line 1: invalid JSON at column 5: invalid token near 'hello'");
	check_full("\"x\0y\"\n", 6, 0, "", HEARTH_EPROTO, HEARTH_EPROTO,
		   "line 1: invalid JSON at column 2: control character 0x0 near '\"x'");
	check_full("{\"a\":\"\xff\"}\n", 10, 0, "", HEARTH_EPROTO, HEARTH_EPROTO,
		   "line 1: invalid JSON at column 6: unable to decode byte 0xff near '\"'");
	/* Two lines make two texts, not one. */
	check_full("{\"a\":\n1}\n", 9, 0, "", HEARTH_EPROTO, HEARTH_EPROTO,
		   "line 1: invalid JSON at column 5: unexpected token near end of file");
}

static void
test_limit(void **state)
{
	(void)state;
	/* "{\"a\":1234}" is 10 bytes: at a limit of 10 it passes, with LF or CRLF. */
	check_full("{\"a\":1234}\n{\"a\":1234}", 21, 10, "1:{\"a\":1234}\n2:{\"a\":1234}\n",
		   0, 0, "");
	check_full("{\"a\":1234}\r\n{\"a\":1234}\r", 23, 10,
		   "1:{\"a\":1234}\n2:{\"a\":1234}\n", 0, 0, "");
	/* One byte over fails, whether the line is complete or not. */
	check_full("{\"a\":1}\n{\"a\":12345}\n", 20, 10, "1:{\"a\":1}\n", HEARTH_ELIMIT,
		   HEARTH_ELIMIT, "line 2: longer than 10 bytes");
	check_full("{\"a\":1}\n{\"a\":12345}", 19, 10, "1:{\"a\":1}\n", HEARTH_ELIMIT,
		   HEARTH_ELIMIT, "line 2: longer than 10 bytes");
	check_full("{\"a\":1234}\rx\n", 13, 10, "", HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "line 1: longer than 10 bytes");
	check_full("{\"a\":1234}\r\r\n", 13, 10, "", HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "line 1: longer than 10 bytes");
	/* Blank lines are lines: a long run of spaces is over the limit too. */
	check_full("           \n", 12, 10, "", HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "line 1: longer than 10 bytes");
}

/* A 10 MB line without a newline stays within the limit. */
static void
test_endless_line_bounded(void **state)
{
	(void)state;
	const size_t max = 1024 * 1024, total = 10 * 1024 * 1024, chunk = 65536;
	char *buf = xmalloc(chunk);
	memset(buf, ' ', chunk);
	struct rec r = { 0 };
	struct hearth_ndjson *p = ndjson_new(max, rec_cb, &r);
	assert_int_equal(ndjson_feed(p, "[1]\n\"", 5), 0);
	int failed_at = -1;
	for (size_t i = 0, fed = 0; fed < total; i++, fed += chunk) {
		int rc = ndjson_feed(p, buf, chunk);
		if (rc != 0 && failed_at < 0)
			failed_at = (int)i;
		assert_int_equal(rc, failed_at >= 0 ? HEARTH_ELIMIT : 0);
		assert_true(ndjson_buffered(p) <= max + 1);
	}
	/* The quote plus 16 chunks is max + 1 bytes: the 16th chunk (i == 15) fails. */
	assert_int_equal(failed_at, 15);
	assert_string_equal(ndjson_error(p), "line 2: longer than 1048576 bytes");
	assert_int_equal(ndjson_finish(p), HEARTH_ELIMIT);
	ndjson_free(p);

	/* A big line under the limit goes through; its buffer is let go after. */
	p = ndjson_new(total, rec_cb, &r);
	assert_int_equal(ndjson_feed(p, "\"", 1), 0);
	memset(buf, 'x', chunk);
	for (size_t fed = 0; fed + chunk < total - 8; fed += chunk)
		assert_int_equal(ndjson_feed(p, buf, chunk), 0);
	assert_true(ndjson_buffered(p) <= total + 1);
	assert_int_equal(ndjson_feed(p, "\"\n", 2), 0);
	assert_true(ndjson_buffered(p) <= 65536);
	assert_int_equal(ndjson_finish(p), 0);
	assert_int_equal(r.n, 2);
	assert_true(json_is_array(r.kept));   /* the first value, kept by reference */
	json_decref(r.kept);
	ndjson_free(p);
	free(r.log);
	free(buf);
}

static void
test_callback_abort(void **state)
{
	(void)state;
	const char *in = "1\n2\n3\n";
	for (long mode = MODE_WHOLE; mode <= N_SEEDS; mode++) {
		struct run r;
		run_nd(in, strlen(in), 0, mode, 2, &r);
		assert_string_equal(r.log, "1:1\n2:2\n");
		assert_int_equal(r.feed_rc, 42);
		assert_int_equal(r.finish_rc, 42);
		assert_string_equal(r.err, "line 2: stopped by the line callback (42)");
		free(r.log);
	}
	/* The same from finish. */
	struct run r;
	run_nd("1\n2", 3, 0, MODE_WHOLE, 2, &r);
	assert_int_equal(r.feed_rc, 0);
	assert_int_equal(r.finish_rc, 42);
	free(r.log);
}

static void
test_free_and_feed_in_callback(void **state)
{
	(void)state;
	struct rec r = { .free_in_cb = 1, .stop_rc = 7 };
	r.self = ndjson_new(0, rec_cb, &r);
	assert_int_equal(ndjson_feed(r.self, "1\n2\n", 4), 7);
	assert_int_equal(r.n, 1);
	json_decref(r.kept);
	free(r.log);

	struct rec r2 = { .free_in_cb = 1 };
	r2.self = ndjson_new(0, rec_cb, &r2);
	assert_int_equal(ndjson_feed(r2.self, "1", 1), 0);
	assert_int_equal(ndjson_finish(r2.self), HEARTH_ECANCELED);
	json_decref(r2.kept);
	free(r2.log);

	struct rec r3 = { .feed_in_cb = 1 };
	r3.self = ndjson_new(0, rec_cb, &r3);
	assert_int_equal(ndjson_feed(r3.self, "1\n2\n", 4), 0);
	assert_int_equal(r3.feed_in_cb_rc, HEARTH_EBUSY);
	assert_int_equal(ndjson_finish(r3.self), 0);
	assert_int_equal(ndjson_finish(r3.self), 0);
	assert_int_equal(ndjson_feed(r3.self, "3\n", 2), HEARTH_EINVAL);
	assert_string_equal(ndjson_error(r3.self), "");
	ndjson_free(r3.self);
	assert_string_equal(r3.log, "1:1\n2:2\n");
	json_decref(r3.kept);
	free(r3.log);

	assert_null(ndjson_new(0, NULL, NULL));
	ndjson_free(NULL);
}

/* Random bytes, with some JSON-ish ones: no crash, chunking changes nothing. */
static void
test_garbage(void **state)
{
	(void)state;
	static const char alphabet[] = "{}[]\":,1 \r\n\n\n\0truenull";
	const size_t n = 2000;
	char *in = xmalloc(n);
	for (uint64_t seed = 1; seed <= 60; seed++) {
		uint64_t s = seed;
		for (size_t i = 0; i < n; i++) {
			uint64_t v = rng_next(&s);
			in[i] = v % 4 == 0 ? (char)(v >> 16) : alphabet[(v >> 8) % (sizeof alphabet - 1)];
		}
		struct run whole;
		run_nd(in, n, 64, MODE_WHOLE, 0, &whole);
		for (long mode = MODE_BYTES; mode <= 10; mode++) {
			struct run r;
			run_nd(in, n, 64, mode == 0 ? MODE_BYTES : mode * 1000 + (long)seed, 0, &r);
			assert_string_equal(r.log, whole.log);
			assert_int_equal(r.feed_rc, whole.feed_rc);
			assert_int_equal(r.finish_rc, whole.finish_rc);
			assert_string_equal(r.err, whole.err);
			free(r.log);
		}
		free(whole.log);
	}
	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ollama_chat),
		cmocka_unit_test(test_values_and_blank_lines),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_last_line_without_newline),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_endless_line_bounded),
		cmocka_unit_test(test_callback_abort),
		cmocka_unit_test(test_free_and_feed_in_callback),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests_name("ndjson", tests, NULL, NULL);
}
