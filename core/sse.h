/*
 * sse.h: a push parser for Server-Sent Events (WHATWG text/event-stream), the
 * framing the providers stream in. Bytes go in with any chunking, down to one
 * byte per call; complete events come out through a callback. Memory is bounded
 * by the per-event limit given at creation, even for an endless line.
 *
 * Rules (WHATWG "event stream interpretation"): lines end with CR, LF or CRLF
 * (a CR ending one chunk and the LF starting the next are one line end); a UTF-8
 * BOM at stream start is skipped; lines starting with ':' are comments; a line
 * without ':' is a field with an empty value; one space after the colon is
 * removed; fields are event, data (several lines joined with "\n"), id (ignored
 * if it contains NUL; it persists across events, as the spec's last event ID)
 * and retry (ASCII digits only); unknown fields are ignored. A blank line
 * dispatches the event (type "message" unless set) if it had a data line.
 *
 * These functions back hearth_host's sse_* members one to one.
 */
#ifndef HEARTH_SSE_H
#define HEARTH_SSE_H

#include <stddef.h>

#include <hearth/plugin.h>

/* What max_event == 0 means. */
#define SSE_DEFAULT_MAX_EVENT (16u * 1024 * 1024)

/*
 * Called once per dispatched event. All strings are borrowed, valid during the
 * call only: `event` is the type ("message" by default), `data` has `len` bytes
 * and a NUL after them (it may contain NULs itself), `id` is the last event ID
 * ("" if none was ever set). Return 0 to go on; any other value stops the
 * parser, which stays failed, and is what sse_feed returns. The callback may
 * call sse_free on its parser (it is freed once sse_feed unwinds; return
 * non-zero then, or sse_feed returns HEARTH_ECANCELED), but not sse_feed or
 * sse_finish (they return HEARTH_EBUSY).
 */
typedef int (*sse_event_fn)(void *arg, const char *event, const char *data, size_t len,
			    const char *id);

/*
 * A new parser; the caller owns it and frees it with sse_free. `max_event`
 * bounds one event: the bytes of all its field lines (comments and line ends
 * not counted, comments only bounded per line); 0 means SSE_DEFAULT_MAX_EVENT.
 * `arg` is borrowed and passed to on_event. NULL if on_event is NULL.
 */
struct hearth_sse *sse_new(size_t max_event, sse_event_fn on_event, void *arg);

/*
 * Parse `len` bytes of `data` (borrowed, not kept). Returns 0, HEARTH_ELIMIT
 * when an event outgrows max_event, or the callback's non-zero value. Once it
 * failed the parser stays failed and every later call returns the same code.
 */
int sse_feed(struct hearth_sse *p, const char *data, size_t len);

/*
 * End of stream. Returns 0 when it ended on an event boundary, HEARTH_EPROTO
 * when it ended inside an event or a line (a truncated stream; that event is not
 * dispatched), or the earlier failure's code. No sse_feed afterwards
 * (HEARTH_EINVAL).
 */
int sse_finish(struct hearth_sse *p);

/* Why the parser failed, with the byte offset in the stream; "" if it has not.
 * Borrowed from the parser, valid until sse_free. */
const char *sse_error(struct hearth_sse *p);

/* The last valid `retry:` value in milliseconds, -1 if none (or too large). */
long sse_retry(const struct hearth_sse *p);

/* The last event ID ("" if none); borrowed, valid until the next feed. */
const char *sse_last_id(const struct hearth_sse *p);

/* Bytes the parser holds in buffers now (for tests: shows the bound). */
size_t sse_buffered(const struct hearth_sse *p);

/* Free the parser and everything it holds. NULL is fine. */
void sse_free(struct hearth_sse *p);

#endif
