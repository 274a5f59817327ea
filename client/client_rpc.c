/* client_rpc.c: the blocking JSON-RPC client (see client_rpc.h). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hearth/plugin.h>

#include "client_rpc.h"
#include "sigint.h"
#include "xmalloc.h"

#define CLIENT_RPC_READ_CHUNK 65536

struct client_rpc {
	int fd;
	char *buf;             /* received bytes; buf[start..len) not yet framed */
	size_t start, len, cap;
	size_t scanned;        /* bytes after start already searched for '\n' */
	int eof;
	size_t frame_max;
	int timeout_ms;
	json_int_t next_id;
	json_int_t *waiting;   /* ids of the calls in progress, innermost last */
	size_t n_waiting;
	json_t *kept;          /* answers for outer calls: {"id": message} */
	client_rpc_msg_fn on_msg;
	client_rpc_signal_fn on_signal;
	void *arg;
	int sigints;           /* SIGINTs already handed to on_signal */
	char *why;
};

struct client_rpc *
client_rpc_new(int fd)
{
	struct client_rpc *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->frame_max = CLIENT_RPC_FRAME_MAX;
	c->timeout_ms = CLIENT_RPC_TIMEOUT_MS;
	c->kept = json_object();
	c->sigints = sigint_count();
	return c;
}

void
client_rpc_free(struct client_rpc *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c->waiting);
	json_decref(c->kept);
	free(c->why);
	free(c);
}

void
client_rpc_set_handler(struct client_rpc *c, client_rpc_msg_fn on_msg,
		       client_rpc_signal_fn on_signal, void *arg)
{
	c->on_msg = on_msg;
	c->on_signal = on_signal;
	c->arg = arg;
}

void
client_rpc_set_timeout(struct client_rpc *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void
client_rpc_set_frame_max(struct client_rpc *c, size_t max)
{
	c->frame_max = max;
}

const char *
client_rpc_why(const struct client_rpc *c)
{
	return c->why != NULL ? c->why : "no error";
}

static int
client_rpc_fail(struct client_rpc *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
client_rpc_fail(struct client_rpc *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(c->why);
	c->why = xvasprintf(fmt, ap);
	va_end(ap);
	return code;
}

/* ------------------------------------------------------------------ sending -- */

static int
client_rpc_write_all(struct client_rpc *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return client_rpc_fail(c, HEARTH_EIO, "cannot write to the daemon: %s",
					       strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write one message (borrowed) as one line. */
static int
client_rpc_send(struct client_rpc *c, const json_t *msg)
{
	size_t len;
	char *text = rpc_dump(msg, &len);
	text = xrealloc(text, len + 1);
	text[len] = '\n';
	int rc = client_rpc_write_all(c, text, len + 1);
	free(text);
	return rc;
}

int
client_rpc_notify(struct client_rpc *c, const char *method, json_t *params)
{
	json_t *msg = rpc_notification(method, params);
	int rc = client_rpc_send(c, msg);
	json_decref(msg);
	return rc;
}

int
client_rpc_reply(struct client_rpc *c, const json_t *id, json_t *result)
{
	json_t *msg = rpc_result(id, result);
	int rc = client_rpc_send(c, msg);
	json_decref(msg);
	return rc;
}

int
client_rpc_reply_error(struct client_rpc *c, const json_t *id, int code, const char *message)
{
	json_t *msg = rpc_error(id, code, message, NULL);
	int rc = client_rpc_send(c, msg);
	json_decref(msg);
	return rc;
}

/* ---------------------------------------------------------------- receiving -- */

static long long
client_rpc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Hand SIGINTs not seen yet to the signal handler: those of the last poll, and
 * those another wait took (a permission question). Non-zero: give up.
 */
static int
client_rpc_signals(struct client_rpc *c)
{
	if (sigint_count() == c->sigints)
		return 0;
	c->sigints = sigint_count();
	return c->on_signal != NULL && c->on_signal(c->arg, c) != 0;
}

/* Wait until the socket is readable, calling the signal handler on interrupts. */
static int
client_rpc_wait(struct client_rpc *c)
{
	long long deadline = c->timeout_ms >= 0 ? client_rpc_now_ms() + c->timeout_ms : -1;
	for (;;) {
		if (client_rpc_signals(c))
			return client_rpc_fail(c, HEARTH_ECANCELED, "interrupted");
		int left = -1;
		if (deadline >= 0) {
			long long d = deadline - client_rpc_now_ms();
			left = d > 0 ? (int)d : 0;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int n = sigint_poll(&pfd, 1, left);
		int err = errno; /* on_signal may change it */
		/* Whether or not the poll saw EINTR: a ready socket wins over a signal. */
		if (client_rpc_signals(c))
			return client_rpc_fail(c, HEARTH_ECANCELED, "interrupted");
		if (n > 0)
			return 0;
		if (n == 0)
			return client_rpc_fail(c, HEARTH_ETIMEDOUT,
					       "the daemon did not answer within %d s",
					       c->timeout_ms / 1000);
		if (err != EINTR)
			return client_rpc_fail(c, HEARTH_EIO, "poll: %s", strerror(err));
	}
}

/* Read what the socket has into the buffer. */
static int
client_rpc_fill(struct client_rpc *c)
{
	int rc = client_rpc_wait(c);
	if (rc != 0)
		return rc;
	if (c->start > 0 && c->start == c->len) {
		c->start = c->len = 0;
	} else if (c->start > 0 && c->len + CLIENT_RPC_READ_CHUNK > c->cap) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->start = 0;
	}
	if (c->len + CLIENT_RPC_READ_CHUNK > c->cap) {
		c->cap = c->len + CLIENT_RPC_READ_CHUNK;
		c->buf = xrealloc(c->buf, c->cap);
	}
	ssize_t n;
	do
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return client_rpc_fail(c, HEARTH_EIO, "cannot read from the daemon: %s",
				       strerror(errno));
	if (n == 0) {
		c->eof = 1;
		if (c->len > c->start)
			return client_rpc_fail(c, HEARTH_EIO,
					       "the daemon closed the connection in the middle "
					       "of a message");
		return client_rpc_fail(c, HEARTH_EIO, "the daemon closed the connection");
	}
	c->len += (size_t)n;
	return 0;
}

/* The next message from the daemon, parsed into *msg (clear it with rpc_msg_clear). */
static int
client_rpc_read(struct client_rpc *c, struct rpc_msg *msg)
{
	for (;;) {
		char *line = NULL, *nl = NULL;
		if (c->len > c->start) {
			line = c->buf + c->start;
			nl = memchr(line + c->scanned, '\n', c->len - c->start - c->scanned);
		}
		if (nl == NULL) {
			c->scanned = c->len - c->start;
			if (c->scanned > c->frame_max)
				return client_rpc_fail(c, HEARTH_ELIMIT,
						       "the daemon sent a message longer than %zu bytes",
						       c->frame_max);
			if (c->eof)
				return client_rpc_fail(c, HEARTH_EIO,
						       "the daemon closed the connection");
			int rc = client_rpc_fill(c);
			if (rc != 0)
				return rc;
			continue;
		}
		size_t n = (size_t)(nl - line);
		c->start += n + 1;
		c->scanned = 0;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		if (n > c->frame_max)
			return client_rpc_fail(c, HEARTH_ELIMIT,
					       "the daemon sent a message longer than %zu bytes",
					       c->frame_max);
		json_t *reply = NULL;
		if (rpc_parse(line, n, msg, &reply) != 0) {
			const char *text = json_string_value(
				json_object_get(json_object_get(reply, "error"), "message"));
			int rc = client_rpc_fail(c, HEARTH_EPROTO,
						 "the daemon sent a malformed message: %s",
						 text != NULL ? text : "?");
			json_decref(reply);
			return rc;
		}
		return 0;
	}
}

/* Hand a notification or request to the handler; answer unhandled requests. */
static int
client_rpc_dispatch(struct client_rpc *c, const struct rpc_msg *msg)
{
	if (c->on_msg != NULL && c->on_msg(c->arg, c, msg))
		return 0;
	if (msg->kind != RPC_REQUEST)
		return 0;
	char *text = xasprintf("method not found: %s (the hearth client does not offer it)",
			       msg->method);
	int rc = client_rpc_reply_error(c, msg->id, RPC_METHOD_NOT_FOUND, text);
	free(text);
	return rc;
}

/* Keep an answer that belongs to an outer call; drop one that belongs to none. */
static void
client_rpc_keep(struct client_rpc *c, const struct rpc_msg *msg)
{
	if (!json_is_integer(msg->id))
		return;
	json_int_t id = json_integer_value(msg->id);
	for (size_t i = 0; i < c->n_waiting; i++) {
		if (c->waiting[i] == id) {
			char key[32];
			snprintf(key, sizeof key, "%lld", (long long)id);
			json_object_set(c->kept, key, msg->root);
			return;
		}
	}
}

/* Take the kept answer for `id`, if there is one, into result/error. */
static int
client_rpc_take_kept(struct client_rpc *c, json_int_t id, json_t **result, json_t **error)
{
	char key[32];
	snprintf(key, sizeof key, "%lld", (long long)id);
	json_t *root = json_object_get(c->kept, key);
	if (root == NULL)
		return 0;
	json_t *r = json_object_get(root, "result"), *e = json_object_get(root, "error");
	*result = r != NULL ? json_incref(r) : NULL;
	*error = e != NULL ? json_incref(e) : NULL;
	json_object_del(c->kept, key);
	return 1;
}

int
client_rpc_call(struct client_rpc *c, const char *method, json_t *params, json_t **result,
		json_t **error)
{
	*result = *error = NULL;
	json_int_t id = ++c->next_id;
	json_t *req = rpc_request(id, method, params);
	int rc = client_rpc_send(c, req);
	json_decref(req);
	if (rc != 0)
		return rc;

	c->waiting = xreallocarray(c->waiting, c->n_waiting + 1, sizeof *c->waiting);
	c->waiting[c->n_waiting++] = id;
	while (rc == 0 && !client_rpc_take_kept(c, id, result, error)) {
		struct rpc_msg msg;
		rc = client_rpc_read(c, &msg);
		if (rc != 0)
			break;
		if (msg.kind == RPC_RESPONSE && json_is_integer(msg.id) &&
		    json_integer_value(msg.id) == id) {
			*result = msg.result != NULL ? json_incref(msg.result) : NULL;
			*error = msg.error != NULL ? json_incref(msg.error) : NULL;
			rpc_msg_clear(&msg);
			break;
		}
		if (msg.kind == RPC_RESPONSE)
			client_rpc_keep(c, &msg);
		else
			rc = client_rpc_dispatch(c, &msg);
		rpc_msg_clear(&msg);
	}
	c->n_waiting--;
	return rc;
}

int
client_rpc_pump(struct client_rpc *c)
{
	struct rpc_msg msg;
	int rc = client_rpc_read(c, &msg);
	if (rc != 0)
		return rc;
	if (msg.kind == RPC_RESPONSE)
		client_rpc_keep(c, &msg);
	else
		rc = client_rpc_dispatch(c, &msg);
	rpc_msg_clear(&msg);
	return rc;
}

int
client_rpc_initialize(struct client_rpc *c, json_t **agent, char **why)
{
	json_t *params = json_pack("{s:i, s:{s:{s:b, s:b}, s:b}, s:{s:s, s:s}}",
				   "protocolVersion", 1,
				   "clientCapabilities", "fs", "readTextFile", 0, "writeTextFile", 0,
				   "terminal", 0,
				   "clientInfo", "name", "hearth", "version", PACKAGE_VERSION);
	json_t *result, *error;
	if (agent != NULL)
		*agent = NULL;
	*why = NULL;
	int rc = client_rpc_call(c, "initialize", params, &result, &error);
	if (rc != 0) {
		*why = xstrdup(client_rpc_why(c));
		return rc;
	}
	if (error != NULL) {
		*why = xasprintf("the daemon refused initialize: %s",
				 json_string_value(json_object_get(error, "message")));
		json_decref(error);
		return HEARTH_EPROTO;
	}
	json_t *version = json_object_get(result, "protocolVersion");
	if (!json_is_integer(version) || json_integer_value(version) != 1) {
		char *v = json_dumps(version, JSON_ENCODE_ANY);
		*why = xasprintf("the daemon speaks ACP protocol version %s; this client "
				 "speaks version 1", v != NULL ? v : "(none)");
		free(v);
		json_decref(result);
		return HEARTH_EPROTO;
	}
	if (agent != NULL)
		*agent = result;
	else
		json_decref(result);
	return 0;
}
