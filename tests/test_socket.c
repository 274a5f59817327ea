/*
 * test_socket.c: the socket frontend module (plugins/frontends/socket.la), loaded
 * through the real registry from a real plugins.conf, behind a fake core installed
 * with host_set_conn_ops(): every line a client sends comes back as {"echo":LINE},
 * and the test pushes or closes from the core side when it likes.
 *
 * Clients are plain non-blocking Unix sockets driven from this thread: whenever a
 * client would block, the test runs the loop once, so the module makes progress and
 * everything stays on one thread and deterministic. A deadline guards against a hang
 * (a failure, never a timing assertion).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "daemon_ops.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "testutil.h"
#include "xmalloc.h"

#define MODULE_DIR HEARTH_BUILDDIR "/plugins"
#define DEADLINE_NS (60ULL * 1000 * 1000 * 1000)

/* ------------------------------------------------------------ fake core -- */

/*
 * It keeps the core's contract (plugin.h): what it sends is queued and delivered
 * from the loop (pump), never inside conn_send; it honours conn_pause, and with
 * on_drain set it refuses messages (HEARTH_EBUSY) while more than half of
 * queue_max is queued, or while `core.busy` is set.
 */
struct fake_msg {
	struct fake_msg *next;
	size_t len;
	char text[];
};

struct hearth_conn {
	void (*on_message)(void *arg, const char *json, size_t len);
	void (*on_close)(void *arg, const char *reason);
	void (*on_drain)(void *arg);
	void *arg;
	int closed;          /* the module called conn_close */
	int ended;           /* the core called on_close */
	char *end_reason;    /* core_end: on_close once the queue is out */
	size_t queue_max;    /* what conn_flow set */
	int paused;          /* conn_pause */
	unsigned pauses;     /* how often it was paused */
	int want_drain;      /* conn_send said EBUSY */
	unsigned busy_replies;
	struct fake_msg *out, **out_tail;
	size_t out_bytes, out_peak;
	size_t delivered;    /* messages handed to on_message */
	char **lines;        /* every message received, NUL-terminated copies */
	size_t n_lines;
	struct hearth_conn *next;
};

static struct {
	struct hearth_conn *conns;   /* newest first; freed at teardown */
	size_t n_opened, n_closed;
	int refuse;                  /* conn_open returns NULL */
	size_t limit;                /* conn_send refuses longer messages (0: none) */
	int busy;                    /* conn_send says HEARTH_EBUSY */
} core;

static struct hearth_conn *
core_open(void (*on_message)(void *arg, const char *json, size_t len),
	  void (*on_close)(void *arg, const char *reason), void *arg)
{
	if (core.refuse)
		return NULL;
	struct hearth_conn *c = xcalloc(1, sizeof *c);
	c->on_message = on_message;
	c->on_close = on_close;
	c->arg = arg;
	c->out_tail = &c->out;
	c->next = core.conns;
	core.conns = c;
	core.n_opened++;
	return c;
}

static void
core_queue(struct hearth_conn *c, const char *json, size_t len)
{
	struct fake_msg *m = xmalloc(sizeof *m + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->text, json, len);
	*c->out_tail = m;
	c->out_tail = &m->next;
	c->out_bytes += len;
	if (c->out_bytes > c->out_peak)
		c->out_peak = c->out_bytes;
}

static int
core_send(struct hearth_conn *c, const char *json, size_t len)
{
	assert_false(c->closed);
	assert_false(c->ended);
	if (core.limit > 0 && len > core.limit)
		return HEARTH_ELIMIT;
	if (c->on_drain != NULL && (core.busy || c->out_bytes > c->queue_max / 2)) {
		c->want_drain = 1;
		c->busy_replies++;
		return HEARTH_EBUSY;
	}
	c->lines = xreallocarray(c->lines, c->n_lines + 1, sizeof *c->lines);
	c->lines[c->n_lines] = xmalloc(len + 1);
	memcpy(c->lines[c->n_lines], json, len);
	c->lines[c->n_lines++][len] = '\0';
	char *echo = xasprintf("{\"echo\":%.*s}", (int)len, json);
	core_queue(c, echo, strlen(echo));
	free(echo);
	return 0;
}

static void
core_close(struct hearth_conn *c)
{
	assert_false(c->closed);
	assert_false(c->ended);
	c->closed = 1;
	core.n_closed++;
}

static int
core_flow(struct hearth_conn *c, size_t queue_max, void (*on_drain)(void *arg))
{
	assert_false(c->closed);
	if (queue_max != 0)
		c->queue_max = queue_max;
	c->on_drain = on_drain;
	return 0;
}

static void
core_pause(struct hearth_conn *c, int paused)
{
	assert_false(c->closed);
	assert_int_not_equal(c->paused, paused != 0);
	c->paused = paused != 0;
	c->pauses += c->paused;
}

static const struct host_conn_ops core_ops = { core_open, core_send, core_close, core_flow,
					       core_pause };

/* What the core's loop does: deliver, end, call on_drain. */
static void
core_deliver(void)
{
	for (struct hearth_conn *c = core.conns; c != NULL; c = c->next) {
		while (c->out != NULL && !c->paused && !c->closed && !c->ended) {
			struct fake_msg *m = c->out;
			c->out = m->next;
			if (c->out == NULL)
				c->out_tail = &c->out;
			c->out_bytes -= m->len;
			c->delivered++;
			c->on_message(c->arg, m->text, m->len);
			free(m);
		}
		if (c->closed || c->ended)
			continue;
		if (c->out == NULL && c->end_reason != NULL) {
			c->ended = 1;
			c->on_close(c->arg, c->end_reason);
			continue;
		}
		if (c->want_drain && !core.busy && c->out_bytes <= c->queue_max / 4) {
			c->want_drain = 0;
			c->on_drain(c->arg);
		}
	}
}

static void
core_push(struct hearth_conn *c, const char *json)
{
	assert_false(c->closed);
	core_queue(c, json, strlen(json));
}

static void
core_end(struct hearth_conn *c, const char *reason)
{
	assert_false(c->closed);
	c->end_reason = xstrdup(reason);
}

static void
core_reset(void)
{
	while (core.conns != NULL) {
		struct hearth_conn *c = core.conns;
		core.conns = c->next;
		for (size_t i = 0; i < c->n_lines; i++)
			free(c->lines[i]);
		free(c->lines);
		while (c->out != NULL) {
			struct fake_msg *m = c->out;
			c->out = m->next;
			free(m);
		}
		free(c->end_reason);
		free(c);
	}
	memset(&core, 0, sizeof core);
}

/* -------------------------------------------------------------- fixture -- */

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct conf *conf;
	struct registry *reg;
	char *tmp;       /* the test's directory */
	char *run;       /* the runtime dir the host reports: tmp/run */
	char *sock;      /* run/hearth.sock */
	uint64_t deadline;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&f->loop);
	f->tmp = testutil_mkdtemp("socket");
	f->run = xasprintf("%s/run", f->tmp);
	f->sock = xasprintf("%s/hearth.sock", f->run);
	f->ctx.loop = &f->loop;
	f->ctx.state_dir = f->tmp;
	f->ctx.runtime_dir = f->run;
	f->ctx.daemon = &core_host_ops;
	host_context_set(&f->ctx);
	host_set_conn_ops(&core_ops);
	assert_int_equal(loader_init(), 0);
	testutil_log_capture();
	f->deadline = uv_hrtime() + DEADLINE_NS;
	*state = f;
	return 0;
}

/* Stop, fini, drain: the loop must close with nothing of the module left. */
static void
shutdown_all(struct fixture *f)
{
	if (f->reg != NULL) {
		registry_stop_frontends(f->reg);
		registry_fini_all(f->reg);
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	registry_free(f->reg);
	f->reg = NULL;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	shutdown_all(f);
	free(testutil_log_release());
	loader_exit();
	host_set_conn_ops(NULL);
	core_reset();
	conf_free(f->conf);
	testutil_rmtree(f->tmp);
	free(f->tmp);
	free(f->run);
	free(f->sock);
	free(f);
	return 0;
}

/* Load the module with `section` as its [frontend socket] body; returns load errors. */
static size_t
load(struct fixture *f, const char *section)
{
	char *text = xasprintf("module_dir %s\nload frontend socket\n[frontend socket]\n%s",
			       MODULE_DIR, section);
	f->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	for (size_t i = 0; i < f->conf->n_errors; i++)
		fprintf(stderr, "unexpected conf error: %s\n", f->conf->errors[i]);
	assert_int_equal(f->conf->n_errors, 0);
	f->reg = registry_new(f->conf);
	return registry_load_all(f->reg);
}

/* Load and start; returns how many frontends failed to start. */
static size_t
start(struct fixture *f, const char *section)
{
	assert_int_equal(load(f, section), 0);
	return registry_start_frontends(f->reg);
}

/* The log so far (the capture goes on). Free the result. */
static char *
log_text(void)
{
	char *text = testutil_log_release();
	testutil_log_capture();
	return text;
}

static void
assert_logged(char *log, const char *needle)
{
	if (strstr(log, needle) == NULL)
		fprintf(stderr, "log lacks: %s\n--- log:\n%s---\n", needle, log);
	assert_non_null(strstr(log, needle));
}

static void
check_deadline(struct fixture *f, const char *what)
{
	if (uv_hrtime() > f->deadline)
		fail_msg("timed out waiting for %s", what);
}

/* Run the loop once, waiting at most a little for it or for `fd` (when >= 0). */
static void
pump(struct fixture *f, int fd, short events)
{
	int timeout = uv_backend_timeout(&f->loop);
	if (timeout < 0 || timeout > 20)
		timeout = 20;
	struct pollfd p[2] = { { .fd = uv_backend_fd(&f->loop), .events = POLLIN },
			       { .fd = fd, .events = events } };
	core_deliver();
	poll(p, fd >= 0 ? 2 : 1, timeout);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	core_deliver();
}

/* ---------------------------------------------------------------- clients -- */

struct client {
	int fd;
	char *buf;        /* bytes read and not yet returned as lines */
	size_t len, cap;
	size_t total;     /* every byte ever read */
};

static int
client_connect_fd(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof addr.sun_path);
	strcpy(addr.sun_path, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static struct client *
client_new(struct fixture *f)
{
	struct client *c = xcalloc(1, sizeof *c);
	c->fd = client_connect_fd(f->sock);
	if (c->fd < 0)
		fail_msg("connect %s: %s", f->sock, strerror(errno));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	return c;
}

static void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

/* Write everything, running the loop while the socket is full. 0, or an errno. */
static int
client_write(struct fixture *f, struct client *c, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return errno;
		check_deadline(f, "a client write");
		pump(f, c->fd, POLLOUT);
	}
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return 0;
}

static void
client_send(struct fixture *f, struct client *c, const char *text)
{
	assert_int_equal(client_write(f, c, text, strlen(text)), 0);
}

/*
 * The next line (without "\n") in *line, malloc'd: returns 1; 0 at end of stream;
 * -1 on a read error (errno set).
 */
static int
client_read_line(struct fixture *f, struct client *c, char **line)
{
	for (;;) {
		char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf);
			*line = xmalloc(n + 1);
			memcpy(*line, c->buf, n);
			(*line)[n] = '\0';
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return 1;
		}
		if (c->cap - c->len < 65536)
			c->buf = xrealloc(c->buf, c->cap = c->cap * 2 + 65536);
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			c->total += (size_t)n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		check_deadline(f, "a line from the daemon");
		pump(f, c->fd, POLLIN);
	}
}

static void
client_expect(struct fixture *f, struct client *c, const char *expected)
{
	char *line = NULL;
	int rc = client_read_line(f, c, &line);
	if (rc != 1)
		fail_msg("expected the line %s, got %s", expected,
			 rc == 0 ? "end of stream" : strerror(errno));
	assert_string_equal(line, expected);
	free(line);
}

/* The daemon hung up: end of stream (or a reset, when it left our bytes unread). */
static void
client_expect_end(struct fixture *f, struct client *c)
{
	char *line = NULL;
	int rc = client_read_line(f, c, &line);
	if (rc == 1)
		fail_msg("expected the end of the stream, got the line %.200s", line);
	if (rc < 0)
		assert_int_equal(errno, ECONNRESET);
	assert_int_equal(c->len, 0);
}

/* Send `text` + "\n" and expect the echo back. */
static void
client_round_trip(struct fixture *f, struct client *c, const char *text)
{
	char *msg = xasprintf("%s\n", text), *echo = xasprintf("{\"echo\":%s}", text);
	client_send(f, c, msg);
	client_expect(f, c, echo);
	free(msg);
	free(echo);
}

/* Run the loop until the core has seen `n` connections opened. */
static void
wait_opened(struct fixture *f, size_t n)
{
	while (core.n_opened < n) {
		check_deadline(f, "a core connection");
		pump(f, -1, 0);
	}
}

/* Run the loop until the module has closed `n` core connections. */
static void
wait_closed(struct fixture *f, size_t n)
{
	while (core.n_closed < n) {
		check_deadline(f, "the module to close a core connection");
		pump(f, -1, 0);
	}
}

/* A socket at `path` left behind by a process that died: bound, never listening. */
static void
make_stale_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	close(fd);
}

/* ------------------------------------------------------ the socket file -- */

static void
test_modes(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct stat st;
	assert_int_equal(lstat(f->run, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	char *log = log_text();
	char *want = xasprintf("INFO  frontend/socket: listening on %s\n", f->sock);
	assert_logged(log, want);
	free(want);
	free(log);
}

static void
test_path_key(void **state)
{
	struct fixture *f = *state;
	char *dir = xasprintf("%s/a/b", f->tmp);
	free(f->sock);
	f->sock = xasprintf("%s/custom.sock", dir);
	char *section = xasprintf("path = %s\n", f->sock);
	assert_int_equal(start(f, section), 0);
	struct stat st;
	assert_int_equal(lstat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(f->run, &st), -1);   /* the runtime dir is not used */
	struct client *c = client_new(f);
	client_round_trip(f, c, "{\"id\":1}");
	client_free(c);
	free(section);
	free(dir);
}

static void
test_dir_open_to_others_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkdir(f->run, 0700), 0);
	assert_int_equal(chmod(f->run, 0755), 0);
	assert_int_equal(start(f, ""), 1);
	assert_int_equal(f->reg->n_errors, 1);
	assert_non_null(strstr(f->reg->errors[0], "module frontend/socket: start failed: not permitted"));
	char *log = log_text();
	char *want = xasprintf("the socket directory %s has mode 0755 and owner uid %u: it "
			       "must be owned by uid %u with no access for group and others",
			       f->run, (unsigned)geteuid(), (unsigned)geteuid());
	assert_logged(log, want);
	free(want);
	free(log);
	struct stat st;
	assert_int_equal(lstat(f->sock, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_dir_group_readable_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkdir(f->run, 0700), 0);
	assert_int_equal(chmod(f->run, 0740), 0);
	assert_int_equal(start(f, ""), 1);
	char *log = log_text();
	assert_logged(log, "has mode 0740");
	free(log);
}

static void
test_dir_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char *target = xasprintf("%s/elsewhere", f->tmp);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, f->run), 0);
	assert_int_equal(start(f, ""), 1);
	char *log = log_text();
	char *want = xasprintf("the socket directory %s is not a directory", f->run);
	assert_logged(log, want);
	free(want);
	free(log);
	free(target);
}

static void
test_dir_other_owner_refused(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(f->run, 0700), 0);
	assert_int_equal(chown(f->run, 65534, 65534), 0);
	assert_int_equal(start(f, ""), 1);
	char *log = log_text();
	assert_logged(log, "has mode 0700 and owner uid 65534: it must be owned by uid 0");
	free(log);
}

static void
test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkdir(f->run, 0700), 0);
	make_stale_socket(f->sock);
	assert_int_equal(start(f, ""), 0);
	char *log = log_text();
	char *want = xasprintf("INFO  frontend/socket: removing the stale socket %s\n", f->sock);
	assert_logged(log, want);
	free(want);
	free(log);
	struct client *c = client_new(f);
	client_round_trip(f, c, "{\"after\":\"stale\"}");
	client_free(c);
}

static void
test_live_socket_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkdir(f->run, 0700), 0);
	/* Another daemon: something listens on the path. */
	int other = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, f->sock);
	assert_int_equal(bind(other, (struct sockaddr *)&addr, sizeof addr), 0);
	assert_int_equal(listen(other, 4), 0);
	assert_int_equal(start(f, ""), 1);
	assert_non_null(strstr(f->reg->errors[0], "start failed: busy"));
	char *log = log_text();
	char *want = xasprintf("ERROR frontend/socket: another hearthd is listening on %s\n",
			       f->sock);
	assert_logged(log, want);
	free(want);
	free(log);
	/* The other one keeps its socket. */
	int fd = client_connect_fd(f->sock);
	assert_true(fd >= 0);
	int peer = accept(other, NULL, NULL);
	assert_true(peer >= 0);
	close(peer);
	close(fd);
	close(other);
}

static void
test_not_a_socket_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkdir(f->run, 0700), 0);
	assert_int_equal(testutil_write_file(f->sock, "data", 4), 0);
	assert_int_equal(start(f, ""), 1);
	char *log = log_text();
	char *want = xasprintf("%s exists and is not a socket", f->sock);
	assert_logged(log, want);
	free(want);
	free(log);
	size_t len;
	char *kept = testutil_read_file(f->sock, &len);
	assert_string_equal(kept, "data");
	free(kept);
}

static void
test_bad_config(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "max_frame = 4M\n"), 1);
	char *log = log_text();
	assert_logged(log, "test.conf:4: [frontend socket] max_frame: '4M' is not an integer");
	free(log);
}

static void
test_bad_config_values(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "send_queue_max = 10\nstall_timeout_ms = -1\n"), 1);
	char *log = log_text();
	assert_logged(log, "send_queue_max: '10' is not an integer from 1024 to");
	free(log);
}

static void
test_relative_path_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "path = hearth.sock\n"), 1);
	char *log = log_text();
	assert_logged(log, "path 'hearth.sock' is not an absolute path");
	free(log);
}

static void
test_path_too_long(void **state)
{
	struct fixture *f = *state;
	char long_name[200];
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	char *section = xasprintf("path = %s/%s\n", f->tmp, long_name);
	assert_int_equal(start(f, section), 1);
	char *log = log_text();
	assert_logged(log, "is too long (");
	assert_logged(log, "bytes; at most 107)");
	free(log);
	free(section);
}

/* -------------------------------------------------------------- framing -- */

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	client_round_trip(f, c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");
	assert_int_equal(core.n_opened, 1);
	struct hearth_conn *conn = core.conns;
	assert_int_equal(conn->n_lines, 1);
	assert_string_equal(conn->lines[0], "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");

	/* Empty lines are skipped; several lines in one write arrive in order. */
	client_send(f, c, "\n\r\n{\"n\":1}\n\n{\"n\":2}\n{\"n\":3}\n");
	client_expect(f, c, "{\"echo\":{\"n\":1}}");
	client_expect(f, c, "{\"echo\":{\"n\":2}}");
	client_expect(f, c, "{\"echo\":{\"n\":3}}");
	assert_int_equal(conn->n_lines, 4);

	/* Not JSON: the module does not care, the core judges. */
	client_round_trip(f, c, "not json at all");

	/* The core speaks first. */
	core_push(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\"}");
	client_expect(f, c, "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\"}");
	assert_int_equal(core.n_closed, 0);
	client_free(c);
	wait_closed(f, 1);
	char *log = log_text();
	assert_logged(log, "DEBUG frontend/socket: client 1: end of input");
	free(log);
}

static void
test_two_clients(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *a = client_new(f), *b = client_new(f);
	wait_opened(f, 2);
	client_send(f, a, "{\"from\":\"a\",\"n\":1}\n");
	client_send(f, b, "{\"from\":\"b\",\"n\":1}\n");
	client_send(f, a, "{\"from\":\"a\",\"n\":2}\n");
	client_expect(f, b, "{\"echo\":{\"from\":\"b\",\"n\":1}}");
	client_expect(f, a, "{\"echo\":{\"from\":\"a\",\"n\":1}}");
	client_expect(f, a, "{\"echo\":{\"from\":\"a\",\"n\":2}}");
	/* Each core connection got only its own client's lines. */
	struct hearth_conn *cb = core.conns, *ca = cb->next;
	assert_int_equal(ca->n_lines, 2);
	assert_int_equal(cb->n_lines, 1);
	assert_string_equal(cb->lines[0], "{\"from\":\"b\",\"n\":1}");
	core_push(ca, "{\"to\":\"a\"}");
	core_push(cb, "{\"to\":\"b\"}");
	client_expect(f, b, "{\"to\":\"b\"}");
	client_expect(f, a, "{\"to\":\"a\"}");
	client_free(a);
	wait_closed(f, 1);
	assert_true(ca->closed);
	assert_false(cb->closed);
	client_round_trip(f, b, "{\"still\":\"here\"}");
	client_free(b);
}

static void
test_byte_by_byte(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	const char *msg = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"session/prompt\",\"params\":{}}\n";
	for (const char *p = msg; *p != '\0'; p++) {
		assert_int_equal(client_write(f, c, p, 1), 0);
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	client_expect(f, c, "{\"echo\":{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"session/prompt\",\"params\":{}}}");
	assert_int_equal(core.conns->n_lines, 1);
	assert_string_equal(core.conns->lines[0],
			    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"session/prompt\",\"params\":{}}");
	client_free(c);
}

static void
test_crlf(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	client_send(f, c, "{\"a\":1}\r\n{\"b\":\"x\\ry\"}\r\n");
	client_expect(f, c, "{\"echo\":{\"a\":1}}");
	client_expect(f, c, "{\"echo\":{\"b\":\"x\\ry\"}}");
	/* A CR split from its LF by a write boundary. */
	client_send(f, c, "{\"c\":3}\r");
	client_send(f, c, "\n");
	client_expect(f, c, "{\"echo\":{\"c\":3}}");
	/* Only one trailing CR is a line end; a bare CR inside stays. */
	client_send(f, c, "a\rb\n");
	client_expect(f, c, "{\"echo\":a\rb}");
	assert_int_equal(core.conns->n_lines, 4);
	assert_string_equal(core.conns->lines[0], "{\"a\":1}");
	assert_string_equal(core.conns->lines[2], "{\"c\":3}");
	client_free(c);
}

static const char frame_error_1024[] =
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
	"\"message\":\"frame larger than 1024 bytes\"}}";

/* A line of exactly `len` bytes: {"p":"xxx..."} */
static char *
make_line(size_t len)
{
	assert_true(len >= 8);
	char *s = xmalloc(len + 1);
	memcpy(s, "{\"p\":\"", 6);
	memset(s + 6, 'x', len - 8);
	memcpy(s + len - 2, "\"}", 2);
	s[len] = '\0';
	return s;
}

static void
test_frame_limit_boundary(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, "max_frame = 1024\n"), 0);
	struct client *c = client_new(f);
	char *line = make_line(1024);
	client_round_trip(f, c, line);
	/* With CRLF the CR does not count. */
	char *crlf = xasprintf("%s\r\n", line);
	char *echo = xasprintf("{\"echo\":%s}", line);
	client_send(f, c, crlf);
	client_expect(f, c, echo);
	assert_int_equal(core.conns->n_lines, 2);
	assert_int_equal(strlen(core.conns->lines[1]), 1024);
	/* One more byte is too many, even when it all arrived in one piece. */
	char *big = make_line(1025);
	char *big_msg = xasprintf("%s\n", big);
	client_send(f, c, big_msg);
	client_expect(f, c, frame_error_1024);
	client_expect_end(f, c);
	assert_int_equal(core.conns->n_lines, 2);
	assert_true(core.conns->closed);
	char *log = log_text();
	assert_logged(log, "WARN  frontend/socket: client 1: frame larger than 1024 bytes; "
		      "closing the connection");
	free(log);
	free(big_msg);
	free(big);
	free(echo);
	free(crlf);
	free(line);
	client_free(c);
}

static void
test_oversized_streaming(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, "max_frame = 1024\n"), 0);
	struct client *a = client_new(f), *b = client_new(f);
	wait_opened(f, 2);
	struct hearth_conn *cb = core.conns, *ca = cb->next;
	client_round_trip(f, b, "{\"b\":1}");
	/* 4 MB with no newline: refused early, never buffered whole. */
	size_t total = 4u << 20, sent = 0;
	char *chunk = xmalloc(65536);
	memset(chunk, 'z', 65536);
	int err = 0;
	while (sent < total && err == 0) {
		err = client_write(f, a, chunk, 65536);
		sent += 65536;
		/* The other client is served meanwhile. */
		if (sent == 65536 * 4)
			client_round_trip(f, b, "{\"b\":2}");
	}
	/* Our writes may have been cut off by the close: that is fine. */
	assert_true(err == 0 || err == EPIPE || err == ECONNRESET);
	client_expect(f, a, frame_error_1024);
	client_expect_end(f, a);
	assert_true(ca->closed);
	assert_int_equal(ca->n_lines, 0);
	assert_false(cb->closed);
	client_round_trip(f, b, "{\"b\":3}");
	free(chunk);
	client_free(a);
	client_free(b);
}

static void
test_core_frame_limit(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	core.limit = 16;
	struct client *c = client_new(f);
	client_round_trip(f, c, "{\"short\":1}");
	client_send(f, c, "{\"longer\":\"than sixteen bytes\"}\n");
	client_expect(f, c, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
		      "\"message\":\"frame larger than the core accepts\"}}");
	client_expect_end(f, c);
	assert_true(core.conns->closed);
	client_free(c);
}

static void
test_half_frame_hang(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *a = client_new(f), *b = client_new(f);
	wait_opened(f, 2);
	struct hearth_conn *cb = core.conns, *ca = cb->next;
	client_send(f, a, "{\"half\":");
	for (int i = 0; i < 20; i++) {
		char *msg = xasprintf("{\"b\":%d}", i);
		client_round_trip(f, b, msg);
		free(msg);
	}
	assert_int_equal(cb->n_lines, 20);
	assert_int_equal(ca->n_lines, 0);
	assert_false(ca->closed);
	/* The core can still reach the hung client, and it finishes its line later. */
	core_push(ca, "{\"ping\":1}");
	client_expect(f, a, "{\"ping\":1}");
	client_send(f, a, "true}\n");
	client_expect(f, a, "{\"echo\":{\"half\":true}}");
	assert_int_equal(ca->n_lines, 1);
	client_free(a);
	client_free(b);
}

/* ---------------------------------------------------------- flow control -- */

#define PUSH_SIZE 65536
#define PUSH_COUNT 256       /* 256 x 64 KiB = 16 MiB */

static char *
make_push(size_t n)
{
	char *s = xmalloc(PUSH_SIZE + 1);
	int head = snprintf(s, PUSH_SIZE, "{\"n\":%zu,\"pad\":\"", n);
	memset(s + head, '.', PUSH_SIZE - (size_t)head - 2);
	memcpy(s + PUSH_SIZE - 2, "\"}", 2);
	s[PUSH_SIZE] = '\0';
	return s;
}

static void
test_pause_while_socket_full(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	struct hearth_conn *conn = core.conns;
	assert_int_equal(conn->queue_max, 8u << 20);   /* send_queue_max's default */
	assert_non_null(conn->on_drain);
	for (size_t i = 0; i < PUSH_COUNT; i++) {
		char *msg = make_push(i);
		core_push(conn, msg);
		free(msg);
	}
	/* The client reads nothing: the module takes what the socket holds, then
	 * pauses the connection; the rest waits in the core. */
	for (int i = 0; i < 20; i++)
		pump(f, -1, 0);
	assert_true(conn->paused);
	size_t early = conn->delivered;
	assert_true(early > 0);
	assert_true(early < PUSH_COUNT / 4);
	/* Now it reads: every push, in order; nothing was dropped. */
	for (size_t i = 0; i < PUSH_COUNT; i++) {
		char *line = NULL, *want = make_push(i);
		assert_int_equal(client_read_line(f, c, &line), 1);
		if (strcmp(line, want) != 0)
			fail_msg("push %zu arrived out of order or damaged", i);
		free(want);
		free(line);
	}
	assert_int_equal(conn->delivered, PUSH_COUNT);
	assert_false(conn->paused);
	assert_true(conn->pauses >= 1);
	client_round_trip(f, c, "{\"still\":\"works\"}");
	assert_false(conn->closed);
	client_free(c);
}

/* Write `out` whole while reading what comes back; returns the lines read (at
 * least `n`, NUL-separated in *got). */
static void
client_pipeline(struct fixture *f, struct client *c, const char *out, size_t len, size_t n,
		char ***lines)
{
	size_t sent = 0, n_got = 0;
	*lines = xcalloc(n + 1, sizeof **lines);
	while (sent < len || n_got < n) {
		int progress = 0;
		if (sent < len) {
			ssize_t k = send(c->fd, out + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k > 0) {
				sent += (size_t)k;
				progress = 1;
			} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
				fail_msg("send: %s", strerror(errno));
			}
		}
		if (c->cap - c->len < 65536)
			c->buf = xrealloc(c->buf, c->cap = c->cap * 2 + 65536);
		ssize_t k = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (k == 0)
			fail_msg("end of stream after %zu of %zu lines", n_got, n);
		if (k > 0) {
			c->len += (size_t)k;
			progress = 1;
		}
		char *nl;
		while (c->len > 0 && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
			size_t m = (size_t)(nl - c->buf);
			if (n_got == n)
				fail_msg("more lines than the %zu expected", n);
			(*lines)[n_got] = xmalloc(m + 1);
			memcpy((*lines)[n_got], c->buf, m);
			(*lines)[n_got++][m] = '\0';
			memmove(c->buf, nl + 1, c->len - m - 1);
			c->len -= m + 1;
		}
		if (!progress) {
			check_deadline(f, "a pipelined exchange");
			pump(f, c->fd, sent < len ? POLLIN | POLLOUT : POLLIN);
		}
	}
}

static void
free_lines(char **lines)
{
	for (size_t i = 0; lines[i] != NULL; i++)
		free(lines[i]);
	free(lines);
}

static void
test_busy_core_stops_reading(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, "send_queue_max = 4096\n"), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	struct hearth_conn *conn = core.conns;
	assert_int_equal(conn->queue_max, 4096);
	/* The core is full: the module keeps what it read, reads no more. */
	core.busy = 1;
	client_send(f, c, "{\"x\":1}\n{\"y\":2}\n");
	for (int i = 0; i < 5; i++)
		pump(f, -1, 0);
	assert_int_equal(conn->n_lines, 0);
	assert_true(conn->want_drain);
	assert_int_equal(conn->busy_replies, 1);
	/* What the client writes meanwhile (empty lines) stays in the socket: it fills. */
	char *more = xmalloc(1u << 20);
	memset(more, '\n', 1u << 20);
	size_t sent = 0;
	for (;;) {
		ssize_t k = send(c->fd, more + sent, (1u << 20) - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k <= 0)
			break;
		sent += (size_t)k;
		pump(f, -1, 0);
	}
	assert_int_equal(errno, EAGAIN);
	assert_true(sent < 1u << 20);
	assert_int_equal(conn->n_lines, 0);
	/* Room again: the held lines go in order, and reading resumes. */
	core.busy = 0;
	client_send(f, c, "{\"z\":3}\n");
	client_expect(f, c, "{\"echo\":{\"x\":1}}");
	client_expect(f, c, "{\"echo\":{\"y\":2}}");
	client_expect(f, c, "{\"echo\":{\"z\":3}}");
	assert_int_equal(conn->n_lines, 3);
	assert_string_equal(conn->lines[2], "{\"z\":3}");
	free(more);
	client_free(c);
}

#define PIPELINED 10000

static void
test_pipelined_all_answered(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, "send_queue_max = 4096\n"), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	struct hearth_conn *conn = core.conns;
	size_t cap = PIPELINED * 64, len = 0;
	char *out = xmalloc(cap);
	for (size_t i = 0; i < PIPELINED; i++)
		len += (size_t)snprintf(out + len, cap - len, "{\"id\":%zu}\n", i);
	char **lines;
	client_pipeline(f, c, out, len, PIPELINED, &lines);
	for (size_t i = 0; i < PIPELINED; i++) {
		char want[64];
		snprintf(want, sizeof want, "{\"echo\":{\"id\":%zu}}", i);
		if (strcmp(lines[i], want) != 0)
			fail_msg("answer %zu is %s", i, lines[i]);
	}
	assert_int_equal(conn->n_lines, PIPELINED);
	/* The core's bound held: the module stopped reading instead. */
	assert_true(conn->busy_replies > 0);
	assert_true(conn->out_peak <= 4096 / 2 + 64);
	free_lines(lines);
	free(out);
	client_free(c);
}

static void
test_stall_timeout(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, "stall_timeout_ms = 50\n"), 0);
	struct client *stuck = client_new(f);
	wait_opened(f, 1);
	struct client *idle = client_new(f);
	wait_opened(f, 2);
	struct hearth_conn *cidle = core.conns, *cstuck = cidle->next;
	/* The idle client had a backlog once, and read it: its watchdog must be off. */
	for (size_t i = 0; i < 32; i++) {
		char *msg = make_push(i);
		core_push(cidle, msg);
		free(msg);
	}
	for (size_t i = 0; i < 32; i++) {
		char *line = NULL, *want = make_push(i);
		assert_int_equal(client_read_line(f, idle, &line), 1);
		assert_string_equal(line, want);
		free(want);
		free(line);
	}
	/* Idle for several stall timeouts: still there. */
	uint64_t until = uv_now(&f->loop) + 200;
	while (uv_now(&f->loop) < until)
		pump(f, -1, 0);
	assert_false(cidle->closed);
	/* More than the socket buffer holds, so some stays queued in the daemon. */
	for (size_t i = 0; i < 64; i++) {
		char *msg = make_push(i);
		core_push(cstuck, msg);
		free(msg);
	}
	wait_closed(f, 1);
	assert_true(cstuck->closed);
	assert_false(cidle->closed);
	char *log = log_text();
	assert_logged(log, "WARN  frontend/socket: client 1: no write progress for 50 ms with ");
	assert_logged(log, " bytes queued; dropping it\n");
	free(log);
	/* The stuck client gets what the kernel held, then the end. */
	char *line = NULL;
	int rc;
	size_t n = 0;
	while ((rc = client_read_line(f, stuck, &line)) == 1) {
		char *want = make_push(n++);
		assert_string_equal(line, want);
		free(want);
		free(line);
	}
	assert_true(n < 64);
	/* The idle client, with nothing pending, was left alone. */
	client_round_trip(f, idle, "{\"idle\":\"fine\"}");
	client_free(stuck);
	client_free(idle);
}

/* ------------------------------------------------------------- closing -- */

static void
test_stop_closes_clients(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *a = client_new(f), *b = client_new(f);
	wait_opened(f, 2);
	client_send(f, a, "{\"half");
	registry_stop_frontends(f->reg);
	assert_int_equal(core.n_closed, 2);
	client_expect_end(f, a);
	client_expect_end(f, b);
	struct stat st;
	assert_int_equal(lstat(f->sock, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(client_connect_fd(f->sock), -1);
	client_free(a);
	client_free(b);
}

static void
test_core_closes(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	core_push(core.conns, "{\"last\":\"words\"}");
	core_end(core.conns, "the session was deleted");
	client_expect(f, c, "{\"last\":\"words\"}");
	client_expect_end(f, c);
	assert_int_equal(core.n_closed, 0);   /* no conn_close after on_close */
	char *log = log_text();
	assert_logged(log, "DEBUG frontend/socket: client 1: closed by the core: "
		      "the session was deleted\n");
	free(log);
	client_free(c);
}

static void
test_core_closes_with_backlog(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	/* More than the socket takes: the rest is flushed before the close. */
	for (size_t i = 0; i < 32; i++) {
		char *msg = make_push(i);
		core_push(core.conns, msg);
		free(msg);
	}
	core_end(core.conns, "bye");
	char *line = NULL;
	for (size_t i = 0; i < 32; i++) {
		assert_int_equal(client_read_line(f, c, &line), 1);
		char *want = make_push(i);
		assert_string_equal(line, want);
		free(want);
		free(line);
	}
	client_expect_end(f, c);
	client_free(c);
}

static void
test_core_refuses(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	core.refuse = 1;
	struct client *c = client_new(f);
	client_expect_end(f, c);
	char *log = log_text();
	assert_logged(log, "WARN  frontend/socket: client 1: the core cannot take a connection; "
		      "closing it\n");
	free(log);
	client_free(c);
	core.refuse = 0;
	c = client_new(f);
	client_round_trip(f, c, "{\"second\":true}");
	client_free(c);
}

static void
test_client_half_close(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	/* A script: send, close the writing side, read the answer. */
	client_send(f, c, "{\"id\":1}\n{\"id\":2}\n");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	client_expect(f, c, "{\"echo\":{\"id\":1}}");
	client_expect(f, c, "{\"echo\":{\"id\":2}}");
	client_expect_end(f, c);
	assert_int_equal(core.n_closed, 1);
	client_free(c);
}

static void
test_incomplete_line_at_eof(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, ""), 0);
	struct client *c = client_new(f);
	wait_opened(f, 1);
	client_send(f, c, "{\"no\":\"newline\"}");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	client_expect_end(f, c);
	assert_int_equal(core.conns->n_lines, 0);   /* a frame is only complete with its \n */
	assert_true(core.conns->closed);
	client_free(c);
}

/* ------------------------------------------------------------ security -- */

/*
 * SO_PEERCRED: a client of another uid is refused. Needs root to become another
 * user; the child keeps fsuid 0 (path lookup and the socket's 0600 use it) while its
 * effective uid, which the kernel reports as the peer's, is 65534.
 */
static void
test_other_uid_refused(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(start(f, ""), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setresuid(65534, 65534, 0) != 0)
			_exit(10);
		setfsuid(0);
		if (setfsuid(0) != 0)
			_exit(11);
		/* No cmocka in the child: plain calls and an exit status. */
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		strcpy(addr.sun_path, f->sock);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
			_exit(12);
		/* Refused at once: nothing is read from it, the end comes. */
		char buf[64];
		ssize_t n = read(fd, buf, sizeof buf);
		_exit(n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : 14);
	}
	int status;
	pid_t w;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0) {
		check_deadline(f, "the child");
		pump(f, -1, 0);
	}
	assert_int_equal(w, pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(core.n_opened, 0);
	char *log = log_text();
	char *want = xasprintf("WARN  frontend/socket: refused a connection from uid 65534 "
			       "(pid %d): hearthd runs as uid 0\n", (int)pid);
	assert_logged(log, want);
	free(want);
	free(log);
	/* Our own uid is still served. */
	struct client *c = client_new(f);
	client_round_trip(f, c, "{\"me\":1}");
	client_free(c);
}

/*
 * Out of descriptors: accept() fails with EMFILE; the module pauses instead of
 * spinning, and serves the waiting client once descriptors are back.
 */
static void
test_emfile_backoff(void **state)
{
	struct fixture *f = *state;
	/* valgrind emulates the limit: it accepts, then closes what it refuses. */
	const char *preload = getenv("LD_PRELOAD");
	if (preload != NULL && strstr(preload, "valgrind") != NULL)
		skip();
	assert_int_equal(start(f, ""), 0);
	struct rlimit saved;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	/* The lowest free descriptor becomes the limit: every new one fails. */
	int probe = dup(0);
	assert_true(probe >= 0);
	close(probe);
	struct rlimit low = { .rlim_cur = (rlim_t)probe, .rlim_max = saved.rlim_max };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, f->sock);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
	/* Each loop run would call accept() again if the listener were still watched. */
	for (int i = 0; i < 10; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_int_equal(rc, 0);
	char *log = log_text();
	char *want = xasprintf("WARN  frontend/socket: accept on %s: Too many open files; "
			       "pausing for 1000 ms\n", f->sock);
	assert_logged(log, want);
	assert_int_equal(testutil_count(log, "pausing for"), 1);
	assert_int_equal(core.n_opened, 0);
	free(want);
	free(log);
	/* After the pause the waiting client is served. */
	struct client *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	client_round_trip(f, c, "{\"patient\":true}");
	client_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_open_to_others_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_group_readable_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_other_owner_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_socket_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_socket_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_path_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_limit_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_streaming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_frame_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_frame_hang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_while_socket_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_core_stops_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_all_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_closes_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_closes_with_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_core_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incomplete_line_at_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_uid_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emfile_backoff, setup, teardown),
	};
	return cmocka_run_group_tests_name("socket frontend", tests, NULL, NULL);
}
