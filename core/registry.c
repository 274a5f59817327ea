/* registry.c: find, open, check and initialise modules (see registry.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "xmalloc.h"

#ifndef HEARTH_PROVIDER_DIR
#define HEARTH_PROVIDER_DIR "/usr/local/lib/hearth/providers"
#define HEARTH_TOOL_DIR "/usr/local/lib/hearth/tools"
#define HEARTH_FRONTEND_DIR "/usr/local/lib/hearth/frontends"
#endif
#ifndef HEARTH_BUILDDIR
#define HEARTH_BUILDDIR ""
#endif

#define REGISTRY_NAME_MAX 64

/*
 * The struct sizes each accepted ABI version defined. A module must declare exactly
 * the size of its version: anything else means a header we never shipped.
 */
struct registry_abi_sizes {
	uint32_t abi;
	uint32_t plugin, provider, tool, frontend;
};

static const struct registry_abi_sizes registry_abi_table[] = {
	/* ABI 1's sizes on LP64, frozen: later versions only append. */
	{ 1, 64, 48, 40, 24 },
	{ 2, sizeof(struct hearth_plugin), sizeof(struct hearth_provider),
	  sizeof(struct hearth_tool), sizeof(struct hearth_frontend) },
};

static const struct registry_abi_sizes *
registry_abi_find(uint32_t abi)
{
	for (size_t i = 0; i < sizeof registry_abi_table / sizeof registry_abi_table[0]; i++)
		if (registry_abi_table[i].abi == abi)
			return &registry_abi_table[i];
	return NULL;
}

static void
registry_error(struct registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
registry_error(struct registry *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	r->errors = xreallocarray(r->errors, r->n_errors + 1, sizeof *r->errors);
	r->errors[r->n_errors++] = msg;
}

struct registry *
registry_new(const struct conf *conf)
{
	struct registry *r = xcalloc(1, sizeof *r);
	r->conf = conf;
	return r;
}

static const char *
registry_installed_dir(enum hearth_kind kind)
{
	switch (kind) {
	case HEARTH_KIND_PROVIDER: return HEARTH_PROVIDER_DIR;
	case HEARTH_KIND_TOOL: return HEARTH_TOOL_DIR;
	case HEARTH_KIND_FRONTEND: return HEARTH_FRONTEND_DIR;
	}
	return NULL;
}

/* True when this process is the hearthd of the build tree it was built in. */
static int
registry_in_build_tree(void)
{
	char exe[PATH_MAX], build[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0 || HEARTH_BUILDDIR[0] == '\0' || realpath(HEARTH_BUILDDIR, build) == NULL)
		return 0;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';
	return strcmp(exe, build) == 0;
}

char **
registry_search_dirs(const struct conf *conf, enum hearth_kind kind)
{
	const char *kname = conf_kind_name(kind);
	size_t max = 2 * (conf != NULL ? conf->n_module_dirs : 0) + 3, n = 0;
	char **dirs = xcalloc(max, sizeof *dirs);

	for (size_t i = 0; conf != NULL && i < conf->n_module_dirs; i++) {
		dirs[n++] = xasprintf("%s/%ss", conf->module_dirs[i], kname);
		dirs[n++] = xstrdup(conf->module_dirs[i]);
	}
	if (registry_in_build_tree())
		dirs[n++] = xasprintf("%s/plugins/%ss", HEARTH_BUILDDIR, kname);
	dirs[n++] = xstrdup(registry_installed_dir(kind));
	dirs[n] = NULL;
	return dirs;
}

void
registry_dirs_free(char **dirs)
{
	for (char **d = dirs; d != NULL && *d != NULL; d++)
		free(*d);
	free(dirs);
}

static int
registry_is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The file to open for a module: NAME.la (an uninstalled or installed libtool
 * module) or NAME.so, in the first directory that has one. malloc'd, or NULL.
 */
static char *
registry_find_file(char **dirs, const char *name)
{
	static const char *const exts[] = { ".la", ".so" };
	for (char **d = dirs; *d != NULL; d++) {
		for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
			char *path = xasprintf("%s/%s%s", *d, name, exts[i]);
			if (registry_is_file(path))
				return path;
			free(path);
		}
	}
	return NULL;
}

static int
registry_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > REGISTRY_NAME_MAX)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Check the kind's vtable: its size and its mandatory callbacks. */
static int
registry_check_vtable(struct registry *r, struct module *m,
		      const struct registry_abi_sizes *sizes)
{
	const struct hearth_plugin *d = m->desc;
	const char *missing = NULL;
	uint32_t got = 0, want = 0;

	if (d->vtable == NULL) {
		registry_error(r, "%s: module %s: missing mandatory %s vtable", m->path, m->who,
			       conf_kind_name(m->kind));
		return -1;
	}
	switch (m->kind) {
	case HEARTH_KIND_PROVIDER:
		got = d->provider->struct_size, want = sizes->provider;
		if (got == want) {
			if (d->provider->stream == NULL) missing = "stream";
			else if (d->provider->cancel == NULL) missing = "cancel";
			else if (d->provider->list_models == NULL) missing = "list_models";
		}
		break;
	case HEARTH_KIND_TOOL:
		got = d->tool->struct_size, want = sizes->tool;
		if (got == want) {
			if (d->tool->list == NULL) missing = "list";
			else if (d->tool->run == NULL) missing = "run";
		}
		break;
	case HEARTH_KIND_FRONTEND:
		got = d->frontend->struct_size, want = sizes->frontend;
		if (got == want) {
			if (d->frontend->start == NULL) missing = "start";
			else if (d->frontend->stop == NULL) missing = "stop";
		}
		break;
	}
	if (got != want) {
		registry_error(r, "%s: module %s: %s vtable struct_size is %u, ABI %u defines %u",
			       m->path, m->who, conf_kind_name(m->kind), got, d->abi_version, want);
		return -1;
	}
	if (missing != NULL) {
		registry_error(r, "%s: module %s: missing mandatory callback '%s'", m->path,
			       m->who, missing);
		return -1;
	}
	return 0;
}

/* Check a descriptor against the ABI and the conf. 0 when the module may be used. */
static int
registry_check(struct registry *r, struct module *m)
{
	const struct hearth_plugin *d = m->desc;

	if (d->abi_version < HEARTH_ABI_MIN || d->abi_version > HEARTH_ABI) {
		registry_error(r, "%s: module %s: built for plugin ABI %u, this hearthd accepts "
			       "ABI %d to %d", m->path, m->who, d->abi_version, HEARTH_ABI_MIN,
			       HEARTH_ABI);
		return -1;
	}
	const struct registry_abi_sizes *sizes = registry_abi_find(d->abi_version);
	if (sizes == NULL || d->struct_size != sizes->plugin) {
		registry_error(r, "%s: module %s: descriptor struct_size is %u, ABI %u defines %u",
			       m->path, m->who, d->struct_size, d->abi_version,
			       sizes != NULL ? sizes->plugin : 0);
		return -1;
	}
	const char *kname = conf_kind_name((enum hearth_kind)d->kind);
	if (d->kind != (uint32_t)m->kind) {
		if (kname != NULL)
			registry_error(r, "%s: module %s: is a %s module, but plugins.conf loads it "
				       "as a %s", m->path, m->who, kname, conf_kind_name(m->kind));
		else
			registry_error(r, "%s: module %s: unknown kind %u", m->path, m->who,
				       d->kind);
		return -1;
	}
	if (d->name == NULL || !registry_name_valid(d->name)) {
		registry_error(r, "%s: module %s: invalid name%s%s (want 1 to %d of [a-z0-9_-])",
			       m->path, m->who, d->name ? " " : "", d->name ? d->name : "",
			       REGISTRY_NAME_MAX);
		return -1;
	}
	struct module *other = registry_find(r, m->kind, m->name);
	if (other == NULL && strcmp(m->name, m->conf->module) == 0)
		other = registry_find_module(r, m->kind, d->name);
	if (other != NULL) {
		registry_error(r, "%s: module %s: duplicate name: %s '%s' is already loaded from %s",
			       m->path, m->who, kname, d->name, other->path);
		return -1;
	}
	if (strcmp(d->name, m->conf->module) != 0) {
		registry_error(r, "%s: module %s: the file declares the name '%s'", m->path,
			       m->who, d->name);
		return -1;
	}
	if (d->version == NULL) {
		registry_error(r, "%s: module %s: missing version string", m->path, m->who);
		return -1;
	}
	if (d->init == NULL || d->fini == NULL) {
		registry_error(r, "%s: module %s: missing mandatory callback '%s'", m->path, m->who,
			       d->init == NULL ? "init" : "fini");
		return -1;
	}
	return registry_check_vtable(r, m, sizes);
}

const char *
registry_tool_problem(const struct hearth_tool_def *t)
{
	if (t->name == NULL || t->name[0] == '\0' || strlen(t->name) > REGISTRY_TOOL_NAME_MAX ||
	    strspn(t->name, "abcdefghijklmnopqrstuvwxyz"
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(t->name))
		return "has an invalid name";
	json_error_t jerr;
	json_t *schema = t->input_schema != NULL ? json_loads(t->input_schema, 0, &jerr) : NULL;
	int ok = json_is_object(schema);
	json_decref(schema);
	return ok ? NULL : "input_schema is not a JSON object";
}

/* A tool module's tools: valid names and schemas, unique across all tool modules. */
static int
registry_check_tools(struct registry *r, struct module *m)
{
	const struct hearth_tool_def *defs = NULL;
	size_t n = m->desc->tool->list(m->state, &defs);

	for (size_t i = 0; i < n; i++) {
		const struct hearth_tool_def *t = &defs[i];
		const char *problem = registry_tool_problem(t);
		if (problem != NULL && strcmp(problem, "has an invalid name") == 0) {
			registry_error(r, "%s: module %s: tool %zu has an invalid name", m->path,
				       m->who, i);
			return -1;
		}
		if (problem != NULL) {
			registry_error(r, "%s: module %s: tool '%s': %s", m->path, m->who, t->name,
				       problem);
			return -1;
		}
		for (size_t j = 0; j < r->n_modules; j++) {
			struct module *o = r->modules[j];
			if (o->kind != HEARTH_KIND_TOOL || o == m)
				continue;
			const struct hearth_tool_def *odefs = NULL;
			size_t on = o->desc->tool->list(o->state, &odefs);
			for (size_t k = 0; k < on; k++) {
				if (strcmp(odefs[k].name, t->name) == 0) {
					registry_error(r, "%s: module %s: duplicate tool name '%s', "
						       "already offered by %s", m->path, m->who,
						       t->name, o->who);
					return -1;
				}
			}
		}
	}
	return 0;
}

/*
 * The section a module sees: its plugins.conf section without the keys the core
 * reads there itself (a tool module's permission rules, permission.h), so modules
 * need not know them. A new reference.
 */
static json_t *
registry_module_section(const struct module *m)
{
	static const char *const prefixes[] = { "allow.", "ask.", "deny.", "permission." };
	json_t *out = json_object();
	const char *key;
	json_t *value;
	json_object_foreach(m->conf->section, key, value) {
		int core_key = 0;
		if (m->kind == HEARTH_KIND_TOOL) {
			for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
				core_key |= strncmp(key, prefixes[i], strlen(prefixes[i])) == 0;
			core_key |= strcmp(key, "allow_paths") == 0 ||
				    strcmp(key, "allow_write_paths") == 0;
		}
		if (!core_key)
			json_object_set(out, key, value);
	}
	return out;
}

static void
registry_module_free(struct module *m)
{
	if (m == NULL)
		return;
	json_decref(m->section);
	int busy = m->host != NULL && host_pending_work(m->host) > 0;
	if (m->host != NULL)
		host_free(m->host);
	/* Work still running on a pool thread is the module's code: keep it mapped. */
	if (busy)
		log_error("%s: work still running at unload; module left loaded", m->who);
	else
		loader_close(m->handle);
	free(m->name);
	free(m->who);
	free(m->path);
	free(m);
}

/* Load one module. Returns 0, or -1 after reporting why. */
static int
registry_load_one(struct registry *r, const struct conf_module *cm)
{
	struct module *m = xcalloc(1, sizeof *m);
	m->kind = cm->kind;
	m->name = xstrdup(cm->name);
	m->who = xasprintf("%s/%s", conf_kind_name(cm->kind), cm->name);
	m->conf = cm;
	m->conf_path = r->conf->path;

	char **dirs = registry_search_dirs(r->conf, cm->kind);
	m->path = registry_find_file(dirs, cm->module);
	if (m->path == NULL) {
		size_t len = 0;
		for (char **d = dirs; *d != NULL; d++)
			len += strlen(*d) + 2;
		char *list = xcalloc(1, len + 1);
		for (char **d = dirs; *d != NULL; d++) {
			if (d != dirs)
				strcat(list, ", ");
			strcat(list, *d);
		}
		registry_error(r, "%s:%d: module %s not found (searched %s)", r->conf->path,
			       cm->load_line, m->who, list);
		free(list);
		registry_dirs_free(dirs);
		registry_module_free(m);
		return -1;
	}
	registry_dirs_free(dirs);

	char *why = NULL;
	m->handle = loader_open(m->path, &why);
	if (m->handle == NULL) {
		registry_error(r, "%s: module %s: cannot load: %s", m->path, m->who, why);
		free(why);
		registry_module_free(m);
		return -1;
	}
	hearth_plugin_entry_fn entry =
		(hearth_plugin_entry_fn)(uintptr_t)loader_sym(m->handle, HEARTH_PLUGIN_ENTRY);
	if (entry == NULL) {
		registry_error(r, "%s: module %s: not a hearth module (no %s symbol)", m->path,
			       m->who, HEARTH_PLUGIN_ENTRY);
		registry_module_free(m);
		return -1;
	}
	m->desc = entry();
	if (m->desc == NULL) {
		registry_error(r, "%s: module %s: %s() returned NULL", m->path, m->who,
			       HEARTH_PLUGIN_ENTRY);
		registry_module_free(m);
		return -1;
	}
	if (registry_check(r, m) != 0) {
		registry_module_free(m);
		return -1;
	}

	m->host = host_new(m);
	m->section = registry_module_section(m);
	int rc = m->desc->init(m->host, m->section, &m->state);
	if (rc != 0) {
		registry_error(r, "%s: module %s: init failed: %s", m->path, m->who,
			       hearth_strerror(rc));
		host_module_dead(m->host);
		registry_module_free(m);
		return -1;
	}
	m->inited = 1;
	if (m->kind == HEARTH_KIND_TOOL && registry_check_tools(r, m) != 0) {
		m->desc->fini(m->state);
		m->inited = 0;
		host_module_dead(m->host);
		registry_module_free(m);
		return -1;
	}
	r->modules = xreallocarray(r->modules, r->n_modules + 1, sizeof *r->modules);
	r->modules[r->n_modules++] = m;
	log_debug("loaded %s %s (ABI %u) from %s", m->who, m->desc->version,
		  m->desc->abi_version, m->path);
	return 0;
}

size_t
registry_load_all(struct registry *r)
{
	size_t before = r->n_errors;
	for (size_t i = 0; i < r->conf->n_modules; i++) {
		if (registry_load_one(r, &r->conf->modules[i]) != 0 &&
		    r->conf->stop_on_module_error) {
			r->stopped = 1;
			break;
		}
	}
	return r->n_errors - before;
}

size_t
registry_start_frontends(struct registry *r)
{
	size_t failed = 0;
	for (size_t i = 0; i < r->n_modules; i++) {
		struct module *m = r->modules[i];
		if (m->kind != HEARTH_KIND_FRONTEND || m->started || !m->inited)
			continue;
		int rc = m->desc->frontend->start(m->state);
		if (rc != 0) {
			registry_error(r, "%s: module %s: start failed: %s", m->path, m->who,
				       hearth_strerror(rc));
			failed++;
			continue;
		}
		m->started = 1;
	}
	return failed;
}

void
registry_stop_frontends(struct registry *r)
{
	for (size_t i = r->n_modules; i-- > 0;) {
		struct module *m = r->modules[i];
		if (m->kind == HEARTH_KIND_FRONTEND && m->started) {
			m->desc->frontend->stop(m->state);
			m->started = 0;
		}
	}
}

void
registry_fini_all(struct registry *r)
{
	for (size_t i = r->n_modules; i-- > 0;) {
		struct module *m = r->modules[i];
		if (!m->inited)
			continue;
		m->desc->fini(m->state);
		m->inited = 0;
		host_module_dead(m->host);
	}
}

void
registry_unload_all(struct registry *r)
{
	for (size_t i = r->n_modules; i-- > 0;) {
		struct module *m = r->modules[i];
		if (m->inited) {
			/* Never unload code that may still be called. */
			log_error("%s: unloading a module whose fini() has not run", m->who);
			m->desc->fini(m->state);
			m->inited = 0;
			host_module_dead(m->host);
		}
		registry_module_free(m);
	}
	free(r->modules);
	r->modules = NULL;
	r->n_modules = 0;
}

struct module *
registry_find(struct registry *r, enum hearth_kind kind, const char *name)
{
	for (size_t i = 0; i < r->n_modules; i++)
		if (r->modules[i]->kind == kind && strcmp(r->modules[i]->name, name) == 0)
			return r->modules[i];
	return NULL;
}

struct module *
registry_find_module(struct registry *r, enum hearth_kind kind, const char *module)
{
	for (size_t i = 0; i < r->n_modules; i++)
		if (r->modules[i]->kind == kind && strcmp(r->modules[i]->desc->name, module) == 0 &&
		    strcmp(r->modules[i]->name, r->modules[i]->conf->module) == 0)
			return r->modules[i];
	return NULL;
}

void
registry_free(struct registry *r)
{
	if (r == NULL)
		return;
	registry_unload_all(r);
	for (size_t i = 0; i < r->n_errors; i++)
		free(r->errors[i]);
	free(r->errors);
	free(r);
}
