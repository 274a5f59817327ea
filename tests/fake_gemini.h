/*
 * fake_gemini.h: a fake Gemini API (generativelanguage.googleapis.com) on
 * 127.0.0.1 for tests, built on tests/fakehttp. It answers
 * POST /v1beta/models/{model}:streamGenerateContent?alt=sse with scripted replies,
 * sent byte for byte as the real API sends them (status line, headers, chunked
 * body, "data: {...}\r\n\r\n" events whose JSON is written in Google's style,
 * `{"key": value,"next": ...}`), cut into chunks and writes of random, seeded sizes
 * down to one byte; GET /v1beta/models with a model list, paginated with
 * pageToken as the real API does; anything else with a 404 Google error body.
 * Error bodies are google.rpc.Status objects, pretty-printed with two-space
 * indentation and a trailing newline, as the API writes them.
 *
 *     struct fake_gemini *fg = fake_gemini_start();
 *     fake_gemini_push_text(fg, "[{\"type\":\"text\",\"text\":[\"Hel\",\"lo\"]},"
 *                               "{\"type\":\"finish\"}]", NULL);
 *     char *url = fake_gemini_url(fg);   (the base URL, "http://127.0.0.1:PORT")
 *     ... run the client ...
 *     json_t *body = fake_gemini_request_body(fg, 0);
 *     fake_gemini_free(fg);
 *
 * A reply is a JSON array of steps, each one event unless said; every chunk
 * carries "modelVersion" and "responseId" ("resp_fake<N>", N counting the replies
 * pushed from 1), and usageMetadata: the finish step's own, an interim one
 * (promptTokenCount 7, as the API's early chunks say) on the others. Steps:
 *
 *   text        text: a string (one chunk) or an array of strings (one chunk
 *               each); thought: true makes them thought parts; signature: a
 *               thoughtSignature on the last chunk's part
 *   thought     the same as text with thought: true
 *   call        name (mandatory), args (object, default {}), id, signature: one
 *               chunk with one functionCall part
 *   calls       calls: an array of {name, args, id?, signature?}: one chunk with
 *               parallel functionCall parts
 *   finish      reason (default "STOP"), message (finishMessage), text (a last
 *               text part), usage (usageMetadata; default prompt 6, candidates
 *               the number of chunks so far, thoughts 0)
 *   blocked     reason (default "SAFETY"): no candidates, promptFeedback.blockReason
 *   error       code (default 503), status (default "UNAVAILABLE"), message:
 *               `data: {"error": {...}}` in the stream
 *   error_tail  the same, as a bare pretty-printed JSON body with no "data:"
 *   chunk       data: a string (sent verbatim) or any JSON value, as one event
 *   raw         data: bytes of the body, verbatim
 *   cut         the connection closes here, the chunked body unfinished
 *   hang        what came so far is sent, then the connection is held open
 *   http_error  status (mandatory), google_status, message, retry_delay (a
 *               RetryInfo detail, with a QuotaFailure before it), content_type
 *               (default "application/json; charset=UTF-8"), body (verbatim,
 *               instead of the Google error): the reply's only step
 *
 * Thread safety: the server runs its own threads; every function here is meant
 * for the test's thread. Everything aborts the test on an internal failure, but
 * for fake_gemini_start (NULL when it cannot listen) and the script parsers.
 */
#ifndef HEARTH_FAKE_GEMINI_H
#define HEARTH_FAKE_GEMINI_H

#include <stddef.h>

#include <jansson.h>

#include "fakehttp.h"

struct fake_gemini;

/* Listen on 127.0.0.1 port 0. NULL if it cannot. Free with fake_gemini_free(). */
struct fake_gemini *fake_gemini_start(void);
void fake_gemini_free(struct fake_gemini *fg);

/* The base URL, "http://127.0.0.1:PORT" (no trailing slash); malloc'd. */
char *fake_gemini_url(const struct fake_gemini *fg);

/* How replies pushed from now on are cut: HTTP chunks and socket writes of 1 to
 * max_write bytes, at random from seed. 0 sends each reply in one chunk and one
 * write. Default: 7, seed 1. */
void fake_gemini_set_chunking(struct fake_gemini *fg, size_t max_write, unsigned seed);

/* Demand this x-goog-api-key (a wrong one gets 400 API_KEY_INVALID, none 403
 * PERMISSION_DENIED, as the API answers); NULL accepts any. Copied. */
void fake_gemini_set_key(struct fake_gemini *fg, const char *key);

/* The models GET /v1beta/models lists: an array of Model objects ({"name":
 * "models/x", "displayName", "inputTokenLimit", "supportedGenerationMethods"},
 * borrowed, copied), page_size per page at most (0: 50) or fewer when the request
 * says ?pageSize=, continuing at ?pageToken=. */
void fake_gemini_set_models(struct fake_gemini *fg, const json_t *models, size_t page_size);

/* Queue a reply for the next streamGenerateContent call: steps is borrowed. 0, or
 * -1 with *error (malloc'd, if error is not NULL) saying which step is wrong.
 * A call with no reply queued gets a 500 INTERNAL. */
int fake_gemini_push(struct fake_gemini *fg, const json_t *steps, char **error);
int fake_gemini_push_text(struct fake_gemini *fg, const char *json, char **error);
size_t fake_gemini_queued(struct fake_gemini *fg);

/* Render a reply to the exact bytes it is sent as (status line to the end) into
 * *out (malloc'd, *len bytes). *close / *hang as the steps say. 0 or -1 as push. */
int fake_gemini_render(const json_t *steps, size_t max_write, unsigned seed, char **out,
		       size_t *len, int *close, int *hang, char **error);

/* v in Google's JSON style ({"a": 1,"b": [1,2]}), malloc'd. */
char *fake_gemini_json(const json_t *v);

/* Requests received so far (every path), the i-th (borrowed, NULL past the end),
 * and its body parsed (a new reference, or NULL). */
size_t fake_gemini_count(struct fake_gemini *fg);
const struct fakehttp_request *fake_gemini_request(struct fake_gemini *fg, size_t i);
json_t *fake_gemini_request_body(struct fake_gemini *fg, size_t i);

/* The fakehttp server underneath (borrowed), for what this API does not cover. */
struct fakehttp *fake_gemini_http(struct fake_gemini *fg);

#endif
