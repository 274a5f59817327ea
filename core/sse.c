/* sse.c: Server-Sent Events push parser (see sse.h). */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/plugin.h>

#include "sse.h"
#include "xmalloc.h"

/* A growable byte buffer; always room for a NUL after len once allocated. */
struct sse_buf {
	char *p;
	size_t len, cap;
};

struct hearth_sse {
	size_t max;                /* per-event limit */
	sse_event_fn on_event;
	void *arg;

	struct sse_buf line;       /* a line split across feeds */
	struct sse_buf data;       /* the event's data lines, joined by "\n" */
	struct sse_buf type;       /* the event's type; empty means "message" */
	struct sse_buf id;         /* last event ID: outlives events, as in the spec */
	size_t event_bytes;        /* field-line bytes of the event so far */
	bool has_data;             /* a data line was seen (even an empty one) */
	bool cr_pending;           /* last byte was CR: a following LF is the same line end */
	unsigned bom;              /* BOM bytes matched so far; 3 once past the start */
	uint64_t offset;           /* stream bytes consumed */
	long retry;

	int failed;                /* the sticky error code, 0 if fine */
	bool finished;
	bool in_cb, free_pending;  /* sse_free from inside on_event */
	char err[160];
};

static const unsigned char sse_bom[3] = { 0xEF, 0xBB, 0xBF };

/* Make room for `need` bytes plus a NUL. `need` never exceeds the event limit,
 * so doubling capped at max + 1 keeps memory under the limit. */
static void
sse_buf_reserve(struct sse_buf *b, size_t need, size_t max)
{
	if (need + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > max + 1)
		cap = max + 1;
	if (cap < need + 1)
		cap = need + 1;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void
sse_buf_append(struct sse_buf *b, const char *s, size_t n, size_t max)
{
	sse_buf_reserve(b, b->len + n, max);
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sse_buf_set(struct sse_buf *b, const char *s, size_t n, size_t max)
{
	b->len = 0;
	sse_buf_append(b, s, n, max);
}

static int
sse_fail(struct hearth_sse *p, int code)
{
	p->failed = code;
	return code;
}

struct hearth_sse *
sse_new(size_t max_event, sse_event_fn on_event, void *arg)
{
	if (on_event == NULL)
		return NULL;
	struct hearth_sse *p = xcalloc(1, sizeof *p);
	p->max = max_event ? max_event : SSE_DEFAULT_MAX_EVENT;
	if (p->max > SIZE_MAX / 2)
		p->max = SIZE_MAX / 2;   /* so max + 1 and the sums below cannot wrap */
	p->on_event = on_event;
	p->arg = arg;
	p->retry = -1;
	return p;
}

static int
sse_dispatch(struct hearth_sse *p)
{
	p->event_bytes = 0;
	if (!p->has_data) {
		/* Spec: an empty data buffer dispatches nothing; the type resets. */
		p->type.len = 0;
		return 0;
	}
	/* Reset first (the buffers keep their bytes until the next line), so the
	 * parser is consistent whatever the callback does. */
	const char *type = p->type.len ? p->type.p : "message";
	size_t len = p->data.len;
	p->data.p[len] = '\0';
	p->data.len = 0;
	p->type.len = 0;
	p->has_data = false;
	/* Do not keep a big buffer around after one big event. */
	if (p->line.cap > 65536) {
		free(p->line.p);
		p->line = (struct sse_buf){ 0 };
	}
	p->in_cb = true;
	int rc = p->on_event(p->arg, type, p->data.p, len, p->id.len ? p->id.p : "");
	p->in_cb = false;
	if (p->data.cap > 65536) {
		free(p->data.p);
		p->data = (struct sse_buf){ 0 };
	}
	if (rc == 0 && p->free_pending)
		rc = HEARTH_ECANCELED;
	if (rc != 0) {
		snprintf(p->err, sizeof p->err, "SSE: stopped by the event callback (%d) at byte %llu",
			 rc, (unsigned long long)p->offset);
		return sse_fail(p, rc);
	}
	return 0;
}

static bool
sse_field_is(const char *f, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(f, name, n) == 0;
}

/* One complete line, without its line end. */
static int
sse_line(struct hearth_sse *p, const char *s, size_t n)
{
	if (n == 0)
		return sse_dispatch(p);
	if (s[0] == ':')
		return 0;   /* comment: a keep-alive, not part of any event */
	p->event_bytes += n;

	const char *colon = memchr(s, ':', n);
	size_t flen = colon ? (size_t)(colon - s) : n;
	const char *v = colon ? colon + 1 : s + n;
	size_t vlen = (size_t)(s + n - v);
	if (vlen > 0 && v[0] == ' ') {
		v++;
		vlen--;
	}

	if (sse_field_is(s, flen, "data")) {
		if (p->has_data)
			sse_buf_append(&p->data, "\n", 1, p->max);
		sse_buf_append(&p->data, v, vlen, p->max);
		p->has_data = true;
	} else if (sse_field_is(s, flen, "event")) {
		sse_buf_set(&p->type, v, vlen, p->max);
	} else if (sse_field_is(s, flen, "id")) {
		if (memchr(v, '\0', vlen) == NULL)
			sse_buf_set(&p->id, v, vlen, p->max);
	} else if (sse_field_is(s, flen, "retry")) {
		long r = 0;
		size_t i;
		for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++) {
			int d = v[i] - '0';
			if (r > (LONG_MAX - d) / 10)
				break;   /* too large: ignore the field */
			r = r * 10 + d;
		}
		if (vlen > 0 && i == vlen)
			p->retry = r;
	}
	return 0;
}

/* The next CR or LF in s[0..n), or n. `cr`/`lf` cache memchr results so a
 * chunk with many LFs but no CR is scanned once, not once per line. */
static size_t
sse_scan(const char *s, size_t n, const char **cr, const char **lf)
{
	const char *end = s + n;
	if (*cr != end && (*cr == NULL || *cr < s)) {
		*cr = memchr(s, '\r', n);
		if (*cr == NULL)
			*cr = end;
	}
	if (*lf != end && (*lf == NULL || *lf < s)) {
		*lf = memchr(s, '\n', n);
		if (*lf == NULL)
			*lf = end;
	}
	const char *e = *cr < *lf ? *cr : *lf;
	return (size_t)(e - s);
}

/* Lines and line ends, BOM already handled. */
static int
sse_consume(struct hearth_sse *p, const char *d, size_t n)
{
	const char *cr = NULL, *lf = NULL;
	size_t i = 0;
	while (i < n) {
		if (p->cr_pending) {
			/* The LF of a CRLF, maybe split across feeds: no new line. */
			p->cr_pending = false;
			if (d[i] == '\n') {
				i++;
				p->offset++;
				continue;
			}
		}
		const char *s = d + i;
		size_t rem = n - i;
		size_t k = sse_scan(s, rem, &cr, &lf);
		/* Invariant: event_bytes + line.len <= max. */
		size_t room = p->max - p->event_bytes - p->line.len;
		if (k > room) {
			snprintf(p->err, sizeof p->err,
				 "SSE: event larger than %zu bytes at byte %llu", p->max,
				 (unsigned long long)(p->offset + room));
			p->offset += room;
			return sse_fail(p, HEARTH_ELIMIT);
		}
		if (k == rem) {
			sse_buf_append(&p->line, s, k, p->max);
			p->offset += k;
			return 0;
		}
		const char *line = s;
		size_t len = k;
		if (p->line.len > 0) {
			sse_buf_append(&p->line, s, k, p->max);
			line = p->line.p;
			len = p->line.len;
		}
		p->line.len = 0;
		p->offset += k + 1;
		i += k + 1;
		p->cr_pending = s[k] == '\r';
		int rc = sse_line(p, line, len);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The bytes matched as a BOM so far turn out to be ordinary input. */
static int
sse_bom_mismatch(struct hearth_sse *p)
{
	unsigned matched = p->bom;
	p->bom = 3;
	p->offset -= matched;   /* counted while matching; sse_consume counts them again */
	return sse_consume(p, (const char *)sse_bom, matched);
}

int
sse_feed(struct hearth_sse *p, const char *data, size_t len)
{
	if (p->in_cb)
		return HEARTH_EBUSY;
	if (p->failed)
		return p->failed;
	if (p->finished)
		return HEARTH_EINVAL;
	int rc = 0;
	/* Skip a UTF-8 BOM at the very start, however it is split. */
	while (p->bom < 3 && len > 0) {
		if ((unsigned char)data[0] != sse_bom[p->bom]) {
			rc = sse_bom_mismatch(p);
			break;
		}
		p->bom++;
		p->offset++;
		data++;
		len--;
	}
	if (rc == 0)
		rc = sse_consume(p, data, len);
	if (p->free_pending) {
		p->free_pending = false;
		sse_free(p);
	}
	return rc;
}

int
sse_finish(struct hearth_sse *p)
{
	if (p->in_cb)
		return HEARTH_EBUSY;
	if (p->failed)
		return p->failed;
	if (p->finished)
		return 0;
	if (p->bom < 3) {
		/* A stream that is only a BOM prefix: those bytes are a partial line. */
		int rc = sse_bom_mismatch(p);
		if (rc != 0)
			return rc;
	}
	p->finished = true;
	if (p->line.len > 0 || p->event_bytes > 0) {
		snprintf(p->err, sizeof p->err,
			 "SSE: stream ended inside an event at byte %llu",
			 (unsigned long long)p->offset);
		return sse_fail(p, HEARTH_EPROTO);
	}
	return 0;
}

const char *
sse_error(struct hearth_sse *p)
{
	return p->failed ? p->err : "";
}

long
sse_retry(const struct hearth_sse *p)
{
	return p->retry;
}

const char *
sse_last_id(const struct hearth_sse *p)
{
	return p->id.len ? p->id.p : "";
}

size_t
sse_buffered(const struct hearth_sse *p)
{
	return p->line.cap + p->data.cap + p->type.cap + p->id.cap;
}

void
sse_free(struct hearth_sse *p)
{
	if (p == NULL)
		return;
	if (p->in_cb) {
		p->free_pending = true;   /* sse_feed frees it once it unwinds */
		return;
	}
	free(p->line.p);
	free(p->data.p);
	free(p->type.p);
	free(p->id.p);
	free(p);
}
