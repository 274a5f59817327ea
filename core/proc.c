/* proc.c: child processes on the libuv loop (see proc.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "xmalloc.h"

/* How often we look whether a killed group is empty yet. */
#define PROC_REAP_POLL_MS 10
/* At most this many reads of what is left in a pipe when the drain time is up. */
#define PROC_FLUSH_READS 64

struct hearth_proc {
	uv_process_t process;
	uv_pipe_t out, err, in;
	uv_timer_t timer;       /* the timeout, then the drain deadline, then the reap poll */
	uv_timer_t kill_timer;  /* SIGKILL at the end of the grace */
	uv_shutdown_t shutdown;

	int (*on_stdout)(void *arg, const char *data, size_t len);
	int (*on_stderr)(void *arg, const char *data, size_t len);
	void (*on_exit)(void *arg, int exit_status, int term_signal, int timed_out);
	void *arg;

	int pid;
	int exit_status, term_signal;
	unsigned handles;        /* initialised handles whose close callback has not run */
	uint64_t reap_deadline;

	unsigned char in_used;    /* `in` was initialised (HEARTH_PROC_STDIN) */
	unsigned char in_done;    /* stdin closed: by proc_close_stdin, exit or an error */
	unsigned char in_closed;  /* ... by proc_close_stdin() */
	unsigned char out_done, err_done;  /* EOF, error, or closed by us */
	unsigned char out_stop, err_stop;  /* the callback asked for no more */
	unsigned char exited;     /* exit_cb has run: the child is reaped */
	unsigned char timed_out;
	unsigned char killed;     /* we signalled the group to end it */
	unsigned char finishing;  /* waiting for the killed group to be empty */
	unsigned char finished;   /* handles closing; on_exit called (or skipped) */
	unsigned char released;   /* no callback may follow */

	struct hearth_proc *prev, *next;  /* every proc not freed yet */
	char buf[PROC_READ_BUF];
};

static struct hearth_proc *proc_list;
static unsigned proc_grace_ms = PROC_KILL_GRACE_MS;
static unsigned proc_drain_ms = PROC_DRAIN_MS;

void
proc_set_test_timeouts(unsigned grace_ms, unsigned drain_ms)
{
	proc_grace_ms = grace_ms != 0 ? grace_ms : PROC_KILL_GRACE_MS;
	proc_drain_ms = drain_ms != 0 ? drain_ms : PROC_DRAIN_MS;
}

/* ---------------------------------------------------------- environment -- */

static int
proc_ends_with(const char *name, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(name + len - n, suffix, n) == 0;
}

int
proc_env_is_secret(const char *name)
{
	static const char *const exact[] = {
		"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
	};
	static const char *const suffixes[] = { "_API_KEY", "_TOKEN", "_SECRET", "_SECRET_KEY" };

	if (name == NULL)
		return 0;
	size_t len = strcspn(name, "=");
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
		if (strlen(exact[i]) == len && strncasecmp(name, exact[i], len) == 0)
			return 1;
	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
		if (proc_ends_with(name, len, suffixes[i]))
			return 1;
	return 0;
}

/*
 * The child's environment: `env`, or the daemon's, without secrets unless `keep`.
 * The array is malloc'd (free() it); its strings are borrowed from the source.
 */
static char **
proc_env(const char *const *env, int keep)
{
	extern char **environ;
	static const char *const empty[] = { NULL };
	const char *const *src = env != NULL ? env
				 : environ != NULL ? (const char *const *)environ : empty;
	size_t n = 0;
	while (src[n] != NULL)
		n++;
	char **out = xcalloc(n + 1, sizeof *out);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (keep || !proc_env_is_secret(src[i]))
			out[k++] = (char *)src[i];
	return out;
}

/* --------------------------------------------------------------- closing -- */

static void
proc_free(struct hearth_proc *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		proc_list = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	free(p);
}

static void
proc_close_cb(uv_handle_t *h)
{
	struct hearth_proc *p = h->data;
	if (--p->handles == 0) {
		if (!p->released)
			log_error("proc %d: handles closed before the process was released", p->pid);
		proc_free(p);
	}
}

static void
proc_close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, proc_close_cb);
}

static void
proc_close_out(struct hearth_proc *p)
{
	p->out_done = 1;
	proc_close_handle((uv_handle_t *)&p->out);
}

static void
proc_close_err(struct hearth_proc *p)
{
	p->err_done = 1;
	proc_close_handle((uv_handle_t *)&p->err);
}

/* Close stdin now: queued writes are cancelled. */
static void
proc_close_in(struct hearth_proc *p)
{
	p->in_done = 1;
	if (p->in_used)
		proc_close_handle((uv_handle_t *)&p->in);
}

static void
proc_signal_group(struct hearth_proc *p, int signum)
{
	if (kill(-p->pid, signum) != 0 && errno != ESRCH)
		log_warn("proc %d: kill(-%d, %d): %s", p->pid, p->pid, signum, strerror(errno));
}

/* Everything is over: close the handles, then tell the owner unless released. */
static void
proc_finish(struct hearth_proc *p)
{
	p->finished = 1;
	proc_close_out(p);
	proc_close_err(p);
	proc_close_in(p);
	proc_close_handle((uv_handle_t *)&p->timer);
	proc_close_handle((uv_handle_t *)&p->kill_timer);
	proc_close_handle((uv_handle_t *)&p->process);
	if (!p->released) {
		p->released = 1;  /* on_exit is the handle's last moment */
		p->on_exit(p->arg, p->exit_status, p->term_signal, p->timed_out);
	}
}

/* Reap what of the killed group became our children; finish once none is left. */
static void
proc_reap_cb(uv_timer_t *t)
{
	struct hearth_proc *p = t->data;
	while (waitpid(-p->pid, NULL, WNOHANG) > 0)
		;
	int alive = kill(-p->pid, 0) == 0;
	if (alive && uv_now(t->loop) < p->reap_deadline)
		return;
	if (alive)
		log_warn("proc %d: processes of its group are left after SIGKILL", p->pid);
	uv_timer_stop(t);
	proc_finish(p);
}

/* The child exited and its pipes are done. */
static void
proc_maybe_finish(struct hearth_proc *p)
{
	if (!p->exited || !p->out_done || !p->err_done || p->finishing || p->finished)
		return;
	uv_timer_stop(&p->timer);
	if (!p->killed) {
		proc_finish(p);
		return;
	}
	/* We meant the group to end: SIGKILL what is left (unless its grace still runs). */
	p->finishing = 1;
	if (!uv_is_active((uv_handle_t *)&p->kill_timer))
		proc_signal_group(p, SIGKILL);
	p->reap_deadline = uv_now(p->timer.loop) + proc_grace_ms + proc_drain_ms;
	uv_timer_start(&p->timer, proc_reap_cb, 0, PROC_REAP_POLL_MS);
}

static void
proc_grace_cb(uv_timer_t *t)
{
	struct hearth_proc *p = t->data;
	proc_signal_group(p, SIGKILL);
}

/* SIGTERM the group, SIGKILL after the grace. */
static void
proc_terminate(struct hearth_proc *p)
{
	if (p->killed)
		return;
	p->killed = 1;
	proc_signal_group(p, SIGTERM);
	uv_timer_start(&p->kill_timer, proc_grace_cb, proc_grace_ms, 0);
}

/* ------------------------------------------------------------ callbacks -- */

static void
proc_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct hearth_proc *p = h->data;
	(void)suggested;
	/* One buffer serves both pipes: libuv hands it back before the next alloc. */
	*buf = uv_buf_init(p->buf, sizeof p->buf);
}

static void
proc_deliver(struct hearth_proc *p, int is_out, const char *data, size_t len)
{
	int (*cb)(void *, const char *, size_t) = is_out ? p->on_stdout : p->on_stderr;
	unsigned char *stop = is_out ? &p->out_stop : &p->err_stop;
	if (cb == NULL || *stop || p->released)
		return;  /* discarded: we keep reading so the child never blocks on us */
	if (cb(p->arg, data, len) != 0)
		*stop = 1;
}

static void
proc_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hearth_proc *p = s->data;
	int is_out = s == (uv_stream_t *)&p->out;
	if (nread > 0) {
		proc_deliver(p, is_out, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF)
		log_debug("proc %d: reading %s: %s", p->pid, is_out ? "stdout" : "stderr",
			  uv_strerror((int)nread));
	if (is_out)
		proc_close_out(p);
	else
		proc_close_err(p);
	proc_maybe_finish(p);
}

/* Read what is buffered in a pipe without waiting (its writers are dead). */
static void
proc_flush(struct hearth_proc *p, uv_pipe_t *pipe, int is_out)
{
	uv_os_fd_t fd;
	if ((is_out ? p->out_done : p->err_done) ||
	    uv_fileno((uv_handle_t *)pipe, &fd) != 0)
		return;
	for (int i = 0; i < PROC_FLUSH_READS && !p->released; i++) {
		ssize_t n = read(fd, p->buf, sizeof p->buf);
		if (n <= 0)
			break;
		proc_deliver(p, is_out, p->buf, (size_t)n);
	}
}

/* The child exited PROC_DRAIN_MS ago and someone still holds its pipes. */
static void
proc_drain_cb(uv_timer_t *t)
{
	struct hearth_proc *p = t->data;
	log_debug("proc %d: pipes still open %u ms after exit; killing its group", p->pid,
		  proc_drain_ms);
	p->killed = 1;
	proc_signal_group(p, SIGKILL);
	proc_flush(p, &p->out, 1);
	proc_flush(p, &p->err, 0);
	if (p->finishing || p->finished)
		return;  /* released from a callback during the flush */
	proc_close_out(p);
	proc_close_err(p);
	proc_maybe_finish(p);
}

static void
proc_timeout_cb(uv_timer_t *t)
{
	struct hearth_proc *p = t->data;
	log_debug("proc %d: timed out; terminating its group", p->pid);
	p->timed_out = 1;
	proc_terminate(p);
}

static void
proc_exit_cb(uv_process_t *process, int64_t exit_status, int term_signal)
{
	struct hearth_proc *p = process->data;
	p->exited = 1;
	p->term_signal = term_signal;
	p->exit_status = term_signal != 0 ? 128 + term_signal : (int)exit_status;
	uv_timer_stop(&p->timer);
	proc_close_in(p);
	if (p->out_done && p->err_done)
		proc_maybe_finish(p);
	else
		uv_timer_start(&p->timer, proc_drain_cb, proc_drain_ms, 0);
}

static void
proc_write_cb(uv_write_t *req, int status)
{
	struct hearth_proc *p = req->handle->data;
	if (status < 0 && status != UV_ECANCELED) {
		log_debug("proc %d: writing stdin: %s", p->pid, uv_strerror(status));
		proc_close_in(p);
	}
	free(req);
}

static void
proc_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct hearth_proc *p = req->handle->data;
	(void)status;
	proc_close_in(p);
}

/* ------------------------------------------------------------------ API -- */

static int
proc_uv_error(int uverr)
{
	switch (uverr) {
	case UV_ENOENT:
	case UV_ENOTDIR:
		return HEARTH_ENOENT;
	case UV_EACCES:
	case UV_EPERM:
		return HEARTH_EPERM;
	case UV_ENOMEM:
		return HEARTH_ENOMEM;
	case UV_EINVAL:
		return HEARTH_EINVAL;
	default:
		return HEARTH_EIO;
	}
}

static struct hearth_proc *
proc_fail(int *error, char **message, int code, char *msg)
{
	if (error != NULL)
		*error = code;
	if (message != NULL)
		*message = msg;
	else
		free(msg);
	return NULL;
}

struct hearth_proc *
proc_spawn(uv_loop_t *loop, const struct hearth_proc_options *opt, int *error,
	   char **message)
{
	if (message != NULL)
		*message = NULL;
	if (loop == NULL || opt == NULL)
		return proc_fail(error, message, HEARTH_EINVAL, xstrdup("no process options"));
	if (opt->struct_size < sizeof *opt)
		return proc_fail(error, message, HEARTH_EINVAL,
				 xasprintf("process options of %u bytes, expected %zu",
					   opt->struct_size, sizeof *opt));
	if (opt->file == NULL || opt->file[0] == '\0' || opt->argv == NULL ||
	    opt->argv[0] == NULL || opt->on_exit == NULL)
		return proc_fail(error, message, HEARTH_EINVAL,
				 xstrdup("process options need file, argv[0] and on_exit"));

	struct hearth_proc *p = xcalloc(1, sizeof *p);
	p->on_stdout = opt->on_stdout;
	p->on_stderr = opt->on_stderr;
	p->on_exit = opt->on_exit;
	p->arg = opt->arg;
	p->pid = -1;
	p->next = proc_list;
	if (proc_list != NULL)
		proc_list->prev = p;
	proc_list = p;

	uv_handle_t *handles[] = { (uv_handle_t *)&p->out, (uv_handle_t *)&p->err,
				   (uv_handle_t *)&p->timer, (uv_handle_t *)&p->kill_timer,
				   (uv_handle_t *)&p->in };
	uv_pipe_init(loop, &p->out, 0);
	uv_pipe_init(loop, &p->err, 0);
	uv_timer_init(loop, &p->timer);
	uv_timer_init(loop, &p->kill_timer);
	size_t n = 4;
	if (opt->flags & HEARTH_PROC_STDIN) {
		uv_pipe_init(loop, &p->in, 0);
		p->in_used = 1;
		n = 5;
	} else {
		p->in_done = 1;
	}
	for (size_t i = 0; i < n; i++)
		handles[i]->data = p;
	p->handles = (unsigned)n + 1;  /* and the process */
	p->process.data = p;

	uv_stdio_container_t stdio[3];
	if (p->in_used) {
		stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
		stdio[0].data.stream = (uv_stream_t *)&p->in;
	} else {
		stdio[0].flags = UV_IGNORE;  /* /dev/null */
	}
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&p->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&p->err;

	char **env = proc_env(opt->env, (opt->flags & HEARTH_PROC_KEEP_SECRETS) != 0);
	uv_process_options_t o = {
		.exit_cb = proc_exit_cb,
		.file = opt->file,
		.args = (char **)opt->argv,
		.env = env,
		.cwd = opt->cwd,
		.flags = UV_PROCESS_DETACHED,  /* setsid: the group can be killed whole */
		.stdio_count = 3,
		.stdio = stdio,
	};
	int r = uv_spawn(loop, &p->process, &o);
	free(env);
	if (r != 0) {
		/* libuv initialised the process handle anyway; everything closes. */
		p->released = p->finished = p->exited = 1;
		for (size_t i = 0; i < n; i++)
			proc_close_handle(handles[i]);
		proc_close_handle((uv_handle_t *)&p->process);
		char *msg = opt->cwd != NULL
			? xasprintf("cannot run '%s' in '%s': %s", opt->file, opt->cwd,
				    uv_strerror(r))
			: xasprintf("cannot run '%s': %s", opt->file, uv_strerror(r));
		return proc_fail(error, message, proc_uv_error(r), msg);
	}
	p->pid = p->process.pid;
	if (uv_read_start((uv_stream_t *)&p->out, proc_alloc_cb, proc_read_cb) != 0)
		p->out_done = 1;
	if (uv_read_start((uv_stream_t *)&p->err, proc_alloc_cb, proc_read_cb) != 0)
		p->err_done = 1;
	if (opt->timeout_ms != 0)
		uv_timer_start(&p->timer, proc_timeout_cb, opt->timeout_ms, 0);
	if (error != NULL)
		*error = 0;
	return p;
}

int
proc_write(struct hearth_proc *p, const void *data, size_t len)
{
	if (p == NULL || (data == NULL && len > 0) || !p->in_used || p->in_closed)
		return HEARTH_EINVAL;
	if (p->exited || p->in_done)  /* proc_release() closed it too */
		return HEARTH_EIO;
	if (len == 0)
		return 0;
	if (len > UINT_MAX || len > SIZE_MAX - sizeof(uv_write_t))
		return HEARTH_ELIMIT;  /* uv_buf_t holds an unsigned length */
	uv_write_t *req = xmalloc(sizeof *req + len);
	char *copy = (char *)(req + 1);
	memcpy(copy, data, len);
	uv_buf_t buf = uv_buf_init(copy, (unsigned)len);
	int r = uv_write(req, (uv_stream_t *)&p->in, &buf, 1, proc_write_cb);
	if (r != 0) {
		free(req);
		log_debug("proc %d: writing stdin: %s", p->pid, uv_strerror(r));
		proc_close_in(p);
		return HEARTH_EIO;
	}
	return 0;
}

void
proc_close_stdin(struct hearth_proc *p)
{
	if (p == NULL || !p->in_used || p->in_closed || p->released)
		return;
	p->in_closed = 1;
	if (p->in_done)
		return;
	/* shutdown waits for the queued writes; its callback closes the pipe. */
	if (uv_shutdown(&p->shutdown, (uv_stream_t *)&p->in, proc_shutdown_cb) != 0)
		proc_close_in(p);
}

int
proc_kill(struct hearth_proc *p, int signum)
{
	if (p == NULL || p->pid <= 0)
		return HEARTH_EINVAL;
	if (p->finished)
		return HEARTH_ENOENT;
	if (kill(-p->pid, signum) == 0)
		return 0;
	switch (errno) {
	case ESRCH:
		return HEARTH_ENOENT;
	case EPERM:
		return HEARTH_EPERM;
	case EINVAL:
		return HEARTH_EINVAL;
	default:
		return HEARTH_EIO;
	}
}

int
proc_pid(struct hearth_proc *p)
{
	return p != NULL ? p->pid : -1;
}

void
proc_release(struct hearth_proc *p)
{
	if (p == NULL || p->released)
		return;
	p->released = 1;
	if (p->finished || p->finishing)
		return;
	proc_close_out(p);
	proc_close_err(p);
	proc_close_in(p);
	if (p->exited) {
		/* Someone in the group held the pipes: it goes too. */
		p->killed = 1;
		proc_maybe_finish(p);
	} else {
		uv_timer_stop(&p->timer);
		proc_terminate(p);
	}
}

void
proc_kill_all(void)
{
	for (struct hearth_proc *p = proc_list; p != NULL; p = p->next) {
		if (p->finished)
			continue;
		p->released = 1;
		p->killed = 1;
		uv_timer_stop(&p->kill_timer);
		proc_signal_group(p, SIGKILL);
		if (p->finishing)
			continue;
		uv_timer_stop(&p->timer);
		proc_close_out(p);
		proc_close_err(p);
		proc_close_in(p);
		proc_maybe_finish(p);
	}
}
