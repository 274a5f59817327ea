/*
 * host.h: the struct hearth_host each module gets (include/hearth/plugin.h).
 *
 * One table per module, so every service knows whose call it is: log lines carry
 * the module's name, config reads its section, kv its namespace. Services that a
 * later part of the core provides (HTTP, the store, connections) are
 * reached through the host_context; while one is absent its functions log and
 * fail with HEARTH_ENOTSUP.
 *
 * Every timer a module starts is tracked, so host_module_dead() can close what a
 * module's fini() forgot (with a warning) and no callback reaches an unloaded module.
 */
#ifndef HEARTH_HOST_H
#define HEARTH_HOST_H

#include <uv.h>
#include <jansson.h>

#include <hearth/plugin.h>

struct module;

/* The daemon-wide services behind every host table. Owned by the daemon. */
struct store;
struct http_client;
struct host_daemon_ops;

struct host_context {
	uv_loop_t *loop;
	struct store *store;      /* borrowed: for kv; NULL until the store is open */
	struct http_client *http; /* borrowed: for http_start; NULL: HTTP unavailable */
	const char *state_dir;    /* borrowed */
	const char *runtime_dir;  /* borrowed */
	/* borrowed: the daemon-only services (kv, tool calls); NULL in the client */
	const struct host_daemon_ops *daemon;
};

/*
 * The host services only the daemon has: the host library (libhearthhost, which
 * the `hearth` client links too) reaches the store and the tool machinery through
 * these, so it links neither. The daemon's are core_host_ops (core/daemon_ops.h).
 * While context->daemon is NULL, kv and tool calls log and fail with HEARTH_ENOTSUP.
 * Each member has the contract of the store or host function it stands for.
 */
struct hearth_tool_call;
struct host_daemon_ops {
	int (*kv_get)(struct store *st, const char *ns, const char *key, char **value,
		      size_t *len);
	int (*kv_put)(struct store *st, const char *ns, const char *key, const void *value,
		      size_t len);
	int (*kv_delete)(struct store *st, const char *ns, const char *key);
	const char *(*errmsg)(const struct store *st);
	int (*tool_update)(struct hearth_tool_call *call, const json_t *update);
	void (*tool_finish)(struct hearth_tool_call *call, json_t *result);
	int (*path_allowed)(struct hearth_tool_call *call, const char *path, int write);
	/* A tool module's set of tools changed (host->tools_changed). */
	void (*tools_changed)(struct module *m);
};

/* Set the context every host table uses (borrowed; must outlive the tables). */
void host_context_set(struct host_context *ctx);
struct host_context *host_context_get(void);

/* A new host table for module `m` (borrowed; must outlive the table). */
struct hearth_host *host_new(struct module *m);

/*
 * The module's fini() has run: close every timer it left (logging how many),
 * and drop the done callbacks of its queued work. Safe to call twice.
 */
void host_module_dead(struct hearth_host *h);

/* How many work items of this module are queued or running. */
unsigned host_pending_work(const struct hearth_host *h);

/* Free the table. Only after host_module_dead() and the loop has closed its handles. */
void host_free(struct hearth_host *h);

/* The module behind a host table. */
struct module *host_module(const struct hearth_host *h);

/*
 * The core side of connections (host->conn_open, conn_send, conn_close, conn_flow,
 * conn_pause): the daemon installs conn.h's functions, a test installs a fake core. The
 * members mirror the host functions (without the host) and have their contracts
 * (include/hearth/plugin.h).
 * Until ops are installed, conn_open logs "not available" and returns NULL, and
 * conn_send returns HEARTH_ENOTSUP.
 */
struct host_conn_ops {
	struct hearth_conn *(*open)(void (*on_message)(void *arg, const char *json, size_t len),
				    void (*on_close)(void *arg, const char *reason), void *arg);
	int (*send)(struct hearth_conn *c, const char *json, size_t len);
	void (*close)(struct hearth_conn *c);
	/* Optional (NULL: conn_flow gives HEARTH_ENOTSUP, conn_pause does nothing). */
	int (*flow)(struct hearth_conn *c, size_t queue_max, void (*on_drain)(void *arg));
	void (*pause)(struct hearth_conn *c, int paused);
};

/* Install `ops` (borrowed: must outlive every connection opened through it), or NULL. */
void host_set_conn_ops(const struct host_conn_ops *ops);

#endif
