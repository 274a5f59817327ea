/*
 * fake_openai.h: a fake OpenAI API on 127.0.0.1 for tests, built on
 * tests/fakehttp. It answers POST /v1/chat/completions and POST /v1/responses
 * with scripted replies, streamed byte for byte as the real API streams them
 * (status line, headers, chunked body; chat: `data: {chunk}` frames and
 * `data: [DONE]`; responses: `event: TYPE` + `data: {...,"sequence_number":N}`),
 * cut into chunks and writes of random, seeded sizes down to one byte;
 * GET /v1/models with a model list; anything else with a 404 error body.
 *
 *     struct fake_openai *fo = fake_openai_start();
 *     fake_openai_push_text(fo, FAKE_OPENAI_CHAT,
 *         "[{\"type\":\"text\",\"text\":[\"Hel\",\"lo\"]},{\"type\":\"finish\"},"
 *         "{\"type\":\"usage\"},{\"type\":\"done\"}]", NULL);
 *     char *url = fake_openai_url(fo);    ("http://127.0.0.1:PORT/v1")
 *     ... run the client ...
 *     json_t *body = fake_openai_request_body(fo, 0);
 *     fake_openai_free(fo);
 *
 * A reply is for one API: a POST to the other API's path while it is first in
 * the queue gets a 500 that says so. Steps ("type" and members; optional unless
 * said):
 *
 * Chat (each a chunk `{"id","object":"chat.completion.chunk","created","model",
 * "service_tier","system_fingerprint","choices":[{"index":0,"delta",
 * "logprobs":null,"finish_reason"}],"obfuscation"}` unless said):
 *   role        delta {"role":"assistant","content":""}
 *   text        text: a string or an array of strings (one chunk each)
 *   reasoning   text: as text, sent as delta.reasoning_content
 *   tool_start  index, id, name (mandatory): the call's first entry, arguments ""
 *   tool_delta  index (mandatory), arguments: one fragment
 *   tool_call   index, id, name (mandatory); arguments: a string or array of
 *               fragments, or an object sent as compact JSON split at seeded places
 *   finish      finish_reason (default "stop"): delta {}
 *   usage       usage (default {"prompt_tokens":10,"completion_tokens":5,
 *               "total_tokens":15,...}): the "choices":[] chunk
 *   done        data: [DONE]
 *   error       message, error_type (default "server_error"), code: data: {"error":{...}}
 *
 * Responses (each `event: T` + `data: {"type":T,...,"sequence_number":N}`):
 *   created       response.created and response.in_progress
 *   text          id (default msg_N), text (string or array): the message item's
 *                 added / content_part.added / output_text.delta* / .done /
 *                 content_part.done / output_item.done
 *   reasoning     id (default rs_N), summary (string or array of deltas),
 *                 encrypted_content: a reasoning item with one summary part
 *   function_call id (default fc_N), call_id, name (mandatory), arguments (as
 *                 tool_call): added / arguments.delta* / arguments.done / item.done
 *   completed     usage (default {"input_tokens":10,...}): response.completed,
 *                 the output holding every item done so far
 *   incomplete    reason (default "max_output_tokens"): response.incomplete
 *   failed        code (default "server_error"), message: response.failed
 *   error         code, message: an `event: error`
 *
 * Both:
 *   event         data: a string (sent verbatim) or any JSON value (compact), as one
 *                 event (with `event: NAME` when event is given)
 *   raw           data: bytes of the body, verbatim
 *   cut           the connection closes here, the chunked body unfinished
 *   hang          what came so far is sent, then the connection is held open
 *   http_error    status (mandatory), message, error_type, code, retry_after,
 *                 headers (object), body (verbatim): an error response, pretty-printed
 *                 as the API does; the reply's only step
 *
 * Thread safety: the server runs its own threads; every function here is meant
 * for the test's thread.
 */
#ifndef HEARTH_FAKE_OPENAI_H
#define HEARTH_FAKE_OPENAI_H

#include <stddef.h>

#include <jansson.h>

#include "fakehttp.h"

enum fake_openai_api {
	FAKE_OPENAI_CHAT,
	FAKE_OPENAI_RESPONSES,
};

struct fake_openai;

/* Listen on 127.0.0.1 port 0. NULL if it cannot. Free with fake_openai_free(). */
struct fake_openai *fake_openai_start(void);
void fake_openai_free(struct fake_openai *fo);

/* The base URL, "http://127.0.0.1:PORT/v1" (no trailing slash); malloc'd. */
char *fake_openai_url(const struct fake_openai *fo);

/* How replies pushed from now on are cut: chunks and writes of 1 to max_write
 * bytes at random from seed; 0 sends each reply at once. Default: 7, seed 1. */
void fake_openai_set_chunking(struct fake_openai *fo, size_t max_write, unsigned seed);

/* Demand "Authorization: Bearer KEY" (else a 401); NULL accepts any. Copied. */
void fake_openai_set_key(struct fake_openai *fo, const char *key);

/* The entries GET /v1/models lists in "data" (borrowed, copied). */
void fake_openai_set_models(struct fake_openai *fo, const json_t *models);

/* Queue a reply (steps borrowed). 0, or -1 with *error (malloc'd, if error is not
 * NULL) saying which step is wrong. */
int fake_openai_push(struct fake_openai *fo, enum fake_openai_api api, const json_t *steps,
		     char **error);
int fake_openai_push_text(struct fake_openai *fo, enum fake_openai_api api, const char *json,
			  char **error);
size_t fake_openai_queued(struct fake_openai *fo);

/* Render a reply to the exact bytes sent (status line to the end): *out malloc'd. */
int fake_openai_render(enum fake_openai_api api, const json_t *steps, size_t max_write,
		       unsigned seed, char **out, size_t *len, int *close, int *hang,
		       char **error);

/* Requests received so far (every path), the i-th (borrowed), its body as JSON
 * (a new reference, or NULL). */
size_t fake_openai_count(struct fake_openai *fo);
const struct fakehttp_request *fake_openai_request(struct fake_openai *fo, size_t i);
json_t *fake_openai_request_body(struct fake_openai *fo, size_t i);

/* The fakehttp server underneath (borrowed), for what this API does not cover. */
struct fakehttp *fake_openai_http(struct fake_openai *fo);

#endif
