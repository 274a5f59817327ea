/* rpc.c: JSON-RPC 2.0 framing as ACP uses it (see rpc.h). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/plugin.h>

#include "rpc.h"
#include "xmalloc.h"

static int
rpc_fail(json_t *root, const json_t *id, int code, json_t **reply, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int
rpc_fail(json_t *root, const json_t *id, int code, json_t **reply, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	*reply = rpc_error(id, code, msg, NULL);
	free(msg);
	json_decref(root);
	return code;
}

static int
rpc_id_valid(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

int
rpc_parse(const char *text, size_t len, struct rpc_msg *msg, json_t **reply)
{
	json_error_t jerr;
	memset(msg, 0, sizeof *msg);
	*reply = NULL;

	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	/* JSON_DECODE_ANY: a bare value (`1`, `null`) is JSON, just not a message: -32600. */
	if (root == NULL)
		return rpc_fail(NULL, NULL, RPC_PARSE_ERROR, reply,
				"parse error at line %d, column %d: %s", jerr.line, jerr.column,
				jerr.text);
	if (json_is_array(root))
		return rpc_fail(root, NULL, RPC_INVALID_REQUEST, reply,
				"batches are not supported: send one message per line");
	if (!json_is_object(root))
		return rpc_fail(root, NULL, RPC_INVALID_REQUEST, reply,
				"a message must be a JSON object");

	json_t *id = json_object_get(root, "id");
	const json_t *reply_id = id != NULL && rpc_id_valid(id) ? id : NULL;
	const char *version = json_string_value(json_object_get(root, "jsonrpc"));
	if (version == NULL || strcmp(version, "2.0") != 0)
		return rpc_fail(root, reply_id, RPC_INVALID_REQUEST, reply,
				"'jsonrpc' must be \"2.0\"");
	if (id != NULL && !rpc_id_valid(id))
		return rpc_fail(root, NULL, RPC_INVALID_REQUEST, reply,
				"'id' must be a string, an integer or null");

	json_t *method = json_object_get(root, "method");
	if (method != NULL) {
		if (!json_is_string(method) || json_string_length(method) == 0)
			return rpc_fail(root, reply_id, RPC_INVALID_REQUEST, reply,
					"'method' must be a non-empty string");
		json_t *params = json_object_get(root, "params");
		if (params != NULL && !json_is_object(params))
			return rpc_fail(root, reply_id, RPC_INVALID_REQUEST, reply,
					"'params' must be an object");
		if (params == NULL) {
			params = json_object();
			json_object_set_new(root, "params", params);
		}
		msg->kind = id != NULL ? RPC_REQUEST : RPC_NOTIFICATION;
		msg->method = json_string_value(method);
		msg->params = params;
		msg->id = id;
		msg->root = root;
		return 0;
	}

	json_t *result = json_object_get(root, "result");
	json_t *error = json_object_get(root, "error");
	if (id == NULL)
		return rpc_fail(root, NULL, RPC_INVALID_REQUEST, reply,
				"a message needs 'method' (request or notification) or 'id' "
				"(response)");
	if ((result == NULL) == (error == NULL))
		return rpc_fail(root, reply_id, RPC_INVALID_REQUEST, reply,
				"a response needs exactly one of 'result' and 'error'");
	if (error != NULL && (!json_is_object(error) ||
			      !json_is_integer(json_object_get(error, "code")) ||
			      !json_is_string(json_object_get(error, "message"))))
		return rpc_fail(root, reply_id, RPC_INVALID_REQUEST, reply,
				"'error' must be an object with an integer 'code' and a string "
				"'message'");
	msg->kind = RPC_RESPONSE;
	msg->id = id;
	msg->result = result;
	msg->error = error;
	msg->root = root;
	return 0;
}

void
rpc_msg_clear(struct rpc_msg *msg)
{
	json_decref(msg->root);
	memset(msg, 0, sizeof *msg);
}

static json_t *
rpc_base(const json_t *id)
{
	json_t *m = json_object();
	json_object_set_new(m, "jsonrpc", json_string("2.0"));
	json_object_set_new(m, "id", id != NULL ? json_deep_copy(id) : json_null());
	return m;
}

json_t *
rpc_result(const json_t *id, json_t *result)
{
	json_t *m = rpc_base(id);
	json_object_set_new(m, "result", result != NULL ? result : json_object());
	return m;
}

json_t *
rpc_error(const json_t *id, int code, const char *message, json_t *data)
{
	json_t *m = rpc_base(id);
	json_t *e = json_object();
	json_object_set_new(e, "code", json_integer(code));
	/* jansson refuses invalid UTF-8; a message built from bad input must not vanish. */
	json_t *text = json_string(message);
	json_object_set_new(e, "message", text != NULL ? text : json_string("(invalid UTF-8)"));
	if (data != NULL)
		json_object_set_new(e, "data", data);
	json_object_set_new(m, "error", e);
	return m;
}

json_t *
rpc_errorf(const json_t *id, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	json_t *m = rpc_error(id, code, msg, NULL);
	free(msg);
	return m;
}

json_t *
rpc_request(json_int_t id, const char *method, json_t *params)
{
	json_t *m = json_object();
	json_object_set_new(m, "jsonrpc", json_string("2.0"));
	json_object_set_new(m, "id", json_integer(id));
	json_object_set_new(m, "method", json_string(method));
	json_object_set_new(m, "params", params != NULL ? params : json_object());
	return m;
}

json_t *
rpc_notification(const char *method, json_t *params)
{
	json_t *m = json_object();
	json_object_set_new(m, "jsonrpc", json_string("2.0"));
	json_object_set_new(m, "method", json_string(method));
	json_object_set_new(m, "params", params != NULL ? params : json_object());
	return m;
}

char *
rpc_dump(const json_t *msg, size_t *len)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		s = xstrdup("{}");
	if (len != NULL)
		*len = strlen(s);
	return s;
}

static int
rpc_param(const json_t *params, const char *key, int required, int (*is)(const json_t *),
	  const char *what, json_t **out, char **why)
{
	json_t *v = json_object_get(params, key);
	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		*why = xasprintf("missing '%s'", key);
		return HEARTH_EINVAL;
	}
	if (!is(v)) {
		*why = xasprintf("'%s' must be %s", key, what);
		return HEARTH_EINVAL;
	}
	*out = v;
	return 0;
}

static int rpc_is_string(const json_t *v) { return json_is_string(v); }
static int rpc_is_integer(const json_t *v) { return json_is_integer(v); }
static int rpc_is_object(const json_t *v) { return json_is_object(v); }
static int rpc_is_array(const json_t *v) { return json_is_array(v); }

int
rpc_param_string(const json_t *params, const char *key, int required, const char **out,
		 char **why)
{
	json_t *v;
	int rc = rpc_param(params, key, required, rpc_is_string, "a string", &v, why);
	*out = v != NULL ? json_string_value(v) : NULL;
	return rc;
}

int
rpc_param_int(const json_t *params, const char *key, int required, json_int_t *out, char **why)
{
	json_t *v;
	int rc = rpc_param(params, key, required, rpc_is_integer, "an integer", &v, why);
	if (v != NULL)
		*out = json_integer_value(v);
	return rc;
}

int
rpc_param_object(const json_t *params, const char *key, int required, json_t **out, char **why)
{
	return rpc_param(params, key, required, rpc_is_object, "an object", out, why);
}

int
rpc_param_array(const json_t *params, const char *key, int required, json_t **out, char **why)
{
	return rpc_param(params, key, required, rpc_is_array, "an array", out, why);
}
