/* ndjson.c: a newline-delimited JSON reader (see ndjson.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/plugin.h>

#include "ndjson.h"
#include "xmalloc.h"

struct hearth_ndjson {
	size_t max_line;
	ndjson_line_fn on_line;
	void *arg;
	char *line;
	size_t len, cap;
	size_t line_no;      /* of the line being read, from 1 */
	int failed;
	char error[256];
};

struct hearth_ndjson *
ndjson_new(size_t max_line, ndjson_line_fn on_line, void *arg)
{
	struct hearth_ndjson *r = xcalloc(1, sizeof *r);
	r->max_line = max_line > 0 ? max_line : NDJSON_DEFAULT_MAX_LINE;
	r->on_line = on_line;
	r->arg = arg;
	r->line_no = 1;
	return r;
}

void
ndjson_free(struct hearth_ndjson *r)
{
	if (r == NULL)
		return;
	free(r->line);
	free(r);
}

const char *
ndjson_error(const struct hearth_ndjson *r)
{
	return r->error;
}

static int
ndjson_fail(struct hearth_ndjson *r, int code)
{
	r->failed = code;
	return code;
}

/* The line in r->line is complete: parse it and hand it over. */
static int
ndjson_line(struct hearth_ndjson *r)
{
	size_t len = r->len;
	if (len > 0 && r->line[len - 1] == '\r')
		len--;
	size_t line_no = r->line_no++;
	r->len = 0;
	size_t i = 0;
	while (i < len && (r->line[i] == ' ' || r->line[i] == '\t' || r->line[i] == '\r'))
		i++;
	if (i == len)
		return 0;
	json_error_t jerr;
	json_t *v = json_loadb(r->line, len, JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		snprintf(r->error, sizeof r->error, "line %zu: invalid JSON at column %d: %s",
			 line_no, jerr.column, jerr.text);
		return ndjson_fail(r, HEARTH_EPROTO);
	}
	int rc = r->on_line(r->arg, v, line_no);
	json_decref(v);
	if (rc != 0) {
		snprintf(r->error, sizeof r->error, "line %zu: stopped by the line handler",
			 line_no);
		return ndjson_fail(r, rc);
	}
	return 0;
}

int
ndjson_feed(struct hearth_ndjson *r, const char *data, size_t len)
{
	if (r->failed)
		return r->failed;
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - data) : len;
		/* The CR of a CRLF may sit at the end of the line: allow one byte for it. */
		char last = n > 0 ? data[n - 1] : r->len > 0 ? r->line[r->len - 1] : '\0';
		if (r->len + n > r->max_line + 1 ||
		    (r->len + n == r->max_line + 1 && (nl == NULL || last != '\r'))) {
			snprintf(r->error, sizeof r->error, "line %zu: longer than %zu bytes",
				 r->line_no, r->max_line);
			return ndjson_fail(r, HEARTH_ELIMIT);
		}
		if (r->len + n + 1 > r->cap) {
			r->cap = (r->len + n + 1) * 2;
			if (r->cap > r->max_line + 2)
				r->cap = r->max_line + 2;
			r->line = xrealloc(r->line, r->cap);
		}
		memcpy(r->line + r->len, data, n);
		r->len += n;
		if (nl == NULL)
			break;
		int rc = ndjson_line(r);
		if (rc != 0)
			return rc;
		data = nl + 1;
		len -= n + 1;
	}
	return 0;
}

int
ndjson_finish(struct hearth_ndjson *r)
{
	if (r->failed)
		return r->failed;
	return r->len > 0 ? ndjson_line(r) : 0;
}
