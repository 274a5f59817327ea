/*
 * hearth/plugin.h: the hearth plugin ABI (descriptor, host services, entry point).
 *
 * A hearth module is a shared object that exports exactly one symbol,
 *
 *     const struct hearth_plugin *hearth_plugin_entry(void);
 *
 * returning a pointer to a static descriptor (declare it with HEARTH_PLUGIN_EXPORT
 * so it stays visible when the rest is built with -fvisibility=hidden). The daemon
 * loads modules named in plugins.conf with libltdl (RTLD_LOCAL), checks the
 * descriptor, and calls init() with a table of host services. A module never calls a
 * symbol of the daemon or of another module: everything it needs comes through
 * struct hearth_host, so it links with -no-undefined and a test can hand it a fake.
 *
 * Build one out of tree:
 *
 *     cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags hearth-plugin) \
 *        mod.c -o mod.so $(pkg-config --libs hearth-plugin)
 *
 * Threads. Every function in this ABI, in both directions, is called on the daemon's
 * single loop thread, except a work function handed to host->work_queue, which runs
 * on a pool thread and must touch nothing but its own argument. No callback may
 * block the loop for more than a few milliseconds.
 *
 * Ownership. jansson's rule holds throughout: a parameter is borrowed for the
 * duration of the call; a returned json_t * is a new reference the caller must
 * json_decref; where a function takes ownership it says "steals". Strings handed to
 * a callback are borrowed and valid only during that callback. Handles returned by
 * the host (timers, work, HTTP requests, processes, connections) belong to the
 * module until it releases them with the matching host function; the host frees
 * them then, never the module.
 *
 * Errors. Functions that can fail return 0 or a negative HEARTH_E* code.
 *
 * Lifetime. init() runs once after loading. A frontend's start() runs after every
 * module's init(). At shutdown: frontends stop(), then every module's fini(), in
 * reverse load order; the loop then runs until every handle's close callback has
 * fired, and only then are modules unloaded. fini() must release every host handle
 * the module holds; after fini() returns no callback reaches the module again.
 */
#ifndef HEARTH_PLUGIN_H
#define HEARTH_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ABI version.
 *
 * Rule: HEARTH_ABI is raised by one for every change to any struct or function
 * type in include/hearth/. A change that only appends members to the end of a
 * struct that carries struct_size keeps old modules working: the loader accepts
 * them, and HEARTH_ABI_MIN stays. A change that reorders, removes or retypes a
 * member breaks them: HEARTH_ABI_MIN is raised to the new HEARTH_ABI. The loader
 * accepts a module when HEARTH_ABI_MIN <= abi_version <= HEARTH_ABI and its
 * struct_size is the size that version defined; anything else is refused with a
 * message naming the file, the module and the numbers involved.
 *
 * A module that wants to call a host function added after the version it was
 * built for checks host->struct_size first (HEARTH_HOST_HAS).
 *
 * Changelog:
 *   1  first version: descriptor, host services (log, timers, work, config, http,
 *      proc, kv, connections, tool events, SSE and NDJSON parsers), provider, tool
 *      and frontend vtables.
 *   2  members appended this round (each marked "ABI 2" where it is declared);
 *      modules built for 1 still load. host: conn_flow, conn_pause (flow control
 *      of a connection: its queue's bound, HEARTH_EBUSY from conn_send and
 *      on_drain, pausing delivery).
 */
#define HEARTH_ABI 2
#define HEARTH_ABI_MIN 1

#define HEARTH_PLUGIN_ENTRY "hearth_plugin_entry"

#if defined(__GNUC__)
#define HEARTH_PLUGIN_EXPORT __attribute__((visibility("default")))
#define HEARTH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HEARTH_PLUGIN_EXPORT
#define HEARTH_PRINTF(f, a)
#endif

/* Error codes: every fallible function returns 0 or one of these. */
enum hearth_error {
	HEARTH_OK = 0,
	HEARTH_EINVAL = -1,     /* invalid argument or input */
	HEARTH_ENOMEM = -2,     /* out of memory */
	HEARTH_ENOTSUP = -3,    /* not supported by this host or module */
	HEARTH_ECANCELED = -4,  /* cancelled by request */
	HEARTH_EIO = -5,        /* I/O or system call failure */
	HEARTH_ENOENT = -6,     /* no such thing (file, key, session, module) */
	HEARTH_ETIMEDOUT = -7,  /* a timeout expired */
	HEARTH_ELIMIT = -8,     /* a named limit was hit (size, count, depth) */
	HEARTH_EBUSY = -9,      /* the thing is in use or already running */
	HEARTH_EPROTO = -10,    /* the peer broke its protocol */
	HEARTH_EPERM = -11,     /* refused by permissions or confinement */
};

/* A short English name for an error code ("invalid argument"); static. */
#define HEARTH_ERROR_NAMES_INIT { "ok", "invalid argument", "out of memory", \
	"not supported", "cancelled", "I/O error", "not found", "timed out", \
	"limit exceeded", "busy", "protocol error", "not permitted" }

enum hearth_kind {
	HEARTH_KIND_PROVIDER = 1,
	HEARTH_KIND_TOOL = 2,
	HEARTH_KIND_FRONTEND = 3,
};

enum hearth_log_level {
	HEARTH_LOG_ERROR = 0,
	HEARTH_LOG_WARN = 1,
	HEARTH_LOG_INFO = 2,
	HEARTH_LOG_DEBUG = 3,
};

/* Opaque handles. The host owns their memory; see the function that releases each. */
struct hearth_timer;
struct hearth_work;
struct hearth_http;
struct hearth_proc;
struct hearth_conn;
struct hearth_tool_call;
struct hearth_sse;
struct hearth_ndjson;

struct hearth_host;

/* ---------------------------------------------------------------- HTTP -- */

/*
 * One HTTP request. The host copies everything it needs before http_start()
 * returns, so the struct and its strings may live on the caller's stack.
 */
struct hearth_http_request {
	uint32_t struct_size;        /* sizeof(struct hearth_http_request) */
	const char *method;          /* "GET", "POST", ...; NULL means GET, or POST with a body */
	const char *url;             /* mandatory; http:// or https:// */
	const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */
	const char *body;            /* request body, or NULL */
	size_t body_len;
	uint32_t connect_timeout_ms; /* 0: the host default (10 s) */
	uint32_t idle_timeout_ms;    /* no byte received for this long fails the request; 0: default (300 s) */
	uint32_t total_timeout_ms;   /* 0: no limit */
	/*
	 * Optional. Called once when the status line and headers are in.
	 * names/values are parallel arrays of n borrowed strings (names lower-cased).
	 * Return 0 to go on, non-zero to abort (on_done then gets HEARTH_ECANCELED).
	 */
	int (*on_response)(void *arg, long status, const char *const *names,
			   const char *const *values, size_t n);
	/* Optional. Body bytes as they arrive, in any chunking. Return 0 to go on,
	 * non-zero to abort (on_done then gets HEARTH_ECANCELED). */
	int (*on_data)(void *arg, const char *data, size_t len);
	/*
	 * Mandatory. Called exactly once, unless http_cancel() came first. error is 0
	 * when a complete response was received (whatever its status), else a
	 * HEARTH_E* code with message a borrowed description (curl's, for example).
	 */
	void (*on_done)(void *arg, int error, long status, const char *message);
	void *arg;
};

/* ----------------------------------------------------------- processes -- */

enum hearth_proc_flags {
	HEARTH_PROC_STDIN = 1 << 0,       /* give the child a stdin pipe (proc_write) */
	HEARTH_PROC_KEEP_SECRETS = 1 << 1, /* keep API key variables in the environment */
};

struct hearth_proc_options {
	uint32_t struct_size;      /* sizeof(struct hearth_proc_options) */
	const char *file;          /* program, searched in PATH when it has no '/' */
	const char *const *argv;   /* NULL-terminated, argv[0] included */
	const char *const *env;    /* NULL-terminated "NAME=value", or NULL for the daemon's */
	const char *cwd;           /* or NULL for the daemon's */
	uint32_t flags;            /* enum hearth_proc_flags */
	uint32_t timeout_ms;       /* kill the group after this long; 0: no timeout */
	/* Optional. Output as it arrives. Return 0 to go on, non-zero to stop reading. */
	int (*on_stdout)(void *arg, const char *data, size_t len);
	int (*on_stderr)(void *arg, const char *data, size_t len);
	/*
	 * Mandatory. Called exactly once when the child has exited and both pipes are
	 * drained, unless proc_release() came first. exit_status is the exit code, or
	 * 128 + signal; term_signal is the signal or 0; timed_out is 1 after a timeout.
	 */
	void (*on_exit)(void *arg, int exit_status, int term_signal, int timed_out);
	void *arg;
};

/* ------------------------------------------------------------- the host -- */

/*
 * Services the daemon offers a module. Each module gets its own copy of this table
 * (`module` differs), so log lines and key-value data are attributed to it. Every
 * function takes the table it came from as its first argument. Members may be
 * appended in later ABI versions; check with HEARTH_HOST_HAS before using one.
 */
struct hearth_host {
	uint32_t abi_version;  /* HEARTH_ABI of the daemon */
	uint32_t struct_size;  /* sizeof(struct hearth_host) of the daemon */
	const void *module;    /* the host's record of this module; opaque */

	/* --- logging: the line is tagged with the module's kind and name. */
	void (*const log)(const struct hearth_host *h, enum hearth_log_level level,
			  const char *fmt, ...) HEARTH_PRINTF(3, 4);
	void (*const vlog)(const struct hearth_host *h, enum hearth_log_level level,
			   const char *fmt, va_list ap) HEARTH_PRINTF(3, 0);

	/* --- time. Monotonic milliseconds, cached per loop iteration. */
	uint64_t (*const now_ms)(const struct hearth_host *h);

	/*
	 * --- timers. cb runs on the loop after timeout_ms, then every repeat_ms if
	 * non-zero. Returns NULL on out of memory. timer_stop() releases the timer:
	 * cb is never called again, and the pointer is dead. A one-shot timer must
	 * still be stopped (from its own callback is fine).
	 */
	struct hearth_timer *(*const timer_start)(const struct hearth_host *h,
						  uint64_t timeout_ms, uint64_t repeat_ms,
						  void (*cb)(void *arg), void *arg);
	void (*const timer_stop)(struct hearth_timer *t);

	/*
	 * --- the thread pool. work(arg) runs on a pool thread; then done(arg, status)
	 * runs on the loop with status 0, or HEARTH_ECANCELED when work_cancel() got
	 * there before work started. done is always called exactly once; the handle is
	 * freed by the host right after it returns. Returns NULL on out of memory.
	 */
	struct hearth_work *(*const work_queue)(const struct hearth_host *h,
						void (*work)(void *arg),
						void (*done)(void *arg, int status), void *arg);
	/* 0 if the work will not run (done gets HEARTH_ECANCELED), HEARTH_EBUSY if it
	 * is running or ran already (done gets its normal status). */
	int (*const work_cancel)(struct hearth_work *w);

	/*
	 * --- configuration: the module's [kind name] section of plugins.conf.
	 * config() returns a borrowed JSON object of string values (the same one
	 * init() got), valid until fini(). The typed getters read one key, and on a
	 * bad value log "FILE:LINE: [kind name] key: what is wrong" and return
	 * HEARTH_EINVAL. A missing key gives the default and 0.
	 */
	const json_t *(*const config)(const struct hearth_host *h);
	const char *(*const config_string)(const struct hearth_host *h, const char *key,
					   const char *def);
	int (*const config_int)(const struct hearth_host *h, const char *key, long long def,
				long long min, long long max, long long *out);
	int (*const config_bool)(const struct hearth_host *h, const char *key, int def,
				 int *out);

	/*
	 * --- HTTP (libcurl on the loop). Returns NULL and logs if the request is
	 * invalid. http_cancel() stops the request: no callback follows, and the
	 * handle is dead. A handle whose on_done has run is dead too: do not cancel it.
	 */
	struct hearth_http *(*const http_start)(const struct hearth_host *h,
						const struct hearth_http_request *req);
	void (*const http_cancel)(struct hearth_http *r);

	/*
	 * --- child processes. The child runs in its own process group. Returns NULL
	 * with *error set when it cannot be started. proc_write() queues bytes for stdin
	 * (copied); proc_close_stdin() sends EOF. proc_kill() signals the whole group.
	 * proc_release() kills the group if it still runs (SIGTERM, then SIGKILL after
	 * 2 s), and no callback follows; call it from on_exit or any time before.
	 */
	struct hearth_proc *(*const proc_spawn)(const struct hearth_host *h,
						const struct hearth_proc_options *opt,
						int *error);
	int (*const proc_write)(struct hearth_proc *p, const void *data, size_t len);
	void (*const proc_close_stdin)(struct hearth_proc *p);
	int (*const proc_kill)(struct hearth_proc *p, int signum);
	int (*const proc_pid)(struct hearth_proc *p);
	void (*const proc_release)(struct hearth_proc *p);

	/*
	 * --- a small key-value store in the daemon's database, private to the module.
	 * kv_get() returns a malloc'd copy in *value (free() it) and its length.
	 */
	int (*const kv_get)(const struct hearth_host *h, const char *key, char **value,
			    size_t *len);
	int (*const kv_put)(const struct hearth_host *h, const char *key, const void *value,
			    size_t len);
	int (*const kv_delete)(const struct hearth_host *h, const char *key);

	/*
	 * --- connections to the core: what frontends use. A connection carries
	 * JSON-RPC 2.0 (ACP) messages, one JSON text per message without a newline.
	 *
	 * Delivery. What the core sends is queued in the connection and handed to
	 * on_message later, from the loop: never inside the core's own call stack,
	 * and never inside conn_open(), conn_send() or conn_close(). So conn_send()
	 * and conn_close() may be called from inside on_message (an in-process client
	 * answering session/request_permission in its callback, or going away). The
	 * text is borrowed, valid during the call. on_close(reason) runs once, from
	 * the loop, when the core ends the connection, after every message queued
	 * before (the last of which is `_hearth/closing {reason}`), unless
	 * conn_close() came first; reason is borrowed. After on_close, or once
	 * conn_close() returns, the handle is dead and no callback follows.
	 *
	 * conn_send() copies the text and hands it to the core at once (its answers
	 * come later, through on_message). It returns 0; HEARTH_ELIMIT when the text
	 * is over the frame limit (the client is sent an error); HEARTH_EBUSY (only
	 * once on_drain is set with conn_flow) when the connection's queue is full:
	 * the message was NOT taken, send it again after on_drain; HEARTH_EINVAL on
	 * a dead or NULL handle. While the core is ending the connection, messages
	 * are ignored (0).
	 *
	 * The queue is bounded (8 MiB unless conn_flow says otherwise), and what it
	 * holds counts against the bound until on_message has been called with it.
	 * When a client falls behind, only session/update notifications are dropped
	 * (the client then gets `_hearth/resync {reason, dropped}` and catches up by
	 * sequence number, doc/protocol.md); a response or a request that would
	 * overflow it ends the connection, with the reason logged and sent. One
	 * message larger than the whole queue still goes, alone.
	 *
	 * Providers, by contrast, must not call their sink inside stream(): every
	 * sink callback comes from a later loop callback (an HTTP or timer callback),
	 * after stream() has returned the call.
	 */
	struct hearth_conn *(*const conn_open)(const struct hearth_host *h,
					       void (*on_message)(void *arg, const char *json,
								  size_t len),
					       void (*on_close)(void *arg, const char *reason),
					       void *arg);
	int (*const conn_send)(struct hearth_conn *c, const char *json, size_t len);
	void (*const conn_close)(struct hearth_conn *c);

	/*
	 * --- tool calls (see hearth/tool.h). tool_update() sends a progress update
	 * of a running call to the session's clients: a JSON object with any of the
	 * ACP tool_call_update fields (content, title, locations, rawOutput). It is
	 * borrowed. tool_finish() ends the call: exactly once per call, and the call
	 * pointer is dead after it. result is a JSON object
	 *     {"content": [ACP content blocks], "isError": bool, "rawOutput": any?}
	 * and is stolen.
	 */
	int (*const tool_update)(struct hearth_tool_call *call, const json_t *update);
	void (*const tool_finish)(struct hearth_tool_call *call, json_t *result);
	/* The set of tools a module offers changed (an MCP server came or went). */
	void (*const tools_changed)(const struct hearth_host *h);
	/*
	 * Confinement: may this call touch `path` (absolute and resolved, symlinks
	 * followed)? 0 when it lies inside the session's project directory or a
	 * permission rule allows it; HEARTH_EPERM otherwise. write is 1 for changes.
	 */
	int (*const path_allowed)(struct hearth_tool_call *call, const char *path, int write);

	/*
	 * --- the raw event loop, for modules that need their own I/O (the socket
	 * frontend's listener). Returns a borrowed uv_loop_t *. A module that uses it
	 * links libuv itself and must uv_close every handle it opened in fini().
	 */
	void *(*const uv_loop)(const struct hearth_host *h);

	/*
	 * --- stream parsers, for providers and MCP. Both are push parsers that take
	 * any chunking (down to one byte) and never buffer more than their limit.
	 *
	 * SSE (WHATWG event-stream): CR, LF or CRLF line ends; `data` lines joined by
	 * "\n"; comments ignored; an event is dispatched at a blank line (type
	 * "message" by default). on_event gets borrowed strings; non-zero from it stops
	 * the parser and is returned by sse_feed. An event larger than max_event bytes
	 * makes sse_feed return HEARTH_ELIMIT; sse_finish returns HEARTH_EPROTO when
	 * the stream ended inside an event (it was cut short). After an error the
	 * parser stays failed; sse_error() says what and where (borrowed).
	 */
	struct hearth_sse *(*const sse_new)(const struct hearth_host *h, size_t max_event,
					    int (*on_event)(void *arg, const char *event,
							    const char *data, size_t len,
							    const char *id),
					    void *arg);
	int (*const sse_feed)(struct hearth_sse *p, const char *data, size_t len);
	int (*const sse_finish)(struct hearth_sse *p);
	const char *(*const sse_error)(struct hearth_sse *p);
	void (*const sse_free)(struct hearth_sse *p);
	/*
	 * NDJSON: one JSON text per line (LF or CRLF), blank lines skipped. on_line
	 * gets each line parsed (borrowed json_t, valid during the call) and its line
	 * number; a line that is not JSON, or longer than max_line, makes
	 * ndjson_feed return HEARTH_EPROTO or HEARTH_ELIMIT and ndjson_error() name the
	 * line and the problem. ndjson_finish delivers a last line without newline.
	 */
	struct hearth_ndjson *(*const ndjson_new)(const struct hearth_host *h, size_t max_line,
						  int (*on_line)(void *arg, json_t *value,
								 size_t line_no),
						  void *arg);
	int (*const ndjson_feed)(struct hearth_ndjson *p, const char *data, size_t len);
	int (*const ndjson_finish)(struct hearth_ndjson *p);
	const char *(*const ndjson_error)(struct hearth_ndjson *p);
	void (*const ndjson_free)(struct hearth_ndjson *p);

	/* --- where the daemon keeps its state (database, sockets): borrowed paths. */
	const char *(*const state_dir)(const struct hearth_host *h);
	const char *(*const runtime_dir)(const struct hearth_host *h);

	/*
	 * --- flow control of a connection (ABI 2; check with HEARTH_HOST_HAS). Both
	 * are optional for a frontend: one that takes every message as it comes
	 * and sends little needs neither. Called on the loop, from anywhere
	 * (inside on_message too); neither calls back before it returns.
	 *
	 * conn_flow() sets the bound of the connection's queue (queue_max bytes, at
	 * least 1024; 0 keeps it) and on_drain (NULL: none). With on_drain set,
	 * conn_send() refuses messages with HEARTH_EBUSY while more than half of
	 * queue_max is queued, and on_drain(arg) (arg: conn_open's) runs once, from
	 * the loop, when the queue is back under a quarter: a frontend stops reading
	 * its client on HEARTH_EBUSY, keeps the refused message, and sends it and
	 * reads on in on_drain. So a client that pipelines requests without reading
	 * the answers is slowed down, never loses one. Returns 0, or HEARTH_EINVAL.
	 *
	 * conn_pause(c, 1): the frontend cannot take more now (its own output is
	 * full): on_message is not called until conn_pause(c, 0). Messages wait in
	 * the connection's queue, under its bound (what is dropped and when, above).
	 */
	int (*const conn_flow)(struct hearth_conn *c, size_t queue_max,
			       void (*on_drain)(void *arg));
	void (*const conn_pause)(struct hearth_conn *c, int paused);
};

#define HEARTH_HOST_HAS(h, member) \
	((h)->struct_size >= offsetof(struct hearth_host, member) + sizeof((h)->member) && \
	 (h)->member != NULL)

/* ---------------------------------------------------------- descriptor -- */

/*
 * What hearth_plugin_entry() returns. Static and constant; the daemon reads it and
 * never writes it. Fill it with designated initializers inside HEARTH_PLUGIN_INIT so
 * abi_version and struct_size are right:
 *
 *     static const struct hearth_plugin desc = HEARTH_PLUGIN_INIT(
 *         .kind = HEARTH_KIND_TOOL, .name = "echo", .version = "1.0",
 *         .description = "repeats its input", .init = echo_init, .fini = echo_fini,
 *         .tool = &echo_tool);
 */
struct hearth_plugin {
	uint32_t abi_version;       /* HEARTH_ABI the module was built against */
	uint32_t struct_size;       /* sizeof(struct hearth_plugin) it was built with */
	uint32_t kind;              /* enum hearth_kind */
	const char *name;           /* mandatory; [a-z0-9_-]+, unique within its kind */
	const char *version;        /* mandatory; the module's own version string */
	const char *description;    /* optional; one line */

	/*
	 * Mandatory. Set up the module. host is valid until fini() returns; config is
	 * the module's plugins.conf section as a JSON object of strings (borrowed,
	 * valid until fini()). Store the module's state in *state (it comes back to
	 * every vtable function). Return 0, or a HEARTH_E* code after logging why; the
	 * module is then unloaded without fini().
	 */
	int (*init)(const struct hearth_host *host, const json_t *config, void **state);
	/* Mandatory. Release everything; no callback reaches the module afterwards. */
	void (*fini)(void *state);

	/* The vtable of the module's kind: exactly one, matching `kind`. */
	union {
		const struct hearth_provider *provider;
		const struct hearth_tool *tool;
		const struct hearth_frontend *frontend;
		const void *vtable;
	};
};

#define HEARTH_PLUGIN_INIT(...) \
	{ .abi_version = HEARTH_ABI, .struct_size = sizeof(struct hearth_plugin), __VA_ARGS__ }

/* The one symbol a module exports. */
HEARTH_PLUGIN_EXPORT const struct hearth_plugin *hearth_plugin_entry(void);
typedef const struct hearth_plugin *(*hearth_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* HEARTH_PLUGIN_H */
