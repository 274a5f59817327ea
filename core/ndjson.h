/*
 * ndjson.h: a newline-delimited JSON reader (Ollama's streams, MCP over stdio),
 * and what stands behind host->ndjson_* (include/hearth/plugin.h).
 *
 * Any chunking; LF or CRLF; blank lines skipped; each line parsed as one JSON value
 * and handed over with its line number. A line longer than max_line, or one that
 * is not JSON, stops the reader: ndjson_error() names the line and the problem, and
 * the reader stays failed. Memory is bounded by max_line.
 */
#ifndef HEARTH_NDJSON_H
#define HEARTH_NDJSON_H

#include <stddef.h>

#include <jansson.h>

#define NDJSON_DEFAULT_MAX_LINE (16u * 1024 * 1024)

struct hearth_ndjson;

/* value is borrowed for the call. Return 0 to go on; non-zero stops the reader and is
 * returned by ndjson_feed. */
typedef int (*ndjson_line_fn)(void *arg, json_t *value, size_t line_no);

/* A new reader (free with ndjson_free). max_line 0 means NDJSON_DEFAULT_MAX_LINE. */
struct hearth_ndjson *ndjson_new(size_t max_line, ndjson_line_fn on_line, void *arg);
/* 0, the callback's value, HEARTH_ELIMIT (line too long) or HEARTH_EPROTO (not JSON). */
int ndjson_feed(struct hearth_ndjson *r, const char *data, size_t len);
/* End of input: a last line without a newline is delivered. Same returns. */
int ndjson_finish(struct hearth_ndjson *r);
const char *ndjson_error(const struct hearth_ndjson *r);
void ndjson_free(struct hearth_ndjson *r);

#endif
