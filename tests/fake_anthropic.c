/*
 * fake_anthropic.c: a fake Anthropic API for tests (see fake_anthropic.h).
 *
 * Replies are rendered to raw response bytes when they are pushed (a bad script
 * fails right there, in the test's thread) and sent by fakehttp as FAKEHTTP_RAW,
 * so the framing here is exactly what goes over the wire. One handler answers
 * every request, so requests are routed by path and the message queue is ours.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fake_anthropic.h"

#define FA_DEFAULT_MODEL "claude-sonnet-4-5-20250929"
#define FA_DEFAULT_PAGE 20

struct fa_reply {
	char *raw;
	size_t len;
	int close, hang;
	size_t max_write;
	unsigned seed;
	struct fa_reply *next;
};

struct fake_anthropic {
	struct fakehttp *srv;
	pthread_mutex_t lock;        /* everything below */
	struct fa_reply *head, *tail;
	size_t n_queued;
	size_t max_write;
	unsigned seed;
	unsigned n_pushed;           /* replies pushed, for their seeds and ids */
	unsigned n_answered;         /* request ids */
	char *key;
	json_t *models;
	size_t page_size;
	FILE *log;
};

static void
fa_die(const char *what)
{
	fprintf(stderr, "fake_anthropic: %s\n", what);
	abort();
}

/* ------------------------------------------------------------- buffers -- */

struct fa_buf {
	char *data;
	size_t len, cap;
};

static void
fa_add(struct fa_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			fa_die("out of memory");
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void fa_printf(struct fa_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fa_printf(struct fa_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fa_die("out of memory");
	fa_add(b, s, (size_t)n);
	free(s);
}

static char *
fa_strdup(const char *s)
{
	char *d = strdup(s);
	if (d == NULL)
		fa_die("out of memory");
	return d;
}

static char *fa_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
fa_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fa_die("out of memory");
	return s;
}

/* Compact JSON of v (any value), malloc'd. */
static char *
fa_dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		fa_die("cannot encode JSON");
	return s;
}

/* ----------------------------------------------------------- rendering -- */

static const char *
fa_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Site Overloaded";
	default: return "Error";
	}
}

/* The error type the API uses for a status. */
static const char *
fa_error_type(int status)
{
	switch (status) {
	case 400: return "invalid_request_error";
	case 401: return "authentication_error";
	case 402: return "billing_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 504: return "timeout_error";
	case 529: return "overloaded_error";
	default: return "api_error";
	}
}

static void
fa_date(struct fa_buf *b)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	fa_printf(b, "Date: %s\r\n", date);
}

/* A complete JSON error response, as the API sends one. extra: header lines. */
static void
fa_error_response(struct fa_buf *out, int status, const char *type, const char *message,
		  const char *request_id, const char *extra, const char *raw_body)
{
	char *body;
	if (raw_body != NULL) {
		body = fa_strdup(raw_body);
	} else {
		json_t *j = json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "error", "error", "type", type,
				      "message", message, "request_id", request_id);
		body = fa_dump(j);
		json_decref(j);
	}
	fa_printf(out, "HTTP/1.1 %d %s\r\n", status, fa_reason(status));
	fa_date(out);
	fa_printf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Connection: keep-alive\r\nrequest-id: %s\r\n", strlen(body), request_id);
	if (extra != NULL)
		fa_add(out, extra, strlen(extra));
	fa_add(out, "\r\n", 2);
	fa_add(out, body, strlen(body));
	free(body);
}

struct fa_render {
	struct fa_buf sse;
	int index;            /* of the next content block */
	unsigned deltas;      /* deltas sent, the default output token count */
	unsigned seed;        /* rand_r state for splitting tool input */
	int cut, hang;
};

/* One event: the data is the compact JSON of `data` (stolen). */
static void
fa_event(struct fa_render *r, const char *name, json_t *data)
{
	char *s = fa_dump(data);
	fa_printf(&r->sse, "event: %s\ndata: %s\n\n", name, s);
	free(s);
	json_decref(data);
}

static void
fa_block_start(struct fa_render *r, json_t *block /* stolen */)
{
	fa_event(r, "content_block_start", json_pack("{s:s,s:i,s:o}", "type",
		 "content_block_start", "index", r->index, "content_block", block));
}

static void
fa_block_delta(struct fa_render *r, json_t *delta /* stolen */)
{
	fa_event(r, "content_block_delta", json_pack("{s:s,s:i,s:o}", "type",
		 "content_block_delta", "index", r->index, "delta", delta));
	r->deltas++;
}

static void
fa_block_stop(struct fa_render *r)
{
	fa_event(r, "content_block_stop", json_pack("{s:s,s:i}", "type", "content_block_stop",
						    "index", r->index));
	r->index++;
}

/* A string or an array of strings, as deltas of `dtype` with member `key`. */
static int
fa_deltas(struct fa_render *r, const json_t *v, const char *dtype, const char *key)
{
	if (json_is_string(v)) {
		fa_block_delta(r, json_pack("{s:s,s:O}", "type", dtype, key, v));
		return 0;
	}
	if (!json_is_array(v))
		return v == NULL ? 0 : -1;
	size_t i;
	json_t *s;
	json_array_foreach(v, i, s) {
		if (!json_is_string(s))
			return -1;
		fa_block_delta(r, json_pack("{s:s,s:O}", "type", dtype, key, s));
	}
	return 0;
}

static int
fa_step(struct fa_render *r, const json_t *step, size_t n, unsigned reply_no, char **why)
{
	const char *type = json_string_value(json_object_get(step, "type"));
	if (type == NULL) {
		*why = fa_asprintf("step %zu has no \"type\"", n);
		return -1;
	}
	if (strcmp(type, "message_start") == 0) {
		const char *id = json_string_value(json_object_get(step, "id"));
		const char *model = json_string_value(json_object_get(step, "model"));
		json_t *usage = json_object_get(step, "usage");
		char *dflt_id = fa_asprintf("msg_fake%04u", reply_no);
		json_t *u = usage != NULL ? json_deep_copy(usage) :
			json_pack("{s:i,s:i,s:i,s:i}", "input_tokens", 10,
				  "cache_creation_input_tokens", 0, "cache_read_input_tokens", 0,
				  "output_tokens", 1);
		json_t *ev = json_pack("{s:s,s:{s:s,s:s,s:s,s:[],s:s,s:n,s:n,s:o}}", "type",
				       "message_start", "message", "id", id ? id : dflt_id, "type",
				       "message", "role", "assistant", "content", "model",
				       model ? model : FA_DEFAULT_MODEL, "stop_reason",
				       "stop_sequence", "usage", u);
		free(dflt_id);
		fa_event(r, "message_start", ev);
	} else if (strcmp(type, "text") == 0) {
		fa_block_start(r, json_pack("{s:s,s:s}", "type", "text", "text", ""));
		if (fa_deltas(r, json_object_get(step, "text"), "text_delta", "text") != 0)
			goto bad;
		fa_block_stop(r);
	} else if (strcmp(type, "thinking") == 0) {
		const json_t *sig = json_object_get(step, "signature");
		fa_block_start(r, json_pack("{s:s,s:s}", "type", "thinking", "thinking", ""));
		if (fa_deltas(r, json_object_get(step, "thinking"), "thinking_delta",
			      "thinking") != 0 || (sig != NULL && !json_is_string(sig)))
			goto bad;
		if (sig != NULL)
			fa_block_delta(r, json_pack("{s:s,s:O}", "type", "signature_delta",
						    "signature", sig));
		fa_block_stop(r);
	} else if (strcmp(type, "redacted_thinking") == 0) {
		const char *data = json_string_value(json_object_get(step, "data"));
		if (data == NULL)
			goto bad;
		fa_block_start(r, json_pack("{s:s,s:s}", "type", "redacted_thinking", "data", data));
		fa_block_stop(r);
	} else if (strcmp(type, "tool_use") == 0) {
		const char *id = json_string_value(json_object_get(step, "id"));
		const char *name = json_string_value(json_object_get(step, "name"));
		const json_t *input = json_object_get(step, "input");
		const json_t *partial = json_object_get(step, "partial_json");
		if (id == NULL || name == NULL || (input != NULL && !json_is_object(input)))
			goto bad;
		fa_block_start(r, json_pack("{s:s,s:s,s:s,s:{}}", "type", "tool_use", "id", id,
					    "name", name, "input"));
		if (partial != NULL) {
			if (fa_deltas(r, partial, "input_json_delta", "partial_json") != 0)
				goto bad;
		} else if (input != NULL) {
			char *js = fa_dump(input);
			size_t len = strlen(js);
			fa_block_delta(r, json_pack("{s:s,s:s}", "type", "input_json_delta",
						    "partial_json", ""));
			for (size_t off = 0; off < len;) {
				size_t k = 1 + (size_t)rand_r(&r->seed) % 9;
				if (k > len - off)
					k = len - off;
				/* mid-token, but not mid-character: a fragment is a JSON string */
				while (off + k < len && ((unsigned char)js[off + k] & 0xc0) == 0x80)
					k++;
				fa_block_delta(r, json_pack("{s:s,s:s%}", "type", "input_json_delta",
							    "partial_json", js + off, k));
				off += k;
			}
			free(js);
		}
		fa_block_stop(r);
	} else if (strcmp(type, "ping") == 0) {
		/* The API writes this one with blanks, unlike the others. */
		fa_printf(&r->sse, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
	} else if (strcmp(type, "message_delta") == 0 || strcmp(type, "stop") == 0) {
		const json_t *sr = json_object_get(step, "stop_reason");
		const json_t *usage = json_object_get(step, "usage");
		if (sr != NULL && !json_is_string(sr) && !json_is_null(sr))
			goto bad;
		json_t *u = usage != NULL ? json_deep_copy(usage) :
			json_pack("{s:i}", "output_tokens", (int)r->deltas + 1);
		json_t *jsr = sr != NULL ? json_incref((json_t *)sr) : json_string("end_turn");
		fa_event(r, "message_delta", json_pack("{s:s,s:{s:o,s:n},s:o}", "type",
			 "message_delta", "delta", "stop_reason", jsr, "stop_sequence", "usage", u));
		if (strcmp(type, "stop") == 0)
			fa_event(r, "message_stop", json_pack("{s:s}", "type", "message_stop"));
	} else if (strcmp(type, "message_stop") == 0) {
		fa_event(r, "message_stop", json_pack("{s:s}", "type", "message_stop"));
	} else if (strcmp(type, "error") == 0) {
		const char *et = json_string_value(json_object_get(step, "error_type"));
		const char *msg = json_string_value(json_object_get(step, "message"));
		json_t *jt = json_string(et ? et : "overloaded_error");
		json_t *jm = json_string(msg ? msg : "Overloaded");
		char *st = fa_dump(jt), *sm = fa_dump(jm);
		/* Written the way the API documentation shows it, blanks included. */
		fa_printf(&r->sse, "event: error\ndata: {\"type\": \"error\", \"error\": "
			  "{\"type\": %s, \"message\": %s}}\n\n", st, sm);
		free(st);
		free(sm);
		json_decref(jt);
		json_decref(jm);
	} else if (strcmp(type, "event") == 0) {
		const char *name = json_string_value(json_object_get(step, "event"));
		const json_t *data = json_object_get(step, "data");
		if (name == NULL || data == NULL)
			goto bad;
		if (json_is_string(data))
			fa_printf(&r->sse, "event: %s\ndata: %s\n\n", name, json_string_value(data));
		else
			fa_event(r, name, json_deep_copy(data));
	} else if (strcmp(type, "raw") == 0) {
		const json_t *data = json_object_get(step, "data");
		if (!json_is_string(data))
			goto bad;
		fa_add(&r->sse, json_string_value(data), json_string_length(data));
	} else if (strcmp(type, "cut") == 0) {
		r->cut = 1;
	} else if (strcmp(type, "hang") == 0) {
		r->hang = 1;
	} else {
		*why = fa_asprintf("step %zu: unknown type '%s'", n, type);
		return -1;
	}
	return 0;
bad:
	*why = fa_asprintf("step %zu (%s): missing or malformed members", n, type);
	return -1;
}

int
fake_anthropic_render(const json_t *steps, size_t max_write, unsigned seed, char **out,
		      size_t *len, int *close, int *hang, char **error)
{
	char *why = NULL;
	struct fa_buf resp = { 0 };
	struct fa_render r = { .seed = seed ? seed : 1 };
	char *request_id = fa_asprintf("req_fake%08x", seed);
	size_t n = json_array_size(steps);
	*close = *hang = 0;

	if (!json_is_array(steps) || n == 0) {
		why = fa_strdup("a reply must be a non-empty array of steps");
		goto fail;
	}
	const json_t *first = json_array_get(steps, 0);
	const char *ftype = json_string_value(json_object_get(first, "type"));
	if (ftype != NULL && strcmp(ftype, "http_error") == 0) {
		if (n != 1) {
			why = fa_strdup("an http_error step must be the reply's only step");
			goto fail;
		}
		json_int_t status = json_integer_value(json_object_get(first, "status"));
		const char *et = json_string_value(json_object_get(first, "error_type"));
		const char *msg = json_string_value(json_object_get(first, "message"));
		const char *ra = json_string_value(json_object_get(first, "retry_after"));
		const json_t *headers = json_object_get(first, "headers");
		const json_t *body = json_object_get(first, "body");
		if (status < 100 || status > 999 || (body != NULL && !json_is_string(body)) ||
		    (headers != NULL && !json_is_object(headers))) {
			why = fa_strdup("step 0 (http_error): missing or malformed members");
			goto fail;
		}
		struct fa_buf extra = { 0 };
		fa_add(&extra, "", 0);
		if (ra != NULL)
			fa_printf(&extra, "retry-after: %s\r\n", ra);
		const char *hk;
		json_t *hv;
		json_object_foreach((json_t *)headers, hk, hv)
			fa_printf(&extra, "%s: %s\r\n", hk, json_string_value(hv) ?
				  json_string_value(hv) : "");
		fa_error_response(&resp, (int)status, et ? et : fa_error_type((int)status),
				  msg ? msg : fa_reason((int)status), request_id, extra.data,
				  body ? json_string_value(body) : NULL);
		free(extra.data);
		goto done;
	}

	for (size_t i = 0; i < n; i++) {
		if (r.cut || r.hang) {
			why = fa_asprintf("step %zu comes after a cut or hang, which must be last", i);
			goto fail;
		}
		const json_t *step = json_array_get(steps, i);
		const char *t = json_string_value(json_object_get(step, "type"));
		if (t != NULL && strcmp(t, "http_error") == 0) {
			why = fa_strdup("an http_error step must be the reply's only step");
			goto fail;
		}
		if (fa_step(&r, step, i, seed, &why) != 0)
			goto fail;
	}
	fa_printf(&resp, "HTTP/1.1 200 OK\r\n");
	fa_date(&resp);
	fa_printf(&resp, "Content-Type: text/event-stream; charset=utf-8\r\n"
		  "Transfer-Encoding: chunked\r\nConnection: %s\r\nCache-Control: no-cache\r\n"
		  "request-id: %s\r\n"
		  "anthropic-ratelimit-requests-limit: 50\r\n"
		  "anthropic-ratelimit-requests-remaining: 49\r\n"
		  "anthropic-ratelimit-requests-reset: 2025-01-01T00:00:01Z\r\n\r\n",
		  r.cut ? "close" : "keep-alive", request_id);
	unsigned cseed = seed ? seed : 1;
	for (size_t off = 0; off < r.sse.len;) {
		size_t k = r.sse.len - off;
		if (max_write > 0) {
			size_t pick = 1 + (size_t)rand_r(&cseed) % max_write;
			if (pick < k)
				k = pick;
		}
		fa_printf(&resp, "%zx\r\n", k);
		fa_add(&resp, r.sse.data + off, k);
		fa_add(&resp, "\r\n", 2);
		off += k;
	}
	if (!r.cut && !r.hang)
		fa_add(&resp, "0\r\n\r\n", 5);
	*close = r.cut;
	*hang = r.hang;
done:
	free(r.sse.data);
	free(request_id);
	*out = resp.data;
	*len = resp.len;
	return 0;
fail:
	free(r.sse.data);
	free(resp.data);
	free(request_id);
	if (error != NULL)
		*error = why;
	else
		free(why);
	return -1;
}

/* ------------------------------------------------------------- serving -- */

/* The query parameter `name` of target, percent-decoded, malloc'd; or NULL. */
static char *
fa_query(const char *target, const char *name)
{
	const char *q = strchr(target, '?');
	size_t nlen = strlen(name);
	while (q != NULL) {
		q++;
		if (strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
			const char *v = q + nlen + 1;
			size_t vlen = strcspn(v, "&");
			char *out = malloc(vlen + 1), *o = out;
			if (out == NULL)
				fa_die("out of memory");
			for (size_t i = 0; i < vlen; i++) {
				unsigned hex;
				if (v[i] == '%' && i + 2 < vlen && sscanf(v + i + 1, "%2x", &hex) == 1) {
					*o++ = (char)hex;
					i += 2;
				} else {
					*o++ = v[i];
				}
			}
			*o = '\0';
			return out;
		}
		q = strchr(q, '&');
	}
	return NULL;
}

static int
fa_path_is(const char *target, const char *path)
{
	size_t n = strlen(path);
	return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

static void
fa_log_request(struct fake_anthropic *fa, const struct fakehttp_request *req)
{
	if (fa->log == NULL)
		return;
	json_t *headers = json_object();
	for (size_t i = 0; i < req->n_headers; i++) {
		char *name = fa_strdup(req->headers[i].name);
		for (char *p = name; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		json_object_set_new(headers, name, json_string(strcmp(name, "x-api-key") == 0 ?
							       "<masked>" : req->headers[i].value));
		free(name);
	}
	json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
	if (body == NULL)
		body = json_stringn(req->body, req->body_len);
	if (body == NULL)
		body = json_null();
	json_t *line = json_pack("{s:s,s:s,s:o,s:o}", "method", req->method, "target", req->target,
				 "headers", headers, "body", body);
	char *s = fa_dump(line);
	fprintf(fa->log, "%s\n", s);
	fflush(fa->log);
	free(s);
	json_decref(line);
}

/* A JSON error answer from the handler. */
static void
fa_answer_error(struct fake_anthropic *fa, struct fakehttp_response *resp, int status,
		const char *message)
{
	struct fa_buf out = { 0 };
	char *rid = fa_asprintf("req_fakeerr%04u", fa->n_answered);
	fa_error_response(&out, status, fa_error_type(status), message, rid, NULL, NULL);
	free(rid);
	resp->framing = FAKEHTTP_RAW;
	resp->body = out.data;
	resp->body_len = out.len;
	resp->to_free = out.data;
}

static void
fa_answer_models(struct fake_anthropic *fa, const struct fakehttp_request *req,
		 struct fakehttp_response *resp)
{
	char *limit_s = fa_query(req->target, "limit");
	char *after = fa_query(req->target, "after_id");
	size_t page = fa->page_size ? fa->page_size : FA_DEFAULT_PAGE;
	if (limit_s != NULL) {
		long lim = atol(limit_s);
		if (lim < 1 || lim > 1000) {
			free(limit_s);
			free(after);
			fa_answer_error(fa, resp, 400, "limit: Input should be between 1 and 1000");
			return;
		}
		if ((size_t)lim < page)
			page = (size_t)lim;
	}
	size_t total = json_array_size(fa->models), start = 0;
	if (after != NULL) {
		while (start < total && strcmp(json_string_value(json_object_get(
			json_array_get(fa->models, start), "id")), after) != 0)
			start++;
		start = start < total ? start + 1 : total;
	}
	json_t *data = json_array();
	for (size_t i = start; i < total && i < start + page; i++) {
		json_t *m = json_array_get(fa->models, i);
		json_array_append_new(data, json_pack("{s:s,s:O,s:O,s:s}", "type", "model", "id",
						      json_object_get(m, "id"), "display_name",
						      json_object_get(m, "display_name"), "created_at",
						      "2025-02-19T00:00:00Z"));
	}
	size_t got = json_array_size(data);
	json_t *body = json_pack("{s:o,s:b,s:O,s:O}", "data", data, "has_more", start + got < total,
				 "first_id", got ? json_object_get(json_array_get(data, 0), "id") :
				 json_null(), "last_id", got ? json_object_get(json_array_get(data,
				 got - 1), "id") : json_null());
	char *s = fa_dump(body);
	json_decref(body);
	struct fa_buf out = { 0 };
	fa_printf(&out, "HTTP/1.1 200 OK\r\n");
	fa_date(&out);
	fa_printf(&out, "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Connection: keep-alive\r\nrequest-id: req_fakemodels%04u\r\n\r\n%s", strlen(s),
		  fa->n_answered, s);
	free(s);
	free(limit_s);
	free(after);
	resp->framing = FAKEHTTP_RAW;
	resp->body = out.data;
	resp->body_len = out.len;
	resp->to_free = out.data;
}

static void
fa_handler(void *arg, const struct fakehttp_request *req, struct fakehttp_response *resp)
{
	struct fake_anthropic *fa = arg;
	pthread_mutex_lock(&fa->lock);
	fa->n_answered++;
	fa_log_request(fa, req);
	const char *key = fakehttp_header(req, "x-api-key");
	const char *version = fakehttp_header(req, "anthropic-version");
	int messages = fa_path_is(req->target, "/v1/messages");
	int models = fa_path_is(req->target, "/v1/models");

	if (!messages && !models) {
		fa_answer_error(fa, resp, 404, "Not Found");
	} else if (fa->key != NULL && (key == NULL || strcmp(key, fa->key) != 0)) {
		fa_answer_error(fa, resp, 401, key == NULL ? "x-api-key header is required" :
				"invalid x-api-key");
	} else if (version == NULL) {
		fa_answer_error(fa, resp, 400, "anthropic-version: header is required");
	} else if (models) {
		if (strcmp(req->method, "GET") != 0)
			fa_answer_error(fa, resp, 405, "Method Not Allowed");
		else
			fa_answer_models(fa, req, resp);
	} else if (strcmp(req->method, "POST") != 0) {
		fa_answer_error(fa, resp, 405, "Method Not Allowed");
	} else {
		json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
		int ok = json_is_object(body);
		json_decref(body);
		struct fa_reply *r = ok ? fa->head : NULL;
		if (!ok) {
			fa_answer_error(fa, resp, 400, "There was an error parsing the body of your "
					"request.");
		} else if (r == NULL) {
			fa_answer_error(fa, resp, 500, "fake-anthropic: no reply scripted");
		} else {
			fa->head = r->next;
			if (fa->head == NULL)
				fa->tail = NULL;
			fa->n_queued--;
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
	pthread_mutex_unlock(&fa->lock);
}

/* ----------------------------------------------------------------- API -- */

struct fake_anthropic *
fake_anthropic_start(void)
{
	struct fake_anthropic *fa = calloc(1, sizeof *fa);
	if (fa == NULL)
		fa_die("out of memory");
	pthread_mutex_init(&fa->lock, NULL);
	fa->max_write = 7;
	fa->seed = 1;
	fa->models = json_array();
	fa->srv = fakehttp_start();
	if (fa->srv == NULL) {
		json_decref(fa->models);
		pthread_mutex_destroy(&fa->lock);
		free(fa);
		return NULL;
	}
	fakehttp_set_handler(fa->srv, fa_handler, fa);
	return fa;
}

void
fake_anthropic_free(struct fake_anthropic *fa)
{
	if (fa == NULL)
		return;
	fakehttp_free(fa->srv);
	while (fa->head != NULL) {
		struct fa_reply *r = fa->head;
		fa->head = r->next;
		free(r->raw);
		free(r);
	}
	json_decref(fa->models);
	free(fa->key);
	pthread_mutex_destroy(&fa->lock);
	free(fa);
}

int
fake_anthropic_port(const struct fake_anthropic *fa)
{
	return fakehttp_port(fa->srv);
}

char *
fake_anthropic_url(const struct fake_anthropic *fa)
{
	return fakehttp_url(fa->srv, "");
}

void
fake_anthropic_set_chunking(struct fake_anthropic *fa, size_t max_write, unsigned seed)
{
	pthread_mutex_lock(&fa->lock);
	fa->max_write = max_write;
	fa->seed = seed;
	pthread_mutex_unlock(&fa->lock);
}

void
fake_anthropic_set_key(struct fake_anthropic *fa, const char *key)
{
	pthread_mutex_lock(&fa->lock);
	free(fa->key);
	fa->key = key != NULL ? fa_strdup(key) : NULL;
	pthread_mutex_unlock(&fa->lock);
}

void
fake_anthropic_set_models(struct fake_anthropic *fa, const json_t *models, size_t page_size)
{
	pthread_mutex_lock(&fa->lock);
	json_decref(fa->models);
	fa->models = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(models, i, m) {
		if (json_is_string(json_object_get(m, "id")))
			json_array_append_new(fa->models, json_deep_copy(m));
	}
	fa->page_size = page_size;
	pthread_mutex_unlock(&fa->lock);
}

void
fake_anthropic_set_log(struct fake_anthropic *fa, FILE *f)
{
	pthread_mutex_lock(&fa->lock);
	fa->log = f;
	pthread_mutex_unlock(&fa->lock);
}

int
fake_anthropic_push(struct fake_anthropic *fa, const json_t *steps, char **error)
{
	pthread_mutex_lock(&fa->lock);
	unsigned no = ++fa->n_pushed;
	size_t max_write = fa->max_write;
	/* each reply its own sequence, reproducible from the seed */
	unsigned seed = (fa->seed != 0 ? fa->seed : 1) * 7919u + no;
	pthread_mutex_unlock(&fa->lock);
	if (seed == 0)
		seed = 1;

	struct fa_reply *r = calloc(1, sizeof *r);
	if (r == NULL)
		fa_die("out of memory");
	if (fake_anthropic_render(steps, max_write, seed, &r->raw, &r->len, &r->close, &r->hang,
				  error) != 0) {
		free(r);
		return -1;
	}
	r->max_write = max_write;
	r->seed = max_write > 0 ? seed : 0;   /* fakehttp: seed 0 and max_write 0, one write */
	pthread_mutex_lock(&fa->lock);
	if (fa->tail != NULL)
		fa->tail->next = r;
	else
		fa->head = r;
	fa->tail = r;
	fa->n_queued++;
	pthread_mutex_unlock(&fa->lock);
	return 0;
}

int
fake_anthropic_push_text(struct fake_anthropic *fa, const char *json, char **error)
{
	json_error_t je;
	json_t *steps = json_loads(json, 0, &je);
	if (steps == NULL) {
		if (error != NULL)
			*error = fa_asprintf("the reply is not JSON: %s (line %d, column %d)", je.text,
					     je.line, je.column);
		return -1;
	}
	int rc = fake_anthropic_push(fa, steps, error);
	json_decref(steps);
	return rc;
}

size_t
fake_anthropic_queued(struct fake_anthropic *fa)
{
	pthread_mutex_lock(&fa->lock);
	size_t n = fa->n_queued;
	pthread_mutex_unlock(&fa->lock);
	return n;
}

size_t
fake_anthropic_count(struct fake_anthropic *fa)
{
	return fakehttp_count(fa->srv);
}

const struct fakehttp_request *
fake_anthropic_request(struct fake_anthropic *fa, size_t i)
{
	return fakehttp_request(fa->srv, i);
}

json_t *
fake_anthropic_request_body(struct fake_anthropic *fa, size_t i)
{
	const struct fakehttp_request *r = fakehttp_request(fa->srv, i);
	return r != NULL ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

int
fake_anthropic_wait(struct fake_anthropic *fa, size_t n, unsigned timeout_ms)
{
	return fakehttp_wait(fa->srv, n, timeout_ms);
}

struct fakehttp *
fake_anthropic_http(struct fake_anthropic *fa)
{
	return fa->srv;
}
