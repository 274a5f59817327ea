/*
 * fake_anthropic.h: a fake Anthropic API on 127.0.0.1 for tests, built on
 * tests/fakehttp. It answers POST /v1/messages with scripted replies, streamed
 * byte for byte as the real API streams them (status line, headers, chunked
 * body, `event:`/`data:` lines and blank-line separators), cut into chunks and
 * writes of random, seeded sizes down to one byte; GET /v1/models with a model
 * list, paginated as the real API does; anything else with a 404 error body.
 *
 *     struct fake_anthropic *fa = fake_anthropic_start();
 *     fake_anthropic_push_text(fa, "[{\"type\":\"message_start\"},"
 *                                  "{\"type\":\"text\",\"text\":[\"Hel\",\"lo\"]},"
 *                                  "{\"type\":\"stop\",\"stop_reason\":\"end_turn\"}]", NULL);
 *     char *url = fake_anthropic_url(fa);   (the base URL, "http://127.0.0.1:PORT")
 *     ... run the client ...
 *     json_t *body = fake_anthropic_request_body(fa, 0);
 *     fake_anthropic_free(fa);
 *
 * A reply is a JSON array of steps, sent in order; content blocks get their
 * index in the order they appear. Steps ("type" and its members; all optional
 * unless said):
 *
 *   message_start      id, model, usage (object; default {"input_tokens":10,"output_tokens":1})
 *   text               text: a string (one delta) or an array of strings (one delta each)
 *   thinking           thinking: string or array, as text; signature: string (one
 *                      signature_delta before the block stops)
 *   redacted_thinking  data: string
 *   tool_use           id, name (mandatory); input: an object, sent as its compact JSON
 *                      split at random seeded places (mid-token) after an empty first
 *                      fragment, as the API does; or partial_json: the fragments, verbatim
 *   ping
 *   message_delta      stop_reason (default "end_turn"; null allowed), usage (default
 *                      {"output_tokens":N}, N counting the deltas sent)
 *   message_stop
 *   stop               message_delta then message_stop (stop_reason, usage as above)
 *   error              error_type (default "overloaded_error"), message (default
 *                      "Overloaded"): an `event: error` in the stream
 *   event              event (name), data: a string (sent verbatim) or any JSON value
 *                      (sent compact)
 *   raw                data: bytes of the body, verbatim
 *   cut                the connection closes here, the chunked body unfinished
 *   hang               what came so far is sent, then the connection is held open
 *                      until the client goes away (for cancellation and timeouts)
 *   http_error         status (mandatory), error_type, message, retry_after (string),
 *                      headers (object of extra headers), body (verbatim, instead of
 *                      the JSON error body): an error response; the reply's only step
 *
 * Thread safety: the server runs its own threads; every function here is meant
 * for the test's thread. Everything aborts the test on an internal failure, but
 * for fake_anthropic_start (NULL when it cannot listen) and the script parsers
 * (which report a bad script).
 */
#ifndef HEARTH_FAKE_ANTHROPIC_H
#define HEARTH_FAKE_ANTHROPIC_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "fakehttp.h"

struct fake_anthropic;

/* Listen on 127.0.0.1 port 0. NULL if it cannot. Free with fake_anthropic_free(). */
struct fake_anthropic *fake_anthropic_start(void);
/* Stop the server and free everything (the log file, if any, is not closed). */
void fake_anthropic_free(struct fake_anthropic *fa);

int fake_anthropic_port(const struct fake_anthropic *fa);
/* The base URL, "http://127.0.0.1:PORT" (no trailing slash); malloc'd. */
char *fake_anthropic_url(const struct fake_anthropic *fa);

/*
 * How replies pushed from now on are cut: HTTP chunks and socket writes of 1 to
 * max_write bytes, at random from seed (each reply gets its own sequence).
 * max_write 0 sends each reply in one chunk and one write. Default: 7, seed 1.
 */
void fake_anthropic_set_chunking(struct fake_anthropic *fa, size_t max_write, unsigned seed);

/* Demand this x-api-key (else 401 authentication_error); NULL accepts any. Copied. */
void fake_anthropic_set_key(struct fake_anthropic *fa, const char *key);

/*
 * The models GET /v1/models lists: an array of {"id", "display_name"} (borrowed,
 * copied), served page_size at a time at most (0: 20) or fewer when the request
 * says ?limit=, continuing after ?after_id=.
 */
void fake_anthropic_set_models(struct fake_anthropic *fa, const json_t *models,
			       size_t page_size);

/* Append each request to f as one JSON line {method, target, headers, body}
 * (x-api-key masked), flushed as it comes. NULL stops. f is borrowed. */
void fake_anthropic_set_log(struct fake_anthropic *fa, FILE *f);

/*
 * Queue a reply for the next POST /v1/messages: steps is borrowed. Returns 0, or
 * -1 with *error (malloc'd, if error is not NULL) saying which step is wrong.
 * A message with no reply queued gets a 500 api_error.
 */
int fake_anthropic_push(struct fake_anthropic *fa, const json_t *steps, char **error);
/* The same with the steps as JSON text. */
int fake_anthropic_push_text(struct fake_anthropic *fa, const char *json, char **error);
/* Replies still queued. */
size_t fake_anthropic_queued(struct fake_anthropic *fa);

/*
 * Render a reply to the exact bytes it is sent as (status line to the end) into
 * *out (malloc'd, *len bytes), for tests of the fake itself. *close is 1 when the
 * connection is closed after it, *hang 1 when it is then held open. 0 or -1 as push.
 */
int fake_anthropic_render(const json_t *steps, size_t max_write, unsigned seed, char **out,
			  size_t *len, int *close, int *hang, char **error);

/* Requests received so far (every path), and the i-th (borrowed, NULL past the end). */
size_t fake_anthropic_count(struct fake_anthropic *fa);
const struct fakehttp_request *fake_anthropic_request(struct fake_anthropic *fa, size_t i);
/* The i-th request's body parsed as JSON (a new reference), or NULL. */
json_t *fake_anthropic_request_body(struct fake_anthropic *fa, size_t i);
/* Wait until n requests have come, or timeout_ms passes: 0 or -1. */
int fake_anthropic_wait(struct fake_anthropic *fa, size_t n, unsigned timeout_ms);

/* The fakehttp server underneath (borrowed), for what this API does not cover. */
struct fakehttp *fake_anthropic_http(struct fake_anthropic *fa);

#endif
