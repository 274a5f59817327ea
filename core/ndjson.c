/* ndjson.c: newline-delimited JSON push reader (see ndjson.h). */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <hearth/plugin.h>

#include "ndjson.h"
#include "xmalloc.h"

struct hearth_ndjson {
	size_t max;               /* per-line limit, line end not counted */
	ndjson_line_fn on_line;
	void *arg;

	char *buf;                /* a line split across feeds */
	size_t len, cap;
	size_t line_no;           /* of the line being read, from 1 */

	int failed;               /* sticky error code, 0 if fine */
	bool finished;
	bool in_cb, free_pending; /* ndjson_free from inside on_line */
	char err[256];
};

struct hearth_ndjson *
ndjson_new(size_t max_line, ndjson_line_fn on_line, void *arg)
{
	if (on_line == NULL)
		return NULL;
	struct hearth_ndjson *p = xcalloc(1, sizeof *p);
	p->max = max_line ? max_line : NDJSON_DEFAULT_MAX_LINE;
	if (p->max > SIZE_MAX / 2)
		p->max = SIZE_MAX / 2;   /* so max + 2 cannot wrap */
	p->on_line = on_line;
	p->arg = arg;
	p->line_no = 1;
	return p;
}

static int
ndjson_too_long(struct hearth_ndjson *p)
{
	snprintf(p->err, sizeof p->err, "line %zu: longer than %zu bytes", p->line_no, p->max);
	return p->failed = HEARTH_ELIMIT;
}

/* One complete line, its LF removed (a CR before it is still there). */
static int
ndjson_line(struct hearth_ndjson *p, const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n > p->max)
		return ndjson_too_long(p);
	size_t line_no = p->line_no++;
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (i == n)
		return 0;   /* blank */

	json_error_t jerr;
	json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (v == NULL) {
		snprintf(p->err, sizeof p->err, "line %zu: invalid JSON at column %d: %s",
			 line_no, jerr.column, jerr.text);
		return p->failed = HEARTH_EPROTO;
	}
	p->in_cb = true;
	int rc = p->on_line(p->arg, v, line_no);
	p->in_cb = false;
	json_decref(v);
	if (rc == 0 && p->free_pending)
		rc = HEARTH_ECANCELED;
	if (rc != 0) {
		snprintf(p->err, sizeof p->err, "line %zu: stopped by the line callback (%d)",
			 line_no, rc);
		p->failed = rc;
	}
	return rc;
}

static void
ndjson_append(struct hearth_ndjson *p, const char *s, size_t n)
{
	if (p->len + n > p->cap) {
		/* Never past max + 1 (a line at the limit plus a CR that may end it). */
		size_t cap = p->cap ? p->cap : 256;
		while (cap < p->len + n)
			cap *= 2;
		if (cap > p->max + 1)
			cap = p->max + 1;
		p->buf = xrealloc(p->buf, cap);
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
}

static int
ndjson_consume(struct hearth_ndjson *p, const char *d, size_t n)
{
	while (n > 0) {
		const char *lf = memchr(d, '\n', n);
		size_t k = lf ? (size_t)(lf - d) : n;
		if (lf == NULL) {
			/* Partial line: up to max bytes, or max + 1 if the last is a CR
			 * that a LF in the next chunk may turn into a line end. */
			size_t total = p->len + k;
			if (total > p->max + 1 || (total == p->max + 1 && d[k - 1] != '\r'))
				return ndjson_too_long(p);
			ndjson_append(p, d, k);
			return 0;
		}
		int rc;
		if (p->len == 0) {
			rc = ndjson_line(p, d, k);   /* whole line in this chunk: no copy */
		} else {
			if (p->len + k > p->max + 1)
				return ndjson_too_long(p);
			ndjson_append(p, d, k);
			size_t total = p->len;
			p->len = 0;
			rc = ndjson_line(p, p->buf, total);
		}
		if (rc != 0)
			return rc;
		if (p->cap > 65536) {
			/* Do not keep a big buffer around after one big line. */
			free(p->buf);
			p->buf = NULL;
			p->cap = 0;
		}
		d += k + 1;
		n -= k + 1;
	}
	return 0;
}

int
ndjson_feed(struct hearth_ndjson *p, const char *data, size_t len)
{
	if (p->in_cb)
		return HEARTH_EBUSY;
	if (p->failed)
		return p->failed;
	if (p->finished)
		return HEARTH_EINVAL;
	int rc = ndjson_consume(p, data, len);
	if (p->free_pending) {
		p->free_pending = false;
		ndjson_free(p);
	}
	return rc;
}

int
ndjson_finish(struct hearth_ndjson *p)
{
	if (p->in_cb)
		return HEARTH_EBUSY;
	if (p->failed)
		return p->failed;
	if (p->finished)
		return 0;
	p->finished = true;
	int rc = 0;
	if (p->len > 0) {
		size_t total = p->len;
		p->len = 0;
		rc = ndjson_line(p, p->buf, total);
	}
	if (p->free_pending) {
		p->free_pending = false;
		ndjson_free(p);
	}
	return rc;
}

const char *
ndjson_error(struct hearth_ndjson *p)
{
	return p->failed ? p->err : "";
}

size_t
ndjson_buffered(const struct hearth_ndjson *p)
{
	return p->cap;
}

void
ndjson_free(struct hearth_ndjson *p)
{
	if (p == NULL)
		return;
	if (p->in_cb) {
		p->free_pending = true;   /* ndjson_feed frees it once it unwinds */
		return;
	}
	free(p->buf);
	free(p);
}
