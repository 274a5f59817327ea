/* test_ndjson.c: the NDJSON reader: chunking, line ends, errors, limits. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hearth/plugin.h>

#include "ndjson.h"
#include "xmalloc.h"

struct rec {
	char *log;   /* "N:compact json\n" per line */
	int stop_at;
};

static int
rec_line(void *arg, json_t *value, size_t line_no)
{
	struct rec *r = arg;
	char *j = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	char *line = xasprintf("%s%zu:%s\n", r->log, line_no, j);
	free(j);
	free(r->log);
	r->log = line;
	return r->stop_at == (int)line_no ? 7 : 0;
}

static void
feed_check(const char *text, size_t chunk, const char *want)
{
	struct rec r = { .log = xstrdup("") };
	struct hearth_ndjson *p = ndjson_new(0, rec_line, &r);
	size_t len = strlen(text);
	for (size_t off = 0; off < len; off += chunk)
		assert_int_equal(ndjson_feed(p, text + off, chunk < len - off ? chunk : len - off), 0);
	assert_int_equal(ndjson_finish(p), 0);
	assert_string_equal(r.log, want);
	free(r.log);
	ndjson_free(p);
}

static void
test_lines(void **state)
{
	(void)state;
	const char *ollama =
		"{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
		"\r\n"
		"  \n"
		"{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
		"\"done_reason\":\"stop\",\"eval_count\":2}\r\n"
		"42";
	const char *want =
		"1:{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
		"4:{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
		"\"done_reason\":\"stop\",\"eval_count\":2}\n"
		"5:42\n";
	for (size_t chunk = 1; chunk < 40; chunk++)
		feed_check(ollama, chunk, want);
	feed_check(ollama, strlen(ollama), want);
}

static void
test_malformed(void **state)
{
	(void)state;
	struct rec r = { .log = xstrdup("") };
	struct hearth_ndjson *p = ndjson_new(0, rec_line, &r);
	const char *t = "{\"a\":1}\n{\"b\":\n";
	assert_int_equal(ndjson_feed(p, t, strlen(t)), HEARTH_EPROTO);
	assert_string_equal(ndjson_error(p), "line 2: invalid JSON at column 5: unexpected token near "
			    "end of file");
	assert_string_equal(r.log, "1:{\"a\":1}\n");
	assert_int_equal(ndjson_feed(p, "{}\n", 3), HEARTH_EPROTO);
	assert_int_equal(ndjson_finish(p), HEARTH_EPROTO);
	ndjson_free(p);
	free(r.log);

	/* A truncated last line is delivered by finish, and fails there if cut mid-value. */
	r.log = xstrdup("");
	p = ndjson_new(0, rec_line, &r);
	assert_int_equal(ndjson_feed(p, "{\"done\":tr", 10), 0);
	assert_int_equal(ndjson_finish(p), HEARTH_EPROTO);
	ndjson_free(p);
	free(r.log);

	/* Binary garbage. */
	r.log = xstrdup("");
	p = ndjson_new(0, rec_line, &r);
	assert_int_equal(ndjson_feed(p, "\x7f" "ELF\x00\x01\n", 7), HEARTH_EPROTO);
	ndjson_free(p);
	free(r.log);
}

static void
test_limit_and_stop(void **state)
{
	(void)state;
	struct rec r = { .log = xstrdup("") };
	struct hearth_ndjson *p = ndjson_new(8, rec_line, &r);
	/* Exactly 8 bytes, also with CRLF, then 9. */
	assert_int_equal(ndjson_feed(p, "\"123456\"\n\"123456\"\r\n", 19), 0);
	assert_int_equal(ndjson_feed(p, "\"1234567", 8), 0);
	assert_int_equal(ndjson_feed(p, "\"\n", 2), HEARTH_ELIMIT);
	assert_string_equal(ndjson_error(p), "line 3: longer than 8 bytes");
	assert_string_equal(r.log, "1:\"123456\"\n2:\"123456\"\n");
	ndjson_free(p);
	free(r.log);

	/* 10 MB without a newline is refused as soon as it passes the limit. */
	r.log = xstrdup("");
	p = ndjson_new(1024 * 1024, rec_line, &r);
	char *junk = xmalloc(65536);
	memset(junk, ' ', 65536);
	int rc = 0;
	size_t fed = 0;
	while (rc == 0 && fed < 10 * 1024 * 1024) {
		rc = ndjson_feed(p, junk, 65536);
		fed += 65536;
	}
	assert_int_equal(rc, HEARTH_ELIMIT);
	assert_true(fed <= 1024 * 1024 + 65536);
	free(junk);
	ndjson_free(p);
	free(r.log);

	r.log = xstrdup("");
	r.stop_at = 2;
	p = ndjson_new(0, rec_line, &r);
	assert_int_equal(ndjson_feed(p, "1\n2\n3\n", 6), 7);
	assert_string_equal(r.log, "1:1\n2:2\n");
	ndjson_free(p);
	free(r.log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limit_and_stop),
	};
	return cmocka_run_group_tests_name("ndjson", tests, NULL, NULL);
}
