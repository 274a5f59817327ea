/*
 * socket.c: the socket frontend, the daemon's listening side.
 *
 * Listens on a Unix stream socket and relays each client to its own core
 * connection (host->conn_open): one JSON-RPC message per line, "\n"-terminated
 * ("\r\n" tolerated, empty lines ignored), both ways. It does not parse JSON: the
 * core validates messages.
 *
 * Section [frontend socket] of plugins.conf:
 *
 *   path = FILE               the socket, an absolute path. Default: $HEARTH_SOCKET when
 *                             set (what `hearth --socket` passes to a daemon it
 *                             starts), else <runtime dir>/hearth.sock, where
 *                             the runtime dir is $XDG_RUNTIME_DIR/hearth, else
 *                             /tmp/hearth-UID. Its directory is created 0700 when
 *                             missing; an existing one must be owned by this uid and
 *                             closed to group and others, else start fails naming it
 *                             and its mode. The socket is created 0600. A stale socket
 *                             (nothing answers a connect) is replaced; a live one
 *                             makes start fail ("another hearthd is listening on").
 *   max_frame = BYTES         longest line a client may send (default 4194304). A
 *                             longer one gets the JSON-RPC error -32600 "frame larger
 *                             than N bytes" (id null), and the connection is closed
 *                             once that is flushed; the line is never buffered whole.
 *                             A line the core refuses as too large (conn_send gives
 *                             HEARTH_ELIMIT) gets "frame larger than the core accepts".
 *                             A last line without "\n" at end of input is not a frame
 *                             and is dropped.
 *   send_queue_max = BYTES    the bound of each client's core connection queue (default
 *                             8388608): what the daemon holds for a client that is not
 *                             reading. The connection owns it (host->conn_flow): past
 *                             it only session/update notifications are dropped and the
 *                             client is told to resync (doc/protocol.md); a client
 *                             whose answers fill it is not read until they drain.
 *   stall_timeout_ms = MS     a client whose queue is non-empty and has made no write
 *                             progress for this long is dropped (default 30000; 0: never).
 *
 * The module is a pipe between a socket and a core connection. It holds at most one
 * message being written: while the socket is full it pauses the connection
 * (host->conn_pause), and resumes it once the write is done. When the connection is
 * full (conn_send gives HEARTH_EBUSY) it stops reading the client, keeps what it has
 * read, and goes on in on_drain.
 *
 * Only peers with this process's effective uid are served (SO_PEERCRED); others are
 * closed at once and logged with both uids. Idle clients, and clients that stop in the
 * middle of a line, are kept: reading never blocks and costs nothing while they wait.
 * When accept() runs out of descriptors, accepting pauses for one second.
 *
 * Lifetime: the module state and every client are freed in the close callback of their
 * last libuv handle. fini() closes whatever stop() did not (stop() may never have run
 * when start() failed); after that no callback reaches the host. SIGPIPE must be
 * ignored by the process (hearthd does): a write to a client that went away would
 * otherwise kill the daemon.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include <hearth/frontend.h>

#define SOCK_NAME "hearth.sock"
#define SOCK_MAX_FRAME_DEFAULT (4LL * 1024 * 1024)
#define SOCK_SEND_QUEUE_DEFAULT (8LL * 1024 * 1024)
#define SOCK_STALL_DEFAULT 30000LL
#define SOCK_BACKOFF_MS 1000
#define SOCK_ACCEPT_BATCH 64       /* accepts per wake-up, so one burst cannot hog the loop */
#define SOCK_READ_BUF 65536
#define SOCK_LINE_KEEP 65536       /* a line buffer grown past this is freed after use */

struct sock_fe;

enum sock_client_state {
	SOCK_OPEN,      /* relaying both ways */
	SOCK_FLUSHING,  /* no more relaying: pending writes drain, then it closes */
	SOCK_CLOSED,    /* uv_close called; freed in the last close callback */
};

struct sock_client {
	struct sock_fe *fe;
	struct sock_client *prev, *next;
	unsigned long id;                /* for log lines */
	enum sock_client_state state;
	uv_pipe_t pipe;
	uv_timer_t timer;                /* stall watchdog */
	uv_shutdown_t shutdown;
	int handles;                     /* open handles; the client is freed at 0 */
	struct hearth_conn *conn;        /* the core connection, NULL once ended */
	char *line;                      /* the incomplete line, at most max_frame + 1 bytes */
	size_t line_len, line_cap;
	char *held;                      /* read, not yet taken by the core (it was full) */
	size_t held_len;
	size_t queued;                   /* bytes held in uv_write requests */
	uint64_t submitted;              /* bytes handed to uv_write, ever */
	uint64_t progress_mark;          /* bytes written at the last progress seen */
	uint64_t progress_at;            /* when it was seen (loop ms) */
	int paused;                      /* the core connection is paused: a write is pending */
};

/* One queued write: the request and the bytes it carries. */
struct sock_write {
	uv_write_t req;
	struct sock_client *client;
	size_t len;
	char data[];
};

struct sock_fe {
	const struct hearth_host *host;  /* NULL after fini(): close callbacks must not log */
	uv_loop_t *loop;
	char *path;                      /* owned: the socket */
	char *dir;                       /* owned: its directory */
	long long max_frame, send_queue_max, stall_timeout_ms;
	int fd;                          /* the listening socket, or -1 */
	dev_t sock_dev;                  /* the socket file we bound, to unlink only ours */
	ino_t sock_ino;
	uv_poll_t poll;                  /* watches fd for connections */
	uv_timer_t backoff;              /* resumes accepting after EMFILE */
	int listening;                   /* poll and backoff are initialised */
	int refs;                        /* fini's own + one per open handle */
	struct sock_client *clients;
	unsigned long next_id;
	char readbuf[SOCK_READ_BUF];     /* shared: every read is consumed in its callback */
};

static void sock_client_close(struct sock_client *c);

/* ---------------------------------------------------------------- memory -- */

static void
sock_fe_unref(struct sock_fe *fe)
{
	if (--fe->refs > 0)
		return;
	free(fe->path);
	free(fe->dir);
	free(fe);
}

static void
sock_client_close_cb(uv_handle_t *handle)
{
	struct sock_client *c = handle->data;
	if (--c->handles > 0)
		return;
	struct sock_fe *fe = c->fe;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		fe->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->line);
	free(c->held);
	free(c);
	sock_fe_unref(fe);
}

/* ---------------------------------------------------------------- writing -- */

/* Bytes the kernel has taken from this client's writes so far. */
static uint64_t
sock_client_written(struct sock_client *c)
{
	return c->submitted - uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
}

static void
sock_client_stall_cb(uv_timer_t *timer)
{
	struct sock_client *c = timer->data;
	struct sock_fe *fe = c->fe;
	uint64_t now = uv_now(fe->loop), written = sock_client_written(c);
	if (written != c->progress_mark) {
		c->progress_mark = written;
		c->progress_at = now;
		return;
	}
	if (now - c->progress_at < (uint64_t)fe->stall_timeout_ms)
		return;
	fe->host->log(fe->host, HEARTH_LOG_WARN,
		      "client %lu: no write progress for %lld ms with %zu bytes queued; dropping it",
		      c->id, fe->stall_timeout_ms, c->queued);
	sock_client_close(c);
}

/* The queue became non-empty: watch it for progress. */
static void
sock_client_watch(struct sock_client *c)
{
	struct sock_fe *fe = c->fe;
	if (fe->stall_timeout_ms == 0)
		return;
	uint64_t tick = (uint64_t)fe->stall_timeout_ms / 4;
	c->progress_mark = sock_client_written(c);
	c->progress_at = uv_now(fe->loop);
	uv_timer_start(&c->timer, sock_client_stall_cb, tick > 0 ? tick : 1, tick > 0 ? tick : 1);
}

static void
sock_client_write_cb(uv_write_t *req, int status)
{
	struct sock_write *w = req->data;
	struct sock_client *c = w->client;
	c->queued -= w->len;
	free(w);
	if (c->state == SOCK_CLOSED)
		return;
	if (status < 0) {
		c->fe->host->log(c->fe->host, HEARTH_LOG_DEBUG, "client %lu: write: %s", c->id,
				 uv_strerror(status));
		sock_client_close(c);
		return;
	}
	if (c->queued > 0)
		return;
	uv_timer_stop(&c->timer);
	if (c->paused && c->conn != NULL) {
		c->paused = 0;
		c->fe->host->conn_pause(c->conn, 0);
	}
}

/*
 * Send `len` bytes of `json` and a newline (what the socket does not take at once
 * is copied into a uv_write). While a write is pending the core connection is
 * paused, so this module holds at most one message. A write error closes the
 * client (safe anywhere: on_message may close its connection).
 */
static void
sock_client_queue(struct sock_client *c, const char *json, size_t len)
{
	struct sock_fe *fe = c->fe;
	size_t total = len + 1;
	uv_buf_t bufs[2] = { uv_buf_init((char *)(uintptr_t)json, (unsigned)len),
			     uv_buf_init((char *)"\n", 1) };
	size_t done = 0;
	if (c->queued == 0) {
		int n = uv_try_write((uv_stream_t *)&c->pipe, bufs, 2);
		if (n >= 0) {
			done = (size_t)n;
		} else if (n != UV_EAGAIN) {
			fe->host->log(fe->host, HEARTH_LOG_DEBUG, "client %lu: write: %s", c->id,
				      uv_strerror(n));
			sock_client_close(c);
			return;
		}
		if (done == total)
			return;
	}
	size_t rest = total - done;
	struct sock_write *w = malloc(sizeof *w + rest);
	if (w == NULL) {
		/* Part of the frame may be out already: the stream is unusable. */
		fe->host->log(fe->host, HEARTH_LOG_ERROR, "client %lu: out of memory; closing",
			      c->id);
		sock_client_close(c);
		return;
	}
	if (done < len) {
		memcpy(w->data, json + done, len - done);
		w->data[len - done] = '\n';
	} else {
		w->data[0] = '\n';
	}
	w->client = c;
	w->len = rest;
	w->req.data = w;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)rest);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, sock_client_write_cb);
	if (rc != 0) {
		free(w);
		fe->host->log(fe->host, HEARTH_LOG_DEBUG, "client %lu: write: %s", c->id,
			      uv_strerror(rc));
		sock_client_close(c);
		return;
	}
	int was_empty = c->queued == 0;
	c->queued += rest;
	c->submitted += rest;
	if (was_empty)
		sock_client_watch(c);
	if (!c->paused && c->conn != NULL && HEARTH_HOST_HAS(fe->host, conn_pause)) {
		c->paused = 1;
		fe->host->conn_pause(c->conn, 1);
	}
}

/* --------------------------------------------------------------- closing -- */

/* Close the client now: pending writes are cancelled. */
static void
sock_client_close(struct sock_client *c)
{
	if (c->state == SOCK_CLOSED)
		return;
	c->state = SOCK_CLOSED;
	if (c->conn != NULL) {
		struct hearth_conn *conn = c->conn;
		c->conn = NULL;
		c->fe->host->conn_close(conn);
	}
	uv_close((uv_handle_t *)&c->pipe, sock_client_close_cb);
	uv_close((uv_handle_t *)&c->timer, sock_client_close_cb);
}

static void
sock_client_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct sock_client *c = req->data;
	if (c->state != SOCK_CLOSED)
		sock_client_close(c);
}

/*
 * Stop relaying, send what is queued, then close. Reading goes on, discarding, so
 * a client that is still writing never blocks on us and its going away is noticed.
 */
static void
sock_client_flush_close(struct sock_client *c)
{
	if (c->state != SOCK_OPEN)
		return;
	c->state = SOCK_FLUSHING;
	/* c->line stays: this may run inside sock_client_feed, which holds a pointer into it. */
	c->line_len = 0;
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, sock_client_shutdown_cb) != 0)
		sock_client_close(c);
}

/* ------------------------------------------------------------- the core -- */

static void
sock_core_message_cb(void *arg, const char *json, size_t len)
{
	struct sock_client *c = arg;
	if (c->state == SOCK_OPEN)
		sock_client_queue(c, json, len);
}

static void
sock_core_close_cb(void *arg, const char *reason)
{
	struct sock_client *c = arg;
	c->conn = NULL;
	c->fe->host->log(c->fe->host, HEARTH_LOG_DEBUG, "client %lu: closed by the core: %s",
			 c->id, reason != NULL ? reason : "(no reason)");
	sock_client_flush_close(c);
}

/* ---------------------------------------------------------------- reading -- */

/*
 * The client sent a line over max_frame (core_limit 0), or over what the core
 * accepts (core_limit 1): answer it ourselves, then hang up.
 */
static void
sock_client_oversized(struct sock_client *c, int core_limit)
{
	struct sock_fe *fe = c->fe;
	char what[64];
	if (core_limit)
		snprintf(what, sizeof what, "the core accepts");
	else
		snprintf(what, sizeof what, "%lld bytes", fe->max_frame);
	fe->host->log(fe->host, HEARTH_LOG_WARN,
		      "client %lu: frame larger than %s; closing the connection", c->id, what);
	if (c->conn != NULL) {
		struct hearth_conn *conn = c->conn;
		c->conn = NULL;
		fe->host->conn_close(conn);
	}
	char msg[160];
	int n = snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
			 "{\"code\":-32600,\"message\":\"frame larger than %s\"}}", what);
	sock_client_queue(c, msg, (size_t)n);
	sock_client_flush_close(c);
}

/* One complete line, '\n' and '\r' stripped. Returns 1 when the core is full and
 * did not take it (send it again after on_drain), else 0. */
static int
sock_client_line(struct sock_client *c, const char *line, size_t len)
{
	if (len == 0)
		return 0;
	if (len > (size_t)c->fe->max_frame) {
		sock_client_oversized(c, 0);
		return 0;
	}
	int rc = c->fe->host->conn_send(c->conn, line, len);
	if (rc == HEARTH_EBUSY)
		return 1;
	if (rc == HEARTH_ELIMIT) {
		sock_client_oversized(c, 1);
	} else if (rc != 0 && c->state == SOCK_OPEN) {
		c->fe->host->log(c->fe->host, HEARTH_LOG_WARN,
				 "client %lu: the core refused a message (%d); closing", c->id, rc);
		sock_client_close(c);
	}
	return 0;
}

static int
sock_client_append(struct sock_client *c, const char *data, size_t len)
{
	if (c->line_len + len > c->line_cap) {
		size_t cap = c->line_cap > 0 ? c->line_cap : 256;
		while (cap < c->line_len + len)
			cap *= 2;
		char *p = realloc(c->line, cap);
		if (p == NULL)
			return HEARTH_ENOMEM;
		c->line = p;
		c->line_cap = cap;
	}
	memcpy(c->line + c->line_len, data, len);
	c->line_len += len;
	return 0;
}

/*
 * Split what arrived into lines and hand them to the core. Returns how many bytes
 * were used: all of them, unless the core was full (the rest, from the start of
 * the line it refused, must be fed again after on_drain). Stops as soon as the
 * client is no longer open.
 */
static size_t
sock_client_feed(struct sock_client *c, const char *data, size_t len)
{
	/* A line may carry one '\r' past the limit, stripped before it is measured. */
	size_t limit = (size_t)c->fe->max_frame + 1;
	const char *p = data, *end = data + len;
	while (p < end && c->state == SOCK_OPEN) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t seg = (size_t)((nl != NULL ? nl : end) - p);
		if (c->line_len + seg > limit) {
			sock_client_oversized(c, 0);
			return len;
		}
		int appended = nl == NULL || c->line_len > 0;
		if (appended) {
			if (sock_client_append(c, p, seg) != 0) {
				c->fe->host->log(c->fe->host, HEARTH_LOG_ERROR,
						 "client %lu: out of memory; closing", c->id);
				sock_client_close(c);
				return len;
			}
			if (nl == NULL)
				return len;
		}
		const char *line = c->line_len > 0 ? c->line : p;
		size_t n = c->line_len > 0 ? c->line_len : seg;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (sock_client_line(c, line, n)) {
			if (appended)
				c->line_len -= seg;   /* fed again with the rest */
			return (size_t)(p - data);
		}
		c->line_len = 0;
		if (c->line_cap > SOCK_LINE_KEEP) {
			free(c->line);
			c->line = NULL;
			c->line_cap = 0;
		}
		p = nl + 1;
	}
	return len;
}

static void sock_client_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void sock_client_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* The core has room again: feed it what was held back, then read on. */
static void
sock_core_drain_cb(void *arg)
{
	struct sock_client *c = arg;
	if (c->state != SOCK_OPEN || c->held == NULL)
		return;
	size_t used = sock_client_feed(c, c->held, c->held_len);
	if (c->state != SOCK_OPEN)
		return;
	if (used < c->held_len) {
		memmove(c->held, c->held + used, c->held_len - used);
		c->held_len -= used;
		return;
	}
	free(c->held);
	c->held = NULL;
	c->held_len = 0;
	int rc = uv_read_start((uv_stream_t *)&c->pipe, sock_client_alloc_cb, sock_client_read_cb);
	if (rc != 0) {
		c->fe->host->log(c->fe->host, HEARTH_LOG_ERROR, "client %lu: %s", c->id,
				 uv_strerror(rc));
		sock_client_close(c);
	}
}

static void
sock_client_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct sock_client *c = handle->data;
	*buf = uv_buf_init(c->fe->readbuf, sizeof c->fe->readbuf);
}

static void
sock_client_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct sock_client *c = stream->data;
	struct sock_fe *fe = c->fe;
	if (c->state == SOCK_CLOSED)
		return;
	if (nread == UV_EOF) {
		fe->host->log(fe->host, HEARTH_LOG_DEBUG, "client %lu: end of input", c->id);
		uv_read_stop(stream);
		if (c->conn != NULL) {
			struct hearth_conn *conn = c->conn;
			c->conn = NULL;
			fe->host->conn_close(conn);
		}
		/* It may still read: what is queued goes out before the close. */
		sock_client_flush_close(c);
		return;
	}
	if (nread < 0) {
		fe->host->log(fe->host, HEARTH_LOG_DEBUG, "client %lu: read: %s", c->id,
			      uv_strerror((int)nread));
		sock_client_close(c);
		return;
	}
	if (c->state != SOCK_OPEN)
		return;
	size_t used = sock_client_feed(c, buf->base, (size_t)nread);
	if (c->state != SOCK_OPEN || used == (size_t)nread)
		return;
	/* The core is full: keep the rest (the buffer is shared), read no more for now. */
	c->held_len = (size_t)nread - used;
	c->held = malloc(c->held_len);
	if (c->held == NULL) {
		fe->host->log(fe->host, HEARTH_LOG_ERROR, "client %lu: out of memory; closing", c->id);
		sock_client_close(c);
		return;
	}
	memcpy(c->held, buf->base + used, c->held_len);
	uv_read_stop(stream);
}

/* -------------------------------------------------------------- accepting -- */

static void
sock_fe_client(struct sock_fe *fe, int fd)
{
	const struct hearth_host *host = fe->host;
	struct ucred cred;
	socklen_t cred_len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
		host->log(host, HEARTH_LOG_WARN, "refused a connection: SO_PEERCRED: %s",
			  strerror(errno));
		close(fd);
		return;
	}
	if (cred.uid != geteuid()) {
		host->log(host, HEARTH_LOG_WARN,
			  "refused a connection from uid %u (pid %d): hearthd runs as uid %u",
			  (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
		close(fd);
		return;
	}
	struct sock_client *c = calloc(1, sizeof *c);
	if (c == NULL) {
		host->log(host, HEARTH_LOG_ERROR, "out of memory: refused a connection");
		close(fd);
		return;
	}
	c->fe = fe;
	c->id = ++fe->next_id;
	c->state = SOCK_OPEN;
	uv_pipe_init(fe->loop, &c->pipe, 0);
	uv_timer_init(fe->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->handles = 2;
	fe->refs++;
	c->next = fe->clients;
	if (fe->clients != NULL)
		fe->clients->prev = c;
	fe->clients = c;
	int rc = uv_pipe_open(&c->pipe, fd);
	if (rc != 0) {
		host->log(host, HEARTH_LOG_ERROR, "client %lu: %s", c->id, uv_strerror(rc));
		close(fd);
		sock_client_close(c);
		return;
	}
	host->log(host, HEARTH_LOG_DEBUG, "client %lu: connected (pid %d)", c->id, (int)cred.pid);
	struct hearth_conn *conn = host->conn_open(host, sock_core_message_cb,
						   sock_core_close_cb, c);
	if (conn == NULL) {
		if (c->state == SOCK_OPEN) {
			host->log(host, HEARTH_LOG_WARN,
				  "client %lu: the core cannot take a connection; closing it", c->id);
			sock_client_close(c);
		}
		return;
	}
	c->conn = conn;
	/* Without flow control (an older core) the core bounds nothing per client. */
	rc = HEARTH_HOST_HAS(host, conn_flow) ?
	     host->conn_flow(conn, (size_t)fe->send_queue_max, sock_core_drain_cb) : 0;
	if (rc != 0 && rc != HEARTH_ENOTSUP) {
		host->log(host, HEARTH_LOG_ERROR, "client %lu: conn_flow: %s", c->id,
			  rc == HEARTH_EINVAL ? "refused" : "failed");
		sock_client_close(c);
		return;
	}
	rc = uv_read_start((uv_stream_t *)&c->pipe, sock_client_alloc_cb, sock_client_read_cb);
	if (rc != 0) {
		host->log(host, HEARTH_LOG_ERROR, "client %lu: %s", c->id, uv_strerror(rc));
		sock_client_close(c);
	}
}

static void sock_fe_accept_cb(uv_poll_t *poll, int status, int events);

static void
sock_fe_backoff_cb(uv_timer_t *timer)
{
	struct sock_fe *fe = timer->data;
	uv_poll_start(&fe->poll, UV_READABLE, sock_fe_accept_cb);
}

static void
sock_fe_accept_cb(uv_poll_t *poll, int status, int events)
{
	struct sock_fe *fe = poll->data;
	for (int i = 0; i < SOCK_ACCEPT_BATCH; i++) {
		int fd = status < 0 ? -1 : accept4(fe->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			sock_fe_client(fe, fd);
			continue;
		}
		if (status >= 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (status >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		/* Out of descriptors (or worse): the connection stays in the backlog; wait. */
		fe->host->log(fe->host, HEARTH_LOG_WARN, "accept on %s: %s; pausing for %d ms",
			      fe->path, status < 0 ? uv_strerror(status) : strerror(errno),
			      SOCK_BACKOFF_MS);
		uv_poll_stop(&fe->poll);
		uv_timer_start(&fe->backoff, sock_fe_backoff_cb, SOCK_BACKOFF_MS, 0);
		return;
	}
}

/* ------------------------------------------------------------- listening -- */

static int
sock_fe_mkdirs(const char *dir)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	char *parent = strdup(dir);
	if (parent == NULL)
		return -1;
	char *slash = strrchr(parent, '/');
	int rc = -1;
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		rc = sock_fe_mkdirs(parent);
	}
	free(parent);
	if (rc != 0)
		return -1;
	return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* The socket's directory exists, is ours, and no one else may enter it. */
static int
sock_fe_check_dir(struct sock_fe *fe)
{
	const struct hearth_host *host = fe->host;
	if (sock_fe_mkdirs(fe->dir) != 0) {
		host->log(host, HEARTH_LOG_ERROR, "cannot create the socket directory %s: %s",
			  fe->dir, strerror(errno));
		return HEARTH_EIO;
	}
	struct stat st;
	if (lstat(fe->dir, &st) != 0) {
		host->log(host, HEARTH_LOG_ERROR, "%s: %s", fe->dir, strerror(errno));
		return HEARTH_EIO;
	}
	if (!S_ISDIR(st.st_mode)) {
		host->log(host, HEARTH_LOG_ERROR,
			  "the socket directory %s is not a directory (a symlink?); remove it",
			  fe->dir);
		return HEARTH_EPERM;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		host->log(host, HEARTH_LOG_ERROR,
			  "the socket directory %s has mode %04o and owner uid %u: it must be "
			  "owned by uid %u with no access for group and others (chmod 700 %s)",
			  fe->dir, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
			  (unsigned)geteuid(), fe->dir);
		return HEARTH_EPERM;
	}
	return 0;
}

static int
sock_fe_addr(struct sock_fe *fe, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof *addr);
	addr->sun_family = AF_UNIX;
	size_t len = strlen(fe->path);
	if (len >= sizeof addr->sun_path) {
		fe->host->log(fe->host, HEARTH_LOG_ERROR,
			      "socket path %s is too long (%zu bytes; at most %zu)", fe->path,
			      len, sizeof addr->sun_path - 1);
		return HEARTH_EINVAL;
	}
	memcpy(addr->sun_path, fe->path, len + 1);
	return 0;
}

/* Something is at fe->path: remove it if it is a dead socket, else refuse. */
static int
sock_fe_clear_stale(struct sock_fe *fe, const struct sockaddr_un *addr)
{
	const struct hearth_host *host = fe->host;
	struct stat st;
	if (lstat(fe->path, &st) != 0)
		return errno == ENOENT ? 0 : HEARTH_EIO;
	if (!S_ISSOCK(st.st_mode)) {
		host->log(host, HEARTH_LOG_ERROR, "%s exists and is not a socket; remove it",
			  fe->path);
		return HEARTH_EBUSY;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		host->log(host, HEARTH_LOG_ERROR, "socket: %s", strerror(errno));
		return HEARTH_EIO;
	}
	int rc = connect(fd, (const struct sockaddr *)addr, sizeof *addr);
	int err = errno;
	close(fd);
	/* A full backlog (EAGAIN) still means someone listens. */
	if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
		host->log(host, HEARTH_LOG_ERROR, "another hearthd is listening on %s", fe->path);
		return HEARTH_EBUSY;
	}
	if (err != ECONNREFUSED) {
		host->log(host, HEARTH_LOG_ERROR, "cannot check the socket %s: %s", fe->path,
			  strerror(err));
		return HEARTH_EIO;
	}
	host->log(host, HEARTH_LOG_INFO, "removing the stale socket %s", fe->path);
	if (unlink(fe->path) != 0 && errno != ENOENT) {
		host->log(host, HEARTH_LOG_ERROR, "cannot remove the stale socket %s: %s",
			  fe->path, strerror(errno));
		return HEARTH_EIO;
	}
	return 0;
}

static int
sock_fe_bind(struct sock_fe *fe)
{
	const struct hearth_host *host = fe->host;
	struct sockaddr_un addr;
	int rc = sock_fe_addr(fe, &addr);
	if (rc == 0)
		rc = sock_fe_check_dir(fe);
	if (rc == 0)
		rc = sock_fe_clear_stale(fe, &addr);
	if (rc != 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		host->log(host, HEARTH_LOG_ERROR, "socket: %s", strerror(errno));
		return HEARTH_EIO;
	}
	/* The file is born 0600: no window in which another user could connect. */
	mode_t old = umask(0177);
	rc = bind(fd, (const struct sockaddr *)&addr, sizeof addr);
	int err = errno;
	umask(old);
	if (rc != 0) {
		if (err == EADDRINUSE)
			host->log(host, HEARTH_LOG_ERROR, "another hearthd is listening on %s",
				  fe->path);
		else
			host->log(host, HEARTH_LOG_ERROR, "bind %s: %s", fe->path, strerror(err));
		close(fd);
		return err == EADDRINUSE ? HEARTH_EBUSY : HEARTH_EIO;
	}
	struct stat st;
	if (listen(fd, SOMAXCONN) != 0 || lstat(fe->path, &st) != 0) {
		host->log(host, HEARTH_LOG_ERROR, "listen %s: %s", fe->path, strerror(errno));
		unlink(fe->path);
		close(fd);
		return HEARTH_EIO;
	}
	fe->sock_dev = st.st_dev;
	fe->sock_ino = st.st_ino;
	fe->fd = fd;
	return 0;
}

/* Unlink the socket file if it is still the one we bound. */
static void
sock_fe_unlink(struct sock_fe *fe)
{
	struct stat st;
	if (lstat(fe->path, &st) == 0 && st.st_dev == fe->sock_dev && st.st_ino == fe->sock_ino)
		unlink(fe->path);
}

static void
sock_fe_poll_close_cb(uv_handle_t *handle)
{
	struct sock_fe *fe = handle->data;
	close(fe->fd);
	fe->fd = -1;
	sock_fe_unref(fe);
}

static void
sock_fe_handle_close_cb(uv_handle_t *handle)
{
	sock_fe_unref(handle->data);
}

/* Close the listener and every client. Idempotent. */
static void
sock_fe_close_all(struct sock_fe *fe)
{
	if (fe->listening) {
		fe->listening = 0;
		sock_fe_unlink(fe);
		uv_close((uv_handle_t *)&fe->poll, sock_fe_poll_close_cb);
		uv_close((uv_handle_t *)&fe->backoff, sock_fe_handle_close_cb);
	}
	for (struct sock_client *c = fe->clients; c != NULL; c = c->next)
		sock_client_close(c);
}

/* ----------------------------------------------------------------- module -- */

static int
sock_fe_start(void *state)
{
	struct sock_fe *fe = state;
	const struct hearth_host *host = fe->host;
	if (fe->listening)
		return HEARTH_EBUSY;
	int rc = sock_fe_bind(fe);
	if (rc != 0)
		return rc;
	rc = uv_poll_init(fe->loop, &fe->poll, fe->fd);
	if (rc != 0) {
		host->log(host, HEARTH_LOG_ERROR, "watching %s: %s", fe->path, uv_strerror(rc));
		sock_fe_unlink(fe);
		close(fe->fd);
		fe->fd = -1;
		return HEARTH_EIO;
	}
	uv_timer_init(fe->loop, &fe->backoff);
	fe->poll.data = fe->backoff.data = fe;
	fe->refs += 2;
	fe->listening = 1;
	uv_poll_start(&fe->poll, UV_READABLE, sock_fe_accept_cb);
	host->log(host, HEARTH_LOG_INFO, "listening on %s", fe->path);
	return 0;
}

static void
sock_fe_stop(void *state)
{
	struct sock_fe *fe = state;
	sock_fe_close_all(fe);
}

static int
sock_fe_init(const struct hearth_host *host, const json_t *config, void **state)
{
	struct sock_fe *fe = calloc(1, sizeof *fe);
	if (fe == NULL)
		return HEARTH_ENOMEM;
	fe->host = host;
	fe->loop = host->uv_loop(host);
	fe->fd = -1;
	fe->refs = 1;
	if (host->config_int(host, "max_frame", SOCK_MAX_FRAME_DEFAULT, 64, 1LL << 30,
			     &fe->max_frame) != 0 ||
	    host->config_int(host, "send_queue_max", SOCK_SEND_QUEUE_DEFAULT, 1024,
			     (1LL << 32) - 1,
			     &fe->send_queue_max) != 0 ||
	    host->config_int(host, "stall_timeout_ms", SOCK_STALL_DEFAULT, 0, 86400000LL,
			     &fe->stall_timeout_ms) != 0) {
		free(fe);
		return HEARTH_EINVAL;
	}
	const char *path = host->config_string(host, "path", NULL);
	if (path == NULL && getenv("HEARTH_SOCKET") != NULL && getenv("HEARTH_SOCKET")[0] != '\0')
		path = getenv("HEARTH_SOCKET");
	if (path != NULL && path[0] != '/') {
		host->log(host, HEARTH_LOG_ERROR, "path '%s' is not an absolute path", path);
		free(fe);
		return HEARTH_EINVAL;
	}
	if (path != NULL) {
		fe->path = strdup(path);
	} else {
		const char *run = host->runtime_dir(host);
		size_t n = strlen(run) + sizeof "/" SOCK_NAME;
		fe->path = malloc(n);
		if (fe->path != NULL)
			snprintf(fe->path, n, "%s/%s", run, SOCK_NAME);
	}
	if (fe->path != NULL) {
		fe->dir = strdup(fe->path);
		char *slash = fe->dir != NULL ? strrchr(fe->dir, '/') : NULL;
		if (slash != NULL)
			slash[slash == fe->dir ? 1 : 0] = '\0';   /* "/x.sock" lives in "/" */
	}
	if (fe->path == NULL || fe->dir == NULL) {
		free(fe->path);
		free(fe->dir);
		free(fe);
		return HEARTH_ENOMEM;
	}
	*state = fe;
	return 0;
}

static void
sock_fe_fini(void *state)
{
	struct sock_fe *fe = state;
	sock_fe_close_all(fe);
	fe->host = NULL;
	sock_fe_unref(fe);
}

static const struct hearth_frontend sock_fe_vtable = {
	.struct_size = sizeof(struct hearth_frontend),
	.start = sock_fe_start,
	.stop = sock_fe_stop,
};

static const struct hearth_plugin sock_fe_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_FRONTEND, .name = "socket", .version = "0.1.0",
	.description = "JSON-RPC clients over a Unix socket", .init = sock_fe_init,
	.fini = sock_fe_fini, .frontend = &sock_fe_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &sock_fe_plugin;
}
