/*
 * ollama.c: the Ollama provider module (the native /api/chat, streamed as NDJSON).
 *
 * stream() turns the provider-neutral request (hearth/provider.h) into a
 * POST {host}/api/chat, reads the reply one JSON object per line through the
 * host's NDJSON parser, and feeds the sink: content and thinking deltas, tool
 * calls (each arrives complete in one line), the token counts of the final
 * "done": true line, and one done(). list_models() reads GET {host}/api/tags.
 *
 * As in anthropic.c, every outcome reaches the sink through the HTTP request's
 * on_done: a line that ends the call (an {"error": ...} line, a malformed line)
 * records the error and aborts the transfer, and on_done delivers it.
 *
 * Ollama gives tool calls no id (newer servers send "call_xxxxxxxx", older ones
 * nothing), and pairs results with calls by order: the module names a call
 * without an id by a hash of the request and the line (ollama_make_id), and
 * sends results back as `role: tool` messages in the order of the calls they
 * answer.
 *
 * A local Ollama needs no key: has_credentials() is 1 when the host key or
 * OLLAMA_HOST names the server, the user's way of saying that one is there, so
 * that a default model is not sent to a server nobody started (a request to a
 * server that is not there fails with a message saying to start it).
 *
 * A module: it sees only <hearth/provider.h>, libc and jansson. Out of memory
 * aborts, as the core's xmalloc does.
 */
#define _GNU_SOURCE /* vasprintf, strcasecmp */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hearth/provider.h>

#include "kit.h"

#define OLLAMA_DEFAULT_HOST "127.0.0.1"
#define OLLAMA_DEFAULT_PORT "11434"
#define OLLAMA_DEFAULT_MODEL "llama3.2"
#define OLLAMA_BODY_MAX (1024u * 1024)      /* an error body */
#define OLLAMA_TAGS_MAX (16u * 1024 * 1024) /* the model list */
#define OLLAMA_LINE_MAX (16u * 1024 * 1024) /* one NDJSON line */

/* ------------------------------------------------------------ helpers -- */

/* Borrowed; NULL when obj is no object or the member no string. */
static const char *
ollama_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ---------------------------------------------------------------- host -- */

/*
 * The base URL ("scheme://host:port[/path]", no trailing '/') for an OLLAMA_HOST
 * value, read as the ollama CLI reads it: "host", "host:port", "[v6]:port", a
 * bare IPv6 address, or a URL. Without a scheme the port defaults to 11434; with
 * http:// or https:// to 80 or 443, as in the CLI. An empty host is 127.0.0.1.
 * Returns a malloc'd URL, or NULL with *why (malloc'd) saying what is wrong.
 */
static char *
ollama_host_url(const char *value, char **why)
{
	while (*value == ' ' || *value == '\t')
		value++;
	size_t vlen = strlen(value);
	while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	char *s = strndup(value, vlen);
	if (s == NULL)
		kit_oom();
	const char *scheme = "http", *port = OLLAMA_DEFAULT_PORT;
	char *hostport = s, *sep = strstr(s, "://");
	if (sep != NULL) {
		*sep = '\0';
		if (strcasecmp(s, "http") == 0) {
			scheme = "http", port = "80";
		} else if (strcasecmp(s, "https") == 0) {
			scheme = "https", port = "443";
		} else {
			*why = kit_printf("unknown scheme '%s' (http or https)", s);
			free(s);
			return NULL;
		}
		hostport = sep + 3;
	}
	char *path = strchr(hostport, '/');
	char *path_copy = kit_strdup(path != NULL ? path : "");
	if (path != NULL)
		*path = '\0';
	for (size_t n = strlen(path_copy); n > 0 && path_copy[n - 1] == '/'; n--)
		path_copy[n - 1] = '\0';

	/* Checked first, so no message below can quote a password. */
	if (strpbrk(hostport, "@?#") != NULL) {
		*why = kit_strdup("the host holds a character a host name cannot");
		goto fail;
	}
	char *host = hostport, *pstr = NULL;
	int v6 = 0;
	if (host[0] == '[') {
		char *close = strchr(host, ']');
		if (close == NULL) {
			*why = kit_strdup("an IPv6 address without its closing ']'");
			goto fail;
		}
		*close = '\0';
		host++;
		v6 = 1;
		if (close[1] == ':')
			pstr = close + 2;
		else if (close[1] != '\0') {
			*why = kit_printf("unexpected '%s' after the IPv6 address", close + 1);
			goto fail;
		}
	} else {
		char *colon = strchr(host, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			v6 = 1;   /* a bare IPv6 address: every colon is its own */
		} else if (colon != NULL) {
			*colon = '\0';
			pstr = colon + 1;
		}
	}
	if (pstr != NULL) {
		char *end;
		errno = 0;
		long p = strtol(pstr, &end, 10);
		if (pstr[0] == '\0' || *end != '\0' || errno != 0 || p < 1 || p > 65535 ||
		    !isdigit((unsigned char)pstr[0])) {
			*why = kit_printf("bad port '%s'", pstr);
			goto fail;
		}
		port = pstr;
	}
	for (const char *p = host; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= ' ' || ch == 0x7f || ch == '@' || ch == '?' || ch == '#') {
			*why = kit_strdup("the host holds a character a host name cannot");
			goto fail;
		}
	}
	const char *host_name = host[0] == '\0' ? OLLAMA_DEFAULT_HOST : host;
	char *url = kit_printf("%s://%s%s%s:%s%s", scheme, v6 ? "[" : "", host_name, v6 ? "]" : "",
				  port, path_copy);
	free(path_copy);
	free(s);
	return url;
fail:
	free(path_copy);
	free(s);
	return NULL;
}

/* ------------------------------------------------------------- module -- */

struct ollama_list;

struct ollama {
	const struct hearth_host *host;
	char *base_url;                     /* owned; no trailing '/' */
	char *model;                        /* owned */
	int think;
	long long num_ctx;                  /* 0: not sent */
	int has_temperature;
	double temperature;
	long long timeout_ms;               /* idle timeout; 0: the host's default */
	int host_named;                     /* the host key or OLLAMA_HOST said where */
	struct hearth_provider_call *calls; /* streams in flight */
	struct ollama_list *lists;          /* model listings in flight */
};

/* A printable excerpt of a body: its start, on one line. malloc'd. */
static char *
ollama_excerpt(const struct kit_buf *b)
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
	while (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0x80)
		s[--n] = '\0';
	if (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0xc0)
		s[--n] = '\0';
	return s;
}

/*
 * A complete response with a status other than 200, as an error in e. body is
 * what came of it; model the model asked for (for the hint a 404 gets).
 */
static void
ollama_http_error(long st, const struct kit_buf *body, const char *model,
		  struct kit_err *e)
{
	json_t *j = body->len > 0 ? json_loadb(body->data, body->len, 0, NULL) : NULL;
	const char *vmsg = ollama_str(j, "error");
	uint32_t type;
	int retryable = 0;
	if (st == 400 || st == 422)
		type = HEARTH_PERR_BAD_REQUEST;
	else if (st == 401)
		type = HEARTH_PERR_AUTH;
	else if (st == 403)
		type = HEARTH_PERR_PERMISSION;
	else if (st == 404)
		type = HEARTH_PERR_NOT_FOUND;
	else if (st == 408)
		type = HEARTH_PERR_TIMEOUT, retryable = 1;
	else if (st == 413)
		type = HEARTH_PERR_TOO_LARGE;
	else if (st == 429)
		type = HEARTH_PERR_RATE_LIMITED, retryable = 1;
	else if (st == 503 || st == 529)
		type = HEARTH_PERR_OVERLOADED, retryable = 1;
	else if (st >= 500 && st <= 599)
		type = HEARTH_PERR_SERVER, retryable = 1;
	else if (st >= 400 && st <= 499)
		type = HEARTH_PERR_BAD_REQUEST;
	else
		type = HEARTH_PERR_PROTOCOL;

	char *message;
	if (vmsg != NULL && st == 404 && model != NULL && strstr(vmsg, "not found") != NULL)
		message = kit_printf("%s: run `ollama pull %s`", vmsg, model);
	else if (vmsg != NULL && st == 401)
		message = kit_printf("%s: run `ollama signin`", vmsg);
	else if (vmsg != NULL)
		message = kit_strdup(vmsg);
	else if (body->len > 0) {
		char *ex = ollama_excerpt(body);
		message = kit_printf("HTTP %ld with a body that is not an Ollama error: %s", st,
					ex);
		free(ex);
	} else {
		message = kit_printf("HTTP %ld with an empty body", st);
	}
	kit_err_set(e, type, retryable, NULL, message);
	e->http_status = st;
	json_decref(j);
}

/*
 * A transfer that failed (on_done's error). Before any response, the server is
 * likely not there at all: say so, and what to do.
 */
static void
ollama_transfer_error(const struct ollama *o, int error, const char *what, int responded,
		      struct kit_err *e)
{
	if (error == HEARTH_ETIMEDOUT) {
		kit_err_set(e, HEARTH_PERR_TIMEOUT, 1, NULL, kit_strdup(what));
	} else if (!responded) {
		int refused = what != NULL && (strstr(what, "refused") != NULL ||
					       strstr(what, "Couldn't connect") != NULL ||
					       strstr(what, "Failed to connect") != NULL);
		kit_err_set(e, HEARTH_PERR_NETWORK, 1, NULL, refused ?
			kit_printf("cannot reach Ollama at %s: connection refused; is "
				      "`ollama serve` running?", o->base_url) :
			kit_printf("cannot reach Ollama at %s: %s; is `ollama serve` running?",
				      o->base_url, what != NULL ? what : "unknown error"));
	} else {
		kit_err_set(e, HEARTH_PERR_NETWORK, 1, NULL, kit_strdup(what));
	}
}

/* ------------------------------------------------ request translation -- */

/* Standard base64 (padding optional, whitespace skipped) into out. -1 if malformed. */
static int
ollama_b64_decode(const char *in, struct kit_buf *out)
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
			kit_buf_add(out, &byte, 1, SIZE_MAX / 2);
		}
	}
	kit_buf_add(out, "", 0, 1);
	return 0;
}

/* Append text to a message's content, a blank line between pieces. */
static void
ollama_add_text(struct kit_buf *content, const char *text, size_t len)
{
	if (text == NULL || len == 0)
		return;
	if (content->len > 0)
		kit_buf_add(content, "\n\n", 2, SIZE_MAX / 2);
	kit_buf_add(content, text, len, SIZE_MAX / 2);
}

/*
 * The text, image and file parts of parts into content and images (an array
 * the images' base64 is appended to). Ollama takes images as base64 on the
 * message; a text file goes in as text; other files as a note saying so.
 */
static void
ollama_user_parts(const json_t *parts, struct kit_buf *content, json_t *images)
{
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = ollama_str(part, "type");
		if (type == NULL)
			continue;
		const char *data = ollama_str(part, "data");
		const char *mime = ollama_str(part, "mime");
		const char *name = ollama_str(part, "name");
		if (strcmp(type, "text") == 0) {
			const json_t *t = json_object_get(part, "text");
			ollama_add_text(content, json_string_value(t), json_string_length(t));
		} else if (strcmp(type, "image") == 0 && data != NULL && data[0] != '\0') {
			json_array_append_new(images, json_string(data));
		} else if (strcmp(type, "file") == 0) {
			char *note = NULL;
			struct kit_buf text = { 0 };
			if (mime != NULL && strncasecmp(mime, "text/", 5) == 0 && data != NULL &&
			    ollama_b64_decode(data, &text) == 0 && text.len > 0 &&
			    memchr(text.data, '\0', text.len) == NULL) {
				json_t *valid = json_stringn(text.data, text.len);  /* UTF-8? */
				if (valid != NULL)
					note = kit_printf("[file %s]\n%s", name != NULL ? name : "",
							     text.data);
				json_decref(valid);
			}
			if (note == NULL)
				note = kit_printf("[file %s (%s) not sent: Ollama takes text and "
						     "images]", name != NULL ? name : "",
						     mime != NULL ? mime : "application/octet-stream");
			ollama_add_text(content, note, strlen(note));
			free(note);
			kit_buf_free(&text);
		}
	}
}

/* A message {"role", "content"} with content's text (or ""). New ref. */
static json_t *
ollama_message(const char *role, const struct kit_buf *content)
{
	return json_pack("{s:s,s:s%}", "role", role, "content",
			 content->data != NULL ? content->data : "", content->len);
}

/* One `role: tool` message for a result part (NULL: the call has none). New ref. */
static json_t *
ollama_tool_message(const char *name, const json_t *result)
{
	struct kit_buf content = { 0 };
	json_t *images = json_array();
	if (result == NULL) {
		ollama_add_text(&content, "no result: the call did not run", 31);
	} else {
		const json_t *c = json_object_get(result, "content");
		if (json_is_true(json_object_get(result, "is_error")))
			kit_buf_add(&content, "error: ", 7, SIZE_MAX / 2);
		if (json_is_string(c))
			kit_buf_add(&content, json_string_value(c), json_string_length(c),
				       SIZE_MAX / 2);
		else if (json_is_array(c)) {
			struct kit_buf sub = { 0 };
			ollama_user_parts(c, &sub, images);
			if (sub.len > 0)
				kit_buf_add(&content, sub.data, sub.len, SIZE_MAX / 2);
			kit_buf_free(&sub);
		}
	}
	json_t *m = ollama_message("tool", &content);
	if (json_array_size(images) > 0)
		json_object_set(m, "images", images);
	json_object_set_new(m, "tool_name", json_string(name != NULL ? name : ""));
	json_decref(images);
	kit_buf_free(&content);
	return m;
}

/*
 * The answers to `calls` (the tool_call parts of the assistant message before,
 * borrowed) from a neutral tool message's parts (or NULL: none came), appended
 * to out in the order of the calls: Ollama pairs them by order. Results that
 * answer no call follow as user messages, in their own order.
 */
static void
ollama_place_results(json_t *out, const json_t *calls, const json_t *parts)
{
	size_t i, j;
	json_t *call, *part;
	json_array_foreach(calls, i, call) {
		const char *id = ollama_str(call, "id");
		const json_t *found = NULL;
		json_array_foreach(parts, j, part) {
			const char *rid = ollama_str(part, "id");
			if (strcmp(ollama_str(part, "type") ? ollama_str(part, "type") : "",
				   "tool_result") == 0 && id != NULL && rid != NULL &&
			    strcmp(id, rid) == 0) {
				found = part;
				break;
			}
		}
		json_array_append_new(out, ollama_tool_message(ollama_str(call, "name"), found));
	}
	json_array_foreach(parts, j, part) {
		const char *type = ollama_str(part, "type");
		const char *rid = ollama_str(part, "id");
		if (type == NULL || strcmp(type, "tool_result") != 0)
			continue;
		int matched = 0;
		json_array_foreach(calls, i, call) {
			const char *id = ollama_str(call, "id");
			if (id != NULL && rid != NULL && strcmp(id, rid) == 0)
				matched = 1;
		}
		if (matched)
			continue;
		/* No call to pair it with (its message was dropped): keep it as user text. */
		const char *name = ollama_str(part, "name");
		json_t *m = ollama_tool_message(name, part);
		char *text = kit_printf("[result of tool %s (call %s)]\n%s",
					   name != NULL ? name : "?", rid != NULL ? rid : "?",
					   ollama_str(m, "content"));
		json_object_set_new(m, "role", json_string("user"));
		json_object_set_new(m, "content", json_string(text));
		json_object_del(m, "tool_name");
		free(text);
		json_array_append_new(out, m);
	}
}

/* An assistant message; its tool_call parts are appended to calls. New ref. */
static json_t *
ollama_assistant_message(const json_t *parts, json_t *calls)
{
	struct kit_buf content = { 0 }, thinking = { 0 };
	json_t *tool_calls = json_array();
	size_t i;
	json_t *part;
	json_array_foreach(parts, i, part) {
		const char *type = ollama_str(part, "type");
		const json_t *t = json_object_get(part, "text");
		if (type == NULL)
			continue;
		if (strcmp(type, "text") == 0) {
			ollama_add_text(&content, json_string_value(t), json_string_length(t));
		} else if (strcmp(type, "reasoning") == 0) {
			/* Only Ollama's own thinking goes back; other vendors' stays in the store. */
			const char *provider = ollama_str(json_object_get(part, "meta"), "provider");
			if (provider != NULL && strcmp(provider, "ollama") == 0)
				ollama_add_text(&thinking, json_string_value(t),
						json_string_length(t));
		} else if (strcmp(type, "tool_call") == 0) {
			const char *name = ollama_str(part, "name");
			const json_t *input = json_object_get(part, "input");
			json_array_append_new(tool_calls, json_pack("{s:{s:s,s:o}}", "function",
				"name", name != NULL ? name : "", "arguments",
				json_is_object(input) ? json_deep_copy(input) : json_object()));
			json_array_append(calls, part);
		}
	}
	json_t *m = ollama_message("assistant", &content);
	if (thinking.len > 0)
		json_object_set_new(m, "thinking", json_stringn(thinking.data, thinking.len));
	if (json_array_size(tool_calls) > 0)
		json_object_set(m, "tool_calls", tool_calls);
	json_decref(tool_calls);
	kit_buf_free(&content);
	kit_buf_free(&thinking);
	return m;
}

/* The /api/chat body for a neutral request. New ref, or NULL with *why (malloc'd). */
static json_t *
ollama_build(const struct ollama *o, const json_t *req, char **why)
{
	const json_t *messages = json_object_get(req, "messages");
	if (!json_is_object(req) || !json_is_array(messages)) {
		*why = kit_strdup("the request has no \"messages\" array");
		return NULL;
	}
	const char *model = ollama_str(req, "model");
	if (model == NULL || model[0] == '\0')
		model = o->model;
	json_t *body = json_pack("{s:s,s:b}", "model", model, "stream", 1);
	json_t *out = json_array();
	const json_t *system = json_object_get(req, "system");
	if (json_is_string(system) && json_string_length(system) > 0)
		json_array_append_new(out, json_pack("{s:s,s:O}", "role", "system", "content",
						     system));
	json_t *calls = json_array();   /* of the last assistant message, unanswered */
	size_t i;
	json_t *msg;
	json_array_foreach(messages, i, msg) {
		const char *role = ollama_str(msg, "role");
		const json_t *parts = json_object_get(msg, "parts");
		if (role == NULL)
			continue;
		if (strcmp(role, "tool") == 0) {
			ollama_place_results(out, calls, parts);
			json_array_clear(calls);
			continue;
		}
		if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
			continue;
		if (json_array_size(calls) > 0) {
			ollama_place_results(out, calls, NULL);
			json_array_clear(calls);
		}
		if (strcmp(role, "user") == 0) {
			struct kit_buf content = { 0 };
			json_t *images = json_array();
			ollama_user_parts(parts, &content, images);
			if (content.len > 0 || json_array_size(images) > 0) {
				json_t *m = ollama_message("user", &content);
				if (json_array_size(images) > 0)
					json_object_set(m, "images", images);
				json_array_append_new(out, m);
			}
			json_decref(images);
			kit_buf_free(&content);
		} else {
			json_t *m = ollama_assistant_message(parts, calls);
			if (json_string_length(json_object_get(m, "content")) > 0 ||
			    json_object_get(m, "thinking") != NULL ||
			    json_object_get(m, "tool_calls") != NULL)
				json_array_append_new(out, m);
			else
				json_decref(m);
		}
	}
	if (json_array_size(calls) > 0)
		ollama_place_results(out, calls, NULL);
	json_decref(calls);
	json_object_set_new(body, "messages", out);

	const json_t *tools = json_object_get(req, "tools");
	if (json_array_size(tools) > 0) {
		json_t *defs = json_array();
		json_t *tool;
		json_array_foreach(tools, i, tool) {
			const char *name = ollama_str(tool, "name");
			if (name == NULL)
				continue;
			json_t *fn = json_pack("{s:s}", "name", name);
			const json_t *desc = json_object_get(tool, "description");
			if (json_is_string(desc) && json_string_length(desc) > 0)
				json_object_set(fn, "description", (json_t *)desc);
			const json_t *schema = json_object_get(tool, "input_schema");
			json_object_set_new(fn, "parameters", json_is_object(schema) ?
					    json_deep_copy(schema) : json_pack("{s:s}", "type", "object"));
			json_array_append_new(defs, json_pack("{s:s,s:o}", "type", "function",
							      "function", fn));
		}
		if (json_array_size(defs) > 0)
			json_object_set_new(body, "tools", defs);
		else
			json_decref(defs);
	}
	if (o->think)
		json_object_set_new(body, "think", json_true());
	json_t *options = json_object();
	if (o->num_ctx > 0)
		json_object_set_new(options, "num_ctx", json_integer(o->num_ctx));
	if (o->has_temperature)
		json_object_set_new(options, "temperature", json_real(o->temperature));
	json_int_t max_tokens = json_integer_value(json_object_get(req, "max_tokens"));
	if (max_tokens > 0)
		json_object_set_new(options, "num_predict", json_integer(max_tokens));
	if (json_object_size(options) > 0)
		json_object_set_new(body, "options", options);
	else
		json_decref(options);
	return body;
}

/* ------------------------------------------------------------ streaming -- */

enum ollama_part { OLLAMA_PART_NONE, OLLAMA_PART_TEXT, OLLAMA_PART_THINKING };

struct hearth_provider_call {
	struct ollama *o;
	struct hearth_provider_call *next;
	struct hearth_http *http;           /* NULL once on_done ran or after cancel */
	const struct hearth_stream_sink *sink;
	void *arg;
	char *model;                        /* owned: what was asked for */
	uint64_t req_hash;                  /* of the request body, for made ids */
	struct hearth_ndjson *nd;
	long status;
	struct kit_buf body;             /* a non-200 body */
	enum ollama_part part;              /* the part being streamed */
	size_t n_tool_calls;
	enum hearth_finish finish;
	int stopped;                        /* the done:true line came */
	int failed;                         /* err says how the call ends */
	struct kit_err err;
	int busy;                           /* inside the NDJSON parser */
	int cancelled;                      /* cancel() came: no sink call from now on */
};

static void
ollama_call_free(struct hearth_provider_call *c)
{
	if (c->nd != NULL)
		c->o->host->ndjson_free(c->nd);
	kit_buf_free(&c->body);
	kit_err_free(&c->err);
	free(c->model);
	free(c);
}

static void
ollama_call_unlink(struct hearth_provider_call *c)
{
	for (struct hearth_provider_call **pp = &c->o->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

/* End the stream with an error (the first one wins). Returns 1, to stop the parser. */
static int
ollama_fail(struct hearth_provider_call *c, uint32_t type, int retryable,
	    char *message /* stolen */)
{
	if (c->failed) {
		free(message);
		return 1;
	}
	kit_err_set(&c->err, type, retryable, NULL, message);
	c->failed = 1;
	return 1;
}

/* Close the part being streamed: thinking carries meta, so it goes back to Ollama. */
static void
ollama_part_end(struct hearth_provider_call *c)
{
	if (c->part == OLLAMA_PART_NONE || c->cancelled) {
		c->part = OLLAMA_PART_NONE;
		return;
	}
	if (c->part == OLLAMA_PART_THINKING) {
		json_t *meta = json_pack("{s:s}", "provider", "ollama");
		c->sink->part_end(c->arg, meta);
		json_decref(meta);
	} else {
		c->sink->part_end(c->arg, NULL);
	}
	c->part = OLLAMA_PART_NONE;
}

/* A delta of `kind` (text or thinking), closing a part of the other kind first. */
static void
ollama_delta(struct hearth_provider_call *c, enum ollama_part kind, const json_t *s)
{
	if (json_string_length(s) == 0 || c->cancelled)
		return;
	if (c->part != kind)
		ollama_part_end(c);
	c->part = kind;
	if (kind == OLLAMA_PART_TEXT)
		c->sink->text(c->arg, json_string_value(s), json_string_length(s));
	else
		c->sink->reasoning(c->arg, json_string_value(s), json_string_length(s));
}

/* FNV-1a, 64 bits, over n bytes, continuing from h. */
static uint64_t
ollama_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

/*
 * An id for a call the server gave none: "ollama_" and 16 hex digits of a hash
 * of the request, the line's model and created_at, the call's place in the
 * reply, its name and arguments. The same reply to the same request gives the
 * same ids; every later turn of a session sends a longer history, so its calls
 * get other ids even when the model repeats itself. malloc'd.
 */
static char *
ollama_make_id(const struct hearth_provider_call *c, const json_t *line, size_t index,
	       const char *name, const json_t *args)
{
	uint64_t h = c->req_hash;
	const char *model = ollama_str(line, "model");
	const char *created = ollama_str(line, "created_at");
	if (model != NULL)
		h = ollama_fnv(h, model, strlen(model) + 1);
	if (created != NULL)
		h = ollama_fnv(h, created, strlen(created) + 1);
	h = ollama_fnv(h, &index, sizeof index);
	h = ollama_fnv(h, name, strlen(name) + 1);
	char *a = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
	if (a != NULL)
		h = ollama_fnv(h, a, strlen(a));
	free(a);
	return kit_printf("ollama_%016llx", (unsigned long long)h);
}

/* The tool_calls of a message line. */
static void
ollama_on_tool_calls(struct hearth_provider_call *c, const json_t *line, const json_t *calls,
		     size_t line_no)
{
	if (!json_is_array(calls)) {
		ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
			"line %zu: \"tool_calls\" is not an array", line_no));
		return;
	}
	size_t i;
	json_t *tc;
	json_array_foreach(calls, i, tc) {
		const json_t *fn = json_object_get(tc, "function");
		const char *name = ollama_str(fn, "name");
		if (name == NULL || name[0] == '\0') {
			ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
				"line %zu: tool call %zu has no function name", line_no, i));
			return;
		}
		const json_t *args = json_object_get(fn, "arguments");
		json_t *input;
		if (args == NULL || json_is_null(args)) {
			input = json_object();
		} else if (json_is_object(args)) {
			input = json_incref((json_t *)args);
		} else if (json_is_string(args)) {
			/* Some servers send a JSON text, as OpenAI does. */
			input = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
			if (!json_is_object(input)) {
				json_decref(input);
				ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
					"line %zu: tool call %zu (%s): its arguments are not a JSON "
					"object", line_no, i, name));
				return;
			}
		} else {
			ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
				"line %zu: tool call %zu (%s): its arguments are not a JSON object",
				line_no, i, name));
			return;
		}
		const char *given = ollama_str(tc, "id");
		char *id = given != NULL && given[0] != '\0' ? kit_strdup(given) :
			ollama_make_id(c, line, c->n_tool_calls, name, input);
		ollama_part_end(c);
		c->n_tool_calls++;
		if (!c->cancelled)
			c->sink->tool_call(c->arg, id, name, input, NULL);
		free(id);
		json_decref(input);
		if (c->cancelled)
			return;
	}
}

static enum hearth_finish
ollama_finish(const struct hearth_provider_call *c, const char *reason)
{
	if (reason != NULL && strcmp(reason, "length") == 0)
		return HEARTH_FINISH_MAX_TOKENS;
	/* "stop" even when tools were called; "load", "unload" and newer: ended. */
	return c->n_tool_calls > 0 ? HEARTH_FINISH_TOOL_USE : HEARTH_FINISH_END_TURN;
}

/* The type of an {"error": ...} line, by what its message says. */
static uint32_t
ollama_line_errtype(const char *msg, int *retryable)
{
	*retryable = 0;
	if (strstr(msg, "not found") != NULL)
		return HEARTH_PERR_NOT_FOUND;
	if (strstr(msg, "overloaded") != NULL) {
		*retryable = 1;
		return HEARTH_PERR_OVERLOADED;
	}
	if (strstr(msg, "context length") != NULL || strstr(msg, "context window") != NULL)
		return HEARTH_PERR_CONTEXT;
	if (strstr(msg, "unauthorized") != NULL)
		return HEARTH_PERR_AUTH;
	/* "an error was encountered while running the model": the runner failed. */
	*retryable = 1;
	return HEARTH_PERR_SERVER;
}

static int
ollama_line_cb(void *arg, json_t *line, size_t line_no)
{
	struct hearth_provider_call *c = arg;
	if (c->failed || c->cancelled)
		return 1;
	if (c->stopped)
		return 0;
	if (!json_is_object(line)) {
		return ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
			"line %zu is not a JSON object", line_no));
	}
	const json_t *error = json_object_get(line, "error");
	if (error != NULL) {
		if (!json_is_string(error))
			return ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
				"line %zu: an error that is not a string", line_no));
		int retryable;
		uint32_t type = ollama_line_errtype(json_string_value(error), &retryable);
		ollama_part_end(c);
		return ollama_fail(c, type, retryable, kit_strdup(json_string_value(error)));
	}
	const json_t *message = json_object_get(line, "message");
	if (message != NULL) {
		if (!json_is_object(message))
			return ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
				"line %zu: \"message\" is not an object", line_no));
		const json_t *thinking = json_object_get(message, "thinking");
		const json_t *content = json_object_get(message, "content");
		if ((thinking != NULL && !json_is_string(thinking)) ||
		    (content != NULL && !json_is_string(content)))
			return ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
				"line %zu: message content or thinking is not a string", line_no));
		ollama_delta(c, OLLAMA_PART_THINKING, thinking);
		ollama_delta(c, OLLAMA_PART_TEXT, content);
		const json_t *calls = json_object_get(message, "tool_calls");
		if (calls != NULL && !json_is_null(calls) && !c->cancelled)
			ollama_on_tool_calls(c, line, calls, line_no);
		if (c->failed || c->cancelled)
			return 1;
	}
	const json_t *done = json_object_get(line, "done");
	if (done != NULL && !json_is_boolean(done))
		return ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
			"line %zu: \"done\" is not a boolean", line_no));
	if (json_is_true(done)) {
		ollama_part_end(c);
		c->stopped = 1;
		c->finish = ollama_finish(c, ollama_str(line, "done_reason"));
		const json_t *in = json_object_get(line, "prompt_eval_count");
		const json_t *out = json_object_get(line, "eval_count");
		struct hearth_usage u = { 0 };
		int any = 0;
		if (json_is_integer(in) && json_integer_value(in) >= 0)
			u.input_tokens = (uint64_t)json_integer_value(in), any = 1;
		if (json_is_integer(out) && json_integer_value(out) >= 0)
			u.output_tokens = (uint64_t)json_integer_value(out), any = 1;
		if (any && !c->cancelled)
			c->sink->usage(c->arg, &u);
	}
	return c->failed || c->cancelled;
}

static int
ollama_response_cb(void *arg, long status, const char *const *names, const char *const *values,
		   size_t n)
{
	(void)names, (void)values, (void)n;
	struct hearth_provider_call *c = arg;
	c->status = status;
	if (status == 200 && c->nd == NULL)
		c->nd = c->o->host->ndjson_new(c->o->host, OLLAMA_LINE_MAX, ollama_line_cb, c);
	return 0;
}

/* A malformed stream from the parser's return code. */
static void
ollama_parse_failed(struct hearth_provider_call *c, int rc)
{
	const struct hearth_host *host = c->o->host;
	if (c->failed)
		return;
	if (rc == HEARTH_ELIMIT)
		ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
			"a line is longer than %u bytes (%s)", OLLAMA_LINE_MAX,
			host->ndjson_error(c->nd)));
	else
		ollama_fail(c, HEARTH_PERR_PROTOCOL, 0, kit_printf(
			"malformed NDJSON stream: %s", host->ndjson_error(c->nd)));
}

static int
ollama_data_cb(void *arg, const char *data, size_t len)
{
	struct hearth_provider_call *c = arg;
	if (c->failed)
		return 1;
	if (c->status != 200 || c->nd == NULL) {
		if (c->body.len < OLLAMA_BODY_MAX)
			kit_buf_add(&c->body, data, len < OLLAMA_BODY_MAX - c->body.len ? len :
				       OLLAMA_BODY_MAX - c->body.len, OLLAMA_BODY_MAX);
		return 0;
	}
	c->busy = 1;
	int rc = c->o->host->ndjson_feed(c->nd, data, len);
	c->busy = 0;
	if (c->cancelled) {
		/* cancel() came from a sink callback and stopped the request already */
		ollama_call_free(c);
		return 1;
	}
	if (rc != 0)
		ollama_parse_failed(c, rc);
	return c->failed;
}

static void
ollama_done_cb(void *arg, int error, long status, const char *message)
{
	struct hearth_provider_call *c = arg;
	struct ollama *o = c->o;
	c->http = NULL;
	if (c->status == 0)
		c->status = status;
	if (!c->failed) {
		if (error != 0) {
			ollama_transfer_error(o, error, message, c->status != 0, &c->err);
			c->failed = 1;
		} else if (c->status != 200 || c->nd == NULL) {
			ollama_http_error(c->status, &c->body, c->model, &c->err);
			c->failed = 1;
		} else {
			c->busy = 1;
			int rc = o->host->ndjson_finish(c->nd);
			c->busy = 0;
			if (c->cancelled) {
				ollama_call_free(c);
				return;
			}
			if (rc != 0)
				ollama_parse_failed(c, rc);
			else if (!c->stopped)
				/* Cut short: a retry is likely to get the whole reply. */
				ollama_fail(c, HEARTH_PERR_PROTOCOL, 1, kit_strdup(
					"stream ended before a \"done\": true line"));
		}
	}
	ollama_call_unlink(c);
	const struct hearth_stream_sink *sink = c->sink;
	void *sarg = c->arg;
	if (c->failed) {
		ollama_part_end(c);
		struct hearth_provider_error e = kit_err_view(&c->err);
		sink->done(sarg, HEARTH_FINISH_ERROR, &e);
	} else {
		sink->done(sarg, c->finish != 0 ? c->finish : HEARTH_FINISH_END_TURN, NULL);
	}
	ollama_call_free(c);
}

static struct hearth_provider_call *
ollama_stream(void *state, const json_t *request, const struct hearth_stream_sink *sink,
	      void *arg, int *error)
{
	struct ollama *o = state;
	char *why = NULL;
	json_t *body = ollama_build(o, request, &why);
	if (body == NULL) {
		o->host->log(o->host, HEARTH_LOG_ERROR, "request refused: %s", why);
		free(why);
		*error = HEARTH_EINVAL;
		return NULL;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	struct hearth_provider_call *c = calloc(1, sizeof *c);
	if (text == NULL || c == NULL)
		kit_oom();
	c->o = o;
	c->sink = sink;
	c->arg = arg;
	c->model = kit_strdup(ollama_str(body, "model"));
	c->req_hash = ollama_fnv(14695981039346656037ull, text, strlen(text));
	json_decref(body);
	char *url = kit_printf("%s/api/chat", o->base_url);
	static const char *const headers[] = { "content-type: application/json",
					       "accept: application/x-ndjson", NULL };
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "POST",
		.url = url,
		.headers = headers,
		.body = text,
		.body_len = strlen(text),
		.idle_timeout_ms = (uint32_t)o->timeout_ms,
		.on_response = ollama_response_cb,
		.on_data = ollama_data_cb,
		.on_done = ollama_done_cb,
		.arg = c,
	};
	c->http = o->host->http_start(o->host, &req);
	size_t body_len = req.body_len;
	free(url);
	free(text);
	if (c->http == NULL) {
		ollama_call_free(c);
		*error = HEARTH_EIO;
		return NULL;
	}
	o->host->log(o->host, HEARTH_LOG_DEBUG, "POST /api/chat: %zu bytes", body_len);
	c->next = o->calls;
	o->calls = c;
	return c;
}

static void
ollama_cancel(void *state, struct hearth_provider_call *c)
{
	struct ollama *o = state;
	if (c == NULL || c->cancelled)
		return;
	ollama_call_unlink(c);
	c->cancelled = 1;
	if (c->http != NULL) {
		o->host->http_cancel(c->http);
		c->http = NULL;
	}
	if (!c->busy)
		ollama_call_free(c);
}

/* -------------------------------------------------------------- models -- */

struct ollama_list {
	struct ollama *o;
	struct ollama_list *next;
	struct hearth_http *http;
	void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err);
	void *arg;
	long status;
	struct kit_buf body;
	int body_over;
};

static void
ollama_list_free(struct ollama_list *l)
{
	kit_buf_free(&l->body);
	free(l);
}

static void
ollama_list_unlink(struct ollama_list *l)
{
	for (struct ollama_list **pp = &l->o->lists; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			return;
		}
	}
}

static int
ollama_list_response_cb(void *arg, long status, const char *const *names,
			const char *const *values, size_t n)
{
	(void)names, (void)values, (void)n;
	struct ollama_list *l = arg;
	l->status = status;
	return 0;
}

static int
ollama_list_data_cb(void *arg, const char *data, size_t len)
{
	struct ollama_list *l = arg;
	if (kit_buf_add(&l->body, data, len, OLLAMA_TAGS_MAX) != 0) {
		l->body_over = 1;
		return 1;
	}
	return 0;
}

/* The models of a /api/tags body: a new array, or NULL with e set. */
static json_t *
ollama_list_take(const struct ollama_list *l, struct kit_err *e)
{
	json_error_t je;
	json_t *tags = json_loadb(l->body.data != NULL ? l->body.data : "", l->body.len, 0, &je);
	const json_t *models = json_object_get(tags, "models");
	if (!json_is_array(models)) {
		kit_err_set(e, HEARTH_PERR_PROTOCOL, 0, NULL, tags == NULL ?
			kit_printf("the model list is not JSON: %s at byte %d", je.text,
				      je.position) :
			kit_strdup("the model list has no \"models\" array"));
		json_decref(tags);
		return NULL;
	}
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(models, i, m) {
		const char *name = ollama_str(m, "name");
		if (name == NULL)
			name = ollama_str(m, "model");
		if (name == NULL || name[0] == '\0')
			continue;
		json_t *entry = json_pack("{s:s,s:s}", "id", name, "name", name);
		const json_t *ctx = json_object_get(json_object_get(m, "details"), "context_length");
		if (json_is_integer(ctx) && json_integer_value(ctx) > 0)
			json_object_set(entry, "context_window", (json_t *)ctx);
		json_array_append_new(out, entry);
	}
	json_decref(tags);
	return out;
}

static void
ollama_list_done_cb(void *arg, int error, long status, const char *message)
{
	struct ollama_list *l = arg;
	struct kit_err e = { 0 };
	json_t *models = NULL;
	l->http = NULL;
	if (l->status == 0)
		l->status = status;
	if (l->body_over)
		kit_err_set(&e, HEARTH_PERR_PROTOCOL, 0, NULL, kit_printf(
			"the model list is over %u bytes", OLLAMA_TAGS_MAX));
	else if (error != 0)
		ollama_transfer_error(l->o, error, message, l->status != 0, &e);
	else if (l->status != 200)
		ollama_http_error(l->status, &l->body, NULL, &e);
	else
		models = ollama_list_take(l, &e);
	ollama_list_unlink(l);
	if (models == NULL) {
		struct hearth_provider_error view = kit_err_view(&e);
		l->done(l->arg, NULL, &view);
	} else {
		l->done(l->arg, models, NULL);
	}
	kit_err_free(&e);
	ollama_list_free(l);
}

static int
ollama_list_models(void *state,
		   void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err),
		   void *arg)
{
	struct ollama *o = state;
	struct ollama_list *l = calloc(1, sizeof *l);
	if (l == NULL)
		kit_oom();
	l->o = o;
	l->done = done;
	l->arg = arg;
	char *url = kit_printf("%s/api/tags", o->base_url);
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.method = "GET",
		.url = url,
		.idle_timeout_ms = (uint32_t)o->timeout_ms,
		.on_response = ollama_list_response_cb,
		.on_data = ollama_list_data_cb,
		.on_done = ollama_list_done_cb,
		.arg = l,
	};
	l->http = o->host->http_start(o->host, &req);
	free(url);
	if (l->http == NULL) {
		ollama_list_free(l);
		return HEARTH_EIO;
	}
	l->next = o->lists;
	o->lists = l;
	return 0;
}

/* ------------------------------------------------------------- lifetime -- */

static const char *
ollama_default_model(void *state)
{
	struct ollama *o = state;
	return o->model;
}

/* Ollama needs no key: 1 when its server was named (see the top of this file). */
static int
ollama_has_credentials(void *state)
{
	const struct ollama *o = state;
	return o->host_named;
}

static void
ollama_free(struct ollama *o)
{
	free(o->base_url);
	free(o->model);
	free(o);
}

static int
ollama_init(const struct hearth_host *host, const json_t *config, void **state)
{
	static const char *const keys[] = {
		"model", "host", "think", "num_ctx", "temperature", "timeout_ms",
	};
	struct ollama *o = calloc(1, sizeof *o);
	if (o == NULL)
		return HEARTH_ENOMEM;
	o->host = host;

	kit_check_keys(host, config, keys, sizeof keys / sizeof keys[0]);

	/* The host key wins over OLLAMA_HOST, which wins over the default. */
	const char *hv = host->config_string(host, "host", NULL);
	const char *src = "host";
	if (hv == NULL || hv[0] == '\0') {
		hv = getenv("OLLAMA_HOST");
		src = "OLLAMA_HOST";
	}
	o->host_named = hv != NULL && hv[0] != '\0';
	if (hv == NULL || hv[0] == '\0')
		hv = "", src = "the default host";
	char *why = NULL;
	o->base_url = ollama_host_url(hv, &why);
	if (o->base_url == NULL) {
		host->log(host, HEARTH_LOG_ERROR, "%s: %s", src, why);
		free(why);
		ollama_free(o);
		return HEARTH_EINVAL;
	}

	const char *model = host->config_string(host, "model", OLLAMA_DEFAULT_MODEL);
	o->model = kit_strdup(model[0] != '\0' ? model : OLLAMA_DEFAULT_MODEL);

	int rc = host->config_bool(host, "think", 0, &o->think);
	if (rc == 0)
		rc = host->config_int(host, "num_ctx", 0, 0, 100000000, &o->num_ctx);
	if (rc == 0)
		rc = host->config_int(host, "timeout_ms", 0, 0, UINT32_MAX, &o->timeout_ms);
	const char *temp = host->config_string(host, "temperature", NULL);
	if (rc == 0 && temp != NULL && temp[0] != '\0') {
		char *end;
		errno = 0;
		double t = strtod(temp, &end);
		if (*end != '\0' || errno != 0 || !(t >= 0 && t <= 100)) {
			host->log(host, HEARTH_LOG_ERROR, "temperature: '%s' is not a number from 0 "
				  "to 100", temp);
			rc = HEARTH_EINVAL;
		} else {
			o->has_temperature = 1;
			o->temperature = t;
		}
	}
	if (rc != 0) {
		ollama_free(o);
		return rc;
	}
	host->log(host, HEARTH_LOG_DEBUG, "server at %s", o->base_url);
	*state = o;
	return 0;
}

static void
ollama_fini(void *state)
{
	struct ollama *o = state;
	/* The core cancels its calls first; whatever is left goes without a callback. */
	while (o->calls != NULL) {
		struct hearth_provider_call *c = o->calls;
		o->calls = c->next;
		o->host->log(o->host, HEARTH_LOG_WARN, "a stream was still running at shutdown");
		if (c->http != NULL)
			o->host->http_cancel(c->http);
		ollama_call_free(c);
	}
	while (o->lists != NULL) {
		struct ollama_list *l = o->lists;
		o->lists = l->next;
		if (l->http != NULL)
			o->host->http_cancel(l->http);
		ollama_list_free(l);
	}
	ollama_free(o);
}

static const struct hearth_provider ollama_vtable = {
	.struct_size = sizeof(struct hearth_provider),
	.stream = ollama_stream,
	.cancel = ollama_cancel,
	.list_models = ollama_list_models,
	.default_model = ollama_default_model,
	.has_credentials = ollama_has_credentials,
};

static const struct hearth_plugin ollama_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_PROVIDER, .name = "ollama", .version = "0.1.0",
	.description = "Ollama native chat API (local models)", .init = ollama_init,
	.fini = ollama_fini, .provider = &ollama_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &ollama_plugin;
}
