/* params.c: each method's params schema, in one table, and its checker (see params.h). */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <hearth/plugin.h>

#include "params.h"
#include "xmalloc.h"

/* ------------------------------------------------------------- schemas -- */

#define F_END { NULL, PARAMS_ANY, 0, 0, 0, PARAMS_ANY }
#define F_SESSION { "sessionId", PARAMS_STRING, PARAMS_REQUIRED | PARAMS_NONEMPTY, 0, \
		    PARAMS_NAME_MAX, PARAMS_ANY }
#define F_CWD(req) { "cwd", PARAMS_STRING, (req) | PARAMS_NONEMPTY | PARAMS_ABSPATH, 0, \
		     PARAMS_PATH_MAX, PARAMS_ANY }
#define F_MCP { "mcpServers", PARAMS_ARRAY, 0, 0, 256, PARAMS_OBJECT }
#define F_META { "_meta", PARAMS_OBJECT, 0, 0, 0, PARAMS_ANY }, \
	{ "_meta.hearth", PARAMS_OBJECT, 0, 0, 0, PARAMS_ANY }

static const struct params_field params_initialize[] = {
	/* ACP's protocol version is a uint16. */
	{ "protocolVersion", PARAMS_INT, PARAMS_REQUIRED, 0, UINT16_MAX, PARAMS_ANY },
	{ "clientCapabilities", PARAMS_OBJECT, 0, 0, 0, PARAMS_ANY },
	{ "clientInfo", PARAMS_OBJECT, 0, 0, 0, PARAMS_ANY },
	F_END,
};

static const struct params_field params_authenticate[] = {
	{ "methodId", PARAMS_STRING, 0, 0, PARAMS_NAME_MAX, PARAMS_ANY },
	F_END,
};

static const struct params_field params_session_new[] = {
	F_CWD(PARAMS_REQUIRED),
	F_MCP,
	F_META,
	{ "_meta.hearth.model", PARAMS_STRING, PARAMS_NONEMPTY, 0, PARAMS_NAME_MAX, PARAMS_ANY },
	F_END,
};

static const struct params_field params_session_load[] = {
	F_SESSION,
	F_CWD(0),
	F_MCP,
	F_END,
};

static const struct params_field params_session_resume[] = {
	F_SESSION,
	F_CWD(0),
	F_MCP,
	F_META,
	{ "_meta.hearth.lastSeq", PARAMS_INT, 0, 0, INT64_MAX, PARAMS_ANY },
	F_END,
};

static const struct params_field params_session_list[] = {
	F_CWD(0),
	{ "cursor", PARAMS_STRING, 0, 0, PARAMS_NAME_MAX, PARAMS_ANY },
	F_END,
};

static const struct params_field params_session_only[] = {
	F_SESSION,
	F_END,
};

static const struct params_field params_session_prompt[] = {
	F_SESSION,
	{ "prompt", PARAMS_ARRAY, PARAMS_REQUIRED, 0, 0, PARAMS_OBJECT },
	F_END,
};

static const struct params_field params_set_config_option[] = {
	F_SESSION,
	{ "configId", PARAMS_STRING, PARAMS_REQUIRED | PARAMS_NONEMPTY, 0, PARAMS_NAME_MAX,
	  PARAMS_ANY },
	{ "value", PARAMS_STRING, PARAMS_REQUIRED | PARAMS_NONEMPTY, 0, PARAMS_NAME_MAX,
	  PARAMS_ANY },
	F_END,
};

static const struct params_field params_cancel_request[] = {
	{ "requestId", PARAMS_ID, PARAMS_REQUIRED, 0, PARAMS_NAME_MAX, PARAMS_ANY },
	F_END,
};

static const struct params_field params_hearth_rename[] = {
	F_SESSION,
	{ "title", PARAMS_STRING, PARAMS_REQUIRED | PARAMS_NONEMPTY, 0, PARAMS_TITLE_MAX,
	  PARAMS_ANY },
	F_END,
};

static const struct params_field params_none[] = {
	F_END,
};

static const struct {
	const char *method;
	const struct params_field *fields;
} params_methods[] = {
	{ "initialize", params_initialize },
	{ "authenticate", params_authenticate },
	{ "session/new", params_session_new },
	{ "session/load", params_session_load },
	{ "session/fork", params_session_load },   /* the same fields: sessionId, cwd?, mcpServers? */
	{ "session/resume", params_session_resume },
	{ "session/list", params_session_list },
	{ "session/close", params_session_only },
	{ "session/delete", params_session_only },
	{ "session/prompt", params_session_prompt },
	{ "session/cancel", params_session_only },
	{ "session/set_config_option", params_set_config_option },
	{ "$/cancel_request", params_cancel_request },
	{ "_hearth/status", params_session_only },
	{ "_hearth/rename", params_hearth_rename },
	{ "_hearth/sessions", params_session_list },
	{ "_hearth/daemon", params_none },
	{ "_hearth/models", params_none },
	{ "_hearth/shutdown", params_none },
};

const struct params_field *
params_schema(const char *method)
{
	for (size_t i = 0; i < sizeof params_methods / sizeof params_methods[0]; i++)
		if (strcmp(params_methods[i].method, method) == 0)
			return params_methods[i].fields;
	return NULL;
}

/* ------------------------------------------------------------- checker -- */

static const char *
params_type_name(enum params_type t)
{
	switch (t) {
	case PARAMS_STRING: return "a string";
	case PARAMS_INT: return "an integer";
	case PARAMS_BOOL: return "a boolean";
	case PARAMS_OBJECT: return "an object";
	case PARAMS_ARRAY: return "an array";
	case PARAMS_ID: return "a string or an integer";
	case PARAMS_ANY: break;
	}
	return "a value";
}

static int
params_is(const json_t *v, enum params_type t)
{
	switch (t) {
	case PARAMS_STRING: return json_is_string(v);
	case PARAMS_INT: return json_is_integer(v);
	case PARAMS_BOOL: return json_is_boolean(v);
	case PARAMS_OBJECT: return json_is_object(v);
	case PARAMS_ARRAY: return json_is_array(v);
	case PARAMS_ID: return json_is_string(v) || json_is_integer(v);
	case PARAMS_ANY: break;
	}
	return 1;
}

static int
params_fail(char **why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
params_fail(char **why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*why = xvasprintf(fmt, ap);
	va_end(ap);
	return HEARTH_EINVAL;
}

/* The value at the dotted path `name`, or NULL when a step is absent or null; an
 * intermediate step that is not an object was already refused by its own field (the
 * tables list "_meta" before "_meta.hearth"), so it reads as absent here. */
static const json_t *
params_lookup(const json_t *params, const char *name)
{
	const json_t *v = params;
	const char *p = name;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (!json_is_object(v))
			return NULL;
		v = json_object_getn(v, p, n);
		if (v == NULL || json_is_null(v) || dot == NULL)
			return json_is_null(v) ? NULL : v;
		p = dot + 1;
	}
}

static int
params_check_string(const struct params_field *f, const char *label, const json_t *v,
		    char **why)
{
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	size_t max = f->max > 0 ? (size_t)f->max : PARAMS_STRING_MAX;
	if (memchr(s, '\0', len) != NULL)
		return params_fail(why, "'%s' must not contain NUL", label);
	if (len > max)
		return params_fail(why, "'%s' is longer than %zu bytes", label, max);
	if ((f->flags & PARAMS_NONEMPTY) && len == 0)
		return params_fail(why, "'%s' must not be empty", label);
	if ((f->flags & PARAMS_ABSPATH) && s[0] != '/')
		return params_fail(why, "'%s' must be an absolute path", label);
	return 0;
}

static int
params_check_value(const struct params_field *f, const json_t *v, char **why)
{
	if (!params_is(v, f->type))
		return params_fail(why, "'%s' must be %s", f->name, params_type_name(f->type));
	switch (f->type) {
	case PARAMS_STRING:
		return params_check_string(f, f->name, v, why);
	case PARAMS_ID:
		return json_is_string(v) ? params_check_string(f, f->name, v, why) : 0;
	case PARAMS_INT: {
		json_int_t n = json_integer_value(v);
		if (n < f->min || n > f->max)
			return params_fail(why, "'%s' must be between %" JSON_INTEGER_FORMAT
					   " and %" JSON_INTEGER_FORMAT, f->name, f->min, f->max);
		return 0;
	}
	case PARAMS_ARRAY: {
		size_t n = json_array_size(v);
		if (f->max > 0 && n > (size_t)f->max)
			return params_fail(why, "'%s' has %zu items, more than %" JSON_INTEGER_FORMAT,
					   f->name, n, f->max);
		for (size_t i = 0; i < n; i++)
			if (!params_is(json_array_get(v, i), f->items))
				return params_fail(why, "'%s[%zu]' must be %s", f->name, i,
						   params_type_name(f->items));
		return 0;
	}
	case PARAMS_ANY:
	case PARAMS_BOOL:
	case PARAMS_OBJECT:
		break;
	}
	return 0;
}

int
params_check_fields(const struct params_field *fields, const json_t *params, char **why)
{
	*why = NULL;
	if (!json_is_object(params))
		return params_fail(why, "params must be an object");
	for (const struct params_field *f = fields; f != NULL && f->name != NULL; f++) {
		const json_t *v = params_lookup(params, f->name);
		if (v == NULL) {
			if (f->flags & PARAMS_REQUIRED)
				return params_fail(why, "missing '%s'", f->name);
			continue;
		}
		int rc = params_check_value(f, v, why);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
params_check(const char *method, const json_t *params, char **why)
{
	*why = NULL;
	const struct params_field *fields = params_schema(method);
	return fields != NULL ? params_check_fields(fields, params, why) : 0;
}
