/*
 * fake_ollama.h: a fake Ollama server on 127.0.0.1 for tests, built on
 * tests/fakehttp. It answers POST /api/chat with scripted replies, written byte
 * for byte as Ollama writes them (compact JSON in Go's field order, with Go's
 * \u003c \u003e \u0026 escapes, one object per line, a chunked body), cut into
 * chunks and writes of random, seeded sizes down to one byte; GET /api/tags with
 * the model list; anything else with Go's "404 page not found".
 *
 *     struct fake_ollama *fo = fake_ollama_start();
 *     fake_ollama_push_text(fo, "[{\"type\":\"text\",\"text\":[\"Hel\",\"lo\"]},"
 *                               "{\"type\":\"done\"}]", NULL);
 *     char *url = fake_ollama_url(fo);   (the base URL, "http://127.0.0.1:PORT")
 *     ... run the client ...
 *     json_t *body = fake_ollama_request_body(fo, 0);
 *     fake_ollama_free(fo);
 *
 * A reply is a JSON array of steps, sent in order. Steps ("type" and members,
 * all optional unless said):
 *
 *   text        text: a string (one line) or an array of strings (one line each)
 *   thinking    thinking: as text; lines with "content":"" and "thinking"
 *   tool_calls  calls (mandatory): [{name, arguments, id?}], in one line; each gets
 *               "function":{"index":N,...} counting across the reply; "id" only
 *               when given (older servers send none)
 *   done        the final line: done_reason (default "stop"; null: left out),
 *               prompt_eval_count (default 10), eval_count (default: the lines
 *               sent before), each null to leave it out; durations as Ollama's
 *   error       message (default "an error was encountered while running the
 *               model"): an {"error":"..."} line, as a failing runner writes it
 *   line        data: any JSON value, sent compact with a newline, or a string
 *               sent verbatim with a newline
 *   raw         data: bytes of the body, verbatim
 *   cut         the connection closes here, the chunked body unfinished
 *   hang        what came so far is sent, then the connection is held open
 *   http_error  status (mandatory), message (default: by status), body (verbatim,
 *               instead of {"error":message}): an error response; the only step
 *
 * POST /api/chat whose body fake_ollama_check_request refuses gets a 400
 * {"error": why}; a model not in the list set by fake_ollama_set_models (when one
 * was set) a 404 {"error":"model \"x\" not found, try pulling it first"}, as
 * Ollama answers.
 *
 * Every function is for the test's thread; the server runs its own threads.
 */
#ifndef HEARTH_FAKE_OLLAMA_H
#define HEARTH_FAKE_OLLAMA_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "fakehttp.h"

struct fake_ollama;

/* Listen on 127.0.0.1 port 0. NULL if it cannot. Free with fake_ollama_free(). */
struct fake_ollama *fake_ollama_start(void);
void fake_ollama_free(struct fake_ollama *fo);

int fake_ollama_port(const struct fake_ollama *fo);
/* The base URL, "http://127.0.0.1:PORT" (no trailing slash); malloc'd. */
char *fake_ollama_url(const struct fake_ollama *fo);

/* How replies pushed from now on are cut (see fake_anthropic.h). Default: 7, seed 1. */
void fake_ollama_set_chunking(struct fake_ollama *fo, size_t max_write, unsigned seed);

/*
 * The pulled models: an array of names (borrowed, copied) that /api/tags lists
 * and /api/chat accepts ("x" also matches "x:latest"). NULL: list none, accept any.
 */
void fake_ollama_set_models(struct fake_ollama *fo, const json_t *names);
/* Answer /api/tags with this body, verbatim, status 200 (copied); NULL: the list. */
void fake_ollama_set_tags_body(struct fake_ollama *fo, const char *body);

/* Append each request to f as one JSON line {method, target, headers, body}
 * (authorization masked), flushed as it comes. NULL stops. f is borrowed. */
void fake_ollama_set_log(struct fake_ollama *fo, FILE *f);

/* Queue a reply for the next POST /api/chat (steps borrowed). 0, or -1 with
 * *error (malloc'd, if error is not NULL). With none queued: a 500. */
int fake_ollama_push(struct fake_ollama *fo, const json_t *steps, char **error);
int fake_ollama_push_text(struct fake_ollama *fo, const char *json, char **error);
size_t fake_ollama_queued(struct fake_ollama *fo);

/*
 * Is body (borrowed) a valid /api/chat request? Stricter than Ollama, to catch a
 * client's mistakes: model, messages with known roles and string content, base64
 * images, tool_calls only on assistant messages as {function: {name, arguments:
 * object}}, and after them exactly one `role: tool` message per call, in the
 * calls' order, with the call's tool_name; tools as {type: function, function:
 * {name, parameters}}. 0, or -1 with *why (malloc'd) naming the first problem.
 */
int fake_ollama_check_request(const json_t *body, char **why);

/* Render a reply to the exact bytes sent (status line to the end): *out malloc'd. */
int fake_ollama_render(const json_t *steps, size_t max_write, unsigned seed, char **out,
		       size_t *len, int *close, int *hang, char **error);

/* Requests received so far (every path), the i-th (borrowed), its body as JSON (new
 * reference, or NULL), and waiting for n of them (0, or -1 after timeout_ms). */
size_t fake_ollama_count(struct fake_ollama *fo);
const struct fakehttp_request *fake_ollama_request(struct fake_ollama *fo, size_t i);
json_t *fake_ollama_request_body(struct fake_ollama *fo, size_t i);
int fake_ollama_wait(struct fake_ollama *fo, size_t n, unsigned timeout_ms);
struct fakehttp *fake_ollama_http(struct fake_ollama *fo);

#endif
