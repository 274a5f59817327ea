/* host.c: the host services table each module gets (see host.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hearth/plugin.h>

#include "conf.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "ndjson.h"
#include "proc.h"
#include "registry.h"
#include "sse.h"
#include "xmalloc.h"

struct hearth_timer {
	uv_timer_t handle;
	void (*cb)(void *arg);
	void *arg;
	struct host_impl *owner;   /* NULL once stopped */
	struct hearth_timer *prev, *next;
};

struct hearth_work {
	uv_work_t req;
	void (*work)(void *arg);
	void (*done)(void *arg, int status);
	void *arg;
	struct host_impl *owner;   /* holds a reference */
};

/* The table first, so a `const struct hearth_host *` converts back to its impl. */
struct host_impl {
	struct hearth_host table;
	struct module *module;
	struct hearth_timer *timers;   /* live timers, for host_module_dead() */
	unsigned refs;                 /* the table's own, plus one per queued work */
	int dead;                      /* fini() has run: no callback reaches the module */
};

static struct host_context *host_ctx;
static const struct host_conn_ops *host_conn;

void
host_context_set(struct host_context *ctx)
{
	host_ctx = ctx;
}

struct host_context *
host_context_get(void)
{
	return host_ctx;
}

static struct host_impl *
host_impl(const struct hearth_host *h)
{
	return (struct host_impl *)(uintptr_t)h;
}

struct module *
host_module(const struct hearth_host *h)
{
	return host_impl(h)->module;
}

static void
host_unref(struct host_impl *impl)
{
	if (--impl->refs == 0)
		free(impl);
}

/* ------------------------------------------------------------ logging -- */

static void
host_vlog(const struct hearth_host *h, enum hearth_log_level level, const char *fmt, va_list ap)
{
	log_vmsg(host_module(h)->who, level, fmt, ap);
}

static void
host_log(const struct hearth_host *h, enum hearth_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	host_vlog(h, level, fmt, ap);
	va_end(ap);
}

static uint64_t
host_now_ms(const struct hearth_host *h)
{
	return uv_now(host_ctx->loop);
}

/* ------------------------------------------------------------- timers -- */

static void
host_timer_cb(uv_timer_t *handle)
{
	struct hearth_timer *t = handle->data;
	t->cb(t->arg);
}

static void
host_timer_close_cb(uv_handle_t *handle)
{
	free(handle->data);
}

static struct hearth_timer *
host_timer_start(const struct hearth_host *h, uint64_t timeout_ms, uint64_t repeat_ms,
		 void (*cb)(void *arg), void *arg)
{
	struct host_impl *impl = host_impl(h);
	if (cb == NULL || impl->dead)
		return NULL;
	struct hearth_timer *t = xcalloc(1, sizeof *t);
	t->cb = cb;
	t->arg = arg;
	t->owner = impl;
	uv_timer_init(host_ctx->loop, &t->handle);
	t->handle.data = t;
	uv_timer_start(&t->handle, host_timer_cb, timeout_ms, repeat_ms);
	t->next = impl->timers;
	if (impl->timers != NULL)
		impl->timers->prev = t;
	impl->timers = t;
	return t;
}

static void
host_timer_stop(struct hearth_timer *t)
{
	if (t == NULL || t->owner == NULL)
		return;
	struct host_impl *impl = t->owner;
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		impl->timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	t->owner = NULL;
	uv_timer_stop(&t->handle);
	uv_close((uv_handle_t *)&t->handle, host_timer_close_cb);
}

/* --------------------------------------------------------------- work -- */

static void
host_work_cb(uv_work_t *req)
{
	struct hearth_work *w = req->data;
	w->work(w->arg);
}

static void
host_after_work_cb(uv_work_t *req, int status)
{
	struct hearth_work *w = req->data;
	if (!w->owner->dead)
		w->done(w->arg, status == UV_ECANCELED ? HEARTH_ECANCELED : 0);
	host_unref(w->owner);
	free(w);
}

static struct hearth_work *
host_work_queue(const struct hearth_host *h, void (*work)(void *arg),
		void (*done)(void *arg, int status), void *arg)
{
	struct host_impl *impl = host_impl(h);
	if (work == NULL || done == NULL || impl->dead)
		return NULL;
	struct hearth_work *w = xcalloc(1, sizeof *w);
	w->work = work;
	w->done = done;
	w->arg = arg;
	w->owner = impl;
	w->req.data = w;
	if (uv_queue_work(host_ctx->loop, &w->req, host_work_cb, host_after_work_cb) != 0) {
		free(w);
		return NULL;
	}
	impl->refs++;
	return w;
}

static int
host_work_cancel(struct hearth_work *w)
{
	return uv_cancel((uv_req_t *)&w->req) == 0 ? 0 : HEARTH_EBUSY;
}

/* ------------------------------------------------------------- config -- */

static const json_t *
host_config(const struct hearth_host *h)
{
	struct module *m = host_module(h);
	return m->section != NULL ? m->section : m->conf->section;
}

static const char *
host_config_string(const struct hearth_host *h, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(host_config(h), key));
	return v != NULL ? v : def;
}

/* Log a bad value as "FILE:LINE: [kind name] key: why". */
static void
host_config_bad(const struct hearth_host *h, const char *key, const char *why)
{
	struct module *m = host_module(h);
	json_int_t line = json_integer_value(json_object_get(m->conf->key_lines, key));
	log_msg(m->who, HEARTH_LOG_ERROR, "%s:%lld: [%s %s] %s: %s", m->conf_path,
		(long long)line, conf_kind_name(m->kind), m->name, key, why);
}

static int
host_config_int(const struct hearth_host *h, const char *key, long long def, long long min,
		long long max, long long *out)
{
	const char *v = host_config_string(h, key, NULL);
	if (v == NULL) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno == ERANGE || n < min || n > max) {
		char *why = xasprintf("'%s' is not an integer from %lld to %lld", v, min, max);
		host_config_bad(h, key, why);
		free(why);
		return HEARTH_EINVAL;
	}
	*out = n;
	return 0;
}

static int
host_config_bool(const struct hearth_host *h, const char *key, int def, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	const char *v = host_config_string(h, key, NULL);
	if (v == NULL) {
		*out = def;
		return 0;
	}
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	char *why = xasprintf("'%s' is not a boolean (yes/no, true/false, on/off, 1/0)", v);
	host_config_bad(h, key, why);
	free(why);
	return HEARTH_EINVAL;
}

/* ------------------------------------- services of later parts of the core -- */

static void
host_unavailable(const struct hearth_host *h, const char *what)
{
	host_log(h, HEARTH_LOG_ERROR, "%s is not available in this hearthd", what);
}

static struct hearth_http *
host_http_start(const struct hearth_host *h, const struct hearth_http_request *req)
{
	if (host_ctx->http == NULL) {
		host_unavailable(h, "HTTP");
		return NULL;
	}
	char *error = NULL;
	struct hearth_http *r = http_start(host_ctx->http, req, &error);
	if (r == NULL) {
		host_log(h, HEARTH_LOG_ERROR, "HTTP request refused: %s",
			 error != NULL ? error : "invalid request");
		free(error);
	}
	return r;
}

/* The loop comes from the host context; failures are logged under the module's name. */
static struct hearth_proc *
host_proc_spawn(const struct hearth_host *h, const struct hearth_proc_options *opt, int *error)
{
	if (host_ctx == NULL || host_ctx->loop == NULL) {
		host_unavailable(h, "process spawning");
		if (error != NULL)
			*error = HEARTH_ENOTSUP;
		return NULL;
	}
	char *message = NULL;
	struct hearth_proc *p = proc_spawn(host_ctx->loop, opt, error, &message);
	if (p == NULL) {
		host_log(h, HEARTH_LOG_WARN, "%s", message);
		free(message);
	}
	return p;
}

/* A module's kv namespace is its "kind/name". */
static int
host_kv_get(const struct hearth_host *h, const char *key, char **value, size_t *len)
{
	*value = NULL;
	if (host_ctx->store == NULL || host_ctx->daemon == NULL)
		return HEARTH_ENOTSUP;
	int rc = host_ctx->daemon->kv_get(host_ctx->store, host_module(h)->who, key, value, len);
	if (rc != 0 && rc != HEARTH_ENOENT)
		host_log(h, HEARTH_LOG_ERROR, "%s", host_ctx->daemon->errmsg(host_ctx->store));
	return rc;
}

static int
host_kv_put(const struct hearth_host *h, const char *key, const void *value, size_t len)
{
	if (host_ctx->store == NULL || host_ctx->daemon == NULL)
		return HEARTH_ENOTSUP;
	int rc = host_ctx->daemon->kv_put(host_ctx->store, host_module(h)->who, key, value, len);
	if (rc != 0)
		host_log(h, HEARTH_LOG_ERROR, "%s", host_ctx->daemon->errmsg(host_ctx->store));
	return rc;
}

static int
host_kv_delete(const struct hearth_host *h, const char *key)
{
	if (host_ctx->store == NULL || host_ctx->daemon == NULL)
		return HEARTH_ENOTSUP;
	int rc = host_ctx->daemon->kv_delete(host_ctx->store, host_module(h)->who, key);
	if (rc != 0 && rc != HEARTH_ENOENT)
		host_log(h, HEARTH_LOG_ERROR, "%s", host_ctx->daemon->errmsg(host_ctx->store));
	return rc;
}

void
host_set_conn_ops(const struct host_conn_ops *ops)
{
	host_conn = ops;
}

static struct hearth_conn *
host_conn_open(const struct hearth_host *h,
	       void (*on_message)(void *arg, const char *json, size_t len),
	       void (*on_close)(void *arg, const char *reason), void *arg)
{
	if (on_message == NULL || on_close == NULL || host_impl(h)->dead)
		return NULL;
	if (host_conn == NULL) {
		host_unavailable(h, "the core connection");
		return NULL;
	}
	return host_conn->open(on_message, on_close, arg);
}

static int
host_conn_send(struct hearth_conn *c, const char *json, size_t len)
{
	if (c == NULL || json == NULL)
		return HEARTH_EINVAL;
	return host_conn != NULL ? host_conn->send(c, json, len) : HEARTH_ENOTSUP;
}

static void
host_conn_close(struct hearth_conn *c)
{
	if (c != NULL && host_conn != NULL)
		host_conn->close(c);
}

static int
host_conn_flow(struct hearth_conn *c, size_t queue_max, void (*on_drain)(void *arg))
{
	if (c == NULL)
		return HEARTH_EINVAL;
	return host_conn != NULL && host_conn->flow != NULL ?
	       host_conn->flow(c, queue_max, on_drain) : HEARTH_ENOTSUP;
}

static void
host_conn_pause(struct hearth_conn *c, int paused)
{
	if (c != NULL && host_conn != NULL && host_conn->pause != NULL)
		host_conn->pause(c, paused);
}


static void
host_tools_changed(const struct hearth_host *h)
{
	if (host_ctx == NULL || host_ctx->daemon == NULL) {
		host_unavailable(h, "tools_changed");
		return;
	}
	host_ctx->daemon->tools_changed(host_module(h));
}

/* Tool calls exist only in the daemon: elsewhere there is no call to update. */
static int
host_tool_update(struct hearth_tool_call *call, const json_t *update)
{
	if (host_ctx == NULL || host_ctx->daemon == NULL)
		return HEARTH_ENOTSUP;
	return host_ctx->daemon->tool_update(call, update);
}

static void
host_tool_finish(struct hearth_tool_call *call, json_t *result)
{
	if (host_ctx == NULL || host_ctx->daemon == NULL) {
		log_msg("host", HEARTH_LOG_ERROR, "tool_finish without tool calls in this program");
		json_decref(result);
		return;
	}
	host_ctx->daemon->tool_finish(call, result);
}

static int
host_path_allowed(struct hearth_tool_call *call, const char *path, int write)
{
	if (host_ctx == NULL || host_ctx->daemon == NULL)
		return HEARTH_EPERM;
	return host_ctx->daemon->path_allowed(call, path, write);
}

static struct hearth_sse *
host_sse_new(const struct hearth_host *h, size_t max_event,
	     int (*on_event)(void *arg, const char *event, const char *data, size_t len,
			     const char *id),
	     void *arg)
{
	return on_event != NULL ? sse_new(max_event, on_event, arg) : NULL;
}

static struct hearth_ndjson *
host_ndjson_new(const struct hearth_host *h, size_t max_line,
		int (*on_line)(void *arg, json_t *value, size_t line_no), void *arg)
{
	return on_line != NULL ? ndjson_new(max_line, on_line, arg) : NULL;
}

static void *
host_uv_loop(const struct hearth_host *h)
{
	return host_ctx->loop;
}

static const char *
host_state_dir(const struct hearth_host *h)
{
	return host_ctx->state_dir;
}

static const char *
host_runtime_dir(const struct hearth_host *h)
{
	return host_ctx->runtime_dir;
}

/* ----------------------------------------------------------- the table -- */

struct hearth_host *
host_new(struct module *m)
{
	const struct hearth_host table = {
		.abi_version = HEARTH_ABI,
		.struct_size = sizeof(struct hearth_host),
		.module = m,
		.log = host_log,
		.vlog = host_vlog,
		.now_ms = host_now_ms,
		.timer_start = host_timer_start,
		.timer_stop = host_timer_stop,
		.work_queue = host_work_queue,
		.work_cancel = host_work_cancel,
		.config = host_config,
		.config_string = host_config_string,
		.config_int = host_config_int,
		.config_bool = host_config_bool,
		.http_start = host_http_start,
		.http_cancel = http_cancel,
		.proc_spawn = host_proc_spawn,
		.proc_write = proc_write,
		.proc_close_stdin = proc_close_stdin,
		.proc_kill = proc_kill,
		.proc_pid = proc_pid,
		.proc_release = proc_release,
		.kv_get = host_kv_get,
		.kv_put = host_kv_put,
		.kv_delete = host_kv_delete,
		.conn_open = host_conn_open,
		.conn_send = host_conn_send,
		.conn_close = host_conn_close,
		.tool_update = host_tool_update,
		.tool_finish = host_tool_finish,
		.tools_changed = host_tools_changed,
		.path_allowed = host_path_allowed,
		.sse_new = host_sse_new,
		.sse_feed = sse_feed,
		.sse_finish = sse_finish,
		.sse_error = sse_error,
		.sse_free = sse_free,
		.ndjson_new = host_ndjson_new,
		.ndjson_feed = ndjson_feed,
		.ndjson_finish = ndjson_finish,
		.ndjson_error = ndjson_error,
		.ndjson_free = ndjson_free,
		.uv_loop = host_uv_loop,
		.state_dir = host_state_dir,
		.runtime_dir = host_runtime_dir,
		.conn_flow = host_conn_flow,
		.conn_pause = host_conn_pause,
	};
	struct host_impl *impl = xcalloc(1, sizeof *impl);
	/* The members are const: the table is built whole and copied in once. */
	memcpy(&impl->table, &table, sizeof table);
	impl->module = m;
	impl->refs = 1;
	return &impl->table;
}

void
host_module_dead(struct hearth_host *h)
{
	struct host_impl *impl = host_impl(h);
	size_t left = 0;
	impl->dead = 1;
	while (impl->timers != NULL) {
		host_timer_stop(impl->timers);
		left++;
	}
	if (left > 0)
		log_msg(impl->module->who, HEARTH_LOG_WARN,
			"fini() left %zu timer%s running; closed them", left, left == 1 ? "" : "s");
}

unsigned
host_pending_work(const struct hearth_host *h)
{
	return host_impl(h)->refs - 1;
}

void
host_free(struct hearth_host *h)
{
	if (h != NULL)
		host_unref(host_impl(h));
}
