/*
 * gemini.c: the Google Gemini provider module (the Gemini API, streamed).
 *
 * stream() turns the provider-neutral request (hearth/provider.h) into a
 * POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse, reads the
 * reply as Server-Sent Events through the host's parser (each event one complete
 * GenerateContentResponse), and feeds the sink: text and thought deltas, function
 * calls (complete in one part: the API never splits them), the last chunk's usage,
 * and one done(). list_models() walks GET {base_url}/v1beta/models page by page.
 *
 * The API gives function calls no id. We make one ("call_<responseId>_<n>", n
 * counting the calls of the reply) and, when history goes back, never send it:
 * functionResponse parts go in the order of the calls they answer, under the
 * calls' names, which is how the API matches them.
 *
 * A failed call may answer with a plain JSON error body (pretty-printed) while the
 * header says text/event-stream, and a 200 stream may end in such a body without a
 * "data:" prefix. So a line of the body that starts with '{' or '[' ends the event
 * stream: from there on the bytes are collected and read as a JSON error.
 *
 * Every outcome reaches the sink through the HTTP request's on_done, as in the
 * Anthropic module: one exit, and cancel() has nothing to race with.
 *
 * The key comes from GEMINI_API_KEY (else GOOGLE_API_KEY) at init and goes nowhere
 * but the x-goog-api-key header: it is never logged.
 *
 * A module: it sees only <hearth/provider.h>, libc and jansson. Out of memory
 * aborts, as the core's xmalloc does.
 */
#define _GNU_SOURCE /* vasprintf, strndup */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hearth/provider.h>

#include "kit.h"

#define GEMINI_DEFAULT_URL "https://generativelanguage.googleapis.com"
#define GEMINI_DEFAULT_MODEL "gemini-2.5-flash"
#define GEMINI_BODY_MAX (1024u * 1024)       /* an error body or a model list page */
#define GEMINI_EVENT_MAX (8u * 1024 * 1024)  /* one SSE event */
#define GEMINI_MODEL_PAGES_MAX 100
#define GEMINI_MODEL_PAGE_SIZE 1000
#define GEMINI_RETRY_AFTER_MAX_MS (24ull * 3600 * 1000)
#define GEMINI_RETRY_INFO "type.googleapis.com/google.rpc.RetryInfo"

/* ------------------------------------------------------------ helpers -- */

/* jansson getters that tolerate anything. Borrowed results. */
static const char *
gemini_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ------------------------------------------------------------- module -- */

struct gemini_list;

struct gemini {
	const struct hearth_host *host;
	char *api_key;                       /* owned; NULL when unset */
	char *base_url;                      /* owned; no trailing '/' */
	char *model;                         /* owned */
	long long max_tokens;                /* 0: not sent, the model's default */
	long long thinking_budget;           /* -1: not sent, the model's default */
	int include_thoughts;
	long long timeout_ms;                /* idle timeout; 0: the host's default */
	unsigned serial;                     /* streams started: ids when a reply has none */
	struct hearth_provider_call *calls;  /* streams in flight */
	struct gemini_list *lists;           /* model listings in flight */
};

/* What a response said besides its stream: the status, and the body bytes kept
 * (a non-200 body, a JSON body or tail, a model list page). */
struct gemini_reply {
	long status;
	struct kit_buf body;
	int body_over;          /* the body was longer than GEMINI_BODY_MAX */
};

static void
gemini_reply_free(struct gemini_reply *r)
{
	kit_buf_free(&r->body);
	memset(r, 0, sizeof *r);
}

static void
gemini_reply_body(struct gemini_reply *r, const char *data, size_t len)
{
	if (r->body_over)
		return;
	if (kit_buf_add(&r->body, data, len, GEMINI_BODY_MAX) != 0) {
		size_t room = GEMINI_BODY_MAX - r->body.len;
		kit_buf_add(&r->body, data, room, GEMINI_BODY_MAX);
		r->body_over = 1;
	}
}

/* A RetryInfo retryDelay ("12s", "1.5s") in ms, rounded up; 0 when malformed. */
static uint64_t
gemini_duration_ms(const char *s)
{
	if (s == NULL)
		return 0;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || strcmp(end, "s") != 0 || errno != 0 || !isfinite(v) || v <= 0)
		return 0;
	double ms = v * 1000;
	if (ms >= (double)GEMINI_RETRY_AFTER_MAX_MS)
		return GEMINI_RETRY_AFTER_MAX_MS;
	uint64_t whole = (uint64_t)ms;
	return (double)whole < ms ? whole + 1 : whole;
}

/* The retryDelay of a google.rpc.Status's RetryInfo detail, in ms; 0 if none. */
static uint64_t
gemini_retry_delay(const json_t *error)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(error, "details"), i, d) {
		const char *t = gemini_str(d, "@type");
		if (t != NULL && strcmp(t, GEMINI_RETRY_INFO) == 0)
			return gemini_duration_ms(gemini_str(d, "retryDelay"));
	}
	return 0;
}

/* 1 when a detail of type google.rpc.ErrorInfo has this reason. */
static int
gemini_has_reason(const json_t *error, const char *reason)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(error, "details"), i, d) {
		const char *r = gemini_str(d, "reason");
		if (r != NULL && strcmp(r, reason) == 0)
			return 1;
	}
	return 0;
}

/*
 * A google.rpc.Status ({"code", "message", "status", "details"}) as an error in e
 * (old strings freed). http is the transfer's status; the body's code wins when
 * the transfer said 200 (an error inside a stream).
 */
static void
gemini_status_error(const json_t *error, long http, struct kit_err *e)
{
	const char *status = gemini_str(error, "status");
	const char *vmsg = gemini_str(error, "message");
	json_int_t code = json_integer_value(json_object_get(error, "code"));
	long st = http != 200 ? http : (code >= 100 && code <= 599 ? (long)code : 500);
	uint32_t type;
	int retryable = 0;
	if (status == NULL)
		status = "";

	if (st == 401 || strcmp(status, "UNAUTHENTICATED") == 0 ||
	    gemini_has_reason(error, "API_KEY_INVALID") ||
	    (vmsg != NULL && strstr(vmsg, "API key not valid") != NULL)) {
		type = HEARTH_PERR_AUTH;  /* Gemini says 400 INVALID_ARGUMENT for a bad key */
	} else if (st == 429 || strcmp(status, "RESOURCE_EXHAUSTED") == 0) {
		type = HEARTH_PERR_RATE_LIMITED, retryable = 1;
	} else if (st == 400 || st == 422) {
		if (strcmp(status, "FAILED_PRECONDITION") == 0)
			type = HEARTH_PERR_PERMISSION;   /* billing, region */
		else if (vmsg != NULL && (strstr(vmsg, "exceeds the maximum number of tokens") ||
					  strstr(vmsg, "input token count")))
			type = HEARTH_PERR_CONTEXT;
		else
			type = HEARTH_PERR_BAD_REQUEST;
	} else if (st == 403) {
		type = HEARTH_PERR_PERMISSION;
	} else if (st == 404) {
		type = HEARTH_PERR_NOT_FOUND;
	} else if (st == 408 || st == 504) {
		type = HEARTH_PERR_TIMEOUT, retryable = 1;
	} else if (st == 413) {
		type = HEARTH_PERR_TOO_LARGE;
	} else if (st == 503 || st == 529) {
		type = HEARTH_PERR_OVERLOADED, retryable = 1;
	} else if (st >= 500 && st <= 599) {
		type = HEARTH_PERR_SERVER, retryable = 1;
	} else if (st >= 400 && st <= 499) {
		type = HEARTH_PERR_BAD_REQUEST;
	} else {
		type = HEARTH_PERR_PROTOCOL;
	}
	char *message = vmsg != NULL ? kit_strdup(vmsg) :
		kit_printf("HTTP %ld %s with no message", st, status[0] ? status : "error");
	kit_err_set(e, type, retryable, status[0] ? status : NULL, message);
	e->http_status = st;
	e->retry_after_ms = gemini_retry_delay(error);
	/* Without RetryInfo the message may still say "Please retry in 36.2s." */
	const char *in = vmsg != NULL ? strstr(vmsg, "Please retry in ") : NULL;
	if (e->retry_after_ms == 0 && type == HEARTH_PERR_RATE_LIMITED && in != NULL) {
		char num[32];
		in += strlen("Please retry in ");
		size_t n = strspn(in, "0123456789.");
		if (n > 0 && n < sizeof num - 1 && in[n] == 's') {
			memcpy(num, in, n);
			num[n] = 's';
			num[n + 1] = '\0';
			e->retry_after_ms = gemini_duration_ms(num);
		}
	}
}

/* A printable excerpt of a body that is not a Google error: its start, on one
 * line. malloc'd. */
static char *
gemini_excerpt(const struct kit_buf *b)
{
	size_t n = b->len < 200 ? b->len : 200;
	char *s = malloc(n + 1);
	if (s == NULL)
		kit_oom();
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)b->data[i];
		s[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	s[n] = '\0';
	/* Do not end inside a UTF-8 sequence. */
	while (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0x80)
		s[--n] = '\0';
	if (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0xc0)
		s[--n] = '\0';
	return s;
}

/*
 * A body that should be a Google error ({"error": Status}, or an array of one, as
 * the non-SSE stream sends it) as an error in e. status is the HTTP status.
 */
static void
gemini_body_error(const struct gemini_reply *r, long status, struct kit_err *e)
{
	json_t *body = r->body.len > 0 ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
	const json_t *top = json_is_array(body) ? json_array_get(body, 0) : body;
	const json_t *error = json_object_get(top, "error");
	if (json_is_object(error)) {
		gemini_status_error(error, status, e);
	} else {
		uint32_t type = HEARTH_PERR_PROTOCOL;
		int retryable = 0;
		if (status >= 500 && status <= 599)
			type = HEARTH_PERR_SERVER, retryable = 1;
		else if (status == 401)
			type = HEARTH_PERR_AUTH;
		else if (status == 403)
			type = HEARTH_PERR_PERMISSION;
		else if (status == 404)
			type = HEARTH_PERR_NOT_FOUND;
		else if (status == 429)
			type = HEARTH_PERR_RATE_LIMITED, retryable = 1;
		else if (status >= 400 && status <= 499)
			type = HEARTH_PERR_BAD_REQUEST;
		char *message;
		if (r->body.len > 0) {
			char *ex = gemini_excerpt(&r->body);
			message = kit_printf("HTTP %ld with a body that is not a Google error: %s",
						status, ex);
			free(ex);
		} else {
			message = kit_printf("HTTP %ld with an empty body", status);
		}
		kit_err_set(e, type, retryable, NULL, message);
		e->http_status = status;
	}
	json_decref(body);
}

/* A transfer that failed before a complete response (on_done's error). */
static void
gemini_transfer_error(int error, const char *what, struct kit_err *e)
{
	kit_err_set(e, error == HEARTH_ETIMEDOUT ? HEARTH_PERR_TIMEOUT : HEARTH_PERR_NETWORK,
		       1, NULL, kit_strdup(what != NULL ? what : "transfer failed"));
}

/* The request headers, as host->http_start wants them. Release with
 * gemini_headers_free (the key line is wiped first). */
struct gemini_headers {
	const char *lines[3];  /* "Name: value", NULL-terminated */
	char *key_line;        /* owned; wiped before it is freed */
};

static void
gemini_headers_init(struct gemini_headers *h, const struct gemini *g, int json_body)
{
	size_t n = 0;
	memset(h, 0, sizeof *h);
	if (g->api_key != NULL) {
		h->key_line = kit_printf("x-goog-api-key: %s", g->api_key);
		h->lines[n++] = h->key_line;
	}
	if (json_body)
		h->lines[n++] = "content-type: application/json";
	h->lines[n] = NULL;
}

static void
gemini_headers_free(struct gemini_headers *h)
{
	if (h->key_line != NULL) {
		/* volatile, so the wipe is not optimised away before free() */
		for (volatile char *p = h->key_line; *p != '\0'; p++)
			*p = '\0';
		free(h->key_line);
	}
	memset(h, 0, sizeof *h);
}

/* s with everything but RFC 3986's unreserved characters percent-encoded. malloc'd. */
static char *
gemini_urlencode(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;
	if (out == NULL)
		kit_oom();
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			sprintf(o, "%%%02X", *p);
			o += 3;
		}
	}
	*o = '\0';
	return out;
}

/* ------------------------------------------------ request translation -- */

/* The thoughtSignature a part's meta carries when this module made it, or NULL. */
static const char *
gemini_meta_sig(const json_t *part)
{
	const json_t *meta = json_object_get(part, "meta");
	const char *provider = gemini_str(meta, "provider");
	if (provider == NULL || strcmp(provider, "gemini") != 0)
		return NULL;
	const char *sig = gemini_str(meta, "thoughtSignature");
	return sig != NULL && sig[0] != '\0' ? sig : NULL;
}

static int
gemini_is_own(const json_t *part)
{
	const char *provider = gemini_str(json_object_get(part, "meta"), "provider");
	return provider != NULL && strcmp(provider, "gemini") == 0;
}

/* A text part ({"text"}), or NULL for empty text without a signature. New ref. */
static json_t *
gemini_text_part(const json_t *part, const char *sig)
{
	const json_t *text = json_object_get(part, "text");
	size_t len = json_string_length(text);
	if (len == 0 && sig == NULL)
		return NULL;
	json_t *p = json_pack("{s:s%}", "text", len > 0 ? json_string_value(text) : "", len);
	if (sig != NULL)
		json_object_set_new(p, "thoughtSignature", json_string(sig));
	return p;
}

/* An image or file as inlineData, or a note when it has no data. New ref. */
static json_t *
gemini_media_part(const json_t *part)
{
	const char *mime = gemini_str(part, "mime");
	const char *data = gemini_str(part, "data");
	if (mime == NULL || mime[0] == '\0')
		mime = "application/octet-stream";
	if (data == NULL || data[0] == '\0') {
		const char *name = gemini_str(part, "name");
		char *s = kit_printf("[%s%s%s (%s) was empty]", gemini_str(part, "type"),
					name != NULL ? " " : "", name != NULL ? name : "", mime);
		json_t *p = json_pack("{s:s}", "text", s);
		free(s);
		return p;
	}
	return json_pack("{s:{s:s,s:s}}", "inlineData", "mimeType", mime, "data", data);
}

/* The parts of a user message. New ref. */
static json_t *
gemini_user_parts(const json_t *parts)
{
	json_t *out = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = gemini_str(part, "type");
		json_t *p = NULL;
		if (type == NULL)
			continue;
		if (strcmp(type, "text") == 0)
			p = gemini_text_part(part, NULL);
		else if (strcmp(type, "image") == 0 || strcmp(type, "file") == 0)
			p = gemini_media_part(part);
		if (p != NULL)
			json_array_append_new(out, p);
	}
	return out;
}

/*
 * The parts of an assistant message. Reasoning goes back only when it is ours (as a
 * thought part, with its signature); other vendors' reasoning is dropped. The
 * tool calls of the message are appended to calls (borrowed parts), in order.
 * New ref.
 */
static json_t *
gemini_model_parts(const json_t *parts, json_t *calls)
{
	json_t *out = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = gemini_str(part, "type");
		const char *sig = gemini_meta_sig(part);
		json_t *p = NULL;
		if (type == NULL)
			continue;
		if (strcmp(type, "text") == 0) {
			p = gemini_text_part(part, sig);
		} else if (strcmp(type, "reasoning") == 0) {
			if (gemini_is_own(part)) {
				p = gemini_text_part(part, sig);
				if (p != NULL)
					json_object_set_new(p, "thought", json_true());
			}
		} else if (strcmp(type, "tool_call") == 0) {
			const char *name = gemini_str(part, "name");
			const json_t *input = json_object_get(part, "input");
			p = json_pack("{s:{s:s,s:o}}", "functionCall", "name", name != NULL ? name : "",
				      "args", json_is_object(input) ? json_deep_copy(input) :
				      json_object());
			if (sig != NULL)
				json_object_set_new(p, "thoughtSignature", json_string(sig));
			json_array_append(calls, part);
		}
		if (p != NULL)
			json_array_append_new(out, p);
	}
	return out;
}

/* What a tool returned, as text: a string, or the text parts of an array. New ref. */
static json_t *
gemini_result_text(const json_t *content)
{
	if (json_is_string(content))
		return json_copy((json_t *)content);
	struct kit_buf b = { 0 };
	size_t i;
	json_t *part;
	json_array_foreach(content, i, part) {
		const json_t *t = json_object_get(part, "text");
		if (!json_is_string(t))
			continue;
		if (b.len > 0)
			kit_buf_add(&b, "\n", 1, SIZE_MAX / 2);
		kit_buf_add(&b, json_string_value(t), json_string_length(t), SIZE_MAX / 2);
	}
	json_t *s = json_stringn(b.data != NULL ? b.data : "", b.len);
	kit_buf_free(&b);
	return s != NULL ? s : json_string("");
}

/* The tool_result of a tool message (or NULL) with this id; borrowed. */
static const json_t *
gemini_find_result(const json_t *tool_msg, const char *id)
{
	size_t i;
	json_t *part;
	if (id == NULL)
		return NULL;
	json_array_foreach(json_object_get(tool_msg, "parts"), i, part) {
		const char *type = gemini_str(part, "type");
		const char *rid = gemini_str(part, "id");
		if (type != NULL && strcmp(type, "tool_result") == 0 && rid != NULL &&
		    strcmp(rid, id) == 0)
			return part;
	}
	return NULL;
}

/*
 * The functionResponse parts answering calls (an array of tool_call parts), in the
 * calls' order and under their names: the API matches them by name and order.
 * tool_msg (or NULL) holds the results, found by id. New ref.
 */
static json_t *
gemini_response_parts(const json_t *calls, const json_t *tool_msg)
{
	json_t *out = json_array();
	size_t i;
	json_t *call;
	json_array_foreach(calls, i, call) {
		const char *name = gemini_str(call, "name");
		const json_t *res = gemini_find_result(tool_msg, gemini_str(call, "id"));
		json_t *response;
		if (res == NULL)
			response = json_pack("{s:s}", "error", "no result: the call did not run");
		else
			response = json_pack("{s:o}", json_is_true(json_object_get(res, "is_error")) ?
					     "error" : "output",
					     gemini_result_text(json_object_get(res, "content")));
		json_array_append_new(out, json_pack("{s:{s:s,s:o}}", "functionResponse", "name",
						     name != NULL ? name : "", "response", response));
	}
	return out;
}

/* Results of a tool message that no call of the previous message asked for: kept
 * as text notes, so nothing the model should see is lost. New ref. */
static json_t *
gemini_orphan_results(const json_t *tool_msg, const json_t *calls)
{
	json_t *out = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(json_object_get(tool_msg, "parts"), i, part) {
		const char *type = gemini_str(part, "type");
		const char *id = gemini_str(part, "id");
		if (type == NULL || strcmp(type, "tool_result") != 0)
			continue;
		int matched = 0;
		size_t j;
		json_t *call;
		json_array_foreach(calls, j, call) {
			const char *cid = gemini_str(call, "id");
			if (id != NULL && cid != NULL && strcmp(id, cid) == 0)
				matched = 1;
		}
		if (matched)
			continue;
		const char *name = gemini_str(part, "name");
		json_t *text = gemini_result_text(json_object_get(part, "content"));
		char *s = kit_printf("[result of tool %s (call %s)]\n%s", name ? name : "?",
					id ? id : "?", json_string_value(text));
		json_array_append_new(out, json_pack("{s:s}", "text", s));
		free(s);
		json_decref(text);
	}
	return out;
}

/* Append parts (stolen) to contents as a `role` turn, merged into the last turn
 * when it has the same role. */
static void
gemini_append(json_t *contents, const char *role, json_t *parts)
{
	if (json_array_size(parts) == 0) {
		json_decref(parts);
		return;
	}
	size_t n = json_array_size(contents);
	json_t *last = n > 0 ? json_array_get(contents, n - 1) : NULL;
	const char *lrole = gemini_str(last, "role");
	if (lrole != NULL && strcmp(lrole, role) == 0) {
		json_array_extend(json_object_get(last, "parts"), parts);
		json_decref(parts);
		return;
	}
	json_array_append_new(contents, json_pack("{s:s,s:o}", "role", role, "parts", parts));
}

/* The model id as the URL wants it: without a "models/" prefix. Borrowed. */
static const char *
gemini_model_id(const char *model)
{
	return strncmp(model, "models/", 7) == 0 ? model + 7 : model;
}

/* The request body for a neutral request. New ref, or NULL with *why (malloc'd). */
static json_t *
gemini_build(const struct gemini *g, const json_t *req, char **why)
{
	const json_t *messages = json_object_get(req, "messages");
	if (!json_is_object(req) || !json_is_array(messages)) {
		*why = kit_strdup("the request has no \"messages\" array");
		return NULL;
	}
	json_t *body = json_object();
	const json_t *system = json_object_get(req, "system");
	if (json_is_string(system) && json_string_length(system) > 0)
		json_object_set_new(body, "systemInstruction",
				    json_pack("{s:[{s:O}]}", "parts", "text", system));

	json_t *contents = json_array();
	size_t n = json_array_size(messages);
	for (size_t i = 0; i < n; i++) {
		const json_t *msg = json_array_get(messages, i);
		const char *role = gemini_str(msg, "role");
		const json_t *parts = json_object_get(msg, "parts");
		if (role == NULL)
			continue;
		if (strcmp(role, "user") == 0) {
			gemini_append(contents, "user", gemini_user_parts(parts));
		} else if (strcmp(role, "assistant") == 0) {
			json_t *calls = json_array();
			gemini_append(contents, "model", gemini_model_parts(parts, calls));
			if (json_array_size(calls) > 0) {
				/* Every call is answered in the next (user) turn, ours or not. */
				const json_t *next = json_array_get(messages, i + 1);
				const char *nrole = gemini_str(next, "role");
				const json_t *tool_msg = nrole != NULL && strcmp(nrole, "tool") == 0 ?
					next : NULL;
				gemini_append(contents, "user", gemini_response_parts(calls, tool_msg));
				if (tool_msg != NULL) {
					gemini_append(contents, "user",
						      gemini_orphan_results(tool_msg, calls));
					i++;
				}
			}
			json_decref(calls);
		} else if (strcmp(role, "tool") == 0) {
			/* Not after an assistant message with calls: nothing to answer. */
			json_t *none = json_array();
			gemini_append(contents, "user", gemini_orphan_results(msg, none));
			json_decref(none);
		}
	}
	json_object_set_new(body, "contents", contents);

	const json_t *tools = json_object_get(req, "tools");
	if (json_array_size(tools) > 0) {
		json_t *decls = json_array();
		size_t i;
		json_t *tool;
		json_array_foreach(tools, i, tool) {
			const char *name = gemini_str(tool, "name");
			if (name == NULL)
				continue;
			json_t *d = json_pack("{s:s}", "name", name);
			const json_t *desc = json_object_get(tool, "description");
			if (json_is_string(desc) && json_string_length(desc) > 0)
				json_object_set(d, "description", (json_t *)desc);
			const json_t *schema = json_object_get(tool, "input_schema");
			json_object_set_new(d, "parametersJsonSchema", json_is_object(schema) ?
					    json_deep_copy(schema) : json_pack("{s:s}", "type", "object"));
			json_array_append_new(decls, d);
		}
		if (json_array_size(decls) > 0)
			json_object_set_new(body, "tools",
					    json_pack("[{s:o}]", "functionDeclarations", decls));
		else
			json_decref(decls);
	}

	json_t *gen = json_object();
	json_int_t max_tokens = json_integer_value(json_object_get(req, "max_tokens"));
	if (max_tokens <= 0)
		max_tokens = g->max_tokens;
	if (max_tokens > 0)
		json_object_set_new(gen, "maxOutputTokens", json_integer(max_tokens));
	json_t *thinking = json_object();
	if (g->include_thoughts)
		json_object_set_new(thinking, "includeThoughts", json_true());
	if (g->thinking_budget >= 0)
		json_object_set_new(thinking, "thinkingBudget", json_integer(g->thinking_budget));
	if (json_object_size(thinking) > 0)
		json_object_set_new(gen, "thinkingConfig", thinking);
	else
		json_decref(thinking);
	if (json_object_size(gen) > 0)
		json_object_set_new(body, "generationConfig", gen);
	else
		json_decref(gen);
	return body;
}

/* ------------------------------------------------------------ streaming -- */

enum gemini_part {
	GEMINI_PART_NONE,
	GEMINI_PART_TEXT,
	GEMINI_PART_THOUGHT,
};

struct hearth_provider_call {
	struct gemini *g;
	struct hearth_provider_call *next;
	struct hearth_http *http;             /* NULL once on_done ran or after cancel */
	const struct hearth_stream_sink *sink;
	void *arg;
	struct hearth_sse *sse;
	struct gemini_reply reply;
	size_t n_events;
	unsigned serial;                      /* the module's stream number */
	int line_start;                       /* the next body byte starts a line */
	int tail;                             /* a JSON body took over from the events */

	enum gemini_part part;                /* the text or thought part being streamed */
	char *sig;                            /* owned: its thoughtSignature, or NULL */
	char *response_id;                    /* owned: the reply's responseId, or NULL */
	unsigned n_calls;                     /* function calls so far */

	struct hearth_usage usage;
	int usage_seen;
	enum hearth_finish finish;
	int finished;                         /* a finishReason (or blockReason) came */
	int failed;                           /* err says how the call ends */
	struct kit_err err;
	int busy;                             /* inside the SSE parser */
	int cancelled;                        /* cancel() came: no sink call from now on */
};

static void
gemini_call_free(struct hearth_provider_call *c)
{
	if (c->sse != NULL)
		c->g->host->sse_free(c->sse);
	gemini_reply_free(&c->reply);
	kit_err_free(&c->err);
	free(c->sig);
	free(c->response_id);
	free(c);
}

static void
gemini_call_unlink(struct hearth_provider_call *c)
{
	for (struct hearth_provider_call **pp = &c->g->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

/* End the stream with an error (the first one wins). Returns 1, to stop the parser. */
static int
gemini_fail(struct hearth_provider_call *c, uint32_t type, int retryable, const char *vendor,
	    char *message /* stolen */)
{
	if (c->failed) {
		free(message);
		return 1;
	}
	kit_err_set(&c->err, type, retryable, vendor, message);
	c->err.http_status = c->reply.status;
	c->failed = 1;
	return 1;
}

static int gemini_protocol(struct hearth_provider_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A malformed stream: the same request would likely get the same reply, so it is
 * not retried. */
static int
gemini_protocol(struct hearth_provider_call *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		kit_oom();
	return gemini_fail(c, HEARTH_PERR_PROTOCOL, 0, NULL, s);
}

/* Close the open text or thought part, attaching its signature. */
static void
gemini_part_close(struct hearth_provider_call *c)
{
	if (c->part == GEMINI_PART_NONE)
		return;
	json_t *meta = NULL;
	if (c->sig != NULL)
		meta = json_pack("{s:s,s:s}", "provider", "gemini", "thoughtSignature", c->sig);
	if (!c->cancelled)
		c->sink->part_end(c->arg, meta);
	json_decref(meta);
	free(c->sig);
	c->sig = NULL;
	c->part = GEMINI_PART_NONE;
}

/* A delta of a text or thought part; an empty one only opens the part. */
static void
gemini_delta(struct hearth_provider_call *c, enum gemini_part kind, const char *s, size_t n)
{
	if (c->part != kind)
		gemini_part_close(c);
	if (n == 0 && c->part == kind)
		return;
	c->part = kind;
	if (c->cancelled)
		return;
	if (kind == GEMINI_PART_THOUGHT)
		c->sink->reasoning(c->arg, s, n);
	else
		c->sink->text(c->arg, s, n);
}

/* The last chunk's usage wins: Gemini repeats (and corrects) it on every chunk. */
static void
gemini_take_usage(struct hearth_provider_call *c, const json_t *u)
{
	if (!json_is_object(u))
		return;
	json_int_t prompt = json_integer_value(json_object_get(u, "promptTokenCount"));
	json_int_t cand = json_integer_value(json_object_get(u, "candidatesTokenCount"));
	json_int_t thoughts = json_integer_value(json_object_get(u, "thoughtsTokenCount"));
	json_int_t cached = json_integer_value(json_object_get(u, "cachedContentTokenCount"));
	json_int_t tool = json_integer_value(json_object_get(u, "toolUsePromptTokenCount"));
	if (tool > 0 && prompt <= INT64_MAX - tool)
		prompt += tool;   /* prompt-side too: what tools fed the model */
	if (prompt < 0) prompt = 0;
	if (cand < 0) cand = 0;
	if (thoughts < 0) thoughts = 0;
	if (cached < 0 || cached > prompt) cached = cached < 0 ? 0 : prompt;
	c->usage.input_tokens = (uint64_t)(prompt - cached);
	c->usage.output_tokens = (uint64_t)cand + (uint64_t)thoughts;
	c->usage.reasoning_tokens = (uint64_t)thoughts;
	c->usage.cache_read_tokens = (uint64_t)cached;
	c->usage.cache_write_tokens = 0;
	c->usage_seen = 1;
}

/* A functionCall part: a complete call (the Gemini API never splits one). */
static void
gemini_on_call(struct hearth_provider_call *c, const json_t *fc, const char *sig)
{
	const char *name = gemini_str(fc, "name");
	const json_t *args = json_object_get(fc, "args");
	if (name == NULL || name[0] == '\0') {
		gemini_protocol(c, "event %zu: a functionCall has no name", c->n_events);
		return;
	}
	if (args != NULL && !json_is_object(args)) {
		gemini_protocol(c, "event %zu: the args of functionCall %s are not an object",
				c->n_events, name);
		return;
	}
	gemini_part_close(c);
	c->n_calls++;
	const char *vid = gemini_str(fc, "id");
	char *id;
	if (vid != NULL && vid[0] != '\0')
		id = kit_strdup(vid);
	else if (c->response_id != NULL)
		id = kit_printf("call_%s_%u", c->response_id, c->n_calls);
	else
		id = kit_printf("call_%u_%u", c->serial, c->n_calls);
	json_t *meta = sig != NULL ?
		json_pack("{s:s,s:s}", "provider", "gemini", "thoughtSignature", sig) : NULL;
	json_t *input = args != NULL ? json_incref((json_t *)args) : json_object();
	if (!c->cancelled)
		c->sink->tool_call(c->arg, id, name, input, meta);
	json_decref(input);
	json_decref(meta);
	free(id);
}

static void
gemini_on_part(struct hearth_provider_call *c, const json_t *part)
{
	const json_t *sigv = json_object_get(part, "thoughtSignature");
	const char *sig = json_string_length(sigv) > 0 ? json_string_value(sigv) : NULL;
	const json_t *fc = json_object_get(part, "functionCall");
	const json_t *text = json_object_get(part, "text");
	if (!json_is_object(part)) {
		gemini_protocol(c, "event %zu: a part is not an object", c->n_events);
	} else if (fc != NULL) {
		if (!json_is_object(fc))
			gemini_protocol(c, "event %zu: a functionCall is not an object", c->n_events);
		else
			gemini_on_call(c, fc, sig);
	} else if (json_is_string(text)) {
		enum gemini_part kind = json_is_true(json_object_get(part, "thought")) ?
			GEMINI_PART_THOUGHT : GEMINI_PART_TEXT;
		if (json_string_length(text) > 0 || sig != NULL)
			gemini_delta(c, kind, json_string_value(text), json_string_length(text));
		if (sig != NULL) {
			free(c->sig);
			c->sig = kit_strdup(sig);
		}
	} else if (text != NULL) {
		gemini_protocol(c, "event %zu: a part's text is not a string", c->n_events);
	} else if (sig != NULL && c->part != GEMINI_PART_NONE) {
		/* a signature on its own: it belongs to the part it follows */
		free(c->sig);
		c->sig = kit_strdup(sig);
	}
	/* inlineData, executableCode and newer kinds: nothing we keep */
}

/* Apply a finishReason. Reasons that mean the model botched a call end the stream
 * with a retryable error; blocked content is a refusal. */
static void
gemini_on_finish(struct hearth_provider_call *c, const char *reason, const char *fmsg)
{
	static const char *const refusals[] = {
		"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
	};
	static const char *const botched[] = {
		"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
	};
	gemini_part_close(c);
	c->finished = 1;
	c->finish = c->n_calls > 0 ? HEARTH_FINISH_TOOL_USE : HEARTH_FINISH_END_TURN;
	if (strcmp(reason, "MAX_TOKENS") == 0) {
		c->finish = HEARTH_FINISH_MAX_TOKENS;
		return;
	}
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		if (strcmp(reason, refusals[i]) == 0) {
			c->finish = HEARTH_FINISH_REFUSAL;
			return;
		}
	}
	for (size_t i = 0; i < sizeof botched / sizeof botched[0]; i++) {
		if (strcmp(reason, botched[i]) == 0) {
			gemini_fail(c, HEARTH_PERR_SERVER, 1, reason, fmsg != NULL ?
				    kit_printf("%s: %s", reason, fmsg) :
				    kit_printf("the model ended with %s", reason));
			return;
		}
	}
	/* STOP, OTHER, FINISH_REASON_UNSPECIFIED and reasons newer than this module */
}

static void
gemini_on_chunk(struct hearth_provider_call *c, const json_t *ev)
{
	const json_t *error = json_object_get(ev, "error");
	if (error != NULL) {
		if (!json_is_object(error)) {
			gemini_protocol(c, "event %zu: its \"error\" is not an object", c->n_events);
			return;
		}
		struct kit_err e = { 0 };
		gemini_status_error(error, 200, &e);
		if (!c->failed) {
			kit_err_free(&c->err);
			c->err = e;
			c->failed = 1;
		} else {
			kit_err_free(&e);
		}
		return;
	}
	const char *rid = gemini_str(ev, "responseId");
	if (rid != NULL && rid[0] != '\0' && c->response_id == NULL)
		c->response_id = kit_strdup(rid);
	gemini_take_usage(c, json_object_get(ev, "usageMetadata"));

	const json_t *cands = json_object_get(ev, "candidates");
	if (cands != NULL && !json_is_array(cands)) {
		gemini_protocol(c, "event %zu: \"candidates\" is not an array", c->n_events);
		return;
	}
	const json_t *cand = json_array_get(cands, 0);
	if (cand == NULL) {
		const char *block = gemini_str(json_object_get(ev, "promptFeedback"), "blockReason");
		if (block != NULL) {
			gemini_part_close(c);
			c->finished = 1;
			c->finish = HEARTH_FINISH_REFUSAL;
		}
		return;
	}
	if (!json_is_object(cand)) {
		gemini_protocol(c, "event %zu: a candidate is not an object", c->n_events);
		return;
	}
	const json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
	if (parts != NULL && !json_is_array(parts)) {
		gemini_protocol(c, "event %zu: \"parts\" is not an array", c->n_events);
		return;
	}
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		gemini_on_part(c, part);
		if (c->failed || c->cancelled)
			return;
	}
	const json_t *fr = json_object_get(cand, "finishReason");
	if (fr != NULL && !json_is_string(fr)) {
		gemini_protocol(c, "event %zu: \"finishReason\" is not a string", c->n_events);
		return;
	}
	if (fr != NULL)
		gemini_on_finish(c, json_string_value(fr), gemini_str(cand, "finishMessage"));
}

static int
gemini_event_cb(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	struct hearth_provider_call *c = arg;
	c->n_events++;
	if (c->failed || c->cancelled)
		return 1;
	if (strcmp(event, "message") != 0)
		return 0;   /* Gemini names no events; a named one is not for us */
	json_error_t je;
	json_t *ev = json_loadb(data, len, JSON_ALLOW_NUL, &je);
	if (!json_is_object(ev)) {
		if (ev == NULL)
			gemini_protocol(c, "event %zu: its data is not JSON: %s at byte %d",
					c->n_events, je.text, je.position);
		else
			gemini_protocol(c, "event %zu: its data is not a JSON object", c->n_events);
		json_decref(ev);
		return 1;
	}
	gemini_on_chunk(c, ev);
	json_decref(ev);
	return c->failed || c->cancelled;
}

static int
gemini_response_cb(void *arg, long status, const char *const *names,
		   const char *const *values, size_t n)
{
	struct hearth_provider_call *c = arg;
	gemini_reply_free(&c->reply);
	c->reply.status = status;
	c->line_start = 1;
	c->tail = 0;
	if (status == 200 && c->sse == NULL)
		c->sse = c->g->host->sse_new(c->g->host, GEMINI_EVENT_MAX, gemini_event_cb, c);
	return 0;
}

/* Feed n bytes to the SSE parser. 0 to go on, non-zero to stop the transfer. */
static int
gemini_feed(struct hearth_provider_call *c, const char *data, size_t len)
{
	const struct hearth_host *host = c->g->host;
	if (len == 0)
		return 0;
	c->busy = 1;
	int rc = host->sse_feed(c->sse, data, len);
	c->busy = 0;
	if (c->cancelled)
		return -1;
	if (rc != 0 && !c->failed) {
		if (rc == HEARTH_ELIMIT)
			gemini_protocol(c, "an event is longer than %u bytes (%s)", GEMINI_EVENT_MAX,
					host->sse_error(c->sse));
		else
			gemini_protocol(c, "malformed event stream: %s", host->sse_error(c->sse));
	}
	return c->failed;
}

static int
gemini_data_cb(void *arg, const char *data, size_t len)
{
	struct hearth_provider_call *c = arg;
	if (c->failed)
		return 1;
	if (c->reply.status != 200 || c->sse == NULL || c->tail) {
		gemini_reply_body(&c->reply, data, len);
		return 0;
	}
	/* A line that opens a JSON text is no event-stream field: the body (or what
	 * is left of it) is a JSON error. */
	size_t i;
	for (i = 0; i < len; i++) {
		if (c->line_start && (data[i] == '{' || data[i] == '['))
			break;
		c->line_start = data[i] == '\n' || data[i] == '\r';
	}
	int rc = gemini_feed(c, data, i);
	if (rc < 0) {
		/* cancel() came from a sink callback and stopped the request already */
		gemini_call_free(c);
		return 1;
	}
	if (rc == 0 && i < len) {
		c->tail = 1;
		gemini_reply_body(&c->reply, data + i, len - i);
	}
	return c->failed;
}

static void
gemini_done_cb(void *arg, int error, long status, const char *message)
{
	struct hearth_provider_call *c = arg;
	struct gemini *g = c->g;
	c->http = NULL;
	if (c->reply.status == 0)
		c->reply.status = status;
	if (!c->failed) {
		if (error != 0) {
			gemini_transfer_error(error, message, &c->err);
			c->failed = 1;
		} else if (c->reply.status != 200 || c->sse == NULL || c->tail) {
			gemini_body_error(&c->reply, c->reply.status, &c->err);
			c->failed = 1;
		} else if (g->host->sse_finish(c->sse) != 0) {
			/* Cut short: a retry is likely to get the whole reply. */
			gemini_fail(c, HEARTH_PERR_PROTOCOL, 1, NULL,
				    kit_strdup("the stream ended inside an event"));
		} else if (!c->finished) {
			gemini_fail(c, HEARTH_PERR_PROTOCOL, 1, NULL,
				    kit_strdup("the stream ended without a finishReason"));
		}
	}
	gemini_call_unlink(c);
	/* What came is kept: the open part is closed, the last usage reported. */
	gemini_part_close(c);
	if (c->usage_seen)
		c->sink->usage(c->arg, &c->usage);
	if (c->failed) {
		struct hearth_provider_error e = kit_err_view(&c->err);
		c->sink->done(c->arg, HEARTH_FINISH_ERROR, &e);
	} else {
		c->sink->done(c->arg, c->finish, NULL);
	}
	gemini_call_free(c);
}

static struct hearth_provider_call *
gemini_stream(void *state, const json_t *request, const struct hearth_stream_sink *sink,
	      void *arg, int *error)
{
	struct gemini *g = state;
	char *why = NULL;
	json_t *body = gemini_build(g, request, &why);
	if (body == NULL) {
		g->host->log(g->host, HEARTH_LOG_ERROR, "request refused: %s", why);
		free(why);
		*error = HEARTH_EINVAL;
		return NULL;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		kit_oom();
	const char *model = gemini_str(request, "model");
	if (model == NULL || model[0] == '\0')
		model = g->model;
	char *emodel = gemini_urlencode(gemini_model_id(model));

	struct hearth_provider_call *c = calloc(1, sizeof *c);
	if (c == NULL)
		kit_oom();
	c->g = g;
	c->sink = sink;
	c->arg = arg;
	c->serial = ++g->serial;
	char *url = kit_printf("%s/v1beta/models/%s:streamGenerateContent?alt=sse",
				  g->base_url, emodel);
	struct gemini_headers h;
	gemini_headers_init(&h, g, 1);
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "POST",
		.url = url,
		.headers = h.lines,
		.body = text,
		.body_len = strlen(text),
		.idle_timeout_ms = (uint32_t)g->timeout_ms,
		.on_response = gemini_response_cb,
		.on_data = gemini_data_cb,
		.on_done = gemini_done_cb,
		.arg = c,
	};
	c->http = g->host->http_start(g->host, &req);
	size_t body_len = req.body_len;
	gemini_headers_free(&h);
	free(url);
	free(text);
	if (c->http == NULL) {
		free(emodel);
		free(c);
		*error = HEARTH_EIO;
		return NULL;
	}
	g->host->log(g->host, HEARTH_LOG_DEBUG, "POST models/%s:streamGenerateContent: %zu bytes",
		     emodel, body_len);
	free(emodel);
	c->next = g->calls;
	g->calls = c;
	return c;
}

static void
gemini_cancel(void *state, struct hearth_provider_call *c)
{
	struct gemini *g = state;
	if (c == NULL || c->cancelled)
		return;
	gemini_call_unlink(c);
	c->cancelled = 1;
	if (c->http != NULL) {
		g->host->http_cancel(c->http);
		c->http = NULL;
	}
	if (!c->busy)
		gemini_call_free(c);
}

/* -------------------------------------------------------------- models -- */

struct gemini_list {
	struct gemini *g;
	struct gemini_list *next;
	struct hearth_http *http;
	void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err);
	void *arg;
	struct gemini_reply reply;
	json_t *models;     /* owned: what the pages so far gave */
	char *page_token;   /* owned: where the next page starts */
	int pages;
};

static void
gemini_list_free(struct gemini_list *l)
{
	gemini_reply_free(&l->reply);
	json_decref(l->models);
	free(l->page_token);
	free(l);
}

static void
gemini_list_unlink(struct gemini_list *l)
{
	for (struct gemini_list **pp = &l->g->lists; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			return;
		}
	}
}

static int gemini_list_page(struct gemini_list *l);

static int
gemini_list_response_cb(void *arg, long status, const char *const *names,
			const char *const *values, size_t n)
{
	struct gemini_list *l = arg;
	gemini_reply_free(&l->reply);
	l->reply.status = status;
	return 0;
}

static int
gemini_list_data_cb(void *arg, const char *data, size_t len)
{
	struct gemini_list *l = arg;
	gemini_reply_body(&l->reply, data, len);
	return 0;
}

/* 1 when a model can stream content: embedding and other models cannot. A model
 * that does not say is kept. */
static int
gemini_can_generate(const json_t *m)
{
	const json_t *methods = json_object_get(m, "supportedGenerationMethods");
	if (!json_is_array(methods))
		return 1;
	size_t i;
	json_t *v;
	json_array_foreach(methods, i, v) {
		const char *s = json_string_value(v);
		if (s != NULL && (strcmp(s, "generateContent") == 0 ||
				  strcmp(s, "streamGenerateContent") == 0))
			return 1;
	}
	return 0;
}

/* Add one page's models; 0, or -1 with e set. Sets l->page_token when more follow. */
static int
gemini_list_take(struct gemini_list *l, struct kit_err *e)
{
	json_error_t je;
	json_t *page = json_loadb(l->reply.body.data != NULL ? l->reply.body.data : "",
				  l->reply.body.len, 0, &je);
	const json_t *models = json_object_get(page, "models");
	if (!json_is_object(page) || (models != NULL && !json_is_array(models))) {
		kit_err_set(e, HEARTH_PERR_PROTOCOL, 0, NULL, page == NULL ?
			kit_printf("model list page %d is not JSON: %s at byte %d", l->pages,
				      je.text, je.position) :
			kit_printf("model list page %d has no \"models\" array", l->pages));
		json_decref(page);
		return -1;
	}
	size_t i;
	json_t *m;
	json_array_foreach(models, i, m) {
		const char *name = gemini_str(m, "name");
		if (name == NULL || name[0] == '\0' || !gemini_can_generate(m))
			continue;
		const char *id = gemini_model_id(name);
		const char *display = gemini_str(m, "displayName");
		json_t *entry = json_pack("{s:s,s:s}", "id", id, "name",
					  display != NULL && display[0] != '\0' ? display : id);
		json_int_t limit = json_integer_value(json_object_get(m, "inputTokenLimit"));
		if (limit > 0)
			json_object_set_new(entry, "context_window", json_integer(limit));
		json_array_append_new(l->models, entry);
	}
	free(l->page_token);
	l->page_token = NULL;
	const char *next = gemini_str(page, "nextPageToken");
	if (next != NULL && next[0] != '\0')
		l->page_token = kit_strdup(next);
	json_decref(page);
	return 0;
}

static void
gemini_list_done_cb(void *arg, int error, long status, const char *message)
{
	struct gemini_list *l = arg;
	struct kit_err e = { 0 };
	l->http = NULL;
	if (l->reply.status == 0)
		l->reply.status = status;
	if (error != 0) {
		gemini_transfer_error(error, message, &e);
	} else if (l->reply.status != 200) {
		gemini_body_error(&l->reply, l->reply.status, &e);
	} else if (l->reply.body_over) {
		kit_err_set(&e, HEARTH_PERR_PROTOCOL, 0, NULL, kit_printf(
			"model list page %d is over %u bytes", l->pages, GEMINI_BODY_MAX));
	} else if (gemini_list_take(l, &e) == 0 && l->page_token != NULL) {
		if (l->pages >= GEMINI_MODEL_PAGES_MAX) {
			kit_err_set(&e, HEARTH_PERR_PROTOCOL, 0, NULL, kit_printf(
				"the model list goes on past %d pages", GEMINI_MODEL_PAGES_MAX));
		} else if (gemini_list_page(l) == 0) {
			return;
		} else {
			kit_err_set(&e, HEARTH_PERR_NETWORK, 0, NULL, kit_strdup(
				"could not request the next page of the model list"));
		}
	}
	gemini_list_unlink(l);
	if (e.message != NULL && e.http_status == 0 && error == 0)
		e.http_status = l->reply.status;   /* a page the server sent but we cannot use */
	if (e.message != NULL) {
		struct hearth_provider_error view = kit_err_view(&e);
		l->done(l->arg, NULL, &view);
	} else {
		json_t *models = l->models;
		l->models = NULL;
		l->done(l->arg, models, NULL);
	}
	kit_err_free(&e);
	gemini_list_free(l);
}

/* Request the next page. 0, or HEARTH_EIO when the host refused the request. */
static int
gemini_list_page(struct gemini_list *l)
{
	struct gemini *g = l->g;
	char *url;
	if (l->page_token != NULL) {
		char *tok = gemini_urlencode(l->page_token);
		url = kit_printf("%s/v1beta/models?pageSize=%d&pageToken=%s", g->base_url,
				    GEMINI_MODEL_PAGE_SIZE, tok);
		free(tok);
	} else {
		url = kit_printf("%s/v1beta/models?pageSize=%d", g->base_url,
				    GEMINI_MODEL_PAGE_SIZE);
	}
	gemini_reply_free(&l->reply);
	struct gemini_headers h;
	gemini_headers_init(&h, g, 0);
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "GET",
		.url = url,
		.headers = h.lines,
		.idle_timeout_ms = (uint32_t)g->timeout_ms,
		.on_response = gemini_list_response_cb,
		.on_data = gemini_list_data_cb,
		.on_done = gemini_list_done_cb,
		.arg = l,
	};
	l->http = g->host->http_start(g->host, &req);
	gemini_headers_free(&h);
	free(url);
	if (l->http == NULL)
		return HEARTH_EIO;
	l->pages++;
	return 0;
}

static int
gemini_list_models(void *state,
		   void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err),
		   void *arg)
{
	struct gemini *g = state;
	struct gemini_list *l = calloc(1, sizeof *l);
	if (l == NULL)
		kit_oom();
	l->g = g;
	l->done = done;
	l->arg = arg;
	l->models = json_array();
	int rc = gemini_list_page(l);
	if (rc != 0) {
		gemini_list_free(l);
		return rc;
	}
	l->next = g->lists;
	g->lists = l;
	return 0;
}

/* ------------------------------------------------------------- lifetime -- */

static const char *
gemini_default_model(void *state)
{
	struct gemini *g = state;
	return g->model;
}

static int
gemini_has_credentials(void *state)
{
	struct gemini *g = state;
	return g->api_key != NULL;
}

static void
gemini_free(struct gemini *g)
{
	if (g->api_key != NULL) {
		for (volatile char *p = g->api_key; *p != '\0'; p++)
			*p = '\0';
		free(g->api_key);
	}
	free(g->base_url);
	free(g->model);
	free(g);
}

/* The key in variable `var`, blanks trimmed, malloc'd; NULL when unset, empty or
 * unusable. */
static char *
gemini_env_key(const struct hearth_host *host, const char *var)
{
	const char *v = getenv(var);
	if (v == NULL)
		return NULL;
	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
		v++;
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\n' ||
			 v[n - 1] == '\r'))
		n--;
	if (n == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch < 0x20 || ch == 0x7f) {
			host->log(host, HEARTH_LOG_ERROR, "%s holds a control character: not used",
				  var);
			return NULL;
		}
	}
	char *key = strndup(v, n);
	if (key == NULL)
		kit_oom();
	return key;
}

static int
gemini_init(const struct hearth_host *host, const json_t *config, void **state)
{
	static const char *const keys[] = {
		"model", "max_tokens", "thinking_budget", "include_thoughts", "timeout_ms",
		"base_url",
	};
	struct gemini *g = calloc(1, sizeof *g);
	if (g == NULL)
		return HEARTH_ENOMEM;
	g->host = host;

	kit_check_keys(host, config, keys, sizeof keys / sizeof keys[0]);

	const char *env_url = getenv("GEMINI_BASE_URL");
	const char *url = env_url != NULL && env_url[0] != '\0' ? env_url :
		host->config_string(host, "base_url", GEMINI_DEFAULT_URL);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		/* Not quoted: a URL may carry credentials. */
		host->log(host, HEARTH_LOG_ERROR, "the base URL (%s) is not an http:// or https:// URL",
			  url == env_url ? "GEMINI_BASE_URL" : "base_url");
		gemini_free(g);
		return HEARTH_EINVAL;
	}
	g->base_url = kit_strdup(url);
	for (size_t n = strlen(g->base_url); n > 0 && g->base_url[n - 1] == '/'; n--)
		g->base_url[n - 1] = '\0';

	const char *model = host->config_string(host, "model", GEMINI_DEFAULT_MODEL);
	g->model = kit_strdup(gemini_model_id(model[0] != '\0' ? model : GEMINI_DEFAULT_MODEL));

	int rc = host->config_int(host, "max_tokens", 0, 0, 10000000, &g->max_tokens);
	if (rc == 0)
		rc = host->config_int(host, "thinking_budget", -1, -1, 10000000,
				      &g->thinking_budget);
	if (rc == 0)
		rc = host->config_bool(host, "include_thoughts", 1, &g->include_thoughts);
	if (rc == 0)
		rc = host->config_int(host, "timeout_ms", 0, 0, UINT32_MAX, &g->timeout_ms);
	if (rc != 0) {
		gemini_free(g);
		return rc;
	}
	g->api_key = gemini_env_key(host, "GEMINI_API_KEY");
	if (g->api_key == NULL)
		g->api_key = gemini_env_key(host, "GOOGLE_API_KEY");
	if (g->api_key == NULL)
		host->log(host, HEARTH_LOG_INFO, "neither GEMINI_API_KEY nor GOOGLE_API_KEY is set");
	*state = g;
	return 0;
}

static void
gemini_fini(void *state)
{
	struct gemini *g = state;
	/* The core cancels its calls first; whatever is left goes without a callback. */
	while (g->calls != NULL) {
		struct hearth_provider_call *c = g->calls;
		g->calls = c->next;
		g->host->log(g->host, HEARTH_LOG_WARN, "a stream was still running at shutdown");
		if (c->http != NULL)
			g->host->http_cancel(c->http);
		gemini_call_free(c);
	}
	while (g->lists != NULL) {
		struct gemini_list *l = g->lists;
		g->lists = l->next;
		if (l->http != NULL)
			g->host->http_cancel(l->http);
		gemini_list_free(l);
	}
	gemini_free(g);
}

static const struct hearth_provider gemini_vtable = {
	.struct_size = sizeof(struct hearth_provider),
	.stream = gemini_stream,
	.cancel = gemini_cancel,
	.list_models = gemini_list_models,
	.default_model = gemini_default_model,
	.has_credentials = gemini_has_credentials,
};

static const struct hearth_plugin gemini_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_PROVIDER, .name = "gemini", .version = "0.1.0",
	.description = "Google Gemini API", .init = gemini_init,
	.fini = gemini_fini, .provider = &gemini_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &gemini_plugin;
}
