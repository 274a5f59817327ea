/*
 * fake_gemini.c: a fake Gemini API for tests (see fake_gemini.h).
 *
 * Replies are rendered to raw response bytes when they are pushed (a bad script
 * fails right there, in the test's thread) and sent by fakehttp as FAKEHTTP_RAW,
 * so the framing here is exactly what goes over the wire.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_gemini.h"

#define FG_MODEL "gemini-2.5-flash"
#define FG_DEFAULT_PAGE 50

struct fg_reply {
	char *raw;
	size_t len;
	int close, hang;
	size_t max_write;
	unsigned seed;
	struct fg_reply *next;
};

struct fake_gemini {
	struct fakehttp *srv;
	pthread_mutex_t lock;        /* everything below */
	struct fg_reply *head, *tail;
	size_t n_queued;
	size_t max_write;
	unsigned seed;
	unsigned n_pushed;
	char *key;
	json_t *models;
	size_t page_size;
};

static void
fg_die(const char *what)
{
	fprintf(stderr, "fake_gemini: %s\n", what);
	abort();
}

/* ------------------------------------------------------------- buffers -- */

struct fg_buf {
	char *data;
	size_t len, cap;
};

static void
fg_add(struct fg_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			fg_die("out of memory");
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void fg_printf(struct fg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fg_printf(struct fg_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fg_die("out of memory");
	fg_add(b, s, (size_t)n);
	free(s);
}

static char *
fg_strdup(const char *s)
{
	char *d = strdup(s);
	if (d == NULL)
		fg_die("out of memory");
	return d;
}

static char *fg_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
fg_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fg_die("out of memory");
	return s;
}

/* Compact JSON of v (any value), malloc'd. */
static char *
fg_dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		fg_die("cannot encode JSON");
	return s;
}

/* ----------------------------------------------------------- rendering -- */

/* Google's compact style: ": " after a key, "," alone between members. */
static void
fg_json(struct fg_buf *b, const json_t *v)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		int first = 1;
		fg_add(b, "{", 1);
		json_object_foreach((json_t *)v, k, m) {
			if (!first)
				fg_add(b, ",", 1);
			first = 0;
			json_t *ks = json_string(k);
			char *s = fg_dump(ks);
			json_decref(ks);
			fg_printf(b, "%s: ", s);
			free(s);
			fg_json(b, m);
		}
		fg_add(b, "}", 1);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *m;
		fg_add(b, "[", 1);
		json_array_foreach(v, i, m) {
			if (i > 0)
				fg_add(b, ",", 1);
			fg_json(b, m);
		}
		fg_add(b, "]", 1);
	} else {
		char *s = fg_dump(v);
		fg_add(b, s, strlen(s));
		free(s);
	}
}

char *
fake_gemini_json(const json_t *v)
{
	struct fg_buf b = { 0 };
	fg_json(&b, v);
	return b.data;
}

static const char *
fg_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/* The canonical status Google uses for an HTTP status. */
static const char *
fg_status(int status)
{
	switch (status) {
	case 400: return "INVALID_ARGUMENT";
	case 401: return "UNAUTHENTICATED";
	case 403: return "PERMISSION_DENIED";
	case 404: return "NOT_FOUND";
	case 409: return "ABORTED";
	case 429: return "RESOURCE_EXHAUSTED";
	case 499: return "CANCELLED";
	case 500: return "INTERNAL";
	case 501: return "UNIMPLEMENTED";
	case 503: return "UNAVAILABLE";
	case 504: return "DEADLINE_EXCEEDED";
	default: return "UNKNOWN";
	}
}

static void
fg_date(struct fg_buf *b)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	fg_printf(b, "Date: %s\r\n", date);
}

/* {"error": {code, message, status, details?}}, pretty-printed as Google does,
 * with a trailing newline. details is stolen (or NULL). malloc'd. */
static char *
fg_error_body(int code, const char *status, const char *message, json_t *details)
{
	json_t *e = json_pack("{s:i,s:s,s:s}", "code", code, "message", message, "status", status);
	if (details != NULL)
		json_object_set_new(e, "details", details);
	json_t *j = json_pack("{s:o}", "error", e);
	char *s = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (s == NULL)
		fg_die("cannot encode JSON");
	char *out = fg_asprintf("%s\n", s);
	free(s);
	return out;
}

/* A complete error response with a Content-Length body. */
static void
fg_error_response(struct fg_buf *out, int status, const char *ctype, const char *body)
{
	fg_printf(out, "HTTP/1.1 %d %s\r\nVary: Origin\r\nVary: X-Origin\r\nVary: Referer\r\n"
		  "Content-Type: %s\r\n", status, fg_reason(status), ctype);
	fg_date(out);
	fg_printf(out, "Server: ESF\r\nContent-Length: %zu\r\nX-XSS-Protection: 0\r\n"
		  "X-Frame-Options: SAMEORIGIN\r\nX-Content-Type-Options: nosniff\r\n\r\n",
		  strlen(body));
	fg_add(out, body, strlen(body));
}

struct fg_render {
	struct fg_buf sse;
	char *response_id;
	unsigned chunks;   /* events sent */
	int cut, hang;
	int last;          /* the step being rendered is the reply's last */
};

/* One chunk: candidates (stolen, or NULL) plus the fields every chunk has. */
static void
fg_chunk(struct fg_render *r, json_t *candidates, json_t *usage /* stolen or NULL */)
{
	json_t *ev = json_object();
	if (candidates != NULL)
		json_object_set_new(ev, "candidates", candidates);
	if (usage == NULL)
		usage = json_pack("{s:i,s:i,s:[{s:s,s:i}]}", "promptTokenCount", 7,
				  "totalTokenCount", 7, "promptTokensDetails", "modality", "TEXT",
				  "tokenCount", 7);
	json_object_set_new(ev, "usageMetadata", usage);
	json_object_set_new(ev, "modelVersion", json_string(FG_MODEL));
	json_object_set_new(ev, "responseId", json_string(r->response_id));
	char *s = fake_gemini_json(ev);
	json_decref(ev);
	fg_printf(&r->sse, "data: %s\r\n\r\n", s);
	free(s);
	r->chunks++;
}

/* A candidate with these parts (stolen), and a finishReason when not NULL. */
static json_t *
fg_candidate(json_t *parts, const char *finish, const char *message)
{
	json_t *c = json_object();
	if (parts != NULL)
		json_object_set_new(c, "content", json_pack("{s:o,s:s}", "parts", parts, "role",
							     "model"));
	if (finish != NULL)
		json_object_set_new(c, "finishReason", json_string(finish));
	json_object_set_new(c, "index", json_integer(0));
	if (message != NULL)
		json_object_set_new(c, "finishMessage", json_string(message));
	return json_pack("[o]", c);
}

/* A functionCall part from a script's {name, args, id?, signature?}; NULL if bad. */
static json_t *
fg_call_part(const json_t *spec)
{
	const char *name = json_string_value(json_object_get(spec, "name"));
	const json_t *args = json_object_get(spec, "args");
	const json_t *id = json_object_get(spec, "id");
	const json_t *sig = json_object_get(spec, "signature");
	if (name == NULL || (args != NULL && !json_is_object(args)) ||
	    (id != NULL && !json_is_string(id)) || (sig != NULL && !json_is_string(sig)))
		return NULL;
	json_t *fc = json_pack("{s:s}", "name", name);
	if (id != NULL)
		json_object_set(fc, "id", (json_t *)id);
	json_object_set_new(fc, "args", args != NULL ? json_deep_copy(args) : json_object());
	json_t *p = json_pack("{s:o}", "functionCall", fc);
	if (sig != NULL)
		json_object_set(p, "thoughtSignature", (json_t *)sig);
	return p;
}

static json_t *
fg_text_part(const json_t *text, int thought, const json_t *sig)
{
	json_t *p = json_pack("{s:O}", "text", text);
	if (thought)
		json_object_set_new(p, "thought", json_true());
	if (sig != NULL)
		json_object_set(p, "thoughtSignature", (json_t *)sig);
	return p;
}

static int
fg_step(struct fg_render *r, const json_t *step, size_t n, char **why)
{
	const char *type = json_string_value(json_object_get(step, "type"));
	if (type == NULL) {
		*why = fg_asprintf("step %zu has no \"type\"", n);
		return -1;
	}
	if (strcmp(type, "text") == 0 || strcmp(type, "thought") == 0) {
		const json_t *text = json_object_get(step, "text");
		const json_t *sig = json_object_get(step, "signature");
		int thought = strcmp(type, "thought") == 0 ||
			json_is_true(json_object_get(step, "thought"));
		if (sig != NULL && !json_is_string(sig))
			goto bad;
		if (json_is_string(text)) {
			fg_chunk(r, fg_candidate(json_pack("[o]", fg_text_part(text, thought, sig)),
						 NULL, NULL), NULL);
		} else if (json_is_array(text) && json_array_size(text) > 0) {
			size_t i, last = json_array_size(text) - 1;
			json_t *t;
			json_array_foreach(text, i, t) {
				if (!json_is_string(t))
					goto bad;
				fg_chunk(r, fg_candidate(json_pack("[o]", fg_text_part(t, thought,
					 i == last ? sig : NULL)), NULL, NULL), NULL);
			}
		} else {
			goto bad;
		}
	} else if (strcmp(type, "call") == 0) {
		json_t *p = fg_call_part(step);
		if (p == NULL)
			goto bad;
		fg_chunk(r, fg_candidate(json_pack("[o]", p), NULL, NULL), NULL);
	} else if (strcmp(type, "calls") == 0) {
		const json_t *calls = json_object_get(step, "calls");
		if (!json_is_array(calls) || json_array_size(calls) == 0)
			goto bad;
		json_t *parts = json_array();
		size_t i;
		json_t *spec;
		json_array_foreach(calls, i, spec) {
			json_t *p = fg_call_part(spec);
			if (p == NULL) {
				json_decref(parts);
				goto bad;
			}
			json_array_append_new(parts, p);
		}
		fg_chunk(r, fg_candidate(parts, NULL, NULL), NULL);
	} else if (strcmp(type, "finish") == 0) {
		const char *reason = json_string_value(json_object_get(step, "reason"));
		const char *msg = json_string_value(json_object_get(step, "message"));
		const json_t *text = json_object_get(step, "text");
		const json_t *usage = json_object_get(step, "usage");
		if ((text != NULL && !json_is_string(text)) ||
		    (usage != NULL && !json_is_object(usage)))
			goto bad;
		json_t *u = usage != NULL ? json_deep_copy(usage) :
			json_pack("{s:i,s:i,s:i,s:[{s:s,s:i}]}", "promptTokenCount", 6,
				  "candidatesTokenCount", (int)r->chunks + 1, "totalTokenCount",
				  6 + (int)r->chunks + 1, "promptTokensDetails", "modality", "TEXT",
				  "tokenCount", 6);
		fg_chunk(r, fg_candidate(text != NULL ? json_pack("[o]", fg_text_part(text, 0,
					 NULL)) : NULL, reason ? reason : "STOP", msg), u);
	} else if (strcmp(type, "blocked") == 0) {
		const char *reason = json_string_value(json_object_get(step, "reason"));
		json_t *ev = json_pack("{s:{s:s},s:{s:i,s:i},s:s,s:s}", "promptFeedback",
				       "blockReason", reason ? reason : "SAFETY", "usageMetadata",
				       "promptTokenCount", 6, "totalTokenCount", 6, "modelVersion",
				       FG_MODEL, "responseId", r->response_id);
		char *s = fake_gemini_json(ev);
		json_decref(ev);
		fg_printf(&r->sse, "data: %s\r\n\r\n", s);
		free(s);
	} else if (strcmp(type, "error") == 0 || strcmp(type, "error_tail") == 0) {
		const json_t *code = json_object_get(step, "code");
		const char *status = json_string_value(json_object_get(step, "status"));
		const char *msg = json_string_value(json_object_get(step, "message"));
		if (code != NULL && !json_is_integer(code))
			goto bad;
		int c = code != NULL ? (int)json_integer_value(code) : 503;
		if (strcmp(type, "error") == 0) {
			json_t *ev = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", c, "message",
					       msg ? msg : "The model is overloaded. Please try again "
					       "later.", "status", status ? status : fg_status(c));
			char *s = fake_gemini_json(ev);
			json_decref(ev);
			fg_printf(&r->sse, "data: %s\r\n\r\n", s);
			free(s);
		} else {
			char *s = fg_error_body(c, status ? status : fg_status(c), msg ? msg :
						"The model is overloaded. Please try again later.",
						NULL);
			fg_add(&r->sse, s, strlen(s));
			free(s);
		}
	} else if (strcmp(type, "chunk") == 0) {
		const json_t *data = json_object_get(step, "data");
		if (data == NULL)
			goto bad;
		if (json_is_string(data)) {
			fg_printf(&r->sse, "data: %s\r\n\r\n", json_string_value(data));
		} else {
			char *s = fake_gemini_json(data);
			fg_printf(&r->sse, "data: %s\r\n\r\n", s);
			free(s);
		}
	} else if (strcmp(type, "raw") == 0) {
		const json_t *data = json_object_get(step, "data");
		if (!json_is_string(data))
			goto bad;
		fg_add(&r->sse, json_string_value(data), json_string_length(data));
	} else if (strcmp(type, "cut") == 0) {
		r->cut = 1;
	} else if (strcmp(type, "hang") == 0) {
		r->hang = 1;
	} else {
		*why = fg_asprintf("step %zu: unknown type '%s'", n, type);
		return -1;
	}
	return 0;
bad:
	*why = fg_asprintf("step %zu (%s): missing or malformed members", n, type);
	return -1;
}

/* The http_error step as a whole response into out. */
static int
fg_http_error(const json_t *step, struct fg_buf *out, char **why)
{
	json_int_t status = json_integer_value(json_object_get(step, "status"));
	const char *gs = json_string_value(json_object_get(step, "google_status"));
	const char *msg = json_string_value(json_object_get(step, "message"));
	const char *delay = json_string_value(json_object_get(step, "retry_delay"));
	const char *ctype = json_string_value(json_object_get(step, "content_type"));
	const json_t *body = json_object_get(step, "body");
	if (status < 100 || status > 999 || (body != NULL && !json_is_string(body))) {
		*why = fg_strdup("step 0 (http_error): missing or malformed members");
		return -1;
	}
	char *text;
	if (body != NULL) {
		text = fg_strdup(json_string_value(body));
	} else {
		json_t *details = NULL;
		if (delay != NULL)
			details = json_pack("[{s:s,s:[{s:s,s:s,s:{s:s,s:s},s:s}]},{s:s,s:s}]",
					    "@type", "type.googleapis.com/google.rpc.QuotaFailure",
					    "violations", "quotaMetric",
					    "generativelanguage.googleapis.com/generate_content_free_tier_requests",
					    "quotaId", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
					    "quotaDimensions", "location", "global", "model", FG_MODEL,
					    "quotaValue", "10", "@type",
					    "type.googleapis.com/google.rpc.RetryInfo", "retryDelay", delay);
		text = fg_error_body((int)status, gs ? gs : fg_status((int)status),
				     msg ? msg : fg_reason((int)status), details);
	}
	fg_error_response(out, (int)status, ctype ? ctype : "application/json; charset=UTF-8",
			  text);
	free(text);
	return 0;
}

/* As fake_gemini_render; reply_no names the reply (its responseId). */
static int
fg_render_reply(const json_t *steps, size_t max_write, unsigned seed, unsigned reply_no,
		char **out, size_t *len, int *close, int *hang, char **error)
{
	char *why = NULL;
	struct fg_buf resp = { 0 };
	struct fg_render r = { .response_id = fg_asprintf("resp_fake%u", reply_no) };
	size_t n = json_array_size(steps);
	*close = *hang = 0;

	if (!json_is_array(steps) || n == 0) {
		why = fg_strdup("a reply must be a non-empty array of steps");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *step = json_array_get(steps, i);
		const char *t = json_string_value(json_object_get(step, "type"));
		if (t != NULL && strcmp(t, "http_error") == 0) {
			if (n != 1) {
				why = fg_strdup("an http_error step must be the reply's only step");
				goto fail;
			}
			if (fg_http_error(step, &resp, &why) != 0)
				goto fail;
			goto done;
		}
		if (r.cut || r.hang) {
			why = fg_asprintf("step %zu comes after a cut or hang, which must be last", i);
			goto fail;
		}
		if (fg_step(&r, step, i, &why) != 0)
			goto fail;
	}
	fg_printf(&resp, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		  "Content-Disposition: attachment\r\nVary: Origin\r\nVary: X-Origin\r\n"
		  "Vary: Referer\r\nTransfer-Encoding: chunked\r\n");
	fg_date(&resp);
	fg_printf(&resp, "Server: scaffolding on HTTPServer2\r\nX-XSS-Protection: 0\r\n"
		  "X-Frame-Options: SAMEORIGIN\r\nX-Content-Type-Options: nosniff\r\n"
		  "Server-Timing: gfet4t7; dur=412\r\n%s\r\n",
		  r.cut ? "Connection: close\r\n" : "");
	unsigned cseed = seed ? seed : 1;
	for (size_t off = 0; off < r.sse.len;) {
		size_t k = r.sse.len - off;
		if (max_write > 0) {
			size_t pick = 1 + (size_t)rand_r(&cseed) % max_write;
			if (pick < k)
				k = pick;
		}
		fg_printf(&resp, "%zx\r\n", k);
		fg_add(&resp, r.sse.data + off, k);
		fg_add(&resp, "\r\n", 2);
		off += k;
	}
	if (!r.cut && !r.hang)
		fg_add(&resp, "0\r\n\r\n", 5);
	*close = r.cut;
	*hang = r.hang;
done:
	free(r.sse.data);
	free(r.response_id);
	*out = resp.data;
	*len = resp.len;
	return 0;
fail:
	free(r.sse.data);
	free(resp.data);
	free(r.response_id);
	if (error != NULL)
		*error = why;
	else
		free(why);
	return -1;
}

int
fake_gemini_render(const json_t *steps, size_t max_write, unsigned seed, char **out,
		   size_t *len, int *close, int *hang, char **error)
{
	return fg_render_reply(steps, max_write, seed, 1, out, len, close, hang, error);
}

/* ------------------------------------------------------------- serving -- */

/* The query parameter `name` of target, percent-decoded, malloc'd; or NULL. */
static char *
fg_query(const char *target, const char *name)
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
				fg_die("out of memory");
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

static void
fg_answer(struct fakehttp_response *resp, struct fg_buf *out)
{
	resp->framing = FAKEHTTP_RAW;
	resp->body = out->data;
	resp->body_len = out->len;
	resp->to_free = out->data;
}

/* A Google error answer from the handler; details stolen or NULL. */
static void
fg_answer_error(struct fakehttp_response *resp, int status, const char *message,
		json_t *details)
{
	struct fg_buf out = { 0 };
	char *body = fg_error_body(status, fg_status(status), message, details);
	fg_error_response(&out, status, "application/json; charset=UTF-8", body);
	free(body);
	fg_answer(resp, &out);
}

static void
fg_answer_models(struct fake_gemini *fg, const struct fakehttp_request *req,
		 struct fakehttp_response *resp)
{
	char *size_s = fg_query(req->target, "pageSize");
	char *token = fg_query(req->target, "pageToken");
	size_t page = fg->page_size ? fg->page_size : FG_DEFAULT_PAGE;
	size_t start = 0, total = json_array_size(fg->models);
	if (size_s != NULL && atol(size_s) > 0 && (size_t)atol(size_s) < page)
		page = (size_t)atol(size_s);
	if (token != NULL) {
		if (sscanf(token, "tok%zu", &start) != 1 || start > total) {
			free(size_s);
			free(token);
			fg_answer_error(resp, 400, "Invalid page token.", NULL);
			return;
		}
	}
	json_t *models = json_array();
	for (size_t i = start; i < total && i < start + page; i++)
		json_array_append(models, json_array_get(fg->models, i));
	json_t *body = json_pack("{s:o}", "models", models);
	if (start + page < total)
		json_object_set_new(body, "nextPageToken", json_sprintf("tok%zu", start + page));
	char *s = json_dumps(body, JSON_INDENT(2));
	json_decref(body);
	struct fg_buf out = { 0 };
	fg_printf(&out, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n");
	fg_date(&out);
	fg_printf(&out, "Server: ESF\r\nContent-Length: %zu\r\n\r\n%s\n", strlen(s) + 1, s);
	free(s);
	free(size_s);
	free(token);
	fg_answer(resp, &out);
}

static void
fg_handler(void *arg, const struct fakehttp_request *req, struct fakehttp_response *resp)
{
	struct fake_gemini *fg = arg;
	pthread_mutex_lock(&fg->lock);
	const char *key = fakehttp_header(req, "x-goog-api-key");
	const char *prefix = "/v1beta/models";
	size_t plen = strlen(prefix);
	int models = strncmp(req->target, prefix, plen) == 0 &&
		(req->target[plen] == '\0' || req->target[plen] == '?');
	const char *suffix = ":streamGenerateContent?alt=sse";
	int stream = strncmp(req->target, "/v1beta/models/", plen + 1) == 0 &&
		strstr(req->target, suffix) != NULL &&
		strcmp(strstr(req->target, suffix), suffix) == 0;

	if (!models && !stream) {
		fg_answer_error(resp, 404, "Requested entity was not found.", NULL);
	} else if (fg->key != NULL && key == NULL) {
		fg_answer_error(resp, 403, "Method doesn't allow unregistered callers (callers "
				"without established identity). Please use API Key or other form of "
				"API consumer identity to call this API.", NULL);
	} else if (fg->key != NULL && strcmp(key, fg->key) != 0) {
		fg_answer_error(resp, 400, "API key not valid. Please pass a valid API key.",
				json_pack("[{s:s,s:s,s:s}]", "@type",
					  "type.googleapis.com/google.rpc.ErrorInfo", "reason",
					  "API_KEY_INVALID", "domain", "googleapis.com"));
	} else if (models) {
		if (strcmp(req->method, "GET") != 0)
			fg_answer_error(resp, 400, "Method not allowed.", NULL);
		else
			fg_answer_models(fg, req, resp);
	} else if (strcmp(req->method, "POST") != 0) {
		fg_answer_error(resp, 400, "Method not allowed.", NULL);
	} else {
		json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
		int ok = json_is_object(body);
		json_decref(body);
		struct fg_reply *r = ok ? fg->head : NULL;
		if (!ok) {
			fg_answer_error(resp, 400, "Invalid JSON payload received.", NULL);
		} else if (r == NULL) {
			fg_answer_error(resp, 500, "fake-gemini: no reply scripted", NULL);
		} else {
			fg->head = r->next;
			if (fg->head == NULL)
				fg->tail = NULL;
			fg->n_queued--;
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
	pthread_mutex_unlock(&fg->lock);
}

/* ----------------------------------------------------------------- API -- */

struct fake_gemini *
fake_gemini_start(void)
{
	struct fake_gemini *fg = calloc(1, sizeof *fg);
	if (fg == NULL)
		fg_die("out of memory");
	pthread_mutex_init(&fg->lock, NULL);
	fg->max_write = 7;
	fg->seed = 1;
	fg->models = json_array();
	fg->srv = fakehttp_start();
	if (fg->srv == NULL) {
		json_decref(fg->models);
		pthread_mutex_destroy(&fg->lock);
		free(fg);
		return NULL;
	}
	fakehttp_set_handler(fg->srv, fg_handler, fg);
	return fg;
}

void
fake_gemini_free(struct fake_gemini *fg)
{
	if (fg == NULL)
		return;
	fakehttp_free(fg->srv);
	while (fg->head != NULL) {
		struct fg_reply *r = fg->head;
		fg->head = r->next;
		free(r->raw);
		free(r);
	}
	json_decref(fg->models);
	free(fg->key);
	pthread_mutex_destroy(&fg->lock);
	free(fg);
}

char *
fake_gemini_url(const struct fake_gemini *fg)
{
	return fakehttp_url(fg->srv, "");
}

void
fake_gemini_set_chunking(struct fake_gemini *fg, size_t max_write, unsigned seed)
{
	pthread_mutex_lock(&fg->lock);
	fg->max_write = max_write;
	fg->seed = seed;
	pthread_mutex_unlock(&fg->lock);
}

void
fake_gemini_set_key(struct fake_gemini *fg, const char *key)
{
	pthread_mutex_lock(&fg->lock);
	free(fg->key);
	fg->key = key != NULL ? fg_strdup(key) : NULL;
	pthread_mutex_unlock(&fg->lock);
}

void
fake_gemini_set_models(struct fake_gemini *fg, const json_t *models, size_t page_size)
{
	pthread_mutex_lock(&fg->lock);
	json_decref(fg->models);
	fg->models = json_deep_copy(models);
	if (!json_is_array(fg->models)) {
		json_decref(fg->models);
		fg->models = json_array();
	}
	fg->page_size = page_size;
	pthread_mutex_unlock(&fg->lock);
}

int
fake_gemini_push(struct fake_gemini *fg, const json_t *steps, char **error)
{
	pthread_mutex_lock(&fg->lock);
	unsigned no = ++fg->n_pushed;
	size_t max_write = fg->max_write;
	unsigned seed = (fg->seed != 0 ? fg->seed : 1) * 7919u + no;
	pthread_mutex_unlock(&fg->lock);
	if (seed == 0)
		seed = 1;

	struct fg_reply *r = calloc(1, sizeof *r);
	if (r == NULL)
		fg_die("out of memory");
	if (fg_render_reply(steps, max_write, seed, no, &r->raw, &r->len, &r->close, &r->hang,
			    error) != 0) {
		free(r);
		return -1;
	}
	r->max_write = max_write;
	r->seed = max_write > 0 ? seed : 0;
	pthread_mutex_lock(&fg->lock);
	if (fg->tail != NULL)
		fg->tail->next = r;
	else
		fg->head = r;
	fg->tail = r;
	fg->n_queued++;
	pthread_mutex_unlock(&fg->lock);
	return 0;
}

int
fake_gemini_push_text(struct fake_gemini *fg, const char *json, char **error)
{
	json_error_t je;
	json_t *steps = json_loads(json, 0, &je);
	if (steps == NULL) {
		if (error != NULL)
			*error = fg_asprintf("the reply is not JSON: %s (line %d, column %d)", je.text,
					     je.line, je.column);
		return -1;
	}
	int rc = fake_gemini_push(fg, steps, error);
	json_decref(steps);
	return rc;
}

size_t
fake_gemini_queued(struct fake_gemini *fg)
{
	pthread_mutex_lock(&fg->lock);
	size_t n = fg->n_queued;
	pthread_mutex_unlock(&fg->lock);
	return n;
}

size_t
fake_gemini_count(struct fake_gemini *fg)
{
	return fakehttp_count(fg->srv);
}

const struct fakehttp_request *
fake_gemini_request(struct fake_gemini *fg, size_t i)
{
	return fakehttp_request(fg->srv, i);
}

json_t *
fake_gemini_request_body(struct fake_gemini *fg, size_t i)
{
	const struct fakehttp_request *r = fakehttp_request(fg->srv, i);
	return r != NULL ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

struct fakehttp *
fake_gemini_http(struct fake_gemini *fg)
{
	return fg->srv;
}
