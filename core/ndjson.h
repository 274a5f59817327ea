/*
 * ndjson.h: a push reader for newline-delimited JSON (Ollama's native API, MCP
 * over stdio): one JSON text per line, LF or CRLF, blank (whitespace-only) lines
 * skipped. Any chunking works, down to one byte per call; memory stays within
 * the line limit given at creation.
 *
 * These functions back hearth_host's ndjson_* members one to one.
 */
#ifndef HEARTH_NDJSON_H
#define HEARTH_NDJSON_H

#include <stddef.h>

#include <jansson.h>

#include <hearth/plugin.h>

/* What max_line == 0 means. */
#define NDJSON_DEFAULT_MAX_LINE (16u * 1024 * 1024)

/*
 * Called once per non-blank line with its parsed value (any JSON value; borrowed,
 * valid during the call: json_incref it to keep it) and its line number (from 1,
 * blank lines counted). Return 0 to go on; any other value stops the reader,
 * which stays failed, and is what ndjson_feed returns. The callback may call
 * ndjson_free on its reader (freed once ndjson_feed unwinds; return non-zero
 * then, or ndjson_feed returns HEARTH_ECANCELED), but not ndjson_feed or
 * ndjson_finish (they return HEARTH_EBUSY).
 */
typedef int (*ndjson_line_fn)(void *arg, json_t *value, size_t line_no);

/*
 * A new reader; the caller owns it and frees it with ndjson_free. `max_line`
 * bounds one line in bytes, its LF or CRLF not counted; 0 means
 * NDJSON_DEFAULT_MAX_LINE. `arg` is borrowed and passed to on_line. NULL if
 * on_line is NULL.
 */
struct hearth_ndjson *ndjson_new(size_t max_line, ndjson_line_fn on_line, void *arg);

/*
 * Read `len` bytes of `data` (borrowed, not kept). Returns 0, HEARTH_EPROTO for
 * a line that is not JSON ("line 3: invalid JSON at column 7: ..."),
 * HEARTH_ELIMIT for a line over max_line ("line 3: longer than N bytes"), or the
 * callback's non-zero value. Once failed the reader stays failed and every later
 * call returns the same code.
 */
int ndjson_feed(struct hearth_ndjson *p, const char *data, size_t len);

/*
 * End of stream: a last line without a newline is delivered like any other (not
 * an error). Returns 0 or an error as ndjson_feed does. No ndjson_feed
 * afterwards (HEARTH_EINVAL).
 */
int ndjson_finish(struct hearth_ndjson *p);

/* Why the reader failed; "" if it has not. Borrowed, valid until ndjson_free. */
const char *ndjson_error(struct hearth_ndjson *p);

/* Bytes the reader holds in buffers now (for tests: shows the bound). */
size_t ndjson_buffered(const struct hearth_ndjson *p);

/* Free the reader and everything it holds. NULL is fine. */
void ndjson_free(struct hearth_ndjson *p);

#endif
