/*
 * openai.c: the OpenAI provider module, for OpenAI and any server that speaks
 * its API (OpenRouter, Groq, llama.cpp, vLLM, ...): the Chat Completions API
 * (POST {base_url}/chat/completions, the default) or the Responses API
 * (POST {base_url}/responses), chosen by the section key `api`, both streamed.
 *
 * stream() turns the provider-neutral request (hearth/provider.h) into the
 * chosen API's body, reads the reply as Server-Sent Events through the host's
 * parser and feeds the sink: text and reasoning deltas, tool calls once their
 * arguments are complete, usage, and one done(). A stream must end with its
 * terminator (`data: [DONE]` for chat; response.completed, .incomplete or
 * .failed for responses): one that stops before is a retryable PROTOCOL error.
 * list_models() is GET {base_url}/models.
 *
 * Every outcome of a stream reaches the sink through the HTTP request's on_done
 * (as in anthropic.c): an event that ends the call records the error and aborts
 * the transfer, and on_done delivers it; cancel() stops the request, so on_done
 * never comes and nothing races with it.
 *
 * The API key comes at init from OPENAI_API_KEY, or from the variable the
 * `api_key_env` key names, and goes nowhere but the Authorization header.
 *
 * A module: it sees only <hearth/provider.h>, libc and jansson. Out of memory
 * aborts, as the core's xmalloc does.
 */
#define _GNU_SOURCE /* vasprintf, strptime, timegm, strcasecmp, strndup */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hearth/provider.h>

#include "kit.h"

#define OPENAI_DEFAULT_URL "https://api.openai.com/v1"
#define OPENAI_DEFAULT_MODEL "gpt-4.1"
#define OPENAI_DEFAULT_KEY_ENV "OPENAI_API_KEY"
#define OPENAI_BODY_MAX (4u * 1024 * 1024)      /* an error body or the model list */
#define OPENAI_EVENT_MAX (8u * 1024 * 1024)     /* one SSE event */
#define OPENAI_ARGS_MAX (16u * 1024 * 1024)     /* one call's arguments */
#define OPENAI_CALLS_MAX 128                    /* tool calls in one reply */
#define OPENAI_RETRY_AFTER_MAX_MS (24ull * 3600 * 1000)

/* ------------------------------------------------------------ helpers -- */

/* jansson getters that tolerate anything. Borrowed results. */
static const char *
openai_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* "" for NULL, so strcmp can take it. */
static const char *
openai_s(const char *s)
{
	return s != NULL ? s : "";
}

/* ------------------------------------------------------------- module -- */

enum openai_api {
	OPENAI_API_CHAT,
	OPENAI_API_RESPONSES,
};

struct openai_list;

struct openai {
	const struct hearth_host *host;
	enum openai_api api;
	char *api_key;                       /* owned; NULL when unset */
	char *key_env;                       /* owned: the variable the key came from */
	char *base_url;                      /* owned; no trailing '/' */
	char *model;                         /* owned */
	char *effort;                        /* owned: reasoning_effort, or NULL */
	long long max_tokens;                /* 0: not sent */
	long long timeout_ms;                /* idle timeout; 0: the host's default */
	struct hearth_provider_call *calls;  /* streams in flight */
	struct openai_list *lists;           /* model listings in flight */
};

/* What a response said before and besides its stream. */
struct openai_reply {
	long status;
	char *retry_after;      /* header values, owned, or NULL */
	char *retry_after_ms;
	char *reset_requests;   /* x-ratelimit-reset-requests */
	char *reset_tokens;     /* x-ratelimit-reset-tokens */
	char *should_retry;
	char *request_id;
	char *content_type;
	struct kit_buf body; /* a non-200 or non-stream body, or the model list */
	int body_over;          /* the body was longer than OPENAI_BODY_MAX */
};

static void
openai_reply_free(struct openai_reply *r)
{
	free(r->retry_after);
	free(r->retry_after_ms);
	free(r->reset_requests);
	free(r->reset_tokens);
	free(r->should_retry);
	free(r->request_id);
	free(r->content_type);
	kit_buf_free(&r->body);
	memset(r, 0, sizeof *r);
}

static void
openai_reply_headers(struct openai_reply *r, long status, const char *const *names,
		     const char *const *values, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} map[] = {
		{ "retry-after", offsetof(struct openai_reply, retry_after) },
		{ "retry-after-ms", offsetof(struct openai_reply, retry_after_ms) },
		{ "x-ratelimit-reset-requests", offsetof(struct openai_reply, reset_requests) },
		{ "x-ratelimit-reset-tokens", offsetof(struct openai_reply, reset_tokens) },
		{ "x-should-retry", offsetof(struct openai_reply, should_retry) },
		{ "x-request-id", offsetof(struct openai_reply, request_id) },
		{ "content-type", offsetof(struct openai_reply, content_type) },
	};
	openai_reply_free(r);
	r->status = status;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
			char **slot = (char **)((char *)r + map[k].off);
			if (strcmp(names[i], map[k].name) == 0 && *slot == NULL)
				*slot = kit_strdup(values[i]);
		}
	}
}

static void
openai_reply_body(struct openai_reply *r, const char *data, size_t len)
{
	if (r->body_over)
		return;
	if (kit_buf_add(&r->body, data, len, OPENAI_BODY_MAX) != 0) {
		size_t room = OPENAI_BODY_MAX - r->body.len;
		kit_buf_add(&r->body, data, room, OPENAI_BODY_MAX);
		r->body_over = 1;
	}
}

/*
 * A Go-style duration ("1s", "6m0s", "120ms", "1.5s", "2h3m") in ms, or -1 when
 * s is not one. The form of OpenAI's x-ratelimit-reset-* headers.
 */
static double
openai_duration_ms(const char *s)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {
		{ "ms", 1 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 }, { "ns", 1e-6 },
		{ "h", 3600e3 }, { "m", 60e3 }, { "s", 1e3 },
	};
	double total = 0;
	const char *p = s;
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		char *end;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -1;
		errno = 0;
		double v = strtod(p, &end);
		if (end == p || errno != 0 || !isfinite(v) || v < 0)
			return -1;
		p = end;
		size_t k = 0;
		while (k < sizeof units / sizeof units[0] &&
		       strncmp(p, units[k].unit, strlen(units[k].unit)) != 0)
			k++;
		if (k == sizeof units / sizeof units[0])
			return -1;
		total += v * units[k].ms;
		p += strlen(units[k].unit);
	}
	return total;
}

/*
 * How long the server asked us to wait, in ms: retry-after-ms, else retry-after
 * as seconds or an HTTP date, else (on a 429) the later of the
 * x-ratelimit-reset-* durations. 0 when it did not say; at most
 * OPENAI_RETRY_AFTER_MAX_MS.
 */
static uint64_t
openai_retry_after(const struct openai_reply *r)
{
	double ms = -1;
	char *end;
	if (r->retry_after_ms != NULL) {
		errno = 0;
		double v = strtod(r->retry_after_ms, &end);
		if (end != r->retry_after_ms && *end == '\0' && errno == 0 && isfinite(v) && v >= 0)
			ms = v;
	}
	if (ms < 0 && r->retry_after != NULL) {
		errno = 0;
		double v = strtod(r->retry_after, &end);
		if (end != r->retry_after && *end == '\0' && errno == 0 && isfinite(v) && v >= 0) {
			ms = v * 1000;
		} else {
			struct tm tm;
			memset(&tm, 0, sizeof tm);
			const char *rest = strptime(r->retry_after, "%a, %d %b %Y %H:%M:%S GMT", &tm);
			if (rest != NULL && *rest == '\0') {
				time_t when = timegm(&tm);
				time_t now = time(NULL);
				if (when != (time_t)-1 && when > now)
					ms = difftime(when, now) * 1000;
			}
		}
	}
	if (ms < 0 && r->status == 429) {
		double a = r->reset_requests != NULL ? openai_duration_ms(r->reset_requests) : -1;
		double b = r->reset_tokens != NULL ? openai_duration_ms(r->reset_tokens) : -1;
		ms = a > b ? a : b;
	}
	if (ms <= 0)
		return 0;
	if (ms >= (double)OPENAI_RETRY_AFTER_MAX_MS)
		return OPENAI_RETRY_AFTER_MAX_MS;
	uint64_t whole = (uint64_t)ms;
	return (double)whole < ms ? whole + 1 : whole;
}

/*
 * The error class of an OpenAI error code or type ("context_length_exceeded",
 * "server_error"), and whether a retry can help; fallback when neither is known.
 */
static uint32_t
openai_errtype(const char *code, const char *type, const char *message, uint32_t fallback,
	       int fallback_retry, int *retryable)
{
	static const struct {
		const char *name;
		uint32_t type;
		int retryable;
	} map[] = {
		{ "context_length_exceeded", HEARTH_PERR_CONTEXT, 0 },
		{ "string_above_max_length", HEARTH_PERR_CONTEXT, 0 },
		{ "insufficient_quota", HEARTH_PERR_RATE_LIMITED, 0 },
		{ "rate_limit_exceeded", HEARTH_PERR_RATE_LIMITED, 1 },
		{ "rate_limit_error", HEARTH_PERR_RATE_LIMITED, 1 },
		{ "invalid_api_key", HEARTH_PERR_AUTH, 0 },
		{ "authentication_error", HEARTH_PERR_AUTH, 0 },
		{ "permission_error", HEARTH_PERR_PERMISSION, 0 },
		{ "model_not_found", HEARTH_PERR_NOT_FOUND, 0 },
		{ "not_found_error", HEARTH_PERR_NOT_FOUND, 0 },
		{ "invalid_prompt", HEARTH_PERR_BAD_REQUEST, 0 },
		{ "invalid_request_error", HEARTH_PERR_BAD_REQUEST, 0 },
		{ "server_error", HEARTH_PERR_SERVER, 1 },
		{ "api_error", HEARTH_PERR_SERVER, 1 },
		{ "overloaded_error", HEARTH_PERR_OVERLOADED, 1 },
		{ "timeout", HEARTH_PERR_TIMEOUT, 1 },
	};
	const char *names[2] = { code, type };
	for (int n = 0; n < 2; n++) {
		if (names[n] == NULL)
			continue;
		for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
			if (strcmp(names[n], map[i].name) == 0) {
				*retryable = map[i].retryable;
				/* invalid_request_error covers a prompt that is too long */
				if (map[i].type == HEARTH_PERR_BAD_REQUEST && message != NULL &&
				    strstr(message, "maximum context length") != NULL)
					return HEARTH_PERR_CONTEXT;
				return map[i].type;
			}
		}
	}
	*retryable = fallback_retry;
	return fallback;
}

/* A printable excerpt of a body that is not an OpenAI error: its start, on one
 * line. malloc'd. */
static char *
openai_excerpt(const struct kit_buf *b)
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

/* A complete response with a status other than 200, as an error in e (whose old
 * strings are freed; free the new ones with openai_err_free). */
static void
openai_http_error(const struct openai_reply *r, struct kit_err *e)
{
	json_t *body = r->body.len > 0 ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
	const json_t *error = json_object_get(body, "error");
	/* Some compatible servers send {"error": "text"} */
	const char *vmsg = json_is_string(error) ? json_string_value(error) :
		openai_str(error, "message");
	const char *vcode = openai_str(error, "code");
	const char *vtype = openai_str(error, "type");
	long st = r->status;
	uint32_t type;
	int retryable = 0;

	if (st == 400 || st == 422) {
		type = HEARTH_PERR_BAD_REQUEST;
	} else if (st == 401) {
		type = HEARTH_PERR_AUTH;
	} else if (st == 402 || st == 403) {
		type = HEARTH_PERR_PERMISSION;
	} else if (st == 404) {
		type = HEARTH_PERR_NOT_FOUND;
	} else if (st == 408) {
		type = HEARTH_PERR_TIMEOUT, retryable = 1;
	} else if (st == 409) {
		type = HEARTH_PERR_SERVER, retryable = 1;
	} else if (st == 413) {
		type = HEARTH_PERR_TOO_LARGE;
	} else if (st == 429) {
		type = HEARTH_PERR_RATE_LIMITED, retryable = 1;
	} else if (st == 503 || st == 529) {
		type = HEARTH_PERR_OVERLOADED, retryable = 1;
	} else if (st >= 500 && st <= 599) {
		type = HEARTH_PERR_SERVER, retryable = 1;
	} else if (st >= 400 && st <= 499) {
		type = HEARTH_PERR_BAD_REQUEST;
	} else if (st == 200 && vmsg != NULL) {
		/* An error as the whole answer to a stream (some proxies do that) */
		type = openai_errtype(vcode, vtype, vmsg, HEARTH_PERR_SERVER, 0, &retryable);
	} else {
		type = HEARTH_PERR_PROTOCOL;
	}
	/* What the status cannot say: a prompt too long, a quota that is used up. */
	if (type == HEARTH_PERR_BAD_REQUEST &&
	    ((vcode != NULL && strcmp(vcode, "context_length_exceeded") == 0) ||
	     (vmsg != NULL && strstr(vmsg, "maximum context length") != NULL)))
		type = HEARTH_PERR_CONTEXT;
	if (type == HEARTH_PERR_RATE_LIMITED &&
	    ((vcode != NULL && strcmp(vcode, "insufficient_quota") == 0) ||
	     (vtype != NULL && strcmp(vtype, "insufficient_quota") == 0)))
		retryable = 0;
	if (r->should_retry != NULL && strcmp(r->should_retry, "true") == 0)
		retryable = 1;
	else if (r->should_retry != NULL && strcmp(r->should_retry, "false") == 0)
		retryable = 0;

	char *message;
	if (vmsg != NULL) {
		message = kit_strdup(vmsg);
	} else if (st == 200) {
		char *ex = openai_excerpt(&r->body);
		message = kit_printf("HTTP 200 with Content-Type %s, not an event stream: %s",
					r->content_type != NULL ? r->content_type : "(none)", ex);
		free(ex);
	} else if (r->body.len > 0) {
		char *ex = openai_excerpt(&r->body);
		message = kit_printf("HTTP %ld with a body that is not an OpenAI error: %s", st, ex);
		free(ex);
	} else {
		message = kit_printf("HTTP %ld with an empty body", st);
	}
	kit_err_set(e, type, retryable, vcode != NULL ? vcode : vtype, message);
	e->http_status = st;
	e->retry_after_ms = openai_retry_after(r);
	json_decref(body);
}

/* A transfer that failed before a complete response (on_done's error). */
static void
openai_transfer_error(int error, const char *what, struct kit_err *e)
{
	if (error == HEARTH_ETIMEDOUT)
		kit_err_set(e, HEARTH_PERR_TIMEOUT, 1, NULL, kit_strdup(what));
	else
		kit_err_set(e, HEARTH_PERR_NETWORK, 1, NULL, kit_strdup(what));
}

/* The request headers, as host->http_start wants them. Release with
 * openai_headers_free (the key is wiped first). */
struct openai_headers {
	const char *lines[4];  /* "Name: value", NULL-terminated */
	char *key_line;        /* owned; wiped before it is freed */
};

static void
openai_headers_init(struct openai_headers *h, const struct openai *a, int json_body)
{
	size_t n = 0;
	memset(h, 0, sizeof *h);
	if (a->api_key != NULL) {
		h->key_line = kit_printf("Authorization: Bearer %s", a->api_key);
		h->lines[n++] = h->key_line;
	}
	if (json_body) {
		h->lines[n++] = "Content-Type: application/json";
		h->lines[n++] = "Accept: text/event-stream";
	}
	h->lines[n] = NULL;
}

static void
openai_headers_free(struct openai_headers *h)
{
	if (h->key_line != NULL) {
		for (volatile char *p = h->key_line; *p != '\0'; p++)
			*p = '\0';
		free(h->key_line);
	}
	memset(h, 0, sizeof *h);
}

/* ------------------------------------------------ request translation -- */

/* A part's text (a string member "text"), or NULL. Borrowed. */
static const json_t *
openai_part_text(const json_t *part)
{
	const json_t *t = json_object_get(part, "text");
	return json_is_string(t) && json_string_length(t) > 0 ? t : NULL;
}

/* "data:MIME;base64,DATA", malloc'd. */
static char *
openai_data_url(const json_t *part)
{
	const char *mime = openai_str(part, "mime");
	return kit_printf("data:%s;base64,%s", mime != NULL ? mime : "application/octet-stream",
			     openai_s(openai_str(part, "data")));
}

/* The note that stands for a part the API cannot take. New ref (a string). */
static json_t *
openai_unsent_note(const json_t *part, const char *why)
{
	const char *name = openai_str(part, "name");
	const char *mime = openai_str(part, "mime");
	char *s = kit_printf("[%s%s%s (%s) not sent: %s]", openai_s(openai_str(part, "type")),
				name != NULL ? " " : "", openai_s(name),
				mime != NULL ? mime : "application/octet-stream", why);
	json_t *v = json_string(s);
	free(s);
	return v;
}

/* 1 when a media part has data and a MIME type starting with prefix. */
static int
openai_media_is(const json_t *part, const char *prefix)
{
	const char *mime = openai_str(part, "mime");
	const char *data = openai_str(part, "data");
	return mime != NULL && data != NULL && data[0] != '\0' &&
	       strncasecmp(mime, prefix, strlen(prefix)) == 0;
}

/*
 * The content of a user message (chat): a plain string when it is one text,
 * else an array of text, image_url and file items. New ref, or NULL when empty.
 */
static json_t *
openai_chat_user_content(const json_t *parts)
{
	json_t *items = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = openai_s(openai_str(part, "type"));
		const json_t *text = openai_part_text(part);
		if (strcmp(type, "text") == 0 && text != NULL) {
			json_array_append_new(items, json_pack("{s:s,s:O}", "type", "text", "text", text));
		} else if (strcmp(type, "image") == 0 && openai_media_is(part, "image/")) {
			char *url = openai_data_url(part);
			json_array_append_new(items, json_pack("{s:s,s:{s:s}}", "type", "image_url",
							       "image_url", "url", url));
			free(url);
		} else if (strcmp(type, "file") == 0 && openai_media_is(part, "application/pdf")) {
			char *url = openai_data_url(part);
			const char *name = openai_str(part, "name");
			json_array_append_new(items, json_pack("{s:s,s:{s:s,s:s}}", "type", "file", "file",
							       "filename", name != NULL ? name : "file.pdf",
							       "file_data", url));
			free(url);
		} else if (strcmp(type, "image") == 0 || strcmp(type, "file") == 0) {
			json_array_append_new(items, json_pack("{s:s,s:o}", "type", "text", "text",
				openai_unsent_note(part, "the API takes images and PDF files")));
		}
	}
	if (json_array_size(items) == 0) {
		json_decref(items);
		return NULL;
	}
	if (json_array_size(items) == 1 &&
	    strcmp(openai_str(json_array_get(items, 0), "type"), "text") == 0) {
		json_t *s = json_incref(json_object_get(json_array_get(items, 0), "text"));
		json_decref(items);
		return s;
	}
	return items;
}

/* The same for the Responses API: input_text, input_image, input_file items. */
static json_t *
openai_resp_user_content(const json_t *parts)
{
	json_t *items = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = openai_s(openai_str(part, "type"));
		const json_t *text = openai_part_text(part);
		if (strcmp(type, "text") == 0 && text != NULL) {
			json_array_append_new(items, json_pack("{s:s,s:O}", "type", "input_text", "text",
							       text));
		} else if (strcmp(type, "image") == 0 && openai_media_is(part, "image/")) {
			char *url = openai_data_url(part);
			json_array_append_new(items, json_pack("{s:s,s:s}", "type", "input_image",
							       "image_url", url));
			free(url);
		} else if (strcmp(type, "file") == 0 && openai_media_is(part, "application/pdf")) {
			char *url = openai_data_url(part);
			const char *name = openai_str(part, "name");
			json_array_append_new(items, json_pack("{s:s,s:s,s:s}", "type", "input_file",
							       "filename", name != NULL ? name : "file.pdf",
							       "file_data", url));
			free(url);
		} else if (strcmp(type, "image") == 0 || strcmp(type, "file") == 0) {
			json_array_append_new(items, json_pack("{s:s,s:o}", "type", "input_text", "text",
				openai_unsent_note(part, "the API takes images and PDF files")));
		}
	}
	if (json_array_size(items) == 0) {
		json_decref(items);
		return NULL;
	}
	return items;
}

/* What a tool returned, as one string: the text, or the text parts joined.
 * malloc'd. */
static char *
openai_result_text(const json_t *part)
{
	const json_t *content = json_object_get(part, "content");
	struct kit_buf b = { 0 };
	if (json_is_true(json_object_get(part, "is_error")))
		kit_buf_add(&b, "[tool error] ", 13, SIZE_MAX / 2);
	if (json_is_string(content)) {
		kit_buf_add(&b, json_string_value(content), json_string_length(content),
			       SIZE_MAX / 2);
	} else if (json_is_array(content)) {
		size_t i;
		json_t *p;
		int first = 1;
		json_array_foreach(content, i, p) {
			const json_t *t = openai_part_text(p);
			if (t == NULL)
				continue;
			if (!first)
				kit_buf_add(&b, "\n", 1, SIZE_MAX / 2);
			kit_buf_add(&b, json_string_value(t), json_string_length(t), SIZE_MAX / 2);
			first = 0;
		}
	}
	if (b.data == NULL)
		return kit_strdup("");
	return b.data;
}

/* A call's arguments as the JSON text the APIs want. malloc'd. */
static char *
openai_arguments(const json_t *part)
{
	const json_t *input = json_object_get(part, "input");
	char *s = json_is_object(input) ? json_dumps(input, JSON_COMPACT) : strdup("{}");
	if (s == NULL)
		kit_oom();
	return s;
}

/* A call id as sent: never empty. Borrowed. */
static const char *
openai_call_id(const json_t *part)
{
	const char *id = openai_str(part, "id");
	return id != NULL && id[0] != '\0' ? id : "call_none";
}

/*
 * Calls and results: both APIs refuse a call without its result, and a result
 * without its call. The ids of the calls still unanswered, and notes for results
 * that answer no call, carried from one neutral message to the next.
 */
struct openai_pairing {
	json_t *pending;   /* array of id strings */
	json_t *orphans;   /* array of note strings */
};

/* Take id out of pending; 1 when it was there. */
static int
openai_pairing_take(struct openai_pairing *p, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(p->pending, i, v) {
		if (strcmp(json_string_value(v), id) == 0) {
			json_array_remove(p->pending, i);
			return 1;
		}
	}
	return 0;
}

static void
openai_pairing_orphan(struct openai_pairing *p, const json_t *part, const char *text)
{
	json_array_append_new(p->orphans, json_sprintf("[result of tool %s (call %s)]\n%s",
		openai_str(part, "name") != NULL ? openai_str(part, "name") : "?",
		openai_call_id(part), text));
}

#define OPENAI_NO_RESULT "no result: the call did not run"

/* Chat: answer the calls left without a result, then say what the orphans said. */
static void
openai_chat_flush(json_t *out, struct openai_pairing *p)
{
	size_t i;
	json_t *v;
	json_array_foreach(p->pending, i, v)
		json_array_append_new(out, json_pack("{s:s,s:O,s:s}", "role", "tool", "tool_call_id",
						     v, "content", OPENAI_NO_RESULT));
	json_array_clear(p->pending);
	json_array_foreach(p->orphans, i, v)
		json_array_append_new(out, json_pack("{s:s,s:O}", "role", "user", "content", v));
	json_array_clear(p->orphans);
}

/* Chat: an assistant message (text joined, tool_calls); reasoning is not sent. */
static void
openai_chat_assistant(json_t *out, const json_t *parts, struct openai_pairing *p)
{
	struct kit_buf text = { 0 };
	json_t *calls = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = openai_s(openai_str(part, "type"));
		const json_t *t = openai_part_text(part);
		if (strcmp(type, "text") == 0 && t != NULL) {
			kit_buf_add(&text, json_string_value(t), json_string_length(t), SIZE_MAX / 2);
		} else if (strcmp(type, "tool_call") == 0) {
			const char *id = openai_call_id(part);
			char *args = openai_arguments(part);
			json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type",
				"function", "function", "name", openai_s(openai_str(part, "name")),
				"arguments", args));
			json_array_append_new(p->pending, json_string(id));
			free(args);
		}
	}
	if (text.len > 0 || json_array_size(calls) > 0) {
		json_t *m = json_pack("{s:s}", "role", "assistant");
		json_object_set_new(m, "content", text.len > 0 ?
				    json_stringn(text.data, text.len) : json_null());
		if (json_array_size(calls) > 0)
			json_object_set(m, "tool_calls", calls);
		json_array_append_new(out, m);
	}
	json_decref(calls);
	kit_buf_free(&text);
}

static void
openai_chat_results(json_t *out, const json_t *parts, struct openai_pairing *p)
{
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		if (strcmp(openai_s(openai_str(part, "type")), "tool_result") != 0)
			continue;
		char *text = openai_result_text(part);
		if (openai_pairing_take(p, openai_call_id(part)))
			json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "role", "tool",
							     "tool_call_id", openai_call_id(part),
							     "content", text));
		else
			openai_pairing_orphan(p, part, text);
		free(text);
	}
}

/* The Responses API: answer the calls left without a result, then the orphans. */
static void
openai_resp_flush(json_t *out, struct openai_pairing *p)
{
	size_t i;
	json_t *v;
	json_array_foreach(p->pending, i, v)
		json_array_append_new(out, json_pack("{s:s,s:O,s:s}", "type", "function_call_output",
						     "call_id", v, "output", OPENAI_NO_RESULT));
	json_array_clear(p->pending);
	json_array_foreach(p->orphans, i, v)
		json_array_append_new(out, json_pack("{s:s,s:[{s:s,s:O}]}", "role", "user", "content",
						     "type", "input_text", "text", v));
	json_array_clear(p->orphans);
}

/* A reasoning part as a reasoning item: only this module's, with its item id. */
static json_t *
openai_resp_reasoning(const json_t *part)
{
	const json_t *meta = json_object_get(part, "meta");
	const char *id = openai_str(meta, "id");
	if (strcmp(openai_s(openai_str(meta, "provider")), "openai") != 0 || id == NULL)
		return NULL;
	json_t *summary = json_array();
	const json_t *t = openai_part_text(part);
	if (t != NULL)
		json_array_append_new(summary, json_pack("{s:s,s:O}", "type", "summary_text", "text",
							 t));
	json_t *item = json_pack("{s:s,s:s,s:o}", "type", "reasoning", "id", id, "summary", summary);
	const json_t *enc = json_object_get(meta, "encrypted_content");
	if (json_is_string(enc))
		json_object_set(item, "encrypted_content", (json_t *)enc);
	return item;
}

static void
openai_resp_text_flush(json_t *out, struct kit_buf *text)
{
	if (text->len > 0)
		json_array_append_new(out, json_pack("{s:s,s:s%}", "role", "assistant", "content",
						     text->data, text->len));
	kit_buf_free(text);
}

/* The Responses API: an assistant message as items, in the order of its parts. */
static void
openai_resp_assistant(json_t *out, const json_t *parts, struct openai_pairing *p)
{
	struct kit_buf text = { 0 };
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = openai_s(openai_str(part, "type"));
		const json_t *t = openai_part_text(part);
		if (strcmp(type, "text") == 0) {
			if (t != NULL)
				kit_buf_add(&text, json_string_value(t), json_string_length(t),
					       SIZE_MAX / 2);
		} else if (strcmp(type, "reasoning") == 0) {
			json_t *item = openai_resp_reasoning(part);
			if (item != NULL) {
				openai_resp_text_flush(out, &text);
				json_array_append_new(out, item);
			}
		} else if (strcmp(type, "tool_call") == 0) {
			openai_resp_text_flush(out, &text);
			const char *id = openai_call_id(part);
			char *args = openai_arguments(part);
			json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "type", "function_call",
				"call_id", id, "name", openai_s(openai_str(part, "name")),
				"arguments", args));
			json_array_append_new(p->pending, json_string(id));
			free(args);
		}
	}
	openai_resp_text_flush(out, &text);
}

static void
openai_resp_results(json_t *out, const json_t *parts, struct openai_pairing *p)
{
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		if (strcmp(openai_s(openai_str(part, "type")), "tool_result") != 0)
			continue;
		char *text = openai_result_text(part);
		if (openai_pairing_take(p, openai_call_id(part)))
			json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "type",
							     "function_call_output", "call_id",
							     openai_call_id(part), "output", text));
		else
			openai_pairing_orphan(p, part, text);
		free(text);
	}
}

/* The tool definitions; chat wraps each in "function", responses does not. New ref. */
static json_t *
openai_tools(const json_t *tools, enum openai_api api)
{
	json_t *defs = json_array();
	size_t i;
	json_t *tool;
	json_array_foreach(tools, i, tool) {
		const char *name = openai_str(tool, "name");
		if (name == NULL)
			continue;
		json_t *f = json_pack("{s:s}", "name", name);
		const json_t *desc = json_object_get(tool, "description");
		if (json_is_string(desc) && json_string_length(desc) > 0)
			json_object_set(f, "description", (json_t *)desc);
		const json_t *schema = json_object_get(tool, "input_schema");
		json_object_set_new(f, "parameters", json_is_object(schema) ?
				    json_deep_copy(schema) : json_pack("{s:s}", "type", "object"));
		if (api == OPENAI_API_CHAT) {
			json_array_append_new(defs, json_pack("{s:s,s:o}", "type", "function",
							      "function", f));
		} else {
			json_object_set_new(f, "type", json_string("function"));
			json_array_append_new(defs, f);
		}
	}
	return defs;
}

/* The body for a neutral request. New ref, or NULL with *why (malloc'd). */
static json_t *
openai_build(const struct openai *a, const json_t *req, char **why)
{
	const json_t *messages = json_object_get(req, "messages");
	if (!json_is_object(req) || !json_is_array(messages)) {
		*why = kit_strdup("the request has no \"messages\" array");
		return NULL;
	}
	const char *model = openai_str(req, "model");
	if (model == NULL || model[0] == '\0')
		model = a->model;
	json_int_t max_tokens = json_integer_value(json_object_get(req, "max_tokens"));
	if (max_tokens <= 0)
		max_tokens = a->max_tokens;
	int chat = a->api == OPENAI_API_CHAT;
	const json_t *system = json_object_get(req, "system");
	int has_system = json_is_string(system) && json_string_length(system) > 0;

	json_t *body = json_pack("{s:s,s:b}", "model", model, "stream", 1);
	json_t *out = json_array();
	if (chat) {
		json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
		if (has_system)
			json_array_append_new(out, json_pack("{s:s,s:O}", "role", "system", "content",
							     system));
	} else if (has_system) {
		json_object_set(body, "instructions", (json_t *)system);
	}

	struct openai_pairing p = { json_array(), json_array() };
	size_t i;
	json_t *msg;
	json_array_foreach(messages, i, msg) {
		const char *role = openai_s(openai_str(msg, "role"));
		const json_t *parts = json_object_get(msg, "parts");
		if (strcmp(role, "tool") == 0) {
			if (chat)
				openai_chat_results(out, parts, &p);
			else
				openai_resp_results(out, parts, &p);
			continue;
		}
		if (chat)
			openai_chat_flush(out, &p);
		else
			openai_resp_flush(out, &p);
		if (strcmp(role, "user") == 0) {
			json_t *content = chat ? openai_chat_user_content(parts) :
				openai_resp_user_content(parts);
			if (content != NULL)
				json_array_append_new(out, json_pack("{s:s,s:o}", "role", "user",
								     "content", content));
		} else if (strcmp(role, "assistant") == 0) {
			if (chat)
				openai_chat_assistant(out, parts, &p);
			else
				openai_resp_assistant(out, parts, &p);
		}
	}
	if (chat)
		openai_chat_flush(out, &p);
	else
		openai_resp_flush(out, &p);
	json_decref(p.pending);
	json_decref(p.orphans);
	json_object_set_new(body, chat ? "messages" : "input", out);

	const json_t *tools = json_object_get(req, "tools");
	if (json_array_size(tools) > 0)
		json_object_set_new(body, "tools", openai_tools(tools, a->api));
	if (max_tokens > 0)
		json_object_set_new(body, chat ? "max_completion_tokens" : "max_output_tokens",
				    json_integer(max_tokens));
	if (a->effort != NULL) {
		if (chat) {
			json_object_set_new(body, "reasoning_effort", json_string(a->effort));
		} else {
			/* Not stored on the server: the reasoning comes back encrypted, to be
			 * sent again with the next request. */
			json_object_set_new(body, "reasoning", json_pack("{s:s,s:s}", "effort", a->effort,
									 "summary", "auto"));
			json_object_set_new(body, "store", json_false());
			json_object_set_new(body, "include", json_pack("[s]",
							     "reasoning.encrypted_content"));
		}
	}
	return body;
}

/* ------------------------------------------------------------ streaming -- */

enum openai_part {
	OPENAI_PART_NONE,
	OPENAI_PART_TEXT,
	OPENAI_PART_REASONING,
};

/* A tool call being streamed. */
struct openai_tool {
	long long index;        /* chat: the delta index; responses: output_index */
	char *id;               /* owned: the call id (call_...), or NULL */
	char *name;             /* owned, or NULL */
	char *item_id;          /* owned: responses' item id (fc_...), or NULL */
	struct kit_buf args; /* the argument fragments so far */
	int sent;               /* went to the sink */
};

struct hearth_provider_call {
	struct openai *a;
	struct hearth_provider_call *next;
	struct hearth_http *http;             /* NULL once on_done ran or after cancel */
	const struct hearth_stream_sink *sink;
	void *arg;
	struct hearth_sse *sse;
	struct openai_reply reply;
	size_t n_events;

	enum openai_part part;                /* the part the deltas go to */
	char *reasoning_id;                   /* owned: the reasoning item streaming */
	struct openai_tool tools[OPENAI_CALLS_MAX];
	size_t n_tools;

	struct hearth_usage usage;
	enum hearth_finish finish;
	int stopped;                          /* the terminator came */
	int failed;                           /* err says how the call ends */
	struct kit_err err;
	int busy;                             /* inside the SSE parser */
	int cancelled;                        /* cancel() came: no sink call from now on */
};

static void
openai_call_free(struct hearth_provider_call *c)
{
	if (c->sse != NULL)
		c->a->host->sse_free(c->sse);
	for (size_t i = 0; i < c->n_tools; i++) {
		free(c->tools[i].id);
		free(c->tools[i].name);
		free(c->tools[i].item_id);
		kit_buf_free(&c->tools[i].args);
	}
	free(c->reasoning_id);
	openai_reply_free(&c->reply);
	kit_err_free(&c->err);
	free(c);
}

static void
openai_call_unlink(struct hearth_provider_call *c)
{
	for (struct hearth_provider_call **pp = &c->a->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

/* End the stream with an error (the first one wins). Returns 1, to stop the parser. */
static int
openai_fail(struct hearth_provider_call *c, uint32_t type, int retryable, const char *vendor,
	    char *message /* stolen */)
{
	if (c->failed) {
		free(message);
		return 1;
	}
	kit_err_set(&c->err, type, retryable, vendor, message);
	c->failed = 1;
	return 1;
}

static int openai_protocol(struct hearth_provider_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A malformed stream: the same request would likely get the same reply, so it
 * is not retried. */
static int
openai_protocol(struct hearth_provider_call *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		kit_oom();
	return openai_fail(c, HEARTH_PERR_PROTOCOL, 0, NULL, s);
}

/* Close the open part; a reasoning part takes its item id as meta. */
static void
openai_part_close(struct hearth_provider_call *c, const json_t *item)
{
	if (c->part == OPENAI_PART_TEXT) {
		if (!c->cancelled)
			c->sink->part_end(c->arg, NULL);
	} else if (c->part == OPENAI_PART_REASONING) {
		json_t *meta = json_pack("{s:s}", "provider", "openai");
		if (c->reasoning_id != NULL)
			json_object_set_new(meta, "id", json_string(c->reasoning_id));
		const json_t *enc = json_object_get(item, "encrypted_content");
		if (json_is_string(enc))
			json_object_set(meta, "encrypted_content", (json_t *)enc);
		if (!c->cancelled)
			c->sink->part_end(c->arg, meta);
		json_decref(meta);
	}
	c->part = OPENAI_PART_NONE;
}

static void
openai_emit_text(struct hearth_provider_call *c, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (c->part != OPENAI_PART_TEXT)
		openai_part_close(c, NULL);
	c->part = OPENAI_PART_TEXT;
	if (!c->cancelled)
		c->sink->text(c->arg, s, n);
}

/* n may be 0: a part that carries only meta (encrypted reasoning). */
static void
openai_emit_reasoning(struct hearth_provider_call *c, const char *s, size_t n)
{
	if (n == 0 && c->part == OPENAI_PART_REASONING)
		return;
	if (c->part != OPENAI_PART_REASONING)
		openai_part_close(c, NULL);
	c->part = OPENAI_PART_REASONING;
	if (!c->cancelled)
		c->sink->reasoning(c->arg, s, n);
}

/* Usage from a chat usage object (chat 1) or a responses one (chat 0). */
static void
openai_take_usage(struct hearth_provider_call *c, const json_t *u, int chat)
{
	if (!json_is_object(u))
		return;
	const json_t *in = json_object_get(u, chat ? "prompt_tokens" : "input_tokens");
	const json_t *out = json_object_get(u, chat ? "completion_tokens" : "output_tokens");
	const json_t *cached = json_object_get(json_object_get(u, chat ? "prompt_tokens_details" :
							       "input_tokens_details"), "cached_tokens");
	const json_t *reason = json_object_get(json_object_get(u, chat ?
		"completion_tokens_details" : "output_tokens_details"), "reasoning_tokens");
	if (!json_is_integer(in) && !json_is_integer(out))
		return;
	uint64_t vin = json_integer_value(in) > 0 ? (uint64_t)json_integer_value(in) : 0;
	uint64_t vcached = json_integer_value(cached) > 0 ? (uint64_t)json_integer_value(cached) : 0;
	if (vcached > vin)
		vcached = vin;
	c->usage.input_tokens = vin - vcached;
	c->usage.cache_read_tokens = vcached;
	c->usage.output_tokens = json_integer_value(out) > 0 ? (uint64_t)json_integer_value(out) : 0;
	c->usage.reasoning_tokens = json_integer_value(reason) > 0 ?
		(uint64_t)json_integer_value(reason) : 0;
	if (!c->cancelled)
		c->sink->usage(c->arg, &c->usage);
}

/* A new tool slot, or NULL after failing the call when there are too many. */
static struct openai_tool *
openai_tool_new(struct hearth_provider_call *c, long long index)
{
	if (c->n_tools == OPENAI_CALLS_MAX) {
		openai_protocol(c, "more than %d tool calls in one reply", OPENAI_CALLS_MAX);
		return NULL;
	}
	struct openai_tool *t = &c->tools[c->n_tools++];
	memset(t, 0, sizeof *t);
	t->index = index;
	return t;
}

static int
openai_tool_append(struct hearth_provider_call *c, struct openai_tool *t, const json_t *frag)
{
	if (!json_is_string(frag))
		return 0;
	if (kit_buf_add(&t->args, json_string_value(frag), json_string_length(frag),
			   OPENAI_ARGS_MAX) != 0)
		return openai_protocol(c, "the arguments of tool call %lld are over %u bytes",
				       t->index, OPENAI_ARGS_MAX);
	return 0;
}

/* Replace a call's arguments with the complete text the server gave. */
static void
openai_tool_set(struct hearth_provider_call *c, struct openai_tool *t, const json_t *args)
{
	if (!json_is_string(args))
		return;
	t->args.len = 0;
	openai_tool_append(c, t, args);
}

/* Hand one complete call to the sink: its arguments must be a JSON object. */
static void
openai_tool_send(struct hearth_provider_call *c, struct openai_tool *t)
{
	if (t->sent || c->failed)
		return;
	t->sent = 1;
	if (t->name == NULL || t->name[0] == '\0') {
		openai_protocol(c, "tool call %lld has no name", t->index);
		return;
	}
	json_t *input = NULL;
	size_t skip = 0;
	while (skip < t->args.len && isspace((unsigned char)t->args.data[skip]))
		skip++;
	if (skip == t->args.len) {
		input = json_object();
	} else {
		json_error_t je;
		input = json_loadb(t->args.data, t->args.len, 0, &je);
		if (input == NULL) {
			openai_protocol(c, "tool call %lld (%s): its arguments are not valid JSON: %s "
					"at byte %d", t->index, t->name, je.text, je.position);
			return;
		}
		if (!json_is_object(input)) {
			json_decref(input);
			openai_protocol(c, "tool call %lld (%s): its arguments are not a JSON object",
					t->index, t->name);
			return;
		}
	}
	openai_part_close(c, NULL);
	char *id = t->id != NULL && t->id[0] != '\0' ? kit_strdup(t->id) :
		kit_printf("call_%lld", t->index);
	if (!c->cancelled)
		c->sink->tool_call(c->arg, id, t->name, input, NULL);
	free(id);
	json_decref(input);
}

static void
openai_tools_send(struct hearth_provider_call *c)
{
	for (size_t i = 0; i < c->n_tools && !c->failed; i++)
		openai_tool_send(c, &c->tools[i]);
}

/* An in-stream error object ({message, type, code}, or an event {type: "error", code,
 * message} whose type says nothing of the error: has_type 0). */
static void
openai_stream_error(struct hearth_provider_call *c, const json_t *error, int has_type,
		    const char *what)
{
	const char *msg = json_is_string(error) ? json_string_value(error) :
		openai_str(error, "message");
	const char *code = openai_str(error, "code");
	const char *type = has_type ? openai_str(error, "type") : NULL;
	int retryable;
	uint32_t t = openai_errtype(code, type, msg, HEARTH_PERR_SERVER, 0, &retryable);
	openai_fail(c, t, retryable, code != NULL ? code : type, msg != NULL ?
		    kit_strdup(msg) : kit_printf("%s with no message", what));
}

/* ---------------------------------------------------------------- chat -- */

static enum hearth_finish
openai_chat_finish(const char *reason)
{
	if (strcmp(reason, "length") == 0)
		return HEARTH_FINISH_MAX_TOKENS;
	if (strcmp(reason, "tool_calls") == 0 || strcmp(reason, "function_call") == 0)
		return HEARTH_FINISH_TOOL_USE;
	if (strcmp(reason, "content_filter") == 0)
		return HEARTH_FINISH_REFUSAL;
	return HEARTH_FINISH_END_TURN;
}

/* One entry of delta.tool_calls: the first of an index opens the call. */
static void
openai_chat_tool_delta(struct hearth_provider_call *c, const json_t *tc)
{
	if (!json_is_object(tc)) {
		openai_protocol(c, "event %zu: a tool_calls entry is not an object", c->n_events);
		return;
	}
	const json_t *jindex = json_object_get(tc, "index");
	const char *id = openai_str(tc, "id");
	const json_t *fn = json_object_get(tc, "function");
	const char *name = openai_str(fn, "name");
	struct openai_tool *t = NULL;
	if (json_is_integer(jindex)) {
		long long index = json_integer_value(jindex);
		for (size_t i = 0; i < c->n_tools && t == NULL; i++) {
			if (c->tools[i].index == index)
				t = &c->tools[i];
		}
		if (t == NULL && (t = openai_tool_new(c, index)) == NULL)
			return;
	} else if (c->n_tools > 0 && (id == NULL || c->tools[c->n_tools - 1].id == NULL ||
				      strcmp(id, c->tools[c->n_tools - 1].id) == 0)) {
		/* Servers that send no index: a new id is a new call. */
		t = &c->tools[c->n_tools - 1];
	} else if ((t = openai_tool_new(c, (long long)c->n_tools)) == NULL) {
		return;
	}
	if (t->sent) {
		openai_protocol(c, "event %zu: tool call %lld goes on after it finished", c->n_events,
				t->index);
		return;
	}
	if (id != NULL && id[0] != '\0' && t->id == NULL)
		t->id = kit_strdup(id);
	if (name != NULL && name[0] != '\0' && t->name == NULL)
		t->name = kit_strdup(name);
	openai_tool_append(c, t, json_object_get(fn, "arguments"));
}

static void
openai_chat_chunk(struct hearth_provider_call *c, const json_t *ev)
{
	const json_t *error = json_object_get(ev, "error");
	if (error != NULL && !json_is_null(error)) {
		openai_stream_error(c, error, 1, "an error chunk");
		return;
	}
	const json_t *choices = json_object_get(ev, "choices");
	if (choices != NULL && !json_is_array(choices)) {
		openai_protocol(c, "event %zu: \"choices\" is not an array", c->n_events);
		return;
	}
	size_t i;
	json_t *ch;
	json_array_foreach(choices, i, ch) {
		const json_t *jindex = json_object_get(ch, "index");
		if (json_is_integer(jindex) && json_integer_value(jindex) != 0)
			continue;   /* we ask for one choice */
		const json_t *delta = json_object_get(ch, "delta");
		if (json_is_object(delta)) {
			/* reasoning_content: DeepSeek, llama.cpp, vLLM; reasoning: OpenRouter, Groq */
			const json_t *r = json_object_get(delta, "reasoning_content");
			if (!json_is_string(r))
				r = json_object_get(delta, "reasoning");
			if (json_string_length(r) > 0)
				openai_emit_reasoning(c, json_string_value(r), json_string_length(r));
			const json_t *t = json_object_get(delta, "content");
			if (json_string_length(t) > 0)
				openai_emit_text(c, json_string_value(t), json_string_length(t));
			const json_t *tcs = json_object_get(delta, "tool_calls");
			if (json_is_array(tcs)) {
				size_t k;
				json_t *tc;
				json_array_foreach(tcs, k, tc) {
					if (c->failed)
						return;
					openai_chat_tool_delta(c, tc);
				}
			} else if (tcs != NULL && !json_is_null(tcs)) {
				openai_protocol(c, "event %zu: \"tool_calls\" is not an array", c->n_events);
				return;
			}
		}
		const char *reason = openai_str(ch, "finish_reason");
		if (reason != NULL) {
			c->finish = openai_chat_finish(reason);
			openai_part_close(c, NULL);
			openai_tools_send(c);
		}
	}
	openai_take_usage(c, json_object_get(ev, "usage"), 1);
}

/* ----------------------------------------------------------- responses -- */

/* The call an event names by item_id or else output_index, or NULL. */
static struct openai_tool *
openai_resp_tool(struct hearth_provider_call *c, const json_t *ev)
{
	const char *item_id = openai_str(ev, "item_id");
	const json_t *oi = json_object_get(ev, "output_index");
	for (size_t i = 0; i < c->n_tools; i++) {
		struct openai_tool *t = &c->tools[i];
		if (item_id != NULL ? t->item_id != NULL && strcmp(t->item_id, item_id) == 0 :
		    json_is_integer(oi) && t->index == json_integer_value(oi))
			return t;
	}
	return NULL;
}

static void
openai_resp_item_added(struct hearth_provider_call *c, const json_t *ev)
{
	const json_t *item = json_object_get(ev, "item");
	const char *type = openai_s(openai_str(item, "type"));
	if (strcmp(type, "function_call") == 0) {
		const char *call_id = openai_str(item, "call_id");
		const char *name = openai_str(item, "name");
		if (call_id == NULL || name == NULL) {
			openai_protocol(c, "event %zu: a function_call item without call_id or name",
					c->n_events);
			return;
		}
		struct openai_tool *t = openai_tool_new(c, json_integer_value(json_object_get(ev,
							"output_index")));
		if (t == NULL)
			return;
		t->id = kit_strdup(call_id);
		t->name = kit_strdup(name);
		if (openai_str(item, "id") != NULL)
			t->item_id = kit_strdup(openai_str(item, "id"));
		openai_tool_append(c, t, json_object_get(item, "arguments"));
	} else if (strcmp(type, "reasoning") == 0) {
		openai_part_close(c, NULL);
		free(c->reasoning_id);
		c->reasoning_id = openai_str(item, "id") != NULL ?
			kit_strdup(openai_str(item, "id")) : NULL;
	}
}

static void
openai_resp_item_done(struct hearth_provider_call *c, const json_t *ev)
{
	const json_t *item = json_object_get(ev, "item");
	const char *type = openai_s(openai_str(item, "type"));
	if (strcmp(type, "function_call") == 0) {
		struct openai_tool *t = NULL;
		const char *item_id = openai_str(item, "id");
		for (size_t i = 0; i < c->n_tools && t == NULL; i++) {
			if (item_id != NULL && c->tools[i].item_id != NULL &&
			    strcmp(c->tools[i].item_id, item_id) == 0)
				t = &c->tools[i];
		}
		if (t == NULL)
			t = openai_resp_tool(c, ev);
		if (t == NULL) {
			openai_protocol(c, "event %zu: a function_call item ends that never began",
					c->n_events);
			return;
		}
		openai_tool_set(c, t, json_object_get(item, "arguments"));
		openai_tool_send(c, t);
	} else if (strcmp(type, "reasoning") == 0) {
		if (c->reasoning_id == NULL && openai_str(item, "id") != NULL)
			c->reasoning_id = kit_strdup(openai_str(item, "id"));
		/* An empty delta makes sure there is a part to carry the meta. */
		openai_emit_reasoning(c, "", 0);
		openai_part_close(c, item);
		free(c->reasoning_id);
		c->reasoning_id = NULL;
	} else if (strcmp(type, "message") == 0) {
		openai_part_close(c, NULL);
	}
}

/* The end of a response: completed, incomplete (why) or failed. */
static void
openai_resp_end(struct hearth_provider_call *c, const json_t *ev, const char *type)
{
	const json_t *resp = json_object_get(ev, "response");
	openai_take_usage(c, json_object_get(resp, "usage"), 0);
	c->stopped = 1;
	if (strcmp(type, "response.failed") == 0) {
		openai_stream_error(c, json_object_get(resp, "error"), 1, "response.failed");
		return;
	}
	openai_part_close(c, NULL);
	if (strcmp(type, "response.incomplete") == 0) {
		const char *why = openai_str(json_object_get(resp, "incomplete_details"), "reason");
		c->finish = why != NULL && strcmp(why, "content_filter") == 0 ?
			HEARTH_FINISH_REFUSAL : HEARTH_FINISH_MAX_TOKENS;
		return;
	}
	openai_tools_send(c);
	c->finish = c->n_tools > 0 ? HEARTH_FINISH_TOOL_USE : HEARTH_FINISH_END_TURN;
}

static void
openai_resp_event(struct hearth_provider_call *c, const json_t *ev, const char *event)
{
	const char *type = openai_str(ev, "type");
	if (type == NULL)
		type = event;
	if (strcmp(type, "error") == 0) {
		/* {"type":"error","code","message"}, or the error in "error" */
		const json_t *inner = json_object_get(ev, "error");
		openai_stream_error(c, json_is_object(inner) ? inner : ev, json_is_object(inner),
				    "an error event");
	} else if (strcmp(type, "response.completed") == 0 ||
		   strcmp(type, "response.incomplete") == 0 ||
		   strcmp(type, "response.failed") == 0) {
		openai_resp_end(c, ev, type);
	} else if (strcmp(type, "response.output_item.added") == 0) {
		openai_resp_item_added(c, ev);
	} else if (strcmp(type, "response.output_item.done") == 0) {
		openai_resp_item_done(c, ev);
	} else if (strcmp(type, "response.output_text.delta") == 0 ||
		   strcmp(type, "response.refusal.delta") == 0) {
		const json_t *d = json_object_get(ev, "delta");
		if (!json_is_string(d)) {
			openai_protocol(c, "event %zu (%s): no string \"delta\"", c->n_events, type);
			return;
		}
		openai_emit_text(c, json_string_value(d), json_string_length(d));
	} else if (strcmp(type, "response.reasoning_summary_text.delta") == 0 ||
		   strcmp(type, "response.reasoning_text.delta") == 0) {
		const json_t *d = json_object_get(ev, "delta");
		if (!json_is_string(d)) {
			openai_protocol(c, "event %zu (%s): no string \"delta\"", c->n_events, type);
			return;
		}
		if (json_string_length(d) > 0)
			openai_emit_reasoning(c, json_string_value(d), json_string_length(d));
	} else if (strcmp(type, "response.reasoning_summary_part.added") == 0) {
		/* Summary parts of one item: one reasoning part, a blank line apart. */
		if (json_integer_value(json_object_get(ev, "summary_index")) > 0 &&
		    c->part == OPENAI_PART_REASONING)
			openai_emit_reasoning(c, "\n\n", 2);
	} else if (strcmp(type, "response.function_call_arguments.delta") == 0 ||
		   strcmp(type, "response.function_call_arguments.done") == 0) {
		struct openai_tool *t = openai_resp_tool(c, ev);
		if (t == NULL) {
			openai_protocol(c, "event %zu (%s): no function_call item %s", c->n_events, type,
					openai_s(openai_str(ev, "item_id")));
			return;
		}
		if (t->sent) {
			openai_protocol(c, "event %zu (%s): tool call %s goes on after it finished",
					c->n_events, type, t->id);
			return;
		}
		if (type[strlen(type) - 1] == 'a')
			openai_tool_append(c, t, json_object_get(ev, "delta"));
		else
			openai_tool_set(c, t, json_object_get(ev, "arguments"));
	}
	/* Everything else (created, in_progress, content_part.*, text.done, web search,
	 * ...) carries nothing we keep. */
}

/* ---------------------------------------------------------- the stream -- */

static int
openai_event_cb(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	(void)id;
	struct hearth_provider_call *c = arg;
	c->n_events++;
	if (c->failed || c->cancelled)
		return 1;
	if (c->stopped)
		return 0;
	int chat = c->a->api == OPENAI_API_CHAT;
	if (chat && len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		openai_part_close(c, NULL);
		openai_tools_send(c);
		/* Some servers say "stop" after tool calls: the calls decide. */
		if (c->n_tools > 0 && (c->finish == 0 || c->finish == HEARTH_FINISH_END_TURN))
			c->finish = HEARTH_FINISH_TOOL_USE;
		else if (c->finish == 0)
			c->finish = HEARTH_FINISH_END_TURN;
		c->stopped = 1;
		return c->failed || c->cancelled;
	}
	if (len == 0)
		return 0;   /* an event with no data: a keep-alive */
	json_error_t je;
	json_t *ev = json_loadb(data, len, JSON_ALLOW_NUL, &je);
	if (!json_is_object(ev)) {
		if (ev == NULL)
			openai_protocol(c, "event %zu: its data is not JSON: %s at byte %d", c->n_events,
					je.text, je.position);
		else
			openai_protocol(c, "event %zu: its data is not a JSON object", c->n_events);
		json_decref(ev);
		return 1;
	}
	if (chat)
		openai_chat_chunk(c, ev);
	else
		openai_resp_event(c, ev, event);
	json_decref(ev);
	return c->failed || c->cancelled;
}

static int
openai_response_cb(void *arg, long status, const char *const *names, const char *const *values,
		   size_t n)
{
	struct hearth_provider_call *c = arg;
	openai_reply_headers(&c->reply, status, names, values, n);
	/* A server that ignored "stream": true answers with one JSON body; no
	 * Content-Type at all is taken for a stream. */
	const char *ct = c->reply.content_type;
	if (status == 200 && (ct == NULL || strncasecmp(ct, "text/event-stream", 17) == 0))
		c->sse = c->a->host->sse_new(c->a->host, OPENAI_EVENT_MAX, openai_event_cb, c);
	return 0;
}

static int
openai_data_cb(void *arg, const char *data, size_t len)
{
	struct hearth_provider_call *c = arg;
	const struct hearth_host *host = c->a->host;
	if (c->failed)
		return 1;
	if (c->reply.status != 200 || c->sse == NULL) {
		openai_reply_body(&c->reply, data, len);
		return 0;
	}
	c->busy = 1;
	int rc = host->sse_feed(c->sse, data, len);
	c->busy = 0;
	if (c->cancelled) {
		/* cancel() came from a sink callback and stopped the request already */
		openai_call_free(c);
		return 1;
	}
	if (rc != 0 && !c->failed) {
		if (rc == HEARTH_ELIMIT)
			openai_protocol(c, "an event is longer than %u bytes (%s)", OPENAI_EVENT_MAX,
					host->sse_error(c->sse));
		else
			openai_protocol(c, "malformed event stream: %s", host->sse_error(c->sse));
	}
	return c->failed;
}

static void
openai_done_cb(void *arg, int error, long status, const char *message)
{
	struct hearth_provider_call *c = arg;
	struct openai *a = c->a;
	c->http = NULL;
	if (c->reply.status == 0)
		c->reply.status = status;
	if (!c->failed) {
		if (error != 0) {
			openai_transfer_error(error, message, &c->err);
			c->failed = 1;
		} else if (c->reply.status != 200 || c->sse == NULL) {
			openai_http_error(&c->reply, &c->err);
			c->failed = 1;
		} else if (a->host->sse_finish(c->sse) != 0 || !c->stopped) {
			/* Cut short: a retry is likely to get the whole reply. */
			openai_fail(c, HEARTH_PERR_PROTOCOL, 1, NULL, kit_strdup(
				a->api == OPENAI_API_CHAT ? "stream ended before data: [DONE]" :
				"stream ended before response.completed"));
		}
	}
	openai_call_unlink(c);
	const struct hearth_stream_sink *sink = c->sink;
	void *sarg = c->arg;
	if (c->failed) {
		struct hearth_provider_error e = kit_err_view(&c->err);
		if (c->reply.request_id != NULL)
			a->host->log(a->host, HEARTH_LOG_DEBUG, "request %s failed: %s",
				     c->reply.request_id, c->err.message);
		sink->done(sarg, HEARTH_FINISH_ERROR, &e);
	} else {
		sink->done(sarg, c->finish != 0 ? c->finish : HEARTH_FINISH_END_TURN, NULL);
	}
	openai_call_free(c);
}

static struct hearth_provider_call *
openai_stream(void *state, const json_t *request, const struct hearth_stream_sink *sink,
	      void *arg, int *error)
{
	struct openai *a = state;
	char *why = NULL;
	json_t *body = openai_build(a, request, &why);
	if (body == NULL) {
		a->host->log(a->host, HEARTH_LOG_ERROR, "request refused: %s", why);
		free(why);
		*error = HEARTH_EINVAL;
		return NULL;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		kit_oom();

	struct hearth_provider_call *c = calloc(1, sizeof *c);
	if (c == NULL)
		kit_oom();
	c->a = a;
	c->sink = sink;
	c->arg = arg;
	const char *path = a->api == OPENAI_API_CHAT ? "/chat/completions" : "/responses";
	char *url = kit_printf("%s%s", a->base_url, path);
	struct openai_headers h;
	openai_headers_init(&h, a, 1);
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "POST",
		.url = url,
		.headers = h.lines,
		.body = text,
		.body_len = strlen(text),
		.idle_timeout_ms = (uint32_t)a->timeout_ms,
		.on_response = openai_response_cb,
		.on_data = openai_data_cb,
		.on_done = openai_done_cb,
		.arg = c,
	};
	c->http = a->host->http_start(a->host, &req);
	size_t body_len = req.body_len;
	openai_headers_free(&h);
	free(url);
	free(text);
	if (c->http == NULL) {
		free(c);
		*error = HEARTH_EIO;
		return NULL;
	}
	a->host->log(a->host, HEARTH_LOG_DEBUG, "POST %s: %zu bytes", path, body_len);
	c->next = a->calls;
	a->calls = c;
	return c;
}

static void
openai_cancel(void *state, struct hearth_provider_call *c)
{
	struct openai *a = state;
	if (c == NULL || c->cancelled)
		return;
	openai_call_unlink(c);
	c->cancelled = 1;
	if (c->http != NULL) {
		a->host->http_cancel(c->http);
		c->http = NULL;
	}
	if (!c->busy)
		openai_call_free(c);
}

/* -------------------------------------------------------------- models -- */

struct openai_list {
	struct openai *a;
	struct openai_list *next;
	struct hearth_http *http;
	void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err);
	void *arg;
	struct openai_reply reply;
};

static void
openai_list_free(struct openai_list *l)
{
	openai_reply_free(&l->reply);
	free(l);
}

static void
openai_list_unlink(struct openai_list *l)
{
	for (struct openai_list **pp = &l->a->lists; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			return;
		}
	}
}

static int
openai_list_response_cb(void *arg, long status, const char *const *names,
			const char *const *values, size_t n)
{
	struct openai_list *l = arg;
	openai_reply_headers(&l->reply, status, names, values, n);
	return 0;
}

static int
openai_list_data_cb(void *arg, const char *data, size_t len)
{
	struct openai_list *l = arg;
	openai_reply_body(&l->reply, data, len);
	return 0;
}

/* The models of a GET /models body: [{id, name}]. New ref, or NULL with e set. */
static json_t *
openai_list_take(const struct openai_reply *r, struct kit_err *e)
{
	json_error_t je;
	json_t *page = json_loadb(r->body.data != NULL ? r->body.data : "", r->body.len, 0, &je);
	const json_t *data = json_object_get(page, "data");
	if (!json_is_array(data)) {
		kit_err_set(e, HEARTH_PERR_PROTOCOL, 0, NULL, page == NULL ?
			kit_printf("the model list is not JSON: %s at byte %d", je.text,
				      je.position) :
			kit_strdup("the model list has no \"data\" array"));
		json_decref(page);
		return NULL;
	}
	json_t *models = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(data, i, m) {
		const char *id = openai_str(m, "id");
		const char *name = openai_str(m, "name");   /* OpenRouter names its models */
		if (id == NULL || id[0] == '\0')
			continue;
		json_array_append_new(models, json_pack("{s:s,s:s}", "id", id, "name",
							name != NULL ? name : id));
	}
	json_decref(page);
	return models;
}

static void
openai_list_done_cb(void *arg, int error, long status, const char *message)
{
	struct openai_list *l = arg;
	struct kit_err e = { 0 };
	json_t *models = NULL;
	l->http = NULL;
	if (l->reply.status == 0)
		l->reply.status = status;
	if (error != 0)
		openai_transfer_error(error, message, &e);
	else if (l->reply.status != 200)
		openai_http_error(&l->reply, &e);
	else if (l->reply.body_over)
		kit_err_set(&e, HEARTH_PERR_PROTOCOL, 0, NULL, kit_printf(
			"the model list is over %u bytes", OPENAI_BODY_MAX));
	else
		models = openai_list_take(&l->reply, &e);
	openai_list_unlink(l);
	if (models == NULL) {
		struct hearth_provider_error view = kit_err_view(&e);
		l->done(l->arg, NULL, &view);
	} else {
		l->done(l->arg, models, NULL);
	}
	kit_err_free(&e);
	openai_list_free(l);
}

static int
openai_list_models(void *state,
		   void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err),
		   void *arg)
{
	struct openai *a = state;
	struct openai_list *l = calloc(1, sizeof *l);
	if (l == NULL)
		kit_oom();
	l->a = a;
	l->done = done;
	l->arg = arg;
	char *url = kit_printf("%s/models", a->base_url);
	struct openai_headers h;
	openai_headers_init(&h, a, 0);
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "GET",
		.url = url,
		.headers = h.lines,
		.idle_timeout_ms = (uint32_t)a->timeout_ms,
		.on_response = openai_list_response_cb,
		.on_data = openai_list_data_cb,
		.on_done = openai_list_done_cb,
		.arg = l,
	};
	l->http = a->host->http_start(a->host, &req);
	openai_headers_free(&h);
	free(url);
	if (l->http == NULL) {
		openai_list_free(l);
		return HEARTH_EIO;
	}
	l->next = a->lists;
	a->lists = l;
	return 0;
}

/* ------------------------------------------------------------- lifetime -- */

static const char *
openai_default_model(void *state)
{
	struct openai *a = state;
	return a->model;
}

static int
openai_has_credentials(void *state)
{
	struct openai *a = state;
	return a->api_key != NULL;
}

static void
openai_free(struct openai *a)
{
	if (a->api_key != NULL) {
		for (volatile char *p = a->api_key; *p != '\0'; p++)
			*p = '\0';
		free(a->api_key);
	}
	free(a->key_env);
	free(a->base_url);
	free(a->model);
	free(a->effort);
	free(a);
}

/* The key from the variable `name`, blanks trimmed, malloc'd; NULL when unset,
 * empty or unusable. */
static char *
openai_env_key(const struct hearth_host *host, const char *name)
{
	const char *v = getenv(name);
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
				  name);
			return NULL;
		}
	}
	char *key = strndup(v, n);
	if (key == NULL)
		kit_oom();
	return key;
}

static int
openai_init(const struct hearth_host *host, const json_t *config, void **state)
{
	static const char *const keys[] = {
		"api", "model", "max_tokens", "timeout_ms", "base_url", "api_key_env",
		"reasoning_effort",
	};
	struct openai *a = calloc(1, sizeof *a);
	if (a == NULL)
		return HEARTH_ENOMEM;
	a->host = host;

	kit_check_keys(host, config, keys, sizeof keys / sizeof keys[0]);

	const char *api = host->config_string(host, "api", "chat");
	if (strcmp(api, "chat") == 0) {
		a->api = OPENAI_API_CHAT;
	} else if (strcmp(api, "responses") == 0) {
		a->api = OPENAI_API_RESPONSES;
	} else {
		host->log(host, HEARTH_LOG_ERROR, "api = %s: want chat or responses", api);
		openai_free(a);
		return HEARTH_EINVAL;
	}

	/* The section's own base_url first: each configured instance has its own. */
	const char *url = host->config_string(host, "base_url", NULL);
	const char *from = "base_url";
	if (url == NULL || url[0] == '\0') {
		url = getenv("OPENAI_BASE_URL");
		from = "OPENAI_BASE_URL";
	}
	if (url == NULL || url[0] == '\0')
		url = OPENAI_DEFAULT_URL;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		/* Not quoted: a URL may carry credentials. */
		host->log(host, HEARTH_LOG_ERROR, "the base URL (%s) is not an http:// or https:// URL",
			  from);
		openai_free(a);
		return HEARTH_EINVAL;
	}
	a->base_url = kit_strdup(url);
	for (size_t n = strlen(a->base_url); n > 0 && a->base_url[n - 1] == '/'; n--)
		a->base_url[n - 1] = '\0';

	const char *model = host->config_string(host, "model", OPENAI_DEFAULT_MODEL);
	a->model = kit_strdup(model[0] != '\0' ? model : OPENAI_DEFAULT_MODEL);
	const char *effort = host->config_string(host, "reasoning_effort", NULL);
	if (effort != NULL && effort[0] != '\0')
		a->effort = kit_strdup(effort);
	const char *env = host->config_string(host, "api_key_env", OPENAI_DEFAULT_KEY_ENV);
	a->key_env = kit_strdup(env[0] != '\0' ? env : OPENAI_DEFAULT_KEY_ENV);

	int rc = host->config_int(host, "max_tokens", 0, 0, 10000000, &a->max_tokens);
	if (rc == 0)
		rc = host->config_int(host, "timeout_ms", 0, 0, UINT32_MAX, &a->timeout_ms);
	if (rc != 0) {
		openai_free(a);
		return rc;
	}
	a->api_key = openai_env_key(host, a->key_env);
	if (a->api_key == NULL)
		host->log(host, HEARTH_LOG_INFO, "%s is not set", a->key_env);
	*state = a;
	return 0;
}

static void
openai_fini(void *state)
{
	struct openai *a = state;
	/* The core cancels its calls first; whatever is left goes without a callback. */
	while (a->calls != NULL) {
		struct hearth_provider_call *c = a->calls;
		a->calls = c->next;
		a->host->log(a->host, HEARTH_LOG_WARN, "a stream was still running at shutdown");
		if (c->http != NULL)
			a->host->http_cancel(c->http);
		openai_call_free(c);
	}
	while (a->lists != NULL) {
		struct openai_list *l = a->lists;
		a->lists = l->next;
		if (l->http != NULL)
			a->host->http_cancel(l->http);
		openai_list_free(l);
	}
	openai_free(a);
}

static const struct hearth_provider openai_vtable = {
	.struct_size = sizeof(struct hearth_provider),
	.stream = openai_stream,
	.cancel = openai_cancel,
	.list_models = openai_list_models,
	.default_model = openai_default_model,
	.has_credentials = openai_has_credentials,
};

static const struct hearth_plugin openai_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_PROVIDER, .name = "openai", .version = "0.1.0",
	.description = "OpenAI Chat Completions and Responses APIs, and compatible servers",
	.init = openai_init, .fini = openai_fini, .provider = &openai_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &openai_plugin;
}
