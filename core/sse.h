/*
 * sse.h: a Server-Sent Events push parser (the WHATWG event-stream format), and
 * what stands behind host->sse_* (include/hearth/plugin.h).
 *
 * It takes the stream in any chunking, down to one byte, with CR, LF or CRLF line
 * ends (a CR ending one chunk and the LF starting the next are one line end). An
 * event is dispatched at a blank line: its type ("message" unless an `event:` field
 * said otherwise), its data (the `data:` lines joined by "\n"), and the last id.
 * An event with no data is not dispatched. Comments (":") and unknown fields are
 * ignored; one space after the colon is dropped; a UTF-8 BOM at the start is skipped.
 *
 * Memory is bounded by max_event: the bytes of one event's lines, counted as they
 * arrive, so an endless line fails early instead of growing. After any error the
 * parser stays failed and sse_error() says what and at which byte of the stream.
 */
#ifndef HEARTH_SSE_H
#define HEARTH_SSE_H

#include <stddef.h>
#include <stdint.h>

/* The default event size limit hosts use when a module passes 0. */
#define SSE_DEFAULT_MAX_EVENT (16u * 1024 * 1024)

struct hearth_sse;

/* event, data (len bytes, NUL-terminated) and id (may be "") are borrowed. Return 0
 * to go on; anything else stops the parser and is returned by sse_feed. */
typedef int (*sse_event_fn)(void *arg, const char *event, const char *data, size_t len,
			    const char *id);

/* A new parser (free with sse_free). max_event 0 means SSE_DEFAULT_MAX_EVENT. */
struct hearth_sse *sse_new(size_t max_event, sse_event_fn on_event, void *arg);
/* Feed bytes. 0, the callback's non-zero value, or HEARTH_ELIMIT. */
int sse_feed(struct hearth_sse *p, const char *data, size_t len);
/* End of stream: 0 on an event boundary, HEARTH_EPROTO inside an event (cut short). */
int sse_finish(struct hearth_sse *p);
/* What went wrong (borrowed), or "" while all is well. */
const char *sse_error(const struct hearth_sse *p);
/* The last `retry:` value in ms, or -1 when none came. */
int64_t sse_retry_ms(const struct hearth_sse *p);
void sse_free(struct hearth_sse *p);

#endif
