/* sse.c: a Server-Sent Events push parser (see sse.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/plugin.h>

#include "sse.h"
#include "xmalloc.h"

struct sse_buf {
	char *p;
	size_t len, cap;
};

struct hearth_sse {
	size_t max_event;
	sse_event_fn on_event;
	void *arg;
	struct sse_buf line;     /* the line being read */
	struct sse_buf data;     /* the event's data so far */
	char *event;             /* owned, or NULL for "message" */
	char *id;                /* owned: the last event id */
	size_t event_bytes;      /* bytes of the event's lines so far, for the limit */
	uint64_t offset;         /* bytes fed so far */
	int64_t retry_ms;
	int after_cr;            /* the last byte was a CR: a following LF is no new line */
	int started;             /* past the BOM check */
	size_t bom_seen;         /* BOM bytes matched so far */
	int failed;              /* the error code that stopped the parser, or 0 */
	char error[160];
};

static void
sse_buf_add(struct sse_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

struct hearth_sse *
sse_new(size_t max_event, sse_event_fn on_event, void *arg)
{
	struct hearth_sse *p = xcalloc(1, sizeof *p);
	p->max_event = max_event > 0 ? max_event : SSE_DEFAULT_MAX_EVENT;
	p->on_event = on_event;
	p->arg = arg;
	p->id = xstrdup("");
	p->retry_ms = -1;
	return p;
}

void
sse_free(struct hearth_sse *p)
{
	if (p == NULL)
		return;
	free(p->line.p);
	free(p->data.p);
	free(p->event);
	free(p->id);
	free(p);
}

const char *
sse_error(const struct hearth_sse *p)
{
	return p->error;
}

int64_t
sse_retry_ms(const struct hearth_sse *p)
{
	return p->retry_ms;
}

static void
sse_reset_event(struct hearth_sse *p)
{
	p->data.len = 0;
	free(p->event);
	p->event = NULL;
	p->event_bytes = 0;
}

static int
sse_dispatch(struct hearth_sse *p)
{
	if (p->data.len == 0) {
		sse_reset_event(p);
		return 0;
	}
	/* The last data line's "\n" is not part of the data. */
	p->data.len--;
	p->data.p[p->data.len] = '\0';
	int rc = p->on_event(p->arg, p->event != NULL ? p->event : "message", p->data.p,
			     p->data.len, p->id);
	sse_reset_event(p);
	if (rc != 0) {
		p->failed = rc;
		snprintf(p->error, sizeof p->error, "stopped by the event handler at byte %llu",
			 (unsigned long long)p->offset);
	}
	return rc;
}

/* One complete line (without its end). */
static int
sse_line(struct hearth_sse *p, const char *line, size_t len)
{
	if (len == 0)
		return sse_dispatch(p);
	if (line[0] == ':')
		return 0;
	const char *colon = memchr(line, ':', len);
	size_t name_len = colon != NULL ? (size_t)(colon - line) : len;
	const char *value = colon != NULL ? colon + 1 : line + len;
	size_t value_len = (size_t)(line + len - value);
	if (value_len > 0 && value[0] == ' ') {
		value++;
		value_len--;
	}
	if (name_len == 4 && memcmp(line, "data", 4) == 0) {
		sse_buf_add(&p->data, value, value_len);
		sse_buf_add(&p->data, "\n", 1);
	} else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
		free(p->event);
		p->event = xstrndup(value, value_len);
	} else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
		if (memchr(value, '\0', value_len) == NULL) {
			free(p->id);
			p->id = xstrndup(value, value_len);
		}
	} else if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
		int64_t v = 0;
		size_t i;
		for (i = 0; i < value_len && value[i] >= '0' && value[i] <= '9' &&
			    v < INT64_MAX / 10 - 10; i++)
			v = v * 10 + (value[i] - '0');
		if (i == value_len && value_len > 0)
			p->retry_ms = v;
	}
	return 0;
}

/* Skip a UTF-8 BOM at the very start; returns how many bytes of data it consumed. */
static size_t
sse_skip_bom(struct hearth_sse *p, const char *data, size_t len, int *rc)
{
	static const char bom[] = "\xef\xbb\xbf";
	size_t i = 0;
	*rc = 0;
	while (!p->started && i < len) {
		if (data[i] == bom[p->bom_seen]) {
			i++;
			if (++p->bom_seen == 3)
				p->started = 1;
			continue;
		}
		/* Not a BOM after all: what was held back is ordinary input. */
		p->started = 1;
		size_t held = p->bom_seen;
		p->bom_seen = 0;
		p->offset -= held;
		*rc = sse_feed(p, bom, held);
	}
	p->offset += i;
	return i;
}

int
sse_feed(struct hearth_sse *p, const char *data, size_t len)
{
	if (p->failed)
		return p->failed;
	size_t i = 0;
	if (!p->started) {
		int rc;
		i = sse_skip_bom(p, data, len, &rc);
		if (rc != 0)
			return rc;
	}
	while (i < len) {
		char c = data[i];
		if (c == '\n' && p->after_cr) {
			p->after_cr = 0;
			i++;
			p->offset++;
			continue;
		}
		p->after_cr = 0;
		if (c == '\r' || c == '\n') {
			p->after_cr = c == '\r';
			i++;
			p->offset++;
			int rc = sse_line(p, p->line.p != NULL ? p->line.p : "", p->line.len);
			p->line.len = 0;
			if (rc != 0)
				return rc;
			continue;
		}
		size_t j = i;
		while (j < len && data[j] != '\r' && data[j] != '\n')
			j++;
		size_t n = j - i;
		if (p->event_bytes + n > p->max_event) {
			p->failed = HEARTH_ELIMIT;
			snprintf(p->error, sizeof p->error, "event larger than the limit of %zu bytes "
				 "at byte %llu of the stream", p->max_event,
				 (unsigned long long)(p->offset + (p->max_event - p->event_bytes) + 1));
			return p->failed;
		}
		sse_buf_add(&p->line, data + i, n);
		p->event_bytes += n;
		p->offset += n;
		i = j;
	}
	return 0;
}

int
sse_finish(struct hearth_sse *p)
{
	if (p->failed)
		return p->failed;
	if (p->line.len > 0 || p->data.len > 0 || p->event != NULL) {
		p->failed = HEARTH_EPROTO;
		snprintf(p->error, sizeof p->error, "stream ended inside an event at byte %llu",
			 (unsigned long long)p->offset);
		return p->failed;
	}
	return 0;
}
