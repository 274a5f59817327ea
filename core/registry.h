/*
 * registry.h: the modules plugins.conf names, loaded, checked and initialised.
 *
 * registry_load_all() finds each module's file, opens it (loader.h), checks its
 * descriptor against the ABI (version range, struct sizes, kind, name, mandatory
 * callbacks) and calls its init(). A module that fails any step is reported as
 * "FILE: module KIND/NAME: what is wrong" (with the numbers involved) and unloaded;
 * the rest go on, unless plugins.conf says stop_on_module_error.
 *
 * Shutdown is three steps, in this order: registry_stop_frontends(), then
 * registry_fini_all() (reverse load order), then, once the loop has run every close
 * callback, registry_unload_all().
 */
#ifndef HEARTH_REGISTRY_H
#define HEARTH_REGISTRY_H

#include <stddef.h>

#include <hearth/plugin.h>
#include <hearth/provider.h>
#include <hearth/tool.h>
#include <hearth/frontend.h>

#include "conf.h"

struct module {
	enum hearth_kind kind;
	char *name;                        /* owned: the instance name plugins.conf used */
	char *who;                         /* owned: "kind/name", for log lines */
	char *path;                        /* owned: the file that was opened */
	void *handle;                      /* loader handle */
	const struct hearth_plugin *desc;  /* the module's static descriptor */
	void *state;                       /* what init() stored */
	const struct conf_module *conf;    /* borrowed from the registry's conf */
	json_t *section;                   /* owned: what the module sees of its section */
	const char *conf_path;             /* borrowed: plugins.conf path, for messages */
	struct hearth_host *host;          /* owned: this module's host table */
	int inited;                        /* init() succeeded, fini() not yet run */
	int started;                       /* frontends: start() succeeded */
};

struct registry {
	const struct conf *conf;   /* borrowed; must outlive the registry */
	struct module **modules;   /* owned: loaded modules in load order */
	size_t n_modules;
	char **errors;             /* owned: every problem, as printed */
	size_t n_errors;
	int stopped;               /* a module error stopped loading (stop_on_module_error) */
};

/* The longest tool name (what the vendors accept at most). */
#define REGISTRY_TOOL_NAME_MAX 128

struct hearth_tool_def;
/* What is wrong with a tool definition ("has an invalid name", ...), or NULL. Static. */
const char *registry_tool_problem(const struct hearth_tool_def *t);

/* A new, empty registry for `conf` (borrowed). */
struct registry *registry_new(const struct conf *conf);

/* Load and init every module of the conf. Returns the number of errors (0: all loaded). */
size_t registry_load_all(struct registry *r);

/*
 * The directories searched for a module of `kind`, in order: each module_dir of
 * plugins.conf (DIR/<kind>s, then DIR), the build tree's plugins/<kind>s when this
 * hearthd runs from its build tree, then the installed directory of that kind.
 * Returns a NULL-terminated array of malloc'd strings; free with registry_dirs_free.
 */
char **registry_search_dirs(const struct conf *conf, enum hearth_kind kind);
void registry_dirs_free(char **dirs);

/* Start every frontend. Returns the number of frontends that failed. */
size_t registry_start_frontends(struct registry *r);
void registry_stop_frontends(struct registry *r);
/* fini() every module, last loaded first. Idempotent. */
void registry_fini_all(struct registry *r);
/* Unload every module; only once their handles are closed. */
void registry_unload_all(struct registry *r);

/* The loaded module of this kind and instance name, or NULL. Borrowed. */
struct module *registry_find(struct registry *r, enum hearth_kind kind, const char *name);
/* The module of this kind loaded under its own name (not as another instance). */
struct module *registry_find_module(struct registry *r, enum hearth_kind kind,
				    const char *module);

/* Frees the registry; unloads what registry_unload_all() has not. */
void registry_free(struct registry *r);

#endif
