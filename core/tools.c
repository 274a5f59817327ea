/* tools.c: the tools of every tool module, and running calls (see tools.h). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "defer.h"
#include "log.h"
#include "permission.h"
#include "tools.h"
#include "xmalloc.h"

struct tools_call {
	struct hearth_tool_call pub;   /* first: the module sees this part */
	struct module *module;
	json_t *input;                 /* owned */
	char *id, *tool, *session_id, *cwd;
	tools_update_fn on_update;
	tools_done_fn on_done;
	void *arg;
	json_t *result;                /* owned until delivered */
	int in_module;                 /* the module holds it: run() succeeded, no finish yet */
	int delivered;                 /* on_done has run (or is queued) */
};

static struct registry *tools_registry;

/*
 * Names refused by tools_changed(): a module that starts offering a name another
 * module offers, or an invalid one, keeps the rest of its tools; those names are
 * left out of tools_list() and tools_lookup() until a later change drops them.
 */
struct tools_refused {
	struct module *m;       /* borrowed */
	char **names;           /* owned */
	size_t n;
};
static struct tools_refused *tools_refused;
static size_t tools_n_refused;

static struct tools_refused *
tools_refused_of(const struct module *m)
{
	for (size_t i = 0; i < tools_n_refused; i++)
		if (tools_refused[i].m == m)
			return &tools_refused[i];
	return NULL;
}

static int
tools_is_refused(const struct module *m, const char *name)
{
	const struct tools_refused *r = tools_refused_of(m);
	for (size_t i = 0; r != NULL && i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return 1;
	return 0;
}

void
tools_set_registry(struct registry *r)
{
	tools_registry = r;
}

static const char *
tools_permission_name(uint32_t p)
{
	switch (p) {
	case HEARTH_PERM_ALLOW: return "allow";
	case HEARTH_PERM_DENY: return "deny";
	default: return "ask";
	}
}

json_t *
tools_list(void)
{
	json_t *out = json_array();
	for (size_t i = 0; tools_registry != NULL && i < tools_registry->n_modules; i++) {
		struct module *m = tools_registry->modules[i];
		if (m->kind != HEARTH_KIND_TOOL || !m->inited)
			continue;
		const struct hearth_tool_def *defs = NULL;
		size_t n = m->desc->tool->list(m->state, &defs);
		for (size_t j = 0; j < n; j++) {
			if (tools_is_refused(m, defs[j].name))
				continue;
			json_t *schema = json_loads(defs[j].input_schema, 0, NULL);
			json_array_append_new(out, json_pack(
				"{s:s,s:s,s:o,s:s,s:s,s:b,s:s}", "name", defs[j].name,
				"description", defs[j].description ? defs[j].description : "",
				"input_schema", schema != NULL ? schema : json_object(),
				"kind", defs[j].kind ? defs[j].kind : "other",
				"permission", tools_permission_name(permission_default(m, &defs[j])),
				"read_only", (defs[j].flags & HEARTH_TOOL_READ_ONLY) != 0,
				"module", m->who));
		}
	}
	return out;
}

int
tools_lookup(const char *name, struct module **mp, const struct hearth_tool_def **dp)
{
	for (size_t i = 0; tools_registry != NULL && i < tools_registry->n_modules; i++) {
		struct module *m = tools_registry->modules[i];
		if (m->kind != HEARTH_KIND_TOOL || !m->inited)
			continue;
		const struct hearth_tool_def *defs = NULL;
		size_t n = m->desc->tool->list(m->state, &defs);
		for (size_t j = 0; j < n; j++) {
			if (strcmp(defs[j].name, name) == 0 && !tools_is_refused(m, name)) {
				*mp = m;
				*dp = &defs[j];
				return 0;
			}
		}
	}
	return HEARTH_ENOENT;
}

json_t *
tools_error_result(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	json_t *t = json_string(text);
	free(text);
	return json_pack("{s:[{s:s,s:o}],s:b}", "content", "type", "text", "text",
			 t != NULL ? t : json_string("(tool error text was not UTF-8)"),
			 "isError", 1);
}

json_t *
tools_describe(const char *tool, const json_t *input, const char *session_id, const char *cwd)
{
	struct module *m;
	const struct hearth_tool_def *def;
	json_t *d = NULL;
	if (tools_lookup(tool, &m, &def) != 0)
		return json_pack("{s:s,s:s,s:[],s:s}", "title", tool, "kind", "other",
				 "locations", "subject", "");
	if (m->desc->tool->describe != NULL) {
		struct hearth_tool_call probe = {
			.struct_size = sizeof probe, .id = "", .tool = def->name, .input = input,
			.session_id = session_id, .cwd = cwd };
		d = m->desc->tool->describe(m->state, &probe);
	}
	if (!json_is_object(d)) {
		json_decref(d);
		d = json_object();
	}
	if (!json_is_string(json_object_get(d, "title")))
		json_object_set_new(d, "title", json_string(def->name));
	if (!json_is_string(json_object_get(d, "kind")))
		json_object_set_new(d, "kind", json_string(def->kind ? def->kind : "other"));
	if (!json_is_array(json_object_get(d, "locations")))
		json_object_set_new(d, "locations", json_array());
	if (!json_is_string(json_object_get(d, "subject")))
		json_object_set_new(d, "subject", json_string(""));
	return d;
}

static void
tools_call_free(struct tools_call *c)
{
	json_decref(c->input);
	json_decref(c->result);
	free(c->id);
	free(c->tool);
	free(c->session_id);
	free(c->cwd);
	free(c);
}

/* Hand the result to the caller; free the call once the module is done with it too. */
static void
tools_deliver_cb(void *arg)
{
	struct tools_call *c = arg;
	json_t *result = c->result;
	c->result = NULL;
	if (c->on_done != NULL)
		c->on_done(c->arg, result);
	else
		json_decref(result);   /* abandoned */
	c->on_done = NULL;
	if (!c->in_module)
		tools_call_free(c);
}

static void
tools_deliver(struct tools_call *c, json_t *result)
{
	if (c->delivered) {
		json_decref(result);
		return;
	}
	c->delivered = 1;
	c->result = result;
	defer_call(tools_deliver_cb, c);
}

struct tools_call *
tools_start(const char *tool, const char *call_id, const json_t *input, const char *session_id,
	    const char *cwd, tools_update_fn on_update, tools_done_fn on_done, void *arg)
{
	struct tools_call *c = xcalloc(1, sizeof *c);
	c->id = xstrdup(call_id);
	c->tool = xstrdup(tool);
	c->session_id = xstrdup(session_id);
	c->cwd = xstrdup(cwd);
	c->input = json_is_object(input) ? json_deep_copy(input) : json_object();
	c->on_update = on_update;
	c->on_done = on_done;
	c->arg = arg;
	c->pub.struct_size = sizeof c->pub;
	c->pub.id = c->id;
	c->pub.tool = c->tool;
	c->pub.input = c->input;
	c->pub.session_id = c->session_id;
	c->pub.cwd = c->cwd;

	const struct hearth_tool_def *def;
	if (tools_lookup(tool, &c->module, &def) != 0) {
		tools_deliver(c, tools_error_result("unknown tool '%s'", tool));
		return c;
	}
	if (!json_is_object(input)) {
		tools_deliver(c, tools_error_result("the arguments of '%s' must be a JSON object",
						    tool));
		return c;
	}
	c->in_module = 1;
	int rc = c->module->desc->tool->run(c->module->state, &c->pub);
	if (rc != 0 && c->in_module) {
		c->in_module = 0;
		tools_deliver(c, tools_error_result("%s could not run '%s': %s", c->module->who,
						    tool, hearth_strerror(rc)));
	}
	return c;
}

void
tools_cancel(struct tools_call *c)
{
	c->on_update = NULL;
	if (!c->in_module || c->delivered)
		return;
	if (c->module->desc->tool->cancel != NULL)
		c->module->desc->tool->cancel(c->module->state, &c->pub);
	/* Whether or not the module finishes promptly, the caller hears now. */
	tools_deliver(c, tools_error_result("cancelled"));
}

void
tools_abandon(struct tools_call *c)
{
	c->on_update = NULL;
	c->on_done = NULL;
	if (c->delivered)
		return;   /* the queued delivery frees it */
	c->delivered = 1;
	if (c->module->desc->tool->cancel != NULL)
		c->module->desc->tool->cancel(c->module->state, &c->pub);
	/* Still in the module: its tool_finish() frees the call. */
}

int
tools_host_update(struct hearth_tool_call *call, const json_t *update)
{
	struct tools_call *c = (struct tools_call *)call;
	if (!json_is_object(update))
		return HEARTH_EINVAL;
	if (c->on_update != NULL && !c->delivered)
		c->on_update(c->arg, update);
	return 0;
}

void
tools_host_finish(struct hearth_tool_call *call, json_t *result)
{
	struct tools_call *c = (struct tools_call *)call;
	if (!c->in_module) {
		log_error("%s: tool_finish() called twice for call %s", c->module->who, c->id);
		json_decref(result);
		return;
	}
	c->in_module = 0;
	if (!json_is_object(result) || !json_is_array(json_object_get(result, "content"))) {
		json_decref(result);
		result = tools_error_result("%s returned a malformed result for '%s' (want an "
					    "object with a 'content' array)", c->module->who,
					    c->tool);
	}
	if (c->delivered) {
		/* Cancelled before it finished: the caller has its answer already. */
		json_decref(result);
		if (c->on_done == NULL)
			tools_call_free(c);
		return;
	}
	tools_deliver(c, result);
}

int
tools_host_path_allowed(struct hearth_tool_call *call, const char *path, int write)
{
	struct tools_call *c = (struct tools_call *)call;
	if (call == NULL || path == NULL || path[0] != '/' || c->module == NULL)
		return HEARTH_EPERM;
	return permission_path_allowed(c->module, c->cwd, path, write);
}

/* ------------------------------------------------------- tools_changed -- */

/* Does a module other than m offer `name` (and not as a refused name)? Its who, or NULL. */
static const char *
tools_offered_elsewhere(const struct module *m, const char *name)
{
	for (size_t i = 0; tools_registry != NULL && i < tools_registry->n_modules; i++) {
		struct module *o = tools_registry->modules[i];
		if (o == m || o->kind != HEARTH_KIND_TOOL || !o->inited)
			continue;
		const struct hearth_tool_def *defs = NULL;
		size_t n = o->desc->tool->list(o->state, &defs);
		for (size_t j = 0; j < n; j++)
			if (strcmp(defs[j].name, name) == 0 && !tools_is_refused(o, name))
				return o->who;
	}
	return NULL;
}

static void
tools_notify_cb(struct hearth_conn *c, void *arg)
{
	struct conn_info *info = conn_info(c);
	if (info->initialized && !info->closed)
		conn_write(c, arg);
}

void
tools_changed(struct module *m)
{
	if (m == NULL || m->kind != HEARTH_KIND_TOOL || !m->inited)
		return;
	struct tools_refused *r = tools_refused_of(m);
	if (r == NULL) {
		tools_refused = xreallocarray(tools_refused, tools_n_refused + 1,
					      sizeof *tools_refused);
		r = &tools_refused[tools_n_refused++];
		*r = (struct tools_refused){ .m = m };
	}
	for (size_t i = 0; i < r->n; i++)
		free(r->names[i]);
	r->n = 0;

	const struct hearth_tool_def *defs = NULL;
	size_t n = m->desc->tool->list(m->state, &defs);
	json_t *offered = json_array(), *refused = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *name = defs[i].name != NULL ? defs[i].name : "";
		const char *problem = registry_tool_problem(&defs[i]);
		const char *other = problem == NULL ? tools_offered_elsewhere(m, name) : NULL;
		int dup = 0;
		for (size_t j = 0; problem == NULL && other == NULL && j < i; j++)
			dup = dup || (defs[j].name != NULL && strcmp(defs[j].name, name) == 0);
		if (problem == NULL && other == NULL && !dup) {
			json_array_append_new(offered, json_string(name));
			continue;
		}
		if (problem != NULL)
			log_msg(m->who, HEARTH_LOG_ERROR, "tool %zu ('%.64s') %s: not offered", i, name,
				problem);
		else if (other != NULL)
			log_msg(m->who, HEARTH_LOG_ERROR, "tool '%s' is already offered by %s: "
				"not offered", name, other);
		else
			log_msg(m->who, HEARTH_LOG_ERROR, "tool '%s' is listed twice: offered once",
				name);
		if (dup)
			continue;
		r->names = xreallocarray(r->names, r->n + 1, sizeof *r->names);
		r->names[r->n++] = xstrdup(name);
		json_array_append_new(refused, json_string(name));
	}
	log_msg(m->who, HEARTH_LOG_INFO, "tools changed: %zu offered, %zu refused",
		json_array_size(offered), json_array_size(refused));
	json_t *msg = json_pack("{s:s,s:s,s:{s:s,s:o,s:o}}", "jsonrpc", "2.0", "method",
				"_hearth/tools_changed", "module", m->who, "tools", offered,
				"refused", refused);
	conn_foreach(tools_notify_cb, msg);
	json_decref(msg);
}

void
tools_forget(void)
{
	for (size_t i = 0; i < tools_n_refused; i++) {
		for (size_t j = 0; j < tools_refused[i].n; j++)
			free(tools_refused[i].names[j]);
		free(tools_refused[i].names);
	}
	free(tools_refused);
	tools_refused = NULL;
	tools_n_refused = 0;
}
