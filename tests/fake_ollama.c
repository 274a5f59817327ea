/*
 * fake_ollama.c: a fake Ollama server for tests (see fake_ollama.h).
 *
 * As fake_anthropic.c: replies are rendered to raw response bytes when pushed
 * and sent by fakehttp as FAKEHTTP_RAW, so the bytes here are the bytes on the
 * wire. One handler answers every request and routes by path.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_ollama.h"

#define FO_MODEL "llama3.2"

struct fo_reply {
	char *raw;
	size_t len;
	int close, hang;
	size_t max_write;
	unsigned seed;
	struct fo_reply *next;
};

struct fake_ollama {
	struct fakehttp *srv;
	pthread_mutex_t lock;        /* everything below */
	struct fo_reply *head, *tail;
	size_t n_queued;
	size_t max_write;
	unsigned seed;
	unsigned n_pushed;
	json_t *models;              /* names, or NULL: accept any */
	char *tags_body;
	FILE *log;                   /* borrowed, or NULL */
};

static void
fo_die(const char *what)
{
	fprintf(stderr, "fake_ollama: %s\n", what);
	abort();
}

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

/* v (stolen) as Go's json.Marshal writes it: compact, keys in the order given,
 * <, > and & escaped (they only occur inside strings). Appended to b. */
static void
fo_go_json(struct fo_buf *b, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	if (s == NULL)
		fo_die("cannot encode JSON");
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '<')
			fo_add(b, "\\u003c", 6);
		else if (*p == '>')
			fo_add(b, "\\u003e", 6);
		else if (*p == '&')
			fo_add(b, "\\u0026", 6);
		else
			fo_add(b, p, 1);
	}
	free(s);
}

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
	case 413: return "Request Entity Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Error";
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

/* A whole response with a Content-Length body. */
static void
fo_plain(struct fo_buf *out, int status, const char *ctype, const char *body, size_t len)
{
	fo_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status, fo_reason(status), ctype);
	fo_date(out);
	fo_printf(out, "Content-Length: %zu\r\n\r\n", len);
	fo_add(out, body, len);
}

/* gin's {"error":"..."} response. */
static void
fo_error_response(struct fo_buf *out, int status, const char *message)
{
	struct fo_buf body = { 0 };
	fo_go_json(&body, json_pack("{s:s}", "error", message));
	fo_plain(out, status, "application/json; charset=utf-8", body.data, body.len);
	free(body.data);
}

struct fo_render {
	struct fo_buf nd;
	unsigned lines;        /* lines sent, for created_at and eval_count */
	int index;             /* of the next tool call */
	int cut, hang;
};

/* The head of every line: model and created_at. New ref. */
static json_t *
fo_line(struct fo_render *r)
{
	char *at = fo_asprintf("2025-07-07T20:22:19.%06uZ", 184789 + r->lines);
	json_t *l = json_pack("{s:s,s:s}", "model", FO_MODEL, "created_at", at);
	free(at);
	r->lines++;
	return l;
}

static void
fo_message_line(struct fo_render *r, json_t *message /* stolen */)
{
	json_t *l = fo_line(r);
	json_object_set_new(l, "message", message);
	json_object_set_new(l, "done", json_false());
	fo_go_json(&r->nd, l);
	fo_add(&r->nd, "\n", 1);
}

/* One line per string of v (a string or an array of them); key "content" or "thinking". */
static int
fo_lines(struct fo_render *r, const json_t *v, int thinking)
{
	json_t *one = json_is_string(v) ? json_pack("[O]", v) : json_incref((json_t *)v);
	size_t i;
	json_t *s;
	if (!json_is_array(one)) {
		json_decref(one);
		return -1;
	}
	json_array_foreach(one, i, s) {
		if (!json_is_string(s)) {
			json_decref(one);
			return -1;
		}
		if (thinking)
			fo_message_line(r, json_pack("{s:s,s:s,s:O}", "role", "assistant", "content",
						     "", "thinking", s));
		else
			fo_message_line(r, json_pack("{s:s,s:O}", "role", "assistant", "content", s));
	}
	json_decref(one);
	return 0;
}

/* A count member: the default when absent, left out (-1) when null. */
static json_int_t
fo_count(const json_t *step, const char *key, json_int_t def)
{
	const json_t *v = json_object_get(step, key);
	if (v == NULL)
		return def;
	if (json_is_null(v))
		return -1;
	return json_integer_value(v);
}

static int
fo_step(struct fo_render *r, const json_t *step, size_t n, char **why)
{
	const char *type = json_string_value(json_object_get(step, "type"));
	if (type == NULL) {
		*why = fo_asprintf("step %zu has no \"type\"", n);
		return -1;
	}
	if (strcmp(type, "text") == 0 || strcmp(type, "thinking") == 0) {
		int thinking = strcmp(type, "thinking") == 0;
		if (fo_lines(r, json_object_get(step, thinking ? "thinking" : "text"), thinking) != 0)
			goto bad;
	} else if (strcmp(type, "tool_calls") == 0) {
		const json_t *calls = json_object_get(step, "calls");
		if (!json_is_array(calls))
			goto bad;
		json_t *out = json_array();
		size_t i;
		json_t *c;
		json_array_foreach(calls, i, c) {
			const json_t *name = json_object_get(c, "name");
			const json_t *args = json_object_get(c, "arguments");
			const json_t *id = json_object_get(c, "id");
			if (!json_is_string(name)) {
				json_decref(out);
				goto bad;
			}
			json_t *fn = json_pack("{s:i,s:O,s:O}", "index", r->index++, "name", name,
					       "arguments", args != NULL ? args : json_object());
			if (args == NULL)
				json_decref((json_t *)json_object_get(fn, "arguments"));
			json_t *tc = json_is_string(id) ? json_pack("{s:O,s:o}", "id", id,
								     "function", fn) :
				json_pack("{s:o}", "function", fn);
			json_array_append_new(out, tc);
		}
		fo_message_line(r, json_pack("{s:s,s:s,s:o}", "role", "assistant", "content", "",
					     "tool_calls", out));
	} else if (strcmp(type, "done") == 0) {
		const json_t *dr = json_object_get(step, "done_reason");
		json_int_t pe = fo_count(step, "prompt_eval_count", 10);
		json_int_t ev = fo_count(step, "eval_count", (json_int_t)r->lines);
		if (dr != NULL && !json_is_string(dr) && !json_is_null(dr))
			goto bad;
		json_t *l = fo_line(r);
		json_object_set_new(l, "message", json_pack("{s:s,s:s}", "role", "assistant",
							   "content", ""));
		json_object_set_new(l, "done", json_true());
		if (dr == NULL)
			json_object_set_new(l, "done_reason", json_string("stop"));
		else if (json_is_string(dr))
			json_object_set(l, "done_reason", (json_t *)dr);
		json_object_set_new(l, "total_duration", json_integer(182242375));
		json_object_set_new(l, "load_duration", json_integer(41295167));
		if (pe >= 0)
			json_object_set_new(l, "prompt_eval_count", json_integer(pe));
		json_object_set_new(l, "prompt_eval_duration", json_integer(24573166));
		if (ev >= 0)
			json_object_set_new(l, "eval_count", json_integer(ev));
		json_object_set_new(l, "eval_duration", json_integer(115959084));
		fo_go_json(&r->nd, l);
		fo_add(&r->nd, "\n", 1);
	} else if (strcmp(type, "error") == 0) {
		const char *msg = json_string_value(json_object_get(step, "message"));
		fo_go_json(&r->nd, json_pack("{s:s}", "error", msg != NULL ? msg :
					     "an error was encountered while running the model"));
		fo_add(&r->nd, "\n", 1);
	} else if (strcmp(type, "line") == 0) {
		const json_t *data = json_object_get(step, "data");
		if (data == NULL)
			goto bad;
		if (json_is_string(data))
			fo_add(&r->nd, json_string_value(data), json_string_length(data));
		else
			fo_go_json(&r->nd, json_deep_copy(data));
		fo_add(&r->nd, "\n", 1);
	} else if (strcmp(type, "raw") == 0) {
		const json_t *data = json_object_get(step, "data");
		if (!json_is_string(data))
			goto bad;
		fo_add(&r->nd, json_string_value(data), json_string_length(data));
	} else if (strcmp(type, "cut") == 0) {
		r->cut = 1;
	} else if (strcmp(type, "hang") == 0) {
		r->hang = 1;
	} else {
		*why = fo_asprintf("step %zu: unknown type '%s'", n, type);
		return -1;
	}
	return 0;
bad:
	*why = fo_asprintf("step %zu (%s): missing or malformed members", n, type);
	return -1;
}

int
fake_ollama_render(const json_t *steps, size_t max_write, unsigned seed, char **out,
		   size_t *len, int *close, int *hang, char **error)
{
	char *why = NULL;
	struct fo_buf resp = { 0 };
	struct fo_render r = { 0 };
	size_t n = json_array_size(steps);
	*close = *hang = 0;
	if (!json_is_array(steps) || n == 0) {
		why = strdup("a reply must be a non-empty array of steps");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *step = json_array_get(steps, i);
		const char *t = json_string_value(json_object_get(step, "type"));
		if (t != NULL && strcmp(t, "http_error") == 0) {
			json_int_t status = json_integer_value(json_object_get(step, "status"));
			const char *msg = json_string_value(json_object_get(step, "message"));
			const json_t *body = json_object_get(step, "body");
			if (n != 1) {
				why = strdup("an http_error step must be the reply's only step");
				goto fail;
			}
			if (status < 100 || status > 999 || (body != NULL && !json_is_string(body))) {
				why = strdup("step 0 (http_error): missing or malformed members");
				goto fail;
			}
			if (body != NULL)
				fo_plain(&resp, (int)status, "application/json; charset=utf-8",
					 json_string_value(body), json_string_length(body));
			else
				fo_error_response(&resp, (int)status, msg != NULL ? msg :
						  fo_reason((int)status));
			goto done;
		}
		if (r.cut || r.hang) {
			why = fo_asprintf("step %zu comes after a cut or hang, which must be last", i);
			goto fail;
		}
		if (fo_step(&r, step, i, &why) != 0)
			goto fail;
	}
	fo_printf(&resp, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n");
	fo_date(&resp);
	fo_printf(&resp, "Transfer-Encoding: chunked\r\n%s\r\n", r.cut ? "Connection: close\r\n" : "");
	unsigned cseed = seed ? seed : 1;
	for (size_t off = 0; off < r.nd.len;) {
		size_t k = r.nd.len - off;
		if (max_write > 0) {
			size_t pick = 1 + (size_t)rand_r(&cseed) % max_write;
			if (pick < k)
				k = pick;
		}
		fo_printf(&resp, "%zx\r\n", k);
		fo_add(&resp, r.nd.data + off, k);
		fo_add(&resp, "\r\n", 2);
		off += k;
	}
	if (!r.cut && !r.hang)
		fo_add(&resp, "0\r\n\r\n", 5);
	*close = r.cut;
	*hang = r.hang;
done:
	free(r.nd.data);
	*out = resp.data;
	*len = resp.len;
	return 0;
fail:
	if (why == NULL)
		fo_die("out of memory");
	free(r.nd.data);
	free(resp.data);
	if (error != NULL)
		*error = why;
	else
		free(why);
	return -1;
}

/* ---------------------------------------------------------- validation -- */

static int
fo_bad(char **why, char *msg /* stolen */)
{
	*why = msg;
	return -1;
}

static int
fo_is_base64(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == n;
}

int
fake_ollama_check_request(const json_t *body, char **why)
{
	static const char *const roles[] = { "system", "user", "assistant", "tool" };
	const char *model = json_string_value(json_object_get(body, "model"));
	const json_t *messages = json_object_get(body, "messages");
	const json_t *stream = json_object_get(body, "stream");
	const json_t *think = json_object_get(body, "think");
	const json_t *options = json_object_get(body, "options");
	const json_t *tools = json_object_get(body, "tools");
	if (!json_is_object(body))
		return fo_bad(why, strdup("the body is not a JSON object"));
	if (model == NULL || model[0] == '\0')
		return fo_bad(why, strdup("model is required"));
	if (!json_is_array(messages))
		return fo_bad(why, strdup("messages: not an array"));
	if (stream != NULL && !json_is_boolean(stream))
		return fo_bad(why, strdup("stream: not a boolean"));
	if (think != NULL && !json_is_boolean(think) && !json_is_string(think))
		return fo_bad(why, strdup("think: not a boolean or a level"));
	if (options != NULL && !json_is_object(options))
		return fo_bad(why, strdup("options: not an object"));
	if (tools != NULL && !json_is_array(tools))
		return fo_bad(why, strdup("tools: not an array"));
	size_t i, j;
	json_t *t, *m;
	json_array_foreach(tools, i, t) {
		const json_t *fn = json_object_get(t, "function");
		const char *type = json_string_value(json_object_get(t, "type"));
		const char *name = json_string_value(json_object_get(fn, "name"));
		if (type == NULL || strcmp(type, "function") != 0 || name == NULL || name[0] == '\0' ||
		    !json_is_object(json_object_get(fn, "parameters")))
			return fo_bad(why, fo_asprintf("tools[%zu]: not {type: function, function: "
						       "{name, parameters}}", i));
	}
	/* Tool messages answer the calls of the assistant message before them, in order. */
	const json_t *calls = NULL;
	size_t answered = 0;
	json_array_foreach(messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const json_t *images = json_object_get(m, "images");
		const json_t *tcs = json_object_get(m, "tool_calls");
		size_t r = 0;
		while (role != NULL && r < 4 && strcmp(role, roles[r]) != 0)
			r++;
		if (!json_is_object(m) || role == NULL || r == 4)
			return fo_bad(why, fo_asprintf("messages[%zu]: no valid role", i));
		if (!json_is_string(json_object_get(m, "content")))
			return fo_bad(why, fo_asprintf("messages[%zu]: content is not a string", i));
		if (images != NULL) {
			json_t *im;
			if (!json_is_array(images))
				return fo_bad(why, fo_asprintf("messages[%zu]: images: not an array", i));
			json_array_foreach(images, j, im) {
				if (!json_is_string(im) || !fo_is_base64(json_string_value(im)))
					return fo_bad(why, fo_asprintf("messages[%zu]: images[%zu]: not "
								       "base64", i, j));
			}
		}
		if (tcs != NULL && strcmp(role, "assistant") != 0)
			return fo_bad(why, fo_asprintf("messages[%zu]: tool_calls on a %s message", i,
						       role));
		if (strcmp(role, "tool") == 0) {
			const char *name = json_string_value(json_object_get(m, "tool_name"));
			if (calls == NULL || answered >= json_array_size(calls))
				return fo_bad(why, fo_asprintf("messages[%zu]: a tool result that "
							       "answers no call", i));
			const char *want = json_string_value(json_object_get(json_object_get(
				json_array_get(calls, answered), "function"), "name"));
			if (name == NULL || want == NULL || strcmp(name, want) != 0)
				return fo_bad(why, fo_asprintf("messages[%zu]: tool_name %s, but call "
							       "%zu is %s", i, name ? name : "(none)",
							       answered, want ? want : "(none)"));
			answered++;
			continue;
		}
		if (calls != NULL && answered < json_array_size(calls))
			return fo_bad(why, fo_asprintf("messages[%zu]: call %zu of messages before "
						       "has no result", i, answered));
		calls = NULL;
		answered = 0;
		if (tcs == NULL)
			continue;
		if (!json_is_array(tcs) || json_array_size(tcs) == 0)
			return fo_bad(why, fo_asprintf("messages[%zu]: tool_calls: not a non-empty "
						       "array", i));
		json_array_foreach(tcs, j, t) {
			const json_t *fn = json_object_get(t, "function");
			const char *name = json_string_value(json_object_get(fn, "name"));
			if (name == NULL || name[0] == '\0' ||
			    !json_is_object(json_object_get(fn, "arguments")))
				return fo_bad(why, fo_asprintf("messages[%zu]: tool_calls[%zu]: not "
							       "{function: {name, arguments: object}}",
							       i, j));
		}
		calls = tcs;
	}
	return 0;
}

/* ------------------------------------------------------------- serving -- */

static void
fo_answer(struct fakehttp_response *resp, struct fo_buf *out)
{
	resp->framing = FAKEHTTP_RAW;
	resp->body = out->data;
	resp->body_len = out->len;
	resp->to_free = out->data;
}

/* Is `model` pulled? Any when no list was set. */
static int
fo_pulled(const struct fake_ollama *fo, const char *model)
{
	if (fo->models == NULL)
		return 1;
	size_t i;
	json_t *m;
	json_array_foreach(fo->models, i, m) {
		const char *name = json_string_value(m);
		size_t n = strlen(model);
		if (strcmp(name, model) == 0 ||
		    (strncmp(name, model, n) == 0 && strcmp(name + n, ":latest") == 0))
			return 1;
	}
	return 0;
}

static void
fo_answer_tags(struct fake_ollama *fo, struct fakehttp_response *resp)
{
	struct fo_buf out = { 0 };
	if (fo->tags_body != NULL) {
		fo_plain(&out, 200, "application/json; charset=utf-8", fo->tags_body,
			 strlen(fo->tags_body));
		fo_answer(resp, &out);
		return;
	}
	json_t *models = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(fo->models, i, m) {
		json_array_append_new(models, json_pack(
			"{s:O,s:O,s:s,s:i,s:s,s:{s:s,s:s,s:s,s:[s],s:s,s:s}}", "name", m, "model", m,
			"modified_at", "2025-05-04T17:37:44.706015396-07:00", "size", 2019393189,
			"digest", "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
			"details", "parent_model", "", "format", "gguf", "family", "llama",
			"families", "llama", "parameter_size", "3.2B", "quantization_level",
			"Q4_K_M"));
	}
	struct fo_buf body = { 0 };
	fo_go_json(&body, json_pack("{s:o}", "models", models));
	fo_plain(&out, 200, "application/json; charset=utf-8", body.data, body.len);
	free(body.data);
	fo_answer(resp, &out);
}

/* One JSON line {method, target, headers, body} per request, headers' names lower-cased;
 * an authorization header masked. */
static void
fo_log_request(struct fake_ollama *fo, const struct fakehttp_request *req)
{
	if (fo->log == NULL)
		return;
	json_t *headers = json_object();
	for (size_t i = 0; i < req->n_headers; i++) {
		char *name = strdup(req->headers[i].name);
		if (name == NULL)
			fo_die("out of memory");
		for (char *p = name; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		json_object_set_new(headers, name, json_string(strcmp(name, "authorization") == 0 ?
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
	char *s = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	if (s == NULL)
		fo_die("cannot encode JSON");
	fprintf(fo->log, "%s\n", s);
	fflush(fo->log);
	free(s);
}

static void
fo_handler(void *arg, const struct fakehttp_request *req, struct fakehttp_response *resp)
{
	struct fake_ollama *fo = arg;
	struct fo_buf out = { 0 };
	pthread_mutex_lock(&fo->lock);
	fo_log_request(fo, req);
	if (strcmp(req->target, "/api/tags") == 0 && strcmp(req->method, "GET") == 0) {
		fo_answer_tags(fo, resp);
	} else if (strcmp(req->target, "/api/chat") == 0 && strcmp(req->method, "POST") == 0) {
		json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
		const char *model = json_string_value(json_object_get(body, "model"));
		char *why = NULL;
		if (fake_ollama_check_request(body, &why) != 0) {
			if (why == NULL)
				fo_die("out of memory");
			fo_error_response(&out, 400, why);
			free(why);
			fo_answer(resp, &out);
		} else if (!fo_pulled(fo, model)) {
			char *msg = fo_asprintf("model \"%s\" not found, try pulling it first", model);
			fo_error_response(&out, 404, msg);
			free(msg);
			fo_answer(resp, &out);
		} else if (fo->head == NULL) {
			fo_error_response(&out, 500, "fake-ollama: no reply scripted");
			fo_answer(resp, &out);
		} else {
			struct fo_reply *r = fo->head;
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
		json_decref(body);
	} else {
		fo_plain(&out, 404, "text/plain", "404 page not found", 18);
		fo_answer(resp, &out);
	}
	pthread_mutex_unlock(&fo->lock);
}

/* ----------------------------------------------------------------- API -- */

struct fake_ollama *
fake_ollama_start(void)
{
	struct fake_ollama *fo = calloc(1, sizeof *fo);
	if (fo == NULL)
		fo_die("out of memory");
	pthread_mutex_init(&fo->lock, NULL);
	fo->max_write = 7;
	fo->seed = 1;
	fo->srv = fakehttp_start();
	if (fo->srv == NULL) {
		pthread_mutex_destroy(&fo->lock);
		free(fo);
		return NULL;
	}
	fakehttp_set_handler(fo->srv, fo_handler, fo);
	return fo;
}

void
fake_ollama_free(struct fake_ollama *fo)
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
	free(fo->tags_body);
	pthread_mutex_destroy(&fo->lock);
	free(fo);
}

int
fake_ollama_port(const struct fake_ollama *fo)
{
	return fakehttp_port(fo->srv);
}

char *
fake_ollama_url(const struct fake_ollama *fo)
{
	return fakehttp_url(fo->srv, "");
}

void
fake_ollama_set_chunking(struct fake_ollama *fo, size_t max_write, unsigned seed)
{
	pthread_mutex_lock(&fo->lock);
	fo->max_write = max_write;
	fo->seed = seed;
	pthread_mutex_unlock(&fo->lock);
}

void
fake_ollama_set_models(struct fake_ollama *fo, const json_t *names)
{
	pthread_mutex_lock(&fo->lock);
	json_decref(fo->models);
	fo->models = NULL;
	if (names != NULL) {
		fo->models = json_array();
		size_t i;
		json_t *m;
		json_array_foreach(names, i, m) {
			if (json_is_string(m))
				json_array_append(fo->models, m);
		}
	}
	pthread_mutex_unlock(&fo->lock);
}

void
fake_ollama_set_tags_body(struct fake_ollama *fo, const char *body)
{
	pthread_mutex_lock(&fo->lock);
	free(fo->tags_body);
	fo->tags_body = body != NULL ? strdup(body) : NULL;
	if (body != NULL && fo->tags_body == NULL)
		fo_die("out of memory");
	pthread_mutex_unlock(&fo->lock);
}

void
fake_ollama_set_log(struct fake_ollama *fo, FILE *f)
{
	pthread_mutex_lock(&fo->lock);
	fo->log = f;
	pthread_mutex_unlock(&fo->lock);
}

int
fake_ollama_push(struct fake_ollama *fo, const json_t *steps, char **error)
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
	if (fake_ollama_render(steps, max_write, seed, &r->raw, &r->len, &r->close, &r->hang,
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
fake_ollama_push_text(struct fake_ollama *fo, const char *json, char **error)
{
	json_error_t je;
	json_t *steps = json_loads(json, 0, &je);
	if (steps == NULL) {
		if (error != NULL)
			*error = fo_asprintf("the reply is not JSON: %s (line %d, column %d)", je.text,
					     je.line, je.column);
		return -1;
	}
	int rc = fake_ollama_push(fo, steps, error);
	json_decref(steps);
	return rc;
}

size_t
fake_ollama_queued(struct fake_ollama *fo)
{
	pthread_mutex_lock(&fo->lock);
	size_t n = fo->n_queued;
	pthread_mutex_unlock(&fo->lock);
	return n;
}

size_t
fake_ollama_count(struct fake_ollama *fo)
{
	return fakehttp_count(fo->srv);
}

const struct fakehttp_request *
fake_ollama_request(struct fake_ollama *fo, size_t i)
{
	return fakehttp_request(fo->srv, i);
}

json_t *
fake_ollama_request_body(struct fake_ollama *fo, size_t i)
{
	const struct fakehttp_request *r = fakehttp_request(fo->srv, i);
	return r != NULL ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

int
fake_ollama_wait(struct fake_ollama *fo, size_t n, unsigned timeout_ms)
{
	return fakehttp_wait(fo->srv, n, timeout_ms);
}

struct fakehttp *
fake_ollama_http(struct fake_ollama *fo)
{
	return fo->srv;
}
