/*
 * fake_openai.c: a fake OpenAI API for tests (see fake_openai.h).
 *
 * As fake_anthropic.c: replies are rendered to raw response bytes when pushed (a
 * bad script fails in the test's thread) and sent by fakehttp as FAKEHTTP_RAW, so
 * the framing here is exactly what goes over the wire.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_openai.h"

#define FO_MODEL "gpt-4.1-2025-04-14"

struct fo_reply {
	enum fake_openai_api api;
	char *raw;
	size_t len;
	int close, hang;
	size_t max_write;
	unsigned seed;
	struct fo_reply *next;
};

struct fake_openai {
	struct fakehttp *srv;
	pthread_mutex_t lock;        /* everything below */
	struct fo_reply *head, *tail;
	size_t n_queued;
	size_t max_write;
	unsigned seed;
	unsigned n_pushed;
	unsigned n_answered;
	char *key;
	json_t *models;
};

static void
fo_die(const char *what)
{
	fprintf(stderr, "fake_openai: %s\n", what);
	abort();
}

/* ------------------------------------------------------------- buffers -- */

struct fo_buf {
	char *data;
	size_t len, cap;
};

static void
fo_add(struct fo_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			fo_die("out of memory");
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void fo_printf(struct fo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fo_printf(struct fo_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fo_die("out of memory");
	fo_add(b, s, (size_t)n);
	free(s);
}

static char *fo_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
fo_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fo_die("out of memory");
	return s;
}

/* Compact JSON of v (any value), malloc'd. */
static char *
fo_dump(const json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags | JSON_ENCODE_ANY);
	if (s == NULL)
		fo_die("cannot encode JSON");
	return s;
}

/* ----------------------------------------------------------- rendering -- */

static const char *
fo_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

static const char *
fo_error_type(int status)
{
	switch (status) {
	case 400: case 401: case 404: case 413: case 422: return "invalid_request_error";
	case 403: return "permission_error";
	case 429: return "requests";
	default: return "server_error";
	}
}

static void
fo_date(struct fo_buf *b)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	fo_printf(b, "Date: %s\r\n", date);
}

/* A complete JSON error response as the API sends one (pretty-printed, 4 spaces).
 * extra: header lines. */
static void
fo_error_response(struct fo_buf *out, int status, const char *type, const char *code,
		  const char *message, const char *request_id, const char *extra,
		  const char *raw_body)
{
	char *body;
	if (raw_body != NULL) {
		body = strdup(raw_body);
		if (body == NULL)
			fo_die("out of memory");
	} else {
		json_t *j = json_pack("{s:{s:s,s:s,s:n,s:o}}", "error", "message", message, "type",
				      type, "param", "code",
				      code != NULL ? json_string(code) : json_null());
		char *s = fo_dump(j, JSON_INDENT(4));
		body = fo_asprintf("%s\n", s);
		free(s);
		json_decref(j);
	}
	fo_printf(out, "HTTP/1.1 %d %s\r\n", status, fo_reason(status));
	fo_date(out);
	fo_printf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Connection: keep-alive\r\nx-request-id: %s\r\n", strlen(body), request_id);
	if (extra != NULL)
		fo_add(out, extra, strlen(extra));
	fo_add(out, "\r\n", 2);
	fo_add(out, body, strlen(body));
	free(body);
}

struct fo_render {
	enum fake_openai_api api;
	struct fo_buf sse;
	unsigned seed;
	unsigned reply_no;
	int seq;               /* responses: sequence_number */
	int out_index;         /* responses: output_index */
	json_t *output;        /* responses: the items done */
	int cut, hang;
};

/* One chat chunk with delta (stolen) and finish_reason (NULL: null). */
static void
fo_chat_chunk(struct fo_render *r, json_t *delta, const char *finish)
{
	json_t *c = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:[{s:i,s:o,s:n,s:o}],s:s}",
			      "id", "chatcmpl-fake", "object", "chat.completion.chunk",
			      "created", 1727346180, "model", FO_MODEL, "service_tier", "default",
			      "system_fingerprint", "fp_fake", "choices", "index", 0, "delta", delta,
			      "logprobs", "finish_reason",
			      finish != NULL ? json_string(finish) : json_null(),
			      "obfuscation", "r4N7");
	if (c == NULL)
		fo_die("cannot pack a chunk");
	char *s = fo_dump(c, JSON_COMPACT);
	fo_printf(&r->sse, "data: %s\n\n", s);
	free(s);
	json_decref(c);
}

/* One responses event: type, then the members of body (stolen), sequence_number. */
static void
fo_resp_event(struct fo_render *r, const char *type, json_t *body)
{
	json_t *e = json_pack("{s:s}", "type", type);
	json_object_update(e, body);
	json_decref(body);
	json_object_set_new(e, "sequence_number", json_integer(r->seq++));
	char *s = fo_dump(e, JSON_COMPACT);
	fo_printf(&r->sse, "event: %s\ndata: %s\n\n", type, s);
	free(s);
	json_decref(e);
}

/* The argument fragments of a step: a new array of strings, or NULL if malformed. */
static json_t *
fo_fragments(struct fo_render *r, const json_t *v, const char *key)
{
	const json_t *a = json_object_get(v, key);
	if (a == NULL || json_is_string(a))
		return json_pack("[s]", a != NULL ? json_string_value(a) : "");
	if (json_is_array(a)) {
		size_t i;
		json_t *x;
		json_array_foreach(a, i, x) {
			if (!json_is_string(x))
				return NULL;
		}
		return json_copy((json_t *)a);
	}
	if (!json_is_object(a))
		return NULL;
	/* split the compact JSON at seeded places, mid-token */
	char *s = fo_dump(a, JSON_COMPACT);
	json_t *out = json_array();
	size_t n = strlen(s);
	for (size_t off = 0; off < n;) {
		size_t k = 1 + (size_t)rand_r(&r->seed) % 6;
		if (k > n - off)
			k = n - off;
		json_array_append_new(out, json_stringn(s + off, k));
		off += k;
	}
	free(s);
	return out;
}

/* The pieces of a text member: a new array of strings, or NULL. */
static json_t *
fo_pieces(const json_t *v)
{
	if (json_is_string(v))
		return json_pack("[O]", v);
	if (!json_is_array(v))
		return NULL;
	size_t i;
	json_t *x;
	json_array_foreach(v, i, x) {
		if (!json_is_string(x))
			return NULL;
	}
	return json_copy((json_t *)v);
}

static const char *
fo_s(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A step both APIs know; 1 when it was one, -1 when malformed, 0 when not. */
static int
fo_common_step(struct fo_render *r, const json_t *step, const char *type)
{
	if (strcmp(type, "event") == 0) {
		const json_t *d = json_object_get(step, "data");
		const char *ev = fo_s(step, "event");
		if (d == NULL)
			return -1;
		char *s = json_is_string(d) ? fo_asprintf("%s", json_string_value(d)) :
			fo_dump(d, JSON_COMPACT);
		if (ev != NULL)
			fo_printf(&r->sse, "event: %s\n", ev);
		fo_printf(&r->sse, "data: %s\n\n", s);
		free(s);
		return 1;
	}
	if (strcmp(type, "raw") == 0) {
		const json_t *d = json_object_get(step, "data");
		if (!json_is_string(d))
			return -1;
		fo_add(&r->sse, json_string_value(d), json_string_length(d));
		return 1;
	}
	if (strcmp(type, "cut") == 0) {
		r->cut = 1;
		return 1;
	}
	if (strcmp(type, "hang") == 0) {
		r->hang = 1;
		return 1;
	}
	return 0;
}

static int
fo_chat_step(struct fo_render *r, const json_t *step, const char *type)
{
	json_t *pieces;
	size_t i;
	json_t *x;
	if (strcmp(type, "role") == 0) {
		fo_chat_chunk(r, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL);
	} else if (strcmp(type, "text") == 0 || strcmp(type, "reasoning") == 0) {
		if ((pieces = fo_pieces(json_object_get(step, "text"))) == NULL)
			return -1;
		json_array_foreach(pieces, i, x)
			fo_chat_chunk(r, json_pack("{s:O}", type[0] == 't' ? "content" :
						   "reasoning_content", x), NULL);
		json_decref(pieces);
	} else if (strcmp(type, "tool_start") == 0 || strcmp(type, "tool_call") == 0) {
		const json_t *index = json_object_get(step, "index");
		const char *id = fo_s(step, "id"), *name = fo_s(step, "name");
		if (!json_is_integer(index) || id == NULL || name == NULL)
			return -1;
		fo_chat_chunk(r, json_pack("{s:[{s:O,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index",
					   index, "id", id, "type", "function", "function", "name",
					   name, "arguments", ""), NULL);
		if (strcmp(type, "tool_call") == 0) {
			if ((pieces = fo_fragments(r, step, "arguments")) == NULL)
				return -1;
			json_array_foreach(pieces, i, x) {
				if (json_string_length(x) == 0)
					continue;
				fo_chat_chunk(r, json_pack("{s:[{s:O,s:{s:O}}]}", "tool_calls", "index",
							   index, "function", "arguments", x), NULL);
			}
			json_decref(pieces);
		}
	} else if (strcmp(type, "tool_delta") == 0) {
		const json_t *index = json_object_get(step, "index");
		const json_t *args = json_object_get(step, "arguments");
		if (!json_is_integer(index) || !json_is_string(args))
			return -1;
		fo_chat_chunk(r, json_pack("{s:[{s:O,s:{s:O}}]}", "tool_calls", "index", index,
					   "function", "arguments", args), NULL);
	} else if (strcmp(type, "finish") == 0) {
		const char *fr = fo_s(step, "finish_reason");
		fo_chat_chunk(r, json_object(), fr != NULL ? fr : "stop");
	} else if (strcmp(type, "usage") == 0) {
		json_t *u = json_object_get(step, "usage");
		u = u != NULL ? json_incref(u) : json_pack(
			"{s:i,s:i,s:i,s:{s:i,s:i},s:{s:i,s:i,s:i,s:i}}", "prompt_tokens", 10,
			"completion_tokens", 5, "total_tokens", 15, "prompt_tokens_details",
			"cached_tokens", 0, "audio_tokens", 0, "completion_tokens_details",
			"reasoning_tokens", 0, "audio_tokens", 0, "accepted_prediction_tokens", 0,
			"rejected_prediction_tokens", 0);
		json_t *c = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:[],s:o,s:s}", "id", "chatcmpl-fake",
				      "object", "chat.completion.chunk", "created", 1727346180, "model",
				      FO_MODEL, "service_tier", "default", "system_fingerprint",
				      "fp_fake", "choices", "usage", u, "obfuscation", "x1");
		char *s = fo_dump(c, JSON_COMPACT);
		fo_printf(&r->sse, "data: %s\n\n", s);
		free(s);
		json_decref(c);
	} else if (strcmp(type, "done") == 0) {
		fo_printf(&r->sse, "data: [DONE]\n\n");
	} else if (strcmp(type, "error") == 0) {
		const char *msg = fo_s(step, "message"), *et = fo_s(step, "error_type");
		const char *code = fo_s(step, "code");
		json_t *e = json_pack("{s:{s:s,s:s,s:n,s:o}}", "error", "message",
				      msg != NULL ? msg : "The server had an error while processing "
				      "your request. Sorry about that!", "type",
				      et != NULL ? et : "server_error", "param", "code",
				      code != NULL ? json_string(code) : json_null());
		char *s = fo_dump(e, JSON_COMPACT);
		fo_printf(&r->sse, "data: %s\n\n", s);
		free(s);
		json_decref(e);
	} else {
		return -1;
	}
	return 0;
}

/* The response object of the terminal events. New ref. */
static json_t *
fo_response(struct fo_render *r, const char *status)
{
	return json_pack("{s:s,s:s,s:i,s:s,s:s,s:O}", "id", "resp_fake", "object", "response",
			 "created_at", 1741476542, "status", status, "model", FO_MODEL, "output",
			 r->output);
}

static int
fo_resp_step(struct fo_render *r, const json_t *step, const char *type)
{
	json_t *pieces;
	size_t i;
	json_t *x;
	if (strcmp(type, "created") == 0) {
		json_t *resp = fo_response(r, "in_progress");
		json_object_set_new(resp, "usage", json_null());
		fo_resp_event(r, "response.created", json_pack("{s:O}", "response", resp));
		fo_resp_event(r, "response.in_progress", json_pack("{s:o}", "response", resp));
	} else if (strcmp(type, "text") == 0) {
		int oi = r->out_index++;
		char *dflt = fo_asprintf("msg_%d", oi);
		const char *id = fo_s(step, "id") != NULL ? fo_s(step, "id") : dflt;
		if ((pieces = fo_pieces(json_object_get(step, "text"))) == NULL) {
			free(dflt);
			return -1;
		}
		fo_resp_event(r, "response.output_item.added", json_pack(
			"{s:i,s:{s:s,s:s,s:s,s:s,s:[]}}", "output_index", oi, "item", "id", id, "type",
			"message", "status", "in_progress", "role", "assistant", "content"));
		fo_resp_event(r, "response.content_part.added", json_pack(
			"{s:s,s:i,s:i,s:{s:s,s:s,s:[]}}", "item_id", id, "output_index", oi,
			"content_index", 0, "part", "type", "output_text", "text", "", "annotations"));
		struct fo_buf all = { 0 };
		fo_add(&all, "", 0);
		json_array_foreach(pieces, i, x) {
			fo_resp_event(r, "response.output_text.delta", json_pack(
				"{s:s,s:i,s:i,s:O,s:[]}", "item_id", id, "output_index", oi,
				"content_index", 0, "delta", x, "logprobs"));
			fo_add(&all, json_string_value(x), json_string_length(x));
		}
		fo_resp_event(r, "response.output_text.done", json_pack(
			"{s:s,s:i,s:i,s:s,s:[]}", "item_id", id, "output_index", oi, "content_index", 0,
			"text", all.data, "logprobs"));
		json_t *part = json_pack("{s:s,s:s,s:[]}", "type", "output_text", "text", all.data,
					 "annotations");
		fo_resp_event(r, "response.content_part.done", json_pack(
			"{s:s,s:i,s:i,s:O}", "item_id", id, "output_index", oi, "content_index", 0,
			"part", part));
		json_t *item = json_pack("{s:s,s:s,s:s,s:s,s:[o]}", "id", id, "type", "message",
					 "status", "completed", "role", "assistant", "content", part);
		json_array_append(r->output, item);
		fo_resp_event(r, "response.output_item.done", json_pack("{s:i,s:o}", "output_index",
									 oi, "item", item));
		free(all.data);
		free(dflt);
		json_decref(pieces);
	} else if (strcmp(type, "reasoning") == 0) {
		int oi = r->out_index++;
		char *dflt = fo_asprintf("rs_%d", oi);
		const char *id = fo_s(step, "id") != NULL ? fo_s(step, "id") : dflt;
		const json_t *enc = json_object_get(step, "encrypted_content");
		const json_t *sum = json_object_get(step, "summary");
		pieces = sum != NULL ? fo_pieces(sum) : json_array();
		if (pieces == NULL) {
			free(dflt);
			return -1;
		}
		json_t *added = json_pack("{s:s,s:s,s:[]}", "id", id, "type", "reasoning", "summary");
		fo_resp_event(r, "response.output_item.added", json_pack("{s:i,s:o}", "output_index",
									  oi, "item", added));
		json_t *summary = json_array();
		if (json_array_size(pieces) > 0) {
			fo_resp_event(r, "response.reasoning_summary_part.added", json_pack(
				"{s:s,s:i,s:i,s:{s:s,s:s}}", "item_id", id, "output_index", oi,
				"summary_index", 0, "part", "type", "summary_text", "text", ""));
			struct fo_buf all = { 0 };
			fo_add(&all, "", 0);
			json_array_foreach(pieces, i, x) {
				fo_resp_event(r, "response.reasoning_summary_text.delta", json_pack(
					"{s:s,s:i,s:i,s:O}", "item_id", id, "output_index", oi,
					"summary_index", 0, "delta", x));
				fo_add(&all, json_string_value(x), json_string_length(x));
			}
			fo_resp_event(r, "response.reasoning_summary_text.done", json_pack(
				"{s:s,s:i,s:i,s:s}", "item_id", id, "output_index", oi, "summary_index", 0,
				"text", all.data));
			json_t *part = json_pack("{s:s,s:s}", "type", "summary_text", "text", all.data);
			fo_resp_event(r, "response.reasoning_summary_part.done", json_pack(
				"{s:s,s:i,s:i,s:O}", "item_id", id, "output_index", oi, "summary_index", 0,
				"part", part));
			json_array_append_new(summary, part);
			free(all.data);
		}
		json_t *item = json_pack("{s:s,s:s,s:o}", "id", id, "type", "reasoning", "summary",
					 summary);
		if (json_is_string(enc))
			json_object_set(item, "encrypted_content", (json_t *)enc);
		json_array_append(r->output, item);
		fo_resp_event(r, "response.output_item.done", json_pack("{s:i,s:o}", "output_index",
									 oi, "item", item));
		free(dflt);
		json_decref(pieces);
	} else if (strcmp(type, "function_call") == 0) {
		const char *call_id = fo_s(step, "call_id"), *name = fo_s(step, "name");
		if (call_id == NULL || name == NULL || (pieces = fo_fragments(r, step, "arguments")) ==
		    NULL)
			return -1;
		int oi = r->out_index++;
		char *dflt = fo_asprintf("fc_%d", oi);
		const char *id = fo_s(step, "id") != NULL ? fo_s(step, "id") : dflt;
		fo_resp_event(r, "response.output_item.added", json_pack(
			"{s:i,s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "output_index", oi, "item", "id", id,
			"type", "function_call", "status", "in_progress", "arguments", "", "call_id",
			call_id, "name", name));
		struct fo_buf all = { 0 };
		fo_add(&all, "", 0);
		json_array_foreach(pieces, i, x) {
			fo_resp_event(r, "response.function_call_arguments.delta", json_pack(
				"{s:s,s:i,s:O}", "item_id", id, "output_index", oi, "delta", x));
			fo_add(&all, json_string_value(x), json_string_length(x));
		}
		fo_resp_event(r, "response.function_call_arguments.done", json_pack(
			"{s:s,s:i,s:s}", "item_id", id, "output_index", oi, "arguments", all.data));
		json_t *item = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "type",
					 "function_call", "status", "completed", "arguments", all.data,
					 "call_id", call_id, "name", name);
		json_array_append(r->output, item);
		fo_resp_event(r, "response.output_item.done", json_pack("{s:i,s:o}", "output_index",
									 oi, "item", item));
		free(all.data);
		free(dflt);
		json_decref(pieces);
	} else if (strcmp(type, "completed") == 0 || strcmp(type, "incomplete") == 0) {
		int done = type[0] == 'c';
		json_t *u = json_object_get(step, "usage");
		u = u != NULL ? json_incref(u) : json_pack(
			"{s:i,s:{s:i},s:i,s:{s:i},s:i}", "input_tokens", 10, "input_tokens_details",
			"cached_tokens", 0, "output_tokens", 5, "output_tokens_details",
			"reasoning_tokens", 0, "total_tokens", 15);
		json_t *resp = fo_response(r, done ? "completed" : "incomplete");
		json_object_set_new(resp, "usage", u);
		if (!done) {
			const char *why = fo_s(step, "reason");
			json_object_set_new(resp, "incomplete_details", json_pack("{s:s}", "reason",
				why != NULL ? why : "max_output_tokens"));
		}
		fo_resp_event(r, done ? "response.completed" : "response.incomplete",
			      json_pack("{s:o}", "response", resp));
	} else if (strcmp(type, "failed") == 0) {
		const char *code = fo_s(step, "code"), *msg = fo_s(step, "message");
		json_t *resp = fo_response(r, "failed");
		json_object_set_new(resp, "error", json_pack("{s:s,s:s}", "code",
			code != NULL ? code : "server_error", "message",
			msg != NULL ? msg : "The server had an error while processing your request."));
		json_object_set_new(resp, "usage", json_null());
		fo_resp_event(r, "response.failed", json_pack("{s:o}", "response", resp));
	} else if (strcmp(type, "error") == 0) {
		const char *code = fo_s(step, "code"), *msg = fo_s(step, "message");
		fo_resp_event(r, "error", json_pack("{s:o,s:s,s:n}", "code",
			code != NULL ? json_string(code) : json_null(), "message",
			msg != NULL ? msg : "An error occurred", "param"));
	} else {
		return -1;
	}
	return 0;
}

int
fake_openai_render(enum fake_openai_api api, const json_t *steps, size_t max_write,
		   unsigned seed, char **out, size_t *len, int *close, int *hang, char **error)
{
	char *why = NULL;
	struct fo_buf resp = { 0 };
	struct fo_render r = { .api = api, .seed = seed ? seed : 1, .output = json_array() };
	char *request_id = fo_asprintf("req_fake%08x", seed);
	size_t n = json_array_size(steps);
	*close = *hang = 0;

	if (!json_is_array(steps) || n == 0) {
		why = fo_asprintf("a reply must be a non-empty array of steps");
		goto fail;
	}
	const json_t *first = json_array_get(steps, 0);
	const char *ftype = fo_s(first, "type");
	if (ftype != NULL && strcmp(ftype, "http_error") == 0) {
		if (n != 1) {
			why = fo_asprintf("an http_error step must be the reply's only step");
			goto fail;
		}
		json_int_t status = json_integer_value(json_object_get(first, "status"));
		const char *et = fo_s(first, "error_type"), *msg = fo_s(first, "message");
		const char *ra = fo_s(first, "retry_after");
		const json_t *headers = json_object_get(first, "headers");
		const json_t *body = json_object_get(first, "body");
		if (status < 100 || status > 999 || (body != NULL && !json_is_string(body)) ||
		    (headers != NULL && !json_is_object(headers))) {
			why = fo_asprintf("step 0 (http_error): missing or malformed members");
			goto fail;
		}
		struct fo_buf extra = { 0 };
		fo_add(&extra, "", 0);
		if (ra != NULL)
			fo_printf(&extra, "retry-after: %s\r\n", ra);
		const char *hk;
		json_t *hv;
		json_object_foreach((json_t *)headers, hk, hv)
			fo_printf(&extra, "%s: %s\r\n", hk, json_string_value(hv) ?
				  json_string_value(hv) : "");
		fo_error_response(&resp, (int)status, et ? et : fo_error_type((int)status),
				  fo_s(first, "code"), msg ? msg : fo_reason((int)status), request_id,
				  extra.data, body ? json_string_value(body) : NULL);
		free(extra.data);
		goto done;
	}

	for (size_t i = 0; i < n; i++) {
		const json_t *step = json_array_get(steps, i);
		const char *t = fo_s(step, "type");
		if (r.cut || r.hang) {
			why = fo_asprintf("step %zu comes after a cut or hang, which must be last", i);
			goto fail;
		}
		if (t == NULL || strcmp(t, "http_error") == 0) {
			why = fo_asprintf("step %zu: no type, or an http_error that is not alone", i);
			goto fail;
		}
		int rc = fo_common_step(&r, step, t);
		if (rc == 0)
			rc = api == FAKE_OPENAI_CHAT ? fo_chat_step(&r, step, t) :
				fo_resp_step(&r, step, t);
		if (rc < 0) {
			why = fo_asprintf("step %zu (%s): unknown, or missing or malformed members", i, t);
			goto fail;
		}
	}
	fo_printf(&resp, "HTTP/1.1 200 OK\r\n");
	fo_date(&resp);
	fo_printf(&resp, "Content-Type: text/event-stream; charset=utf-8\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: %s\r\n"
		  "x-request-id: %s\r\nopenai-processing-ms: 120\r\n"
		  "x-ratelimit-limit-requests: 500\r\nx-ratelimit-remaining-requests: 499\r\n"
		  "x-ratelimit-reset-requests: 120ms\r\n\r\n",
		  r.cut ? "close" : "keep-alive", request_id);
	unsigned cseed = seed ? seed : 1;
	for (size_t off = 0; off < r.sse.len;) {
		size_t k = r.sse.len - off;
		if (max_write > 0) {
			size_t pick = 1 + (size_t)rand_r(&cseed) % max_write;
			if (pick < k)
				k = pick;
		}
		fo_printf(&resp, "%zx\r\n", k);
		fo_add(&resp, r.sse.data + off, k);
		fo_add(&resp, "\r\n", 2);
		off += k;
	}
	if (!r.cut && !r.hang)
		fo_add(&resp, "0\r\n\r\n", 5);
	*close = r.cut;
	*hang = r.hang;
done:
	free(r.sse.data);
	json_decref(r.output);
	free(request_id);
	*out = resp.data;
	*len = resp.len;
	return 0;
fail:
	free(r.sse.data);
	json_decref(r.output);
	free(resp.data);
	free(request_id);
	if (error != NULL)
		*error = why;
	else
		free(why);
	return -1;
}

/* ------------------------------------------------------------- serving -- */

static int
fo_path_is(const char *target, const char *path)
{
	size_t n = strlen(path);
	return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

static void
fo_answer_error(struct fake_openai *fo, struct fakehttp_response *resp, int status,
		const char *code, const char *message)
{
	struct fo_buf out = { 0 };
	char *rid = fo_asprintf("req_fakeerr%04u", fo->n_answered);
	fo_error_response(&out, status, fo_error_type(status), code, message, rid, NULL, NULL);
	free(rid);
	resp->framing = FAKEHTTP_RAW;
	resp->body = out.data;
	resp->body_len = out.len;
	resp->to_free = out.data;
}

static void
fo_answer_models(struct fake_openai *fo, struct fakehttp_response *resp)
{
	json_t *j = json_pack("{s:s,s:O}", "object", "list", "data", fo->models);
	char *body = fo_dump(j, JSON_INDENT(2));
	json_decref(j);
	struct fo_buf out = { 0 };
	fo_printf(&out, "HTTP/1.1 200 OK\r\n");
	fo_date(&out);
	fo_printf(&out, "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Connection: keep-alive\r\n\r\n%s", strlen(body), body);
	free(body);
	resp->framing = FAKEHTTP_RAW;
	resp->body = out.data;
	resp->body_len = out.len;
	resp->to_free = out.data;
}

static void
fo_handler(void *arg, const struct fakehttp_request *req, struct fakehttp_response *resp)
{
	struct fake_openai *fo = arg;
	pthread_mutex_lock(&fo->lock);
	fo->n_answered++;
	const char *auth = fakehttp_header(req, "authorization");
	int chat = fo_path_is(req->target, "/v1/chat/completions");
	int responses = fo_path_is(req->target, "/v1/responses");
	int models = fo_path_is(req->target, "/v1/models");
	char *want = fo->key != NULL ? fo_asprintf("Bearer %s", fo->key) : NULL;

	if (!chat && !responses && !models) {
		fo_answer_error(fo, resp, 404, NULL, "Invalid URL");
	} else if (want != NULL && (auth == NULL || strcmp(auth, want) != 0)) {
		fo_answer_error(fo, resp, 401, auth == NULL ? NULL : "invalid_api_key",
				auth == NULL ? "You didn't provide an API key." :
				"Incorrect API key provided.");
	} else if (models) {
		if (strcmp(req->method, "GET") != 0)
			fo_answer_error(fo, resp, 405, NULL, "Method Not Allowed");
		else
			fo_answer_models(fo, resp);
	} else if (strcmp(req->method, "POST") != 0) {
		fo_answer_error(fo, resp, 405, NULL, "Method Not Allowed");
	} else {
		json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
		int ok = json_is_object(body);
		json_decref(body);
		struct fo_reply *r = ok ? fo->head : NULL;
		if (!ok) {
			fo_answer_error(fo, resp, 400, NULL, "We could not parse the JSON body of your "
					"request.");
		} else if (r == NULL) {
			fo_answer_error(fo, resp, 500, NULL, "fake-openai: no reply scripted");
		} else if ((r->api == FAKE_OPENAI_CHAT) != chat) {
			fo_answer_error(fo, resp, 500, NULL, "fake-openai: the next reply is for the "
					"other API");
		} else {
			fo->head = r->next;
			if (fo->head == NULL)
				fo->tail = NULL;
			fo->n_queued--;
			resp->framing = FAKEHTTP_RAW;
			resp->body = r->raw;
			resp->body_len = r->len;
			resp->to_free = r->raw;
			resp->close = r->close;
			resp->max_write = r->max_write;
			resp->seed = r->seed;
			if (r->hang) {
				resp->action = FAKEHTTP_STALL;
				resp->cut_at = r->len;
			}
			free(r);
		}
	}
	free(want);
	pthread_mutex_unlock(&fo->lock);
}

/* ----------------------------------------------------------------- API -- */

struct fake_openai *
fake_openai_start(void)
{
	struct fake_openai *fo = calloc(1, sizeof *fo);
	if (fo == NULL)
		fo_die("out of memory");
	pthread_mutex_init(&fo->lock, NULL);
	fo->max_write = 7;
	fo->seed = 1;
	fo->models = json_array();
	fo->srv = fakehttp_start();
	if (fo->srv == NULL) {
		json_decref(fo->models);
		pthread_mutex_destroy(&fo->lock);
		free(fo);
		return NULL;
	}
	fakehttp_set_handler(fo->srv, fo_handler, fo);
	return fo;
}

void
fake_openai_free(struct fake_openai *fo)
{
	if (fo == NULL)
		return;
	fakehttp_free(fo->srv);
	while (fo->head != NULL) {
		struct fo_reply *r = fo->head;
		fo->head = r->next;
		free(r->raw);
		free(r);
	}
	json_decref(fo->models);
	free(fo->key);
	pthread_mutex_destroy(&fo->lock);
	free(fo);
}

char *
fake_openai_url(const struct fake_openai *fo)
{
	return fakehttp_url(fo->srv, "/v1");
}

void
fake_openai_set_chunking(struct fake_openai *fo, size_t max_write, unsigned seed)
{
	pthread_mutex_lock(&fo->lock);
	fo->max_write = max_write;
	fo->seed = seed;
	pthread_mutex_unlock(&fo->lock);
}

void
fake_openai_set_key(struct fake_openai *fo, const char *key)
{
	pthread_mutex_lock(&fo->lock);
	free(fo->key);
	fo->key = key != NULL ? strdup(key) : NULL;
	pthread_mutex_unlock(&fo->lock);
}

void
fake_openai_set_models(struct fake_openai *fo, const json_t *models)
{
	pthread_mutex_lock(&fo->lock);
	json_decref(fo->models);
	fo->models = json_deep_copy(models);
	pthread_mutex_unlock(&fo->lock);
}

int
fake_openai_push(struct fake_openai *fo, enum fake_openai_api api, const json_t *steps,
		 char **error)
{
	pthread_mutex_lock(&fo->lock);
	unsigned no = ++fo->n_pushed;
	size_t max_write = fo->max_write;
	unsigned seed = (fo->seed != 0 ? fo->seed : 1) * 7919u + no;
	pthread_mutex_unlock(&fo->lock);
	if (seed == 0)
		seed = 1;
	struct fo_reply *r = calloc(1, sizeof *r);
	if (r == NULL)
		fo_die("out of memory");
	r->api = api;
	if (fake_openai_render(api, steps, max_write, seed, &r->raw, &r->len, &r->close, &r->hang,
			       error) != 0) {
		free(r);
		return -1;
	}
	r->max_write = max_write;
	r->seed = max_write > 0 ? seed : 0;
	pthread_mutex_lock(&fo->lock);
	if (fo->tail != NULL)
		fo->tail->next = r;
	else
		fo->head = r;
	fo->tail = r;
	fo->n_queued++;
	pthread_mutex_unlock(&fo->lock);
	return 0;
}

int
fake_openai_push_text(struct fake_openai *fo, enum fake_openai_api api, const char *json,
		      char **error)
{
	json_error_t je;
	json_t *steps = json_loads(json, 0, &je);
	if (steps == NULL) {
		if (error != NULL)
			*error = fo_asprintf("the reply is not JSON: %s (line %d, column %d)", je.text,
					     je.line, je.column);
		return -1;
	}
	int rc = fake_openai_push(fo, api, steps, error);
	json_decref(steps);
	return rc;
}

size_t
fake_openai_queued(struct fake_openai *fo)
{
	pthread_mutex_lock(&fo->lock);
	size_t n = fo->n_queued;
	pthread_mutex_unlock(&fo->lock);
	return n;
}

size_t
fake_openai_count(struct fake_openai *fo)
{
	return fakehttp_count(fo->srv);
}

const struct fakehttp_request *
fake_openai_request(struct fake_openai *fo, size_t i)
{
	return fakehttp_request(fo->srv, i);
}

json_t *
fake_openai_request_body(struct fake_openai *fo, size_t i)
{
	const struct fakehttp_request *r = fakehttp_request(fo->srv, i);
	return r != NULL ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

struct fakehttp *
fake_openai_http(struct fake_openai *fo)
{
	return fo->srv;
}
