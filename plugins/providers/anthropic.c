/*
 * anthropic.c: the Anthropic provider module (the Messages API, streamed).
 *
 * stream() turns the provider-neutral request (hearth/provider.h) into a
 * POST {base_url}/v1/messages with "stream": true, reads the reply as Server-Sent
 * Events through the host's parser, and feeds the sink: text and thinking deltas,
 * tool calls once their input JSON is complete, cumulative usage, and one done().
 * list_models() walks GET {base_url}/v1/models page by page.
 *
 * Every outcome of a stream reaches the sink through the HTTP request's on_done:
 * an event that ends the call (an in-stream error, a malformed event) records the
 * error and aborts the transfer, and on_done delivers it. So a call has one exit,
 * and cancel() (which stops the request, so on_done never comes) has nothing to
 * race with.
 *
 * The API key comes from ANTHROPIC_API_KEY at init and goes nowhere but the
 * x-api-key header: it is never logged.
 *
 * A module: it sees only <hearth/provider.h>, libc and jansson. Out of memory
 * aborts, as the core's xmalloc does.
 */
#define _GNU_SOURCE /* vasprintf, strptime, timegm, strcasecmp */

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

#define ANTHROPIC_VERSION "2023-06-01"
#define ANTHROPIC_DEFAULT_URL "https://api.anthropic.com"
#define ANTHROPIC_DEFAULT_MODEL "claude-sonnet-4-5"
#define ANTHROPIC_DEFAULT_MAX_TOKENS 8192
#define ANTHROPIC_THINKING_MIN 1024             /* the API's smallest budget */
#define ANTHROPIC_BODY_MAX (1024u * 1024)       /* an error body or a model list page */
#define ANTHROPIC_EVENT_MAX (8u * 1024 * 1024)  /* one SSE event */
#define ANTHROPIC_BLOCK_MAX (16u * 1024 * 1024) /* a tool's input JSON, a signature */
#define ANTHROPIC_MODEL_PAGES_MAX 100
#define ANTHROPIC_MODEL_PAGE_LIMIT 1000         /* the API's largest page */
#define ANTHROPIC_RETRY_AFTER_MAX_MS (24ull * 3600 * 1000)

/* ------------------------------------------------------------ helpers -- */

/* jansson getters that tolerate anything. Borrowed results. */
static const char *
anthropic_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ------------------------------------------------------------- module -- */

struct anthropic_list;

struct anthropic {
	const struct hearth_host *host;
	char *api_key;                       /* owned; NULL when unset */
	char *base_url;                      /* owned; no trailing '/' */
	char *model;                         /* owned */
	char *beta;                          /* owned; anthropic-beta value, or NULL */
	long long max_tokens;
	long long thinking_budget;           /* 0: thinking off */
	long long timeout_ms;                /* idle timeout; 0: the host's default */
	int prompt_cache;
	struct hearth_provider_call *calls;  /* streams in flight */
	struct anthropic_list *lists;        /* model listings in flight */
};

/* What a response said before and besides its stream. */
struct anthropic_reply {
	long status;
	char *retry_after;      /* header values, owned, or NULL */
	char *retry_after_ms;
	char *should_retry;
	char *request_id;
	struct kit_buf body; /* a non-200 body, or a model list page */
	int body_over;             /* the body was longer than ANTHROPIC_BODY_MAX */
};

static void
anthropic_reply_free(struct anthropic_reply *r)
{
	free(r->retry_after);
	free(r->retry_after_ms);
	free(r->should_retry);
	free(r->request_id);
	kit_buf_free(&r->body);
	memset(r, 0, sizeof *r);
}

static void
anthropic_reply_headers(struct anthropic_reply *r, long status, const char *const *names,
			const char *const *values, size_t n)
{
	anthropic_reply_free(r);
	r->status = status;
	for (size_t i = 0; i < n; i++) {
		char **slot = NULL;
		if (strcmp(names[i], "retry-after") == 0)
			slot = &r->retry_after;
		else if (strcmp(names[i], "retry-after-ms") == 0)
			slot = &r->retry_after_ms;
		else if (strcmp(names[i], "x-should-retry") == 0)
			slot = &r->should_retry;
		else if (strcmp(names[i], "request-id") == 0)
			slot = &r->request_id;
		if (slot != NULL && *slot == NULL)
			*slot = kit_strdup(values[i]);
	}
}

static void
anthropic_reply_body(struct anthropic_reply *r, const char *data, size_t len)
{
	if (r->body_over)
		return;
	if (kit_buf_add(&r->body, data, len, ANTHROPIC_BODY_MAX) != 0) {
		size_t room = ANTHROPIC_BODY_MAX - r->body.len;
		kit_buf_add(&r->body, data, room, ANTHROPIC_BODY_MAX);
		r->body_over = 1;
	}
}

/*
 * How long the server asked us to wait, in ms: retry-after-ms, else retry-after as
 * seconds (fractions allowed) or as an HTTP date. 0 when it did not say (or said
 * a time already past); at most ANTHROPIC_RETRY_AFTER_MAX_MS.
 */
static uint64_t
anthropic_retry_after(const struct anthropic_reply *r)
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
			/* IMF-fixdate, the form RFC 9110 says to send. */
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
	if (ms <= 0)
		return 0;
	if (ms >= (double)ANTHROPIC_RETRY_AFTER_MAX_MS)
		return ANTHROPIC_RETRY_AFTER_MAX_MS;
	uint64_t whole = (uint64_t)ms;
	return (double)whole < ms ? whole + 1 : whole;
}

/* The error class of an Anthropic error type ("overloaded_error"), and whether a
 * retry can help. Unknown types are server errors that a retry will not fix. */
static uint32_t
anthropic_errtype(const char *vendor, const char *message, int *retryable)
{
	static const struct {
		const char *name;
		uint32_t type;
		int retryable;
	} map[] = {
		{ "invalid_request_error", HEARTH_PERR_BAD_REQUEST, 0 },
		{ "authentication_error", HEARTH_PERR_AUTH, 0 },
		{ "billing_error", HEARTH_PERR_PERMISSION, 0 },
		{ "permission_error", HEARTH_PERR_PERMISSION, 0 },
		{ "not_found_error", HEARTH_PERR_NOT_FOUND, 0 },
		{ "request_too_large", HEARTH_PERR_TOO_LARGE, 0 },
		{ "rate_limit_error", HEARTH_PERR_RATE_LIMITED, 1 },
		{ "api_error", HEARTH_PERR_SERVER, 1 },
		{ "timeout_error", HEARTH_PERR_TIMEOUT, 1 },
		{ "overloaded_error", HEARTH_PERR_OVERLOADED, 1 },
	};
	*retryable = 0;
	if (vendor == NULL)
		return HEARTH_PERR_SERVER;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (strcmp(vendor, map[i].name) == 0) {
			*retryable = map[i].retryable;
			if (map[i].type == HEARTH_PERR_BAD_REQUEST && message != NULL &&
			    strstr(message, "prompt is too long") != NULL)
				return HEARTH_PERR_CONTEXT;
			return map[i].type;
		}
	}
	return HEARTH_PERR_SERVER;
}

/* A printable excerpt of a body that is not an Anthropic error: its start, on one
 * line. malloc'd. */
static char *
anthropic_excerpt(const struct kit_buf *b)
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
 * strings are freed; free the new ones with anthropic_err_free). */
static void
anthropic_http_error(const struct anthropic_reply *r, struct kit_err *e)
{
	json_t *body = r->body.len > 0 ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
	json_t *error = json_object_get(body, "error");
	const char *vendor = anthropic_str(error, "type");
	const char *vmsg = anthropic_str(error, "message");
	long st = r->status;
	uint32_t type;
	int retryable = 0;

	if (st == 400 || st == 422) {
		type = vmsg != NULL && strstr(vmsg, "prompt is too long") != NULL ?
			HEARTH_PERR_CONTEXT : HEARTH_PERR_BAD_REQUEST;
	} else if (st == 401) {
		type = HEARTH_PERR_AUTH;
	} else if (st == 402 || st == 403) {
		type = HEARTH_PERR_PERMISSION;
	} else if (st == 404) {
		type = HEARTH_PERR_NOT_FOUND;
	} else if (st == 408) {
		type = HEARTH_PERR_TIMEOUT, retryable = 1;
	} else if (st == 409) {
		type = HEARTH_PERR_SERVER, retryable = 1;   /* the SDKs retry a conflict */
	} else if (st == 413) {
		type = HEARTH_PERR_TOO_LARGE;
	} else if (st == 429) {
		type = HEARTH_PERR_RATE_LIMITED, retryable = 1;
	} else if (st == 529 || st == 503) {
		type = HEARTH_PERR_OVERLOADED, retryable = 1;
	} else if (st >= 500 && st <= 599) {
		type = HEARTH_PERR_SERVER, retryable = 1;
	} else if (st >= 400 && st <= 499) {
		type = HEARTH_PERR_BAD_REQUEST;
	} else {
		type = HEARTH_PERR_PROTOCOL;
	}
	/* The server's own word on retrying wins (the SDKs' x-should-retry). */
	if (r->should_retry != NULL && strcmp(r->should_retry, "true") == 0)
		retryable = 1;
	else if (r->should_retry != NULL && strcmp(r->should_retry, "false") == 0)
		retryable = 0;

	char *message;
	if (vmsg != NULL) {
		message = kit_strdup(vmsg);
	} else if (r->body.len > 0) {
		char *ex = anthropic_excerpt(&r->body);
		message = kit_printf("HTTP %ld with a body that is not an Anthropic error: %s",
					   st, ex);
		free(ex);
	} else {
		message = kit_printf("HTTP %ld with an empty body", st);
	}
	kit_err_set(e, type, retryable, vendor, message);
	e->http_status = st;
	e->retry_after_ms = anthropic_retry_after(r);
	json_decref(body);
}

/* A transfer that failed before a complete response (on_done's error). */
static void
anthropic_transfer_error(int error, const char *what, struct kit_err *e)
{
	if (error == HEARTH_ETIMEDOUT)
		kit_err_set(e, HEARTH_PERR_TIMEOUT, 1, NULL, kit_strdup(what));
	else
		kit_err_set(e, HEARTH_PERR_NETWORK, 1, NULL, kit_strdup(what));
}


/* The request headers, as host->http_start wants them. The lines it allocates are
 * its own: release them with anthropic_headers_free (the key is wiped first). */
struct anthropic_headers {
	const char *lines[5];  /* "Name: value", NULL-terminated */
	char *key_line;        /* owned; wiped before it is freed */
	char *beta_line;       /* owned */
};

static void
anthropic_headers_init(struct anthropic_headers *h, const struct anthropic *a, int json_body)
{
	size_t n = 0;
	memset(h, 0, sizeof *h);
	if (a->api_key != NULL) {
		h->key_line = kit_printf("x-api-key: %s", a->api_key);
		h->lines[n++] = h->key_line;
	}
	h->lines[n++] = "anthropic-version: " ANTHROPIC_VERSION;
	if (json_body)
		h->lines[n++] = "content-type: application/json";
	if (a->beta != NULL) {
		h->beta_line = kit_printf("anthropic-beta: %s", a->beta);
		h->lines[n++] = h->beta_line;
	}
	h->lines[n] = NULL;
}

static void
anthropic_headers_free(struct anthropic_headers *h)
{
	if (h->key_line != NULL) {
		/* volatile, so the wipe is not optimised away before free() */
		for (volatile char *p = h->key_line; *p != '\0'; p++)
			*p = '\0';
		free(h->key_line);
	}
	free(h->beta_line);
	memset(h, 0, sizeof *h);
}

/* ------------------------------------------------ request translation -- */

/*
 * A tool id as Anthropic accepts it (^[a-zA-Z0-9_-]+$): ids made by other
 * vendors may hold other characters. tool_use and tool_result ids go through the
 * same mapping, so pairs still match. malloc'd.
 */
static char *
anthropic_tool_id(const char *id)
{
	if (id == NULL || id[0] == '\0')
		return kit_strdup("toolu_none");
	char *s = kit_strdup(id);
	for (char *p = s; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			*p = '_';
	}
	return s;
}

/* A text block, or NULL for empty text (the API refuses empty text blocks). New ref. */
static json_t *
anthropic_text_block(const char *text, size_t len)
{
	if (text == NULL || len == 0)
		return NULL;
	return json_pack("{s:s,s:s%}", "type", "text", "text", text, len);
}

static json_t *
anthropic_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A text block that tells the model what could not be sent. New ref. */
static json_t *
anthropic_note(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		kit_oom();
	json_t *b = json_pack("{s:s,s:s}", "type", "text", "text", s);
	free(s);
	return b;
}

/* Standard base64 (padding optional, whitespace skipped) into out. -1 if malformed. */
static int
anthropic_b64_decode(const char *in, struct kit_buf *out)
{
	unsigned acc = 0;
	int bits = 0;
	for (const char *p = in; *p != '\0' && *p != '='; p++) {
		int v;
		char ch = *p;
		if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
		else if (ch == '+') v = 62;
		else if (ch == '/') v = 63;
		else if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
		else return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			char byte = (char)((acc >> bits) & 0xff);
			if (kit_buf_add(out, &byte, 1, SIZE_MAX / 2) != 0)
				return -1;
		}
	}
	if (out->data == NULL)
		kit_buf_add(out, "", 0, 1);
	return 0;
}

/* An image or file part as a block, or a note saying why it was not sent. New ref. */
static json_t *
anthropic_media_block(const json_t *part, int is_image)
{
	const char *mime = anthropic_str(part, "mime");
	const char *data = anthropic_str(part, "data");
	const char *name = anthropic_str(part, "name");
	const char *kind = is_image ? "image" : "file";
	const char *sp = name != NULL ? " " : "";
	if (mime == NULL)
		mime = "application/octet-stream";
	if (name == NULL)
		name = "";
	if (data == NULL || data[0] == '\0')
		return anthropic_note("[%s%s%s (%s) was empty]", kind, sp, name, mime);

	static const char *const images[] = { "image/jpeg", "image/png", "image/gif", "image/webp" };
	for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
		if (strcasecmp(mime, images[i]) == 0)
			return json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "image", "source", "type",
					 "base64", "media_type", images[i], "data", data);
	}
	if (is_image)
		return anthropic_note("[image%s%s (%s) not sent: Anthropic takes JPEG, PNG, GIF and "
				      "WebP images]", sp, name, mime);
	if (strcasecmp(mime, "application/pdf") == 0) {
		json_t *doc = json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", "document", "source",
					"type", "base64", "media_type", "application/pdf", "data", data);
		if (name[0] != '\0')
			json_object_set_new(doc, "title", json_string(name));
		return doc;
	}
	if (strncasecmp(mime, "text/", 5) == 0) {
		struct kit_buf text = { 0 };
		json_t *block = NULL;
		if (anthropic_b64_decode(data, &text) == 0 && text.len > 0) {
			/* json_stringn refuses text that is not UTF-8 */
			json_t *s = json_stringn(text.data, text.len);
			if (s != NULL) {
				block = json_pack("{s:s,s:{s:s,s:s,s:o}}", "type", "document",
						  "source", "type", "text", "media_type", "text/plain",
						  "data", s);
				if (name[0] != '\0')
					json_object_set_new(block, "title", json_string(name));
			}
		}
		kit_buf_free(&text);
		if (block != NULL)
			return block;
		return anthropic_note("[file%s%s (%s) not sent: it is not UTF-8 text]", sp, name,
				      mime);
	}
	return anthropic_note("[file%s%s (%s) not sent: Anthropic takes PDF and text documents]",
			      sp, name, mime);
}

/* The blocks of a user message. New ref. */
static json_t *
anthropic_user_blocks(const json_t *parts)
{
	json_t *blocks = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = anthropic_str(part, "type");
		json_t *b = NULL;
		if (type == NULL)
			continue;
		if (strcmp(type, "text") == 0)
			b = anthropic_text_block(anthropic_str(part, "text"),
						 json_string_length(json_object_get(part, "text")));
		else if (strcmp(type, "image") == 0)
			b = anthropic_media_block(part, 1);
		else if (strcmp(type, "file") == 0)
			b = anthropic_media_block(part, 0);
		if (b != NULL)
			json_array_append_new(blocks, b);
	}
	return blocks;
}

/*
 * A reasoning part as a thinking or redacted_thinking block: only when it came
 * from this module (other vendors' reasoning cannot be verified by Anthropic) and
 * carries what the API checks, a signature or the redacted data. New ref or NULL.
 */
static json_t *
anthropic_reasoning_block(const json_t *part)
{
	const json_t *meta = json_object_get(part, "meta");
	const char *provider = anthropic_str(meta, "provider");
	if (provider == NULL || strcmp(provider, "anthropic") != 0)
		return NULL;
	const char *redacted = anthropic_str(meta, "redacted_data");
	if (redacted != NULL)
		return json_pack("{s:s,s:s}", "type", "redacted_thinking", "data", redacted);
	const char *sig = anthropic_str(meta, "signature");
	const json_t *text = json_object_get(part, "text");
	if (sig == NULL || sig[0] == '\0')
		return NULL;
	return json_pack("{s:s,s:s%,s:s}", "type", "thinking", "thinking",
			 json_is_string(text) ? json_string_value(text) : "",
			 json_is_string(text) ? json_string_length(text) : 0, "signature", sig);
}

/* The blocks of an assistant message. New ref. */
static json_t *
anthropic_assistant_blocks(const json_t *parts)
{
	json_t *blocks = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = anthropic_str(part, "type");
		json_t *b = NULL;
		if (type == NULL)
			continue;
		if (strcmp(type, "text") == 0) {
			b = anthropic_text_block(anthropic_str(part, "text"),
						 json_string_length(json_object_get(part, "text")));
		} else if (strcmp(type, "reasoning") == 0) {
			b = anthropic_reasoning_block(part);
		} else if (strcmp(type, "tool_call") == 0) {
			char *id = anthropic_tool_id(anthropic_str(part, "id"));
			const char *name = anthropic_str(part, "name");
			const json_t *input = json_object_get(part, "input");
			b = json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", id, "name",
				      name != NULL ? name : "", "input",
				      json_is_object(input) ? json_deep_copy(input) : json_object());
			free(id);
		}
		if (b != NULL)
			json_array_append_new(blocks, b);
	}
	return blocks;
}

/* What a tool returned, as tool_result content: a string or blocks. New ref or NULL. */
static json_t *
anthropic_result_content(const json_t *content)
{
	if (json_is_string(content))
		return json_string_length(content) > 0 ? json_copy((json_t *)content) : NULL;
	if (!json_is_array(content))
		return NULL;
	json_t *blocks = anthropic_user_blocks(content);
	if (json_array_size(blocks) == 0) {
		json_decref(blocks);
		return NULL;
	}
	return blocks;
}

static const char *
anthropic_role(const json_t *msg)
{
	const char *r = anthropic_str(msg, "role");
	return r != NULL ? r : "";
}

/* Append blocks (stolen) to out as a `role` message, merged into the last message
 * when it has the same role (the API wants roles to alternate). */
static void
anthropic_append(json_t *out, const char *role, json_t *blocks)
{
	if (json_array_size(blocks) == 0) {
		json_decref(blocks);
		return;
	}
	size_t n = json_array_size(out);
	json_t *last = n > 0 ? json_array_get(out, n - 1) : NULL;
	if (last != NULL && strcmp(anthropic_role(last), role) == 0) {
		json_array_extend(json_object_get(last, "content"), blocks);
		json_decref(blocks);
		return;
	}
	json_array_append_new(out, json_pack("{s:s,s:o}", "role", role, "content", blocks));
}

/* The index of the last assistant message in out with a tool_use `id`, or -1. */
static long
anthropic_find_call(const json_t *out, const char *id)
{
	for (size_t i = json_array_size(out); i-- > 0;) {
		const json_t *msg = json_array_get(out, i);
		if (strcmp(anthropic_role(msg), "assistant") != 0)
			continue;
		size_t j;
		json_t *b;
		json_array_foreach(json_object_get(msg, "content"), j, b) {
			const char *bid = anthropic_str(b, "id");
			if (strcmp(anthropic_str(b, "type"), "tool_use") == 0 && bid != NULL &&
			    strcmp(bid, id) == 0)
				return (long)i;
		}
	}
	return -1;
}

/* The content of the user message right after out[ai], made when missing. Borrowed. */
static json_t *
anthropic_results_slot(json_t *out, size_t ai)
{
	json_t *next = json_array_get(out, ai + 1);
	if (next == NULL || strcmp(anthropic_role(next), "user") != 0) {
		next = json_pack("{s:s,s:[]}", "role", "user", "content");
		json_array_insert_new(out, ai + 1, next);
	}
	return json_object_get(next, "content");
}

/* Put a tool_result (stolen) after the tool_results that open content: the API
 * wants them ahead of any other block of the message. */
static void
anthropic_insert_result(json_t *content, json_t *block)
{
	size_t i = 0;
	while (i < json_array_size(content) &&
	       strcmp(anthropic_str(json_array_get(content, i), "type"), "tool_result") == 0)
		i++;
	json_array_insert_new(content, i, block);
}

static int
anthropic_has_result(const json_t *msg, const char *id)
{
	size_t i;
	json_t *b;
	json_array_foreach(json_object_get(msg, "content"), i, b) {
		const char *rid = anthropic_str(b, "tool_use_id");
		if (strcmp(anthropic_str(b, "type"), "tool_result") == 0 && rid != NULL &&
		    strcmp(rid, id) == 0)
			return 1;
	}
	return 0;
}

/* A neutral tool message: each result goes right after the call it answers. */
static void
anthropic_place_results(json_t *out, const json_t *parts)
{
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = anthropic_str(part, "type");
		if (type == NULL || strcmp(type, "tool_result") != 0)
			continue;
		char *id = anthropic_tool_id(anthropic_str(part, "id"));
		json_t *content = anthropic_result_content(json_object_get(part, "content"));
		long ai = anthropic_find_call(out, id);
		if (ai < 0) {
			/* No call to attach it to (its message was dropped): keep it as text. */
			const char *name = anthropic_str(part, "name");
			const char *text = anthropic_str(part, "content");
			anthropic_append(out, "user", json_pack("[o]", anthropic_note(
				"[result of tool %s (call %s)]\n%s", name != NULL ? name : "?", id,
				text != NULL ? text : "")));
			json_decref(content);
			free(id);
			continue;
		}
		json_t *b = json_pack("{s:s,s:s}", "type", "tool_result", "tool_use_id", id);
		if (content != NULL)
			json_object_set_new(b, "content", content);
		if (json_is_true(json_object_get(part, "is_error")))
			json_object_set_new(b, "is_error", json_true());
		anthropic_insert_result(anthropic_results_slot(out, (size_t)ai), b);
		free(id);
	}
}

/* Every tool_use needs a tool_result in the next message, or the API refuses the
 * request: give calls that have none a result that says so. */
static void
anthropic_close_calls(json_t *out)
{
	for (size_t i = 0; i < json_array_size(out); i++) {
		json_t *msg = json_array_get(out, i);
		if (strcmp(anthropic_role(msg), "assistant") != 0)
			continue;
		size_t j;
		json_t *b;
		json_array_foreach(json_object_get(msg, "content"), j, b) {
			const char *id = anthropic_str(b, "id");
			if (strcmp(anthropic_str(b, "type"), "tool_use") != 0 || id == NULL)
				continue;
			json_t *next = json_array_get(out, i + 1);
			if (next != NULL && anthropic_has_result(next, id))
				continue;
			anthropic_insert_result(anthropic_results_slot(out, i),
				json_pack("{s:s,s:s,s:s,s:b}", "type", "tool_result", "tool_use_id", id,
					  "content", "no result: the call did not run", "is_error", 1));
		}
	}
}

static void
anthropic_cache_mark(json_t *block)
{
	json_object_set_new(block, "cache_control", json_pack("{s:s}", "type", "ephemeral"));
}

/* The last block of the last message, when the API lets it carry cache_control. */
static void
anthropic_cache_messages(json_t *messages)
{
	size_t n = json_array_size(messages);
	if (n == 0)
		return;
	json_t *content = json_object_get(json_array_get(messages, n - 1), "content");
	size_t m = json_array_size(content);
	if (m == 0)
		return;
	json_t *last = json_array_get(content, m - 1);
	static const char *const ok[] = { "text", "image", "document", "tool_result", "tool_use" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (strcmp(anthropic_str(last, "type"), ok[i]) == 0) {
			anthropic_cache_mark(last);
			return;
		}
	}
}

/* The Messages API body for a neutral request. New ref, or NULL with *why (malloc'd). */
static json_t *
anthropic_build(const struct anthropic *a, const json_t *req, char **why)
{
	const json_t *messages = json_object_get(req, "messages");
	if (!json_is_object(req) || !json_is_array(messages)) {
		*why = kit_strdup("the request has no \"messages\" array");
		return NULL;
	}
	const char *model = anthropic_str(req, "model");
	if (model == NULL || model[0] == '\0')
		model = a->model;
	json_int_t max_tokens = json_integer_value(json_object_get(req, "max_tokens"));
	if (max_tokens <= 0)
		max_tokens = a->max_tokens;
	/* The thinking budget counts towards max_tokens and must stay below it. */
	if (a->thinking_budget > 0 && max_tokens <= a->thinking_budget)
		max_tokens = a->thinking_budget + ANTHROPIC_THINKING_MIN;

	json_t *body = json_pack("{s:s,s:I,s:b}", "model", model, "max_tokens", max_tokens,
				 "stream", 1);
	const json_t *system = json_object_get(req, "system");
	if (json_is_string(system) && json_string_length(system) > 0) {
		if (a->prompt_cache) {
			json_t *b = json_pack("{s:s,s:O}", "type", "text", "text", system);
			anthropic_cache_mark(b);
			json_object_set_new(body, "system", json_pack("[o]", b));
		} else {
			json_object_set(body, "system", (json_t *)system);
		}
	}

	json_t *out = json_array();
	size_t i;
	json_t *msg;
	json_array_foreach(messages, i, msg) {
		const char *role = anthropic_role(msg);
		const json_t *parts = json_object_get(msg, "parts");
		if (strcmp(role, "user") == 0)
			anthropic_append(out, "user", anthropic_user_blocks(parts));
		else if (strcmp(role, "assistant") == 0)
			anthropic_append(out, "assistant", anthropic_assistant_blocks(parts));
		else if (strcmp(role, "tool") == 0)
			anthropic_place_results(out, parts);
	}
	anthropic_close_calls(out);
	if (a->prompt_cache)
		anthropic_cache_messages(out);
	json_object_set_new(body, "messages", out);

	const json_t *tools = json_object_get(req, "tools");
	if (json_array_size(tools) > 0) {
		json_t *defs = json_array();
		json_t *tool;
		json_array_foreach(tools, i, tool) {
			const char *name = anthropic_str(tool, "name");
			if (name == NULL)
				continue;
			json_t *d = json_pack("{s:s}", "name", name);
			const json_t *desc = json_object_get(tool, "description");
			if (json_is_string(desc) && json_string_length(desc) > 0)
				json_object_set(d, "description", (json_t *)desc);
			const json_t *schema = json_object_get(tool, "input_schema");
			json_object_set_new(d, "input_schema", json_is_object(schema) ?
					    json_deep_copy(schema) : json_pack("{s:s}", "type", "object"));
			json_array_append_new(defs, d);
		}
		if (a->prompt_cache && json_array_size(defs) > 0)
			anthropic_cache_mark(json_array_get(defs, json_array_size(defs) - 1));
		json_object_set_new(body, "tools", defs);
	}
	if (a->thinking_budget > 0)
		json_object_set_new(body, "thinking", json_pack("{s:s,s:I}", "type", "enabled",
								 "budget_tokens",
								 (json_int_t)a->thinking_budget));
	return body;
}

/* ------------------------------------------------------------ streaming -- */

enum anthropic_block {
	ANTHROPIC_BLOCK_NONE,
	ANTHROPIC_BLOCK_TEXT,
	ANTHROPIC_BLOCK_THINKING,
	ANTHROPIC_BLOCK_REDACTED,
	ANTHROPIC_BLOCK_TOOL,
	ANTHROPIC_BLOCK_OTHER,   /* server tools and whatever comes next: skipped */
};

static const char *const anthropic_block_names[] = {
	"no", "text", "thinking", "redacted_thinking", "tool_use", "other",
};

struct hearth_provider_call {
	struct anthropic *a;
	struct hearth_provider_call *next;
	struct hearth_http *http;             /* NULL once on_done ran or after cancel */
	const struct hearth_stream_sink *sink;
	void *arg;
	struct hearth_sse *sse;
	struct anthropic_reply reply;
	size_t n_events;

	/* The content block being streamed (the API sends them one after another). */
	enum anthropic_block block;
	long long block_index;
	int block_sent;                       /* a text or thinking delta went out */
	struct kit_buf acc;             /* tool_use input JSON, or the signature */
	char *tool_id, *tool_name;            /* owned */
	char *redacted;                       /* owned: redacted_thinking data */
	json_t *tool_input;                   /* owned: a non-empty input of the start */

	struct hearth_usage usage;
	enum hearth_finish finish;
	int stopped;                          /* message_stop came */
	int failed;                           /* err says how the call ends */
	struct kit_err err;
	int busy;                             /* inside the SSE parser */
	int cancelled;                        /* cancel() came: no sink call from now on */
};

static void
anthropic_block_reset(struct hearth_provider_call *c)
{
	c->block = ANTHROPIC_BLOCK_NONE;
	c->block_sent = 0;
	kit_buf_free(&c->acc);
	free(c->tool_id);
	free(c->tool_name);
	free(c->redacted);
	json_decref(c->tool_input);
	c->tool_id = c->tool_name = c->redacted = NULL;
	c->tool_input = NULL;
}

static void
anthropic_call_free(struct hearth_provider_call *c)
{
	if (c->sse != NULL)
		c->a->host->sse_free(c->sse);
	anthropic_block_reset(c);
	anthropic_reply_free(&c->reply);
	kit_err_free(&c->err);
	free(c);
}

static void
anthropic_call_unlink(struct hearth_provider_call *c)
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
anthropic_fail(struct hearth_provider_call *c, uint32_t type, int retryable, const char *vendor,
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

static int anthropic_protocol(struct hearth_provider_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A malformed stream: the server broke the protocol, and the same request would
 * likely get the same reply, so it is not retried. */
static int
anthropic_protocol(struct hearth_provider_call *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		kit_oom();
	return anthropic_fail(c, HEARTH_PERR_PROTOCOL, 0, NULL, s);
}

/* The sink, silenced once the call is cancelled. */
static void
anthropic_emit_text(struct hearth_provider_call *c, const char *s, size_t n)
{
	if (!c->cancelled)
		c->sink->text(c->arg, s, n);
}

static void
anthropic_emit_reasoning(struct hearth_provider_call *c, const char *s, size_t n)
{
	if (!c->cancelled)
		c->sink->reasoning(c->arg, s, n);
}

static void
anthropic_emit_part_end(struct hearth_provider_call *c, const json_t *meta)
{
	if (!c->cancelled)
		c->sink->part_end(c->arg, meta);
}

/* Usage counters in u (any subset) replace ours: Anthropic's are cumulative. */
static void
anthropic_take_usage(struct hearth_provider_call *c, const json_t *u)
{
	static const struct {
		const char *key;
		size_t off;
	} map[] = {
		{ "input_tokens", offsetof(struct hearth_usage, input_tokens) },
		{ "output_tokens", offsetof(struct hearth_usage, output_tokens) },
		{ "cache_read_input_tokens", offsetof(struct hearth_usage, cache_read_tokens) },
		{ "cache_creation_input_tokens", offsetof(struct hearth_usage, cache_write_tokens) },
	};
	if (!json_is_object(u))
		return;
	int any = 0;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		const json_t *v = json_object_get(u, map[i].key);
		if (json_is_integer(v) && json_integer_value(v) >= 0) {
			*(uint64_t *)((char *)&c->usage + map[i].off) = (uint64_t)json_integer_value(v);
			any = 1;
		}
	}
	if (any && !c->cancelled)
		c->sink->usage(c->arg, &c->usage);
}

static enum hearth_finish
anthropic_finish(const char *stop_reason)
{
	static const struct {
		const char *name;
		enum hearth_finish finish;
	} map[] = {
		{ "end_turn", HEARTH_FINISH_END_TURN },
		{ "max_tokens", HEARTH_FINISH_MAX_TOKENS },
		{ "model_context_window_exceeded", HEARTH_FINISH_MAX_TOKENS },
		{ "stop_sequence", HEARTH_FINISH_STOP_SEQUENCE },
		{ "tool_use", HEARTH_FINISH_TOOL_USE },
		{ "pause_turn", HEARTH_FINISH_PAUSE },
		{ "refusal", HEARTH_FINISH_REFUSAL },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (strcmp(stop_reason, map[i].name) == 0)
			return map[i].finish;
	}
	return HEARTH_FINISH_END_TURN;
}

static void
anthropic_on_block_start(struct hearth_provider_call *c, const json_t *ev, const char *event)
{
	const json_t *index = json_object_get(ev, "index");
	const json_t *cb = json_object_get(ev, "content_block");
	if (!json_is_integer(index) || !json_is_object(cb)) {
		anthropic_protocol(c, "event %zu (%s): no index or content_block", c->n_events,
				   event);
		return;
	}
	if (c->block != ANTHROPIC_BLOCK_NONE) {
		anthropic_protocol(c, "event %zu (%s): block %lld starts while block %lld is open",
				   c->n_events, event, (long long)json_integer_value(index),
				   c->block_index);
		return;
	}
	c->block_index = json_integer_value(index);
	c->block_sent = 0;
	const char *type = anthropic_str(cb, "type");
	if (type == NULL)
		type = "";
	if (strcmp(type, "text") == 0) {
		c->block = ANTHROPIC_BLOCK_TEXT;
		const json_t *t = json_object_get(cb, "text");
		if (json_string_length(t) > 0) {
			anthropic_emit_text(c, json_string_value(t), json_string_length(t));
			c->block_sent = 1;
		}
	} else if (strcmp(type, "thinking") == 0) {
		c->block = ANTHROPIC_BLOCK_THINKING;
		const json_t *t = json_object_get(cb, "thinking");
		const json_t *sig = json_object_get(cb, "signature");
		if (json_string_length(t) > 0) {
			anthropic_emit_reasoning(c, json_string_value(t), json_string_length(t));
			c->block_sent = 1;
		}
		if (json_string_length(sig) > 0)
			kit_buf_add(&c->acc, json_string_value(sig), json_string_length(sig),
					  ANTHROPIC_BLOCK_MAX);
	} else if (strcmp(type, "redacted_thinking") == 0) {
		const char *data = anthropic_str(cb, "data");
		c->block = ANTHROPIC_BLOCK_REDACTED;
		c->redacted = kit_strdup(data != NULL ? data : "");
	} else if (strcmp(type, "tool_use") == 0) {
		const char *id = anthropic_str(cb, "id");
		const char *name = anthropic_str(cb, "name");
		if (id == NULL || id[0] == '\0' || name == NULL || name[0] == '\0') {
			anthropic_protocol(c, "event %zu (%s): tool_use block %lld has no id or name",
					   c->n_events, event, c->block_index);
			return;
		}
		c->block = ANTHROPIC_BLOCK_TOOL;
		c->tool_id = kit_strdup(id);
		c->tool_name = kit_strdup(name);
		const json_t *input = json_object_get(cb, "input");
		if (json_is_object(input) && json_object_size(input) > 0)
			c->tool_input = json_deep_copy(input);
	} else {
		c->block = ANTHROPIC_BLOCK_OTHER;
	}
}

/* The string member `key` of a delta, or NULL after reporting it missing. */
static const json_t *
anthropic_delta_string(struct hearth_provider_call *c, const json_t *delta, const char *key,
		       const char *dtype, const char *event)
{
	const json_t *v = json_object_get(delta, key);
	if (!json_is_string(v)) {
		anthropic_protocol(c, "event %zu (%s): %s of block %lld has no string \"%s\"",
				   c->n_events, event, dtype, c->block_index, key);
		return NULL;
	}
	return v;
}

static void
anthropic_on_block_delta(struct hearth_provider_call *c, const json_t *ev, const char *event)
{
	const json_t *index = json_object_get(ev, "index");
	const json_t *delta = json_object_get(ev, "delta");
	if (!json_is_integer(index) || !json_is_object(delta)) {
		anthropic_protocol(c, "event %zu (%s): no index or delta", c->n_events, event);
		return;
	}
	if (c->block == ANTHROPIC_BLOCK_NONE || json_integer_value(index) != c->block_index) {
		anthropic_protocol(c, "event %zu (%s): block %lld is not open", c->n_events, event,
				   (long long)json_integer_value(index));
		return;
	}
	if (c->block == ANTHROPIC_BLOCK_OTHER)
		return;
	const char *dtype = anthropic_str(delta, "type");
	enum anthropic_block want;
	if (dtype == NULL)
		return;
	if (strcmp(dtype, "text_delta") == 0)
		want = ANTHROPIC_BLOCK_TEXT;
	else if (strcmp(dtype, "thinking_delta") == 0 || strcmp(dtype, "signature_delta") == 0)
		want = ANTHROPIC_BLOCK_THINKING;
	else if (strcmp(dtype, "input_json_delta") == 0)
		want = ANTHROPIC_BLOCK_TOOL;
	else
		return;   /* citations_delta and newer kinds: nothing we keep */
	if (want != c->block) {
		anthropic_protocol(c, "event %zu (%s): %s in %s block %lld", c->n_events, event,
				   dtype, anthropic_block_names[c->block], c->block_index);
		return;
	}

	const json_t *v;
	if (strcmp(dtype, "text_delta") == 0) {
		if ((v = anthropic_delta_string(c, delta, "text", dtype, event)) == NULL)
			return;
		if (json_string_length(v) > 0) {
			anthropic_emit_text(c, json_string_value(v), json_string_length(v));
			c->block_sent = 1;
		}
	} else if (strcmp(dtype, "thinking_delta") == 0) {
		if ((v = anthropic_delta_string(c, delta, "thinking", dtype, event)) == NULL)
			return;
		if (json_string_length(v) > 0) {
			anthropic_emit_reasoning(c, json_string_value(v), json_string_length(v));
			c->block_sent = 1;
		}
	} else {
		const char *key = strcmp(dtype, "signature_delta") == 0 ? "signature" : "partial_json";
		if ((v = anthropic_delta_string(c, delta, key, dtype, event)) == NULL)
			return;
		if (kit_buf_add(&c->acc, json_string_value(v), json_string_length(v),
				      ANTHROPIC_BLOCK_MAX) != 0)
			anthropic_protocol(c, "event %zu (%s): %s block %lld is over %u bytes",
					   c->n_events, event, anthropic_block_names[c->block],
					   c->block_index, ANTHROPIC_BLOCK_MAX);
	}
}

static void
anthropic_on_tool_stop(struct hearth_provider_call *c)
{
	json_t *input;
	if (c->acc.len == 0) {
		input = c->tool_input != NULL ? json_incref(c->tool_input) : json_object();
	} else {
		json_error_t je;
		input = json_loadb(c->acc.data, c->acc.len, 0, &je);
		if (input == NULL) {
			anthropic_protocol(c, "tool_use block %lld (%s): its input is not valid JSON: "
					   "%s at byte %d", c->block_index, c->tool_name, je.text,
					   je.position);
			return;
		}
		if (!json_is_object(input)) {
			json_decref(input);
			anthropic_protocol(c, "tool_use block %lld (%s): its input is not a JSON object",
					   c->block_index, c->tool_name);
			return;
		}
	}
	if (!c->cancelled)
		c->sink->tool_call(c->arg, c->tool_id, c->tool_name, input, NULL);
	json_decref(input);
}

static void
anthropic_on_block_stop(struct hearth_provider_call *c, const json_t *ev, const char *event)
{
	const json_t *index = json_object_get(ev, "index");
	if (!json_is_integer(index)) {
		anthropic_protocol(c, "event %zu (%s): no index", c->n_events, event);
		return;
	}
	if (c->block == ANTHROPIC_BLOCK_NONE || json_integer_value(index) != c->block_index) {
		anthropic_protocol(c, "event %zu (%s): block %lld is not open", c->n_events, event,
				   (long long)json_integer_value(index));
		return;
	}
	json_t *meta = NULL;
	switch (c->block) {
	case ANTHROPIC_BLOCK_TEXT:
		if (c->block_sent)
			anthropic_emit_part_end(c, NULL);
		break;
	case ANTHROPIC_BLOCK_THINKING:
		/* An empty delta makes sure there is a part to carry the signature. */
		if (!c->block_sent)
			anthropic_emit_reasoning(c, "", 0);
		meta = json_pack("{s:s}", "provider", "anthropic");
		if (c->acc.len > 0)
			json_object_set_new(meta, "signature", json_stringn(c->acc.data, c->acc.len));
		anthropic_emit_part_end(c, meta);
		break;
	case ANTHROPIC_BLOCK_REDACTED:
		anthropic_emit_reasoning(c, "", 0);
		meta = json_pack("{s:s,s:s}", "provider", "anthropic", "redacted_data", c->redacted);
		anthropic_emit_part_end(c, meta);
		break;
	case ANTHROPIC_BLOCK_TOOL:
		anthropic_on_tool_stop(c);
		break;
	default:
		break;
	}
	json_decref(meta);
	anthropic_block_reset(c);
}

static void
anthropic_on_error(struct hearth_provider_call *c, const json_t *ev)
{
	const json_t *error = json_object_get(ev, "error");
	const char *vendor = anthropic_str(error, "type");
	const char *msg = anthropic_str(error, "message");
	int retryable;
	uint32_t type = anthropic_errtype(vendor, msg, &retryable);
	anthropic_fail(c, type, retryable, vendor, msg != NULL ? kit_strdup(msg) :
		       kit_printf("an error event of type %s",
					vendor != NULL ? vendor : "(none)"));
}

static int
anthropic_event_cb(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	static const char *const known[] = {
		"message", "message_start", "content_block_start", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop", "error",
	};
	struct hearth_provider_call *c = arg;
	c->n_events++;
	if (c->failed || c->cancelled)
		return 1;
	if (c->stopped)
		return 0;
	size_t k = 0;
	while (k < sizeof known / sizeof known[0] && strcmp(event, known[k]) != 0)
		k++;
	if (k == sizeof known / sizeof known[0])
		return 0;   /* ping, and event types newer than this module */

	json_error_t je;
	json_t *ev = json_loadb(data, len, JSON_ALLOW_NUL, &je);
	if (!json_is_object(ev)) {
		if (ev == NULL)
			anthropic_protocol(c, "event %zu (%s): its data is not JSON: %s at byte %d",
					   c->n_events, event, je.text, je.position);
		else
			anthropic_protocol(c, "event %zu (%s): its data is not a JSON object",
					   c->n_events, event);
		json_decref(ev);
		return 1;
	}
	const char *type = anthropic_str(ev, "type");
	if (strcmp(event, "error") == 0 || (type != NULL && strcmp(type, "error") == 0)) {
		anthropic_on_error(c, ev);
	} else if (type == NULL) {
		anthropic_protocol(c, "event %zu (%s): its data has no \"type\"", c->n_events, event);
	} else if (strcmp(type, "message_start") == 0) {
		anthropic_take_usage(c, json_object_get(json_object_get(ev, "message"), "usage"));
	} else if (strcmp(type, "content_block_start") == 0) {
		anthropic_on_block_start(c, ev, type);
	} else if (strcmp(type, "content_block_delta") == 0) {
		anthropic_on_block_delta(c, ev, type);
	} else if (strcmp(type, "content_block_stop") == 0) {
		anthropic_on_block_stop(c, ev, type);
	} else if (strcmp(type, "message_delta") == 0) {
		const char *sr = anthropic_str(json_object_get(ev, "delta"), "stop_reason");
		if (sr != NULL)
			c->finish = anthropic_finish(sr);
		anthropic_take_usage(c, json_object_get(ev, "usage"));
	} else if (strcmp(type, "message_stop") == 0) {
		if (c->block != ANTHROPIC_BLOCK_NONE)
			anthropic_protocol(c, "event %zu (%s): block %lld is still open", c->n_events,
					   type, c->block_index);
		c->stopped = 1;
	}
	json_decref(ev);
	return c->failed || c->cancelled;
}

static int
anthropic_response_cb(void *arg, long status, const char *const *names,
		      const char *const *values, size_t n)
{
	struct hearth_provider_call *c = arg;
	anthropic_reply_headers(&c->reply, status, names, values, n);
	if (status == 200)
		c->sse = c->a->host->sse_new(c->a->host, ANTHROPIC_EVENT_MAX, anthropic_event_cb, c);
	return 0;
}

static int
anthropic_data_cb(void *arg, const char *data, size_t len)
{
	struct hearth_provider_call *c = arg;
	const struct hearth_host *host = c->a->host;
	if (c->failed)
		return 1;
	if (c->reply.status != 200 || c->sse == NULL) {
		anthropic_reply_body(&c->reply, data, len);
		return 0;
	}
	c->busy = 1;
	int rc = host->sse_feed(c->sse, data, len);
	c->busy = 0;
	if (c->cancelled) {
		/* cancel() came from a sink callback and stopped the request already */
		anthropic_call_free(c);
		return 1;
	}
	if (rc != 0 && !c->failed) {
		if (rc == HEARTH_ELIMIT)
			anthropic_protocol(c, "an event is longer than %u bytes (%s)",
					   ANTHROPIC_EVENT_MAX, host->sse_error(c->sse));
		else
			anthropic_protocol(c, "malformed event stream: %s", host->sse_error(c->sse));
	}
	return c->failed;
}

static void
anthropic_done_cb(void *arg, int error, long status, const char *message)
{
	struct hearth_provider_call *c = arg;
	struct anthropic *a = c->a;
	c->http = NULL;
	if (c->reply.status == 0)
		c->reply.status = status;
	if (!c->failed) {
		if (error != 0) {
			anthropic_transfer_error(error, message, &c->err);
			c->failed = 1;
		} else if (c->reply.status != 200 || c->sse == NULL) {
			anthropic_http_error(&c->reply, &c->err);
			c->failed = 1;
		} else if (a->host->sse_finish(c->sse) != 0 || !c->stopped) {
			/* Cut short: a retry is likely to get the whole reply. */
			anthropic_fail(c, HEARTH_PERR_PROTOCOL, 1, NULL,
				       kit_strdup("stream ended before message_stop"));
		}
	}
	anthropic_call_unlink(c);
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
	anthropic_call_free(c);
}

static struct hearth_provider_call *
anthropic_stream(void *state, const json_t *request, const struct hearth_stream_sink *sink,
		 void *arg, int *error)
{
	struct anthropic *a = state;
	char *why = NULL;
	json_t *body = anthropic_build(a, request, &why);
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
	char *url = kit_printf("%s/v1/messages", a->base_url);
	struct anthropic_headers h;
	anthropic_headers_init(&h, a, 1);
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "POST",
		.url = url,
		.headers = h.lines,
		.body = text,
		.body_len = strlen(text),
		.idle_timeout_ms = (uint32_t)a->timeout_ms,
		.on_response = anthropic_response_cb,
		.on_data = anthropic_data_cb,
		.on_done = anthropic_done_cb,
		.arg = c,
	};
	c->http = a->host->http_start(a->host, &req);
	size_t body_len = req.body_len;
	anthropic_headers_free(&h);
	free(url);
	free(text);
	if (c->http == NULL) {
		free(c);
		*error = HEARTH_EIO;
		return NULL;
	}
	a->host->log(a->host, HEARTH_LOG_DEBUG, "POST /v1/messages: %zu bytes", body_len);
	c->next = a->calls;
	a->calls = c;
	return c;
}

static void
anthropic_cancel(void *state, struct hearth_provider_call *c)
{
	struct anthropic *a = state;
	if (c == NULL || c->cancelled)
		return;
	anthropic_call_unlink(c);
	c->cancelled = 1;
	if (c->http != NULL) {
		a->host->http_cancel(c->http);
		c->http = NULL;
	}
	if (!c->busy)
		anthropic_call_free(c);
}

/* -------------------------------------------------------------- models -- */

struct anthropic_list {
	struct anthropic *a;
	struct anthropic_list *next;
	struct hearth_http *http;
	void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err);
	void *arg;
	struct anthropic_reply reply;
	json_t *models;     /* owned: what the pages so far gave */
	char *after_id;     /* owned: where the next page starts */
	int pages;
};

static void
anthropic_list_free(struct anthropic_list *l)
{
	anthropic_reply_free(&l->reply);
	json_decref(l->models);
	free(l->after_id);
	free(l);
}

static void
anthropic_list_unlink(struct anthropic_list *l)
{
	for (struct anthropic_list **pp = &l->a->lists; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			return;
		}
	}
}

/* s with everything but RFC 3986's unreserved characters percent-encoded. malloc'd. */
static char *
anthropic_urlencode(const char *s)
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

static int anthropic_list_page(struct anthropic_list *l);

static int
anthropic_list_response_cb(void *arg, long status, const char *const *names,
			   const char *const *values, size_t n)
{
	struct anthropic_list *l = arg;
	anthropic_reply_headers(&l->reply, status, names, values, n);
	return 0;
}

static int
anthropic_list_data_cb(void *arg, const char *data, size_t len)
{
	struct anthropic_list *l = arg;
	anthropic_reply_body(&l->reply, data, len);
	return 0;
}

/* Add one page's models; 0, or -1 with e set. Sets l->after_id when more follow. */
static int
anthropic_list_take(struct anthropic_list *l, struct kit_err *e)
{
	json_error_t je;
	json_t *page = json_loadb(l->reply.body.data != NULL ? l->reply.body.data : "",
				  l->reply.body.len, 0, &je);
	const json_t *data = json_object_get(page, "data");
	if (!json_is_array(data)) {
		kit_err_set(e, HEARTH_PERR_PROTOCOL, 0, NULL, page == NULL ?
			kit_printf("model list page %d is not JSON: %s at byte %d", l->pages,
					 je.text, je.position) :
			kit_printf("model list page %d has no \"data\" array", l->pages));
		json_decref(page);
		return -1;
	}
	size_t i;
	json_t *m;
	json_array_foreach(data, i, m) {
		const char *id = anthropic_str(m, "id");
		const char *name = anthropic_str(m, "display_name");
		if (id == NULL)
			continue;
		json_array_append_new(l->models, json_pack("{s:s,s:s}", "id", id, "name",
							   name != NULL ? name : id));
	}
	free(l->after_id);
	l->after_id = NULL;
	if (json_is_true(json_object_get(page, "has_more"))) {
		const char *last = anthropic_str(page, "last_id");
		if (last == NULL || last[0] == '\0') {
			kit_err_set(e, HEARTH_PERR_PROTOCOL, 0, NULL, kit_printf(
				"model list page %d has more but no \"last_id\"", l->pages));
			json_decref(page);
			return -1;
		}
		l->after_id = kit_strdup(last);
	}
	json_decref(page);
	return 0;
}

static void
anthropic_list_done_cb(void *arg, int error, long status, const char *message)
{
	struct anthropic_list *l = arg;
	struct kit_err e = { 0 };
	l->http = NULL;
	if (l->reply.status == 0)
		l->reply.status = status;
	if (error != 0) {
		anthropic_transfer_error(error, message, &e);
	} else if (l->reply.status != 200) {
		anthropic_http_error(&l->reply, &e);
	} else if (l->reply.body_over) {
		kit_err_set(&e, HEARTH_PERR_PROTOCOL, 0, NULL, kit_printf(
			"model list page %d is over %u bytes", l->pages, ANTHROPIC_BODY_MAX));
	} else if (anthropic_list_take(l, &e) == 0 && l->after_id != NULL) {
		if (l->pages >= ANTHROPIC_MODEL_PAGES_MAX) {
			kit_err_set(&e, HEARTH_PERR_PROTOCOL, 0, NULL, kit_printf(
				"the model list goes on past %d pages", ANTHROPIC_MODEL_PAGES_MAX));
		} else if (anthropic_list_page(l) == 0) {
			return;
		} else {
			kit_err_set(&e, HEARTH_PERR_NETWORK, 0, NULL, kit_strdup(
				"could not request the next page of the model list"));
		}
	}
	anthropic_list_unlink(l);
	if (e.message != NULL) {
		struct hearth_provider_error view = kit_err_view(&e);
		l->done(l->arg, NULL, &view);
	} else {
		json_t *models = l->models;
		l->models = NULL;
		l->done(l->arg, models, NULL);
	}
	kit_err_free(&e);
	anthropic_list_free(l);
}

/* Request the next page. 0, or HEARTH_EIO when the host refused the request. */
static int
anthropic_list_page(struct anthropic_list *l)
{
	struct anthropic *a = l->a;
	char *url;
	if (l->after_id != NULL) {
		char *after = anthropic_urlencode(l->after_id);
		url = kit_printf("%s/v1/models?limit=%d&after_id=%s", a->base_url,
				       ANTHROPIC_MODEL_PAGE_LIMIT, after);
		free(after);
	} else {
		url = kit_printf("%s/v1/models?limit=%d", a->base_url,
				       ANTHROPIC_MODEL_PAGE_LIMIT);
	}
	anthropic_reply_free(&l->reply);
	struct anthropic_headers h;
	anthropic_headers_init(&h, a, 0);
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "GET",
		.url = url,
		.headers = h.lines,
		.idle_timeout_ms = (uint32_t)a->timeout_ms,
		.on_response = anthropic_list_response_cb,
		.on_data = anthropic_list_data_cb,
		.on_done = anthropic_list_done_cb,
		.arg = l,
	};
	l->http = a->host->http_start(a->host, &req);
	anthropic_headers_free(&h);
	free(url);
	if (l->http == NULL)
		return HEARTH_EIO;
	l->pages++;
	return 0;
}

static int
anthropic_list_models(void *state,
		      void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err),
		      void *arg)
{
	struct anthropic *a = state;
	struct anthropic_list *l = calloc(1, sizeof *l);
	if (l == NULL)
		kit_oom();
	l->a = a;
	l->done = done;
	l->arg = arg;
	l->models = json_array();
	int rc = anthropic_list_page(l);
	if (rc != 0) {
		anthropic_list_free(l);
		return rc;
	}
	l->next = a->lists;
	a->lists = l;
	return 0;
}

/* ------------------------------------------------------------- lifetime -- */

static const char *
anthropic_default_model(void *state)
{
	struct anthropic *a = state;
	return a->model;
}

static int
anthropic_has_credentials(void *state)
{
	struct anthropic *a = state;
	return a->api_key != NULL;
}

static void
anthropic_free(struct anthropic *a)
{
	if (a->api_key != NULL) {
		for (volatile char *p = a->api_key; *p != '\0'; p++)
			*p = '\0';
		free(a->api_key);
	}
	free(a->base_url);
	free(a->model);
	free(a->beta);
	free(a);
}

/* The key from the environment, blanks trimmed, malloc'd; NULL when unset, empty or
 * unusable. */
static char *
anthropic_env_key(const struct hearth_host *host)
{
	const char *v = getenv("ANTHROPIC_API_KEY");
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
			host->log(host, HEARTH_LOG_ERROR,
				  "ANTHROPIC_API_KEY holds a control character: not used");
			return NULL;
		}
	}
	char *key = strndup(v, n);
	if (key == NULL)
		kit_oom();
	return key;
}

static int
anthropic_init(const struct hearth_host *host, const json_t *config, void **state)
{
	static const char *const keys[] = {
		"model", "max_tokens", "thinking_budget", "timeout_ms", "base_url", "prompt_cache",
		"beta",
	};
	struct anthropic *a = calloc(1, sizeof *a);
	if (a == NULL)
		return HEARTH_ENOMEM;
	a->host = host;

	kit_check_keys(host, config, keys, sizeof keys / sizeof keys[0]);

	const char *env_url = getenv("ANTHROPIC_BASE_URL");
	const char *url = env_url != NULL && env_url[0] != '\0' ? env_url :
		host->config_string(host, "base_url", ANTHROPIC_DEFAULT_URL);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		/* Not quoted: a URL may carry credentials. */
		host->log(host, HEARTH_LOG_ERROR, "the base URL (%s) is not an http:// or https:// URL",
			  url == env_url ? "ANTHROPIC_BASE_URL" : "base_url");
		anthropic_free(a);
		return HEARTH_EINVAL;
	}
	a->base_url = kit_strdup(url);
	for (size_t n = strlen(a->base_url); n > 0 && a->base_url[n - 1] == '/'; n--)
		a->base_url[n - 1] = '\0';

	const char *model = host->config_string(host, "model", ANTHROPIC_DEFAULT_MODEL);
	a->model = kit_strdup(model[0] != '\0' ? model : ANTHROPIC_DEFAULT_MODEL);
	const char *beta = host->config_string(host, "beta", NULL);
	if (beta != NULL && beta[0] != '\0')
		a->beta = kit_strdup(beta);

	int rc = host->config_int(host, "max_tokens", ANTHROPIC_DEFAULT_MAX_TOKENS, 1, 10000000,
				  &a->max_tokens);
	if (rc == 0)
		rc = host->config_int(host, "thinking_budget", 0, 0, 10000000, &a->thinking_budget);
	if (rc == 0)
		rc = host->config_int(host, "timeout_ms", 0, 0, UINT32_MAX, &a->timeout_ms);
	if (rc == 0)
		rc = host->config_bool(host, "prompt_cache", 1, &a->prompt_cache);
	if (rc == 0 && a->thinking_budget > 0 && a->thinking_budget < ANTHROPIC_THINKING_MIN) {
		host->log(host, HEARTH_LOG_ERROR, "thinking_budget %lld is below the API's minimum "
			  "of %d (0 turns thinking off)", a->thinking_budget, ANTHROPIC_THINKING_MIN);
		rc = HEARTH_EINVAL;
	}
	if (rc != 0) {
		anthropic_free(a);
		return rc;
	}
	a->api_key = anthropic_env_key(host);
	if (a->api_key == NULL)
		host->log(host, HEARTH_LOG_INFO, "ANTHROPIC_API_KEY is not set");
	*state = a;
	return 0;
}

static void
anthropic_fini(void *state)
{
	struct anthropic *a = state;
	/* The core cancels its calls first; whatever is left goes without a callback. */
	while (a->calls != NULL) {
		struct hearth_provider_call *c = a->calls;
		a->calls = c->next;
		a->host->log(a->host, HEARTH_LOG_WARN, "a stream was still running at shutdown");
		if (c->http != NULL)
			a->host->http_cancel(c->http);
		anthropic_call_free(c);
	}
	while (a->lists != NULL) {
		struct anthropic_list *l = a->lists;
		a->lists = l->next;
		if (l->http != NULL)
			a->host->http_cancel(l->http);
		anthropic_list_free(l);
	}
	anthropic_free(a);
}

static const struct hearth_provider anthropic_vtable = {
	.struct_size = sizeof(struct hearth_provider),
	.stream = anthropic_stream,
	.cancel = anthropic_cancel,
	.list_models = anthropic_list_models,
	.default_model = anthropic_default_model,
	.has_credentials = anthropic_has_credentials,
};

static const struct hearth_plugin anthropic_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_PROVIDER, .name = "anthropic", .version = "0.1.0",
	.description = "Anthropic Messages API (Claude)", .init = anthropic_init,
	.fini = anthropic_fini, .provider = &anthropic_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &anthropic_plugin;
}
