/*
 * test_sse.c: the SSE push parser. Every input is fed whole, one byte at a time
 * and at many seeded random chunk boundaries, and must give the same events, the
 * same return codes and the same error text (offsets included) every time.
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

#include "sse.h"
#include "xmalloc.h"

#define N_SEEDS 200

/* xorshift64*: the same sequence on every platform, unlike rand(). */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* A chunk size: mostly tiny (to split CRLFs and BOMs), sometimes large. */
static size_t
rng_chunk(uint64_t *s)
{
	uint64_t r = rng_next(s);
	if (r % 8 == 0)
		return 1 + (size_t)((r >> 8) % 4096);
	return 1 + (size_t)((r >> 8) % 9);
}

/* ------------------------------------------------------------ recorder -- */

/* Events as "<type|id|data>", concatenated. */
struct rec {
	char *log;
	size_t len;
	int stop_at;               /* return stop_rc from event number stop_at (1-based) */
	int stop_rc;
	int n;
	struct hearth_sse *self;   /* for callbacks that free or re-feed their parser */
	int free_in_cb, feed_in_cb, feed_in_cb_rc;
};

static void
rec_put(struct rec *r, const char *s, size_t n)
{
	r->log = xrealloc(r->log, r->len + n + 1);
	memcpy(r->log + r->len, s, n);
	r->len += n;
	r->log[r->len] = '\0';
}

static int
rec_cb(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	struct rec *r = arg;
	assert_non_null(event);
	assert_non_null(data);
	assert_non_null(id);
	assert_int_equal(data[len], '\0');
	rec_put(r, "<", 1);
	rec_put(r, event, strlen(event));
	rec_put(r, "|", 1);
	rec_put(r, id, strlen(id));
	rec_put(r, "|", 1);
	rec_put(r, data, len);
	rec_put(r, ">", 1);
	r->n++;
	if (r->feed_in_cb)
		r->feed_in_cb_rc = sse_feed(r->self, "x", 1);
	if (r->free_in_cb) {
		sse_free(r->self);
		return r->stop_rc;
	}
	if (r->stop_at && r->n == r->stop_at)
		return r->stop_rc;
	return 0;
}

/* ------------------------------------------------------------- runner -- */

struct run {
	char *log;
	size_t len;
	int feed_rc, finish_rc;
	char err[200];
	long retry;
};

enum { MODE_WHOLE = -1, MODE_BYTES = 0 };   /* > 0: a random seed */

static void
run_sse(const char *in, size_t n, size_t max, long mode, int stop_at, struct run *out)
{
	struct rec r = { .stop_at = stop_at, .stop_rc = 42 };
	struct hearth_sse *p = sse_new(max, rec_cb, &r);
	assert_non_null(p);
	uint64_t seed = (uint64_t)mode * 0x9E3779B97F4A7C15ULL + 1;
	int rc = 0;
	size_t i = 0;
	while (i < n) {
		size_t c = mode == MODE_WHOLE ? n - i : mode == MODE_BYTES ? 1 : rng_chunk(&seed);
		if (c > n - i)
			c = n - i;
		rc = sse_feed(p, in + i, c);
		i += c;
		if (rc != 0) {
			/* Failed stays failed, whatever comes next. */
			assert_int_equal(sse_feed(p, "data: x\n\n", 9), rc);
			break;
		}
	}
	out->feed_rc = rc;
	out->finish_rc = sse_finish(p);
	if (rc != 0)
		assert_int_equal(out->finish_rc, rc);
	snprintf(out->err, sizeof out->err, "%s", sse_error(p));
	out->retry = sse_retry(p);
	out->log = r.log;
	out->len = r.len;
	sse_free(p);
}

static void
assert_log(const char *got, size_t glen, const char *want, size_t wlen)
{
	if (glen != wlen || (wlen && memcmp(got, want, wlen) != 0))
		print_error("events differ:\n got: %.*s\nwant: %.*s\n", (int)glen,
			    got ? got : "", (int)wlen, want);
	assert_int_equal(glen, wlen);
	if (wlen)
		assert_memory_equal(got, want, wlen);
}

/*
 * Feed `in` whole, byte by byte and at N_SEEDS random boundaries; each run must
 * give exactly `want` events, these return codes and this error text.
 */
static void
check_full(const char *in, size_t n, size_t max, const char *want, size_t wlen,
	   int feed_rc, int finish_rc, const char *err)
{
	for (long mode = MODE_WHOLE; mode <= N_SEEDS; mode++) {
		struct run r;
		run_sse(in, n, max, mode, 0, &r);
		assert_log(r.log, r.len, want, wlen);
		assert_int_equal(r.feed_rc, feed_rc);
		assert_int_equal(r.finish_rc, finish_rc);
		assert_string_equal(r.err, err);
		free(r.log);
	}
}

#define CHECK(in, want) check_full(in, strlen(in), 0, want, strlen(want), 0, 0, "")

/* `in` with every "\n" replaced by `eol`; NULL eol: a seeded mix of all three,
 * never a lone LF right after a CR (that would make them one CRLF). */
static char *
with_eol(const char *in, const char *eol, uint64_t seed, size_t *outlen)
{
	size_t n = strlen(in);
	char *out = xmalloc(2 * n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] != '\n') {
			out[o++] = in[i];
			continue;
		}
		const char *e = eol;
		if (e == NULL) {
			static const char *const eols[] = { "\n", "\r\n", "\r" };
			int after_cr = o > 0 && out[o - 1] == '\r';
			e = eols[after_cr ? 1 + rng_next(&seed) % 2 : rng_next(&seed) % 3];
		}
		memcpy(out + o, e, strlen(e));
		o += strlen(e);
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* CHECK for LF, CRLF, CR and mixes of them (`in` written with "\n"). */
static void
check_eols(const char *in, const char *want)
{
	static const char *const eols[] = { "\n", "\r\n", "\r" };
	for (int e = 0; e < 3 + 8; e++) {
		size_t n;
		char *t = with_eol(in, e < 3 ? eols[e] : NULL, (uint64_t)e, &n);
		check_full(t, n, 0, want, strlen(want), 0, 0, "");
		free(t);
	}
}

/* -------------------------------------------------------------- tests -- */

static void
test_basic(void **state)
{
	(void)state;
	check_eols("data: hello\n\n", "<message||hello>");
	check_eols("data: a\n\ndata: b\n\n", "<message||a><message||b>");
	check_eols("event: add\ndata: a\ndata: b\nid: 7\n\n", "<add|7|a\nb>");
	check_eols("data: a\n\n\n\n\ndata: b\n\n", "<message||a><message||b>");
	CHECK("", "");
}

static void
test_multiline_data(void **state)
{
	(void)state;
	check_eols("data: one\ndata: two\ndata: three\n\n", "<message||one\ntwo\nthree>");
	check_eols("data\ndata\n\n", "<message||\n>");
	check_eols("data: \ndata: x\ndata:\n\n", "<message||\nx\n>");
	check_eols("data: {\"a\":\ndata: 1}\n\n", "<message||{\"a\":\n1}>");
}

static void
test_field_syntax(void **state)
{
	(void)state;
	/* One space removed, only one; no space needed; colons in the value kept. */
	check_eols("data:  two\n\n", "<message|| two>");
	check_eols("data:x\n\n", "<message||x>");
	check_eols("data: a: b:c\n\n", "<message||a: b:c>");
	check_eols("data:\tx\n\n", "<message||\tx>");
	/* A line without a colon is the field with an empty value. */
	check_eols("data\n\n", "<message||>");
	check_eols("data:\n\n", "<message||>");
	/* Unknown fields are ignored; names are case-sensitive. */
	check_eols("foo: bar\nDATA: no\ndata : no\n data: no\ndata: yes\n\n",
		   "<message||yes>");
	/* Only the event's own lines matter: the type resets after each event. */
	check_eols("event: a\ndata: 1\n\ndata: 2\n\n", "<a||1><message||2>");
	check_eols("event: a\nevent: b\ndata: 1\n\n", "<b||1>");
	check_eols("event\ndata: 1\n\n", "<message||1>");
	/* Data bytes may be anything but line ends, NUL included. */
	check_full("data: a\0b\n\n", 11, 0, "<message||a\0b>", 14, 0, 0, "");
	check_eols("data: h\xc3\xa9llo \xe2\x9c\x93\n\n", "<message||h\xc3\xa9llo \xe2\x9c\x93>");
}

static void
test_empty_data_not_dispatched(void **state)
{
	(void)state;
	check_eols("event: x\n\n", "");
	check_eols("id: 3\n\n", "");
	check_eols("retry: 10\n\n", "");
	check_eols("foo\n\n", "");
	/* A type set by an undispatched event does not leak into the next one. */
	check_eols("event: x\n\ndata: y\n\n", "<message||y>");
}

static void
test_comments(void **state)
{
	(void)state;
	check_eols(": ping\n\n", "");
	check_eols(":\n:\n:\n", "");
	check_eols(": hello\ndata: a\n: mid\ndata: b\n:end\n\n", "<message||a\nb>");
	check_eols(":data: no\ndata: yes\n\n", "<message||yes>");
	/* Comments between events, as keep-alives. */
	check_eols("data: 1\n\n: keep-alive\n\n: keep-alive\n\ndata: 2\n\n",
		   "<message||1><message||2>");
}

static void
test_ids(void **state)
{
	(void)state;
	/* The last event ID persists across events, as the spec says. */
	check_eols("id: 1\ndata: a\n\ndata: b\n\n", "<message|1|a><message|1|b>");
	check_eols("data: a\nid: 5\n\n", "<message|5|a>");
	check_eols("id: 1\ndata: a\n\nid: 2\ndata: b\n\n", "<message|1|a><message|2|b>");
	/* An empty id resets it. */
	check_eols("id: 1\ndata: a\n\nid\ndata: b\n\n", "<message|1|a><message||b>");
	check_eols("id: 1\ndata: a\n\nid:\ndata: b\n\n", "<message|1|a><message||b>");
	/* An id set in an undispatched event still sticks. */
	check_eols("id: 9\n\ndata: a\n\n", "<message|9|a>");
	/* An id containing NUL is ignored. */
	const char in[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n";
	const char want[] = "<message|1|a><message|1|b>";
	check_full(in, sizeof in - 1, 0, want, sizeof want - 1, 0, 0, "");
}

static void
check_retry(const char *in, long want)
{
	for (long mode = MODE_WHOLE; mode <= 20; mode++) {
		struct run r;
		run_sse(in, strlen(in), 0, mode, 0, &r);
		assert_int_equal(r.retry, want);
		assert_int_equal(r.feed_rc, 0);
		free(r.log);
	}
}

static void
test_retry(void **state)
{
	(void)state;
	check_retry("", -1);
	check_retry("retry: 1500\n\n", 1500);
	check_retry("retry:0\n\n", 0);
	check_retry("retry: 1500\nretry: 3000\n\n", 3000);
	/* Digits only: anything else leaves the last value. */
	check_retry("retry: 1500\nretry: 15a\n\n", 1500);
	check_retry("retry: 1500\nretry: -1\n\n", 1500);
	check_retry("retry: 1500\nretry:  20\n\n", 1500);
	check_retry("retry: 1500\nretry:\n\n", 1500);
	check_retry("retry: 1500\nretry\n\n", 1500);
	check_retry("retry: 1500\nretry: 99999999999999999999999999\n\n", 1500);
	check_retry("retry: 100\ndata: a\n\nretry: 200\ndata: b\n\n", 200);
	/* Retry does not make an event. */
	check_full("retry: 5\n\n", 10, 0, "", 0, 0, 0, "");
}

static void
test_cr_split_across_chunks(void **state)
{
	(void)state;
	struct rec r = { 0 };
	struct hearth_sse *p = sse_new(0, rec_cb, &r);
	/* CR at the end of one chunk, LF at the start of the next: one line end. */
	assert_int_equal(sse_feed(p, "data: a\r", 8), 0);
	assert_int_equal(sse_feed(p, "\ndata: b\r", 9), 0);
	assert_int_equal(sse_feed(p, "\n", 1), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(sse_feed(p, "\r", 1), 0);
	/* The CR alone ended the blank line: the event is out before any LF. */
	assert_int_equal(r.n, 1);
	assert_int_equal(sse_feed(p, "\n", 1), 0);   /* same line end: no new line */
	assert_int_equal(sse_feed(p, "\r", 1), 0);
	assert_int_equal(sse_feed(p, "\r", 1), 0);   /* CR CR: two line ends */
	assert_int_equal(sse_feed(p, "", 0), 0);
	assert_int_equal(sse_feed(p, "\ndata: c\n", 9), 0);
	assert_int_equal(sse_feed(p, "\n", 1), 0);
	assert_int_equal(sse_finish(p), 0);
	assert_log(r.log, r.len, "<message||a\nb><message||c>", 26);
	sse_free(p);
	free(r.log);

	/* LF then CR are two line ends; CRLF is one. */
	check_full("data: a\n\r", 9, 0, "<message||a>", 12, 0, 0, "");
	check_full("data: a\r\n\r\n", 11, 0, "<message||a>", 12, 0, 0, "");
	check_full("data: a\r\ndata: b\r\r", 18, 0, "<message||a\nb>", 14, 0, 0, "");
}

static void
test_bom(void **state)
{
	(void)state;
	check_eols("\xEF\xBB\xBF" "data: a\n\n", "<message||a>");
	check_eols("\xEF\xBB\xBF" ": c\ndata: a\n\n", "<message||a>");
	/* Only one, only at the start. */
	check_eols("\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\ndata: b\n\n", "<message||b>");
	check_eols("data: \xEF\xBB\xBFx\n\n", "<message||\xEF\xBB\xBFx>");
	check_eols("data: a\n\n\xEF\xBB\xBF" "data: b\n\ndata: c\n\n",
		   "<message||a><message||c>");
	/* A partial BOM is ordinary bytes (here: part of an unknown field name). */
	check_eols("\xEF\xBB" "data: a\n\ndata: b\n\n", "<message||b>");
	check_eols("\xEF" "data: a\n\ndata: b\n\n", "<message||b>");
	check_eols("\xEF\xBB\n" "data: b\n\n", "<message||b>");
	/* BOM then nothing is a clean end; a BOM prefix is a cut line. */
	check_full("\xEF\xBB\xBF", 3, 0, "", 0, 0, 0, "");
	check_full("\xEF\xBB", 2, 0, "", 0, 0, HEARTH_EPROTO,
		   "SSE: stream ended inside an event at byte 2");
	/* Offsets count the BOM: the limit trips at the same stream byte. */
	check_full("\xEF\xBB\xBF" "data: 0123456789\n\n", 21, 12, "", 0, HEARTH_ELIMIT,
		   HEARTH_ELIMIT, "SSE: event larger than 12 bytes at byte 15");
}

static void
test_limit(void **state)
{
	(void)state;
	/* "data: 0123456789" is 16 bytes: exactly at a 16-byte limit is fine. */
	const char *at = "data: 0123456789\n\ndata: 0123456789\n\n";
	check_full(at, strlen(at), 16, "<message||0123456789><message||0123456789>", 42, 0, 0,
		   "");
	/* With CRLF too: line ends are not counted. */
	const char *crlf = "data: 0123456789\r\n\r\n";
	check_full(crlf, strlen(crlf), 16, "<message||0123456789>", 21, 0, 0, "");
	/* One byte over fails at that byte, and nothing is dispatched. */
	const char *over = "data: 01234567890\n\n";
	check_full(over, strlen(over), 16, "", 0, HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "SSE: event larger than 16 bytes at byte 16");
	/* The limit is on the whole event: 11 + 10 bytes of lines. */
	const char *two = "data: 12345\ndata: 1234\n\n";
	check_full(two, strlen(two), 21, "<message||12345\n1234>", 21, 0, 0, "");
	check_full(two, strlen(two), 20, "", 0, HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "SSE: event larger than 20 bytes at byte 21");
	/* All field lines count, known or not; the limit is per event. */
	const char *fields = "event: e\nid: 1\ndata: x\n\nevent: e\nid: 1\ndata: xy\n\n";
	check_full(fields, strlen(fields), 20, "<e|1|x>", 7, HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "SSE: event larger than 20 bytes at byte 46");
	/* Comments do not add up (keep-alives), but one comment line is bounded. */
	const char *comments = ": 0123456789abcd\n: 0123456789abcd\ndata: 0123456789\n\n";
	check_full(comments, strlen(comments), 16, "<message||0123456789>", 21, 0, 0, "");
	const char *longc = ": 0123456789abcde\n";
	check_full(longc, strlen(longc), 16, "", 0, HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "SSE: event larger than 16 bytes at byte 16");
	/* An event that was fine before the limit still came out. */
	const char *later = "data: ok\n\ndata: 0123456789xyz\n\n";
	check_full(later, strlen(later), 16, "<message||ok>", 13, HEARTH_ELIMIT, HEARTH_ELIMIT,
		   "SSE: event larger than 16 bytes at byte 26");
}

/* A 10 MB line without a newline: memory stays at the limit, not the line. */
static void
test_endless_line_bounded(void **state)
{
	(void)state;
	const size_t max = 1024 * 1024, total = 10 * 1024 * 1024, chunk = 65536;
	char *buf = xmalloc(chunk);
	memset(buf, 'x', chunk);
	memcpy(buf, "data: ", 6);
	struct rec r = { 0 };
	struct hearth_sse *p = sse_new(max, rec_cb, &r);
	size_t fed = 0;
	int first_fail_at = -1;
	for (int i = 0; fed < total; i++) {
		int rc = sse_feed(p, buf, chunk);
		if (i == 0)
			memset(buf, 'x', 6);
		fed += chunk;
		if (rc != 0 && first_fail_at < 0) {
			assert_int_equal(rc, HEARTH_ELIMIT);
			first_fail_at = i;
		}
		if (first_fail_at >= 0)
			assert_int_equal(rc, HEARTH_ELIMIT);
		assert_true(sse_buffered(p) <= max + 1);
	}
	assert_int_equal(first_fail_at, (int)(max / chunk));
	assert_string_equal(sse_error(p), "SSE: event larger than 1048576 bytes at byte 1048576");
	assert_int_equal(sse_finish(p), HEARTH_ELIMIT);
	assert_int_equal(r.n, 0);
	sse_free(p);

	/* The same, one byte at a time, with a smaller limit. */
	p = sse_new(4096, rec_cb, &r);
	for (size_t i = 0; i < 1024 * 1024; i++) {
		int rc = sse_feed(p, "d", 1);
		assert_int_equal(rc, i < 4096 ? 0 : HEARTH_ELIMIT);
	}
	assert_true(sse_buffered(p) <= 4097);
	assert_string_equal(sse_error(p), "SSE: event larger than 4096 bytes at byte 4096");
	sse_free(p);

	/* A big event under the limit goes through, and its buffers are let go. */
	p = sse_new(total, rec_cb, &r);
	memcpy(buf, "data: ", 6);
	for (fed = 0; fed + chunk <= total - 2; fed += chunk) {
		assert_int_equal(sse_feed(p, buf, chunk), 0);
		memset(buf, 'x', 6);
	}
	assert_true(sse_buffered(p) <= total + 1);
	assert_int_equal(sse_feed(p, "\n\n", 2), 0);
	assert_int_equal(r.n, 1);
	assert_true(sse_buffered(p) <= 65536);
	assert_int_equal(sse_finish(p), 0);
	sse_free(p);
	free(r.log);
	free(buf);
}

static void
test_truncated(void **state)
{
	(void)state;
	check_full("data: a\n", 8, 0, "", 0, 0, HEARTH_EPROTO,
		   "SSE: stream ended inside an event at byte 8");
	check_full("data: a", 7, 0, "", 0, 0, HEARTH_EPROTO,
		   "SSE: stream ended inside an event at byte 7");
	check_full("data: a\r", 8, 0, "", 0, 0, HEARTH_EPROTO,
		   "SSE: stream ended inside an event at byte 8");
	check_full("data: a\n\ndata: b", 16, 0, "<message||a>", 12, 0, HEARTH_EPROTO,
		   "SSE: stream ended inside an event at byte 16");
	check_full("event: x\n", 9, 0, "", 0, 0, HEARTH_EPROTO,
		   "SSE: stream ended inside an event at byte 9");
	check_full(": cut", 5, 0, "", 0, 0, HEARTH_EPROTO,
		   "SSE: stream ended inside an event at byte 5");
	/* Ends on a boundary: fine. A whole comment line is no event. */
	check_full("data: a\n\n", 9, 0, "<message||a>", 12, 0, 0, "");
	check_full("data: a\r\r", 9, 0, "<message||a>", 12, 0, 0, "");
	check_full("data: a\n\n: bye\n", 15, 0, "<message||a>", 12, 0, 0, "");

	/* Finish twice, feed after finish. */
	struct rec r = { 0 };
	struct hearth_sse *p = sse_new(0, rec_cb, &r);
	assert_int_equal(sse_feed(p, "data: a\n\n", 9), 0);
	assert_int_equal(sse_finish(p), 0);
	assert_int_equal(sse_finish(p), 0);
	assert_int_equal(sse_feed(p, "data: b\n\n", 9), HEARTH_EINVAL);
	assert_string_equal(sse_error(p), "");
	sse_free(p);
	free(r.log);
}

static void
test_callback_abort(void **state)
{
	(void)state;
	const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	for (long mode = MODE_WHOLE; mode <= N_SEEDS; mode++) {
		struct run r;
		run_sse(in, strlen(in), 0, mode, 2, &r);
		assert_log(r.log, r.len, "<message||1><message||2>", 24);
		assert_int_equal(r.feed_rc, 42);
		assert_int_equal(r.finish_rc, 42);
		assert_string_equal(r.err, "SSE: stopped by the event callback (42) at byte 18");
		free(r.log);
	}
}

static void
test_free_and_feed_in_callback(void **state)
{
	(void)state;
	/* sse_free from the callback: freed once sse_feed unwinds (ASan checks). */
	struct rec r = { .free_in_cb = 1, .stop_rc = 7 };
	r.self = sse_new(0, rec_cb, &r);
	assert_int_equal(sse_feed(r.self, "data: a\n\ndata: b\n\n", 18), 7);
	assert_int_equal(r.n, 1);
	free(r.log);

	struct rec r2 = { .free_in_cb = 1, .stop_rc = 0 };
	r2.self = sse_new(0, rec_cb, &r2);
	assert_int_equal(sse_feed(r2.self, "data: a\n\n", 9), HEARTH_ECANCELED);
	free(r2.log);

	/* Re-entering the parser from its callback is refused. */
	struct rec r3 = { .feed_in_cb = 1 };
	r3.self = sse_new(0, rec_cb, &r3);
	assert_int_equal(sse_feed(r3.self, "data: a\n\ndata: b\n\n", 18), 0);
	assert_int_equal(r3.feed_in_cb_rc, HEARTH_EBUSY);
	assert_int_equal(r3.n, 2);
	assert_int_equal(sse_finish(r3.self), 0);
	sse_free(r3.self);
	assert_log(r3.log, r3.len, "<message||a><message||b>", 24);
	free(r3.log);
}

static void
test_null(void **state)
{
	(void)state;
	assert_null(sse_new(0, NULL, NULL));
	sse_free(NULL);
}

/* Random bytes, biased towards the interesting ones: no crash, and chunking
 * never changes the outcome. */
static void
test_garbage(void **state)
{
	(void)state;
	static const char alphabet[] = "data:event:id:retry: \r\n\r\n::\xEF\xBB\xBF\0x9";
	const size_t n = 3000;
	char *in = xmalloc(n);
	for (uint64_t seed = 1; seed <= 60; seed++) {
		uint64_t s = seed;
		for (size_t i = 0; i < n; i++) {
			uint64_t v = rng_next(&s);
			in[i] = v % 3 == 0 ? (char)(v >> 16) : alphabet[(v >> 8) % (sizeof alphabet - 1)];
		}
		struct run whole;
		run_sse(in, n, 300, MODE_WHOLE, 0, &whole);
		assert_true(whole.feed_rc == 0 || whole.feed_rc == HEARTH_ELIMIT);
		assert_true(whole.finish_rc == 0 || whole.finish_rc == HEARTH_EPROTO ||
			    whole.finish_rc == HEARTH_ELIMIT);
		for (long mode = MODE_BYTES; mode <= 10; mode++) {
			struct run r;
			run_sse(in, n, 300, mode == 0 ? MODE_BYTES : mode * 1000 + (long)seed, 0, &r);
			assert_log(r.log, r.len, whole.log, whole.len);
			assert_int_equal(r.feed_rc, whole.feed_rc);
			assert_int_equal(r.finish_rc, whole.finish_rc);
			assert_string_equal(r.err, whole.err);
			assert_int_equal(r.retry, whole.retry);
			free(r.log);
		}
		free(whole.log);
	}
	free(in);
}

/* A real Anthropic Messages stream: text, then a tool call with JSON fragments. */
#define MSG_START "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\"," \
	"\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\"," \
	"\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472," \
	"\"output_tokens\":2}}}"
#define CB0_START "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
#define CB0_D1 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay, let me check\"}}"
#define CB0_D2 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" the weather \\n\\u00e9\"}}"
#define CB0_STOP "{\"type\":\"content_block_stop\",\"index\":0}"
#define CB1_START "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\"," \
	"\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}"
#define CB1_D1 "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}"
#define CB1_D2 "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\":\"}}"
#define CB1_D3 "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"San Francisco, CA\\\"}\"}}"
#define CB1_STOP "{\"type\":\"content_block_stop\",\"index\":1}"
#define MSG_DELTA "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null}," \
	"\"usage\":{\"output_tokens\":89}}"
#define MSG_STOP "{\"type\":\"message_stop\"}"
#define PING "{\"type\": \"ping\"}"

#define EV(name, json) "event: " name "\ndata: " json "\n\n"
#define WANT(name, json) "<" name "||" json ">"

static void
test_anthropic_stream(void **state)
{
	(void)state;
	const char *in =
		EV("message_start", MSG_START)
		EV("content_block_start", CB0_START)
		EV("ping", PING)
		EV("content_block_delta", CB0_D1)
		EV("content_block_delta", CB0_D2)
		EV("content_block_stop", CB0_STOP)
		EV("content_block_start", CB1_START)
		EV("content_block_delta", CB1_D1)
		EV("content_block_delta", CB1_D2)
		": keep-alive\n\n"
		EV("content_block_delta", CB1_D3)
		EV("content_block_stop", CB1_STOP)
		EV("message_delta", MSG_DELTA)
		EV("message_stop", MSG_STOP);
	const char *want =
		WANT("message_start", MSG_START)
		WANT("content_block_start", CB0_START)
		WANT("ping", PING)
		WANT("content_block_delta", CB0_D1)
		WANT("content_block_delta", CB0_D2)
		WANT("content_block_stop", CB0_STOP)
		WANT("content_block_start", CB1_START)
		WANT("content_block_delta", CB1_D1)
		WANT("content_block_delta", CB1_D2)
		WANT("content_block_delta", CB1_D3)
		WANT("content_block_stop", CB1_STOP)
		WANT("message_delta", MSG_DELTA)
		WANT("message_stop", MSG_STOP);
	check_eols(in, want);
	/* Under a limit just big enough for the largest event. */
	size_t biggest = strlen("event: message_start") + strlen("data: " MSG_START);
	check_full(in, strlen(in), biggest, want, strlen(want), 0, 0, "");

	/* Cut short (an overloaded error stream ends without message_stop, but on a
	 * boundary; a dropped connection ends anywhere). */
	size_t cut = strlen(in) - 10;
	size_t wcut = strlen(want) - strlen(WANT("message_stop", MSG_STOP));
	char msg[100];
	snprintf(msg, sizeof msg, "SSE: stream ended inside an event at byte %zu", cut);
	check_full(in, cut, 0, want, wcut, 0, HEARTH_EPROTO, msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_multiline_data),
		cmocka_unit_test(test_field_syntax),
		cmocka_unit_test(test_empty_data_not_dispatched),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_cr_split_across_chunks),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_endless_line_bounded),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_callback_abort),
		cmocka_unit_test(test_free_and_feed_in_callback),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_anthropic_stream),
	};
	return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
