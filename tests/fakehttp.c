/*
 * fakehttp.c: a scripted HTTP/1.1 server for tests (see fakehttp.h). One thread
 * accepts; one thread per connection reads requests and writes answers with
 * blocking sockets. Shared state sits under one mutex.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fakehttp.h"

#define FAKEHTTP_HEAD_MAX (64 * 1024)
#define FAKEHTTP_BODY_MAX ((size_t)256 * 1024 * 1024)

struct fakehttp_conn {
	struct fakehttp *server;
	pthread_t thread;
	int fd;                      /* -1 once closed; changed under the lock */
	size_t id;
	char *buf;                   /* bytes read, not yet parsed */
	size_t len, cap;
	int too_long;                /* fakehttp_line gave up on a line over the bound */
	struct fakehttp_conn *next;
};

struct fakehttp_item {
	struct fakehttp_response resp;  /* its strings point into the copies below */
	char *reason, *headers, *body, *trailers;
	struct fakehttp_item *next;
};

struct fakehttp {
	int listen_fd;
	int port;
	int wake[2];                 /* the acceptor's stop signal */
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* a request recorded, a connection closed */
	pthread_mutex_t handler_lock;
	int stopping;
	struct fakehttp_conn *conns;
	size_t n_conns, n_open;
	struct fakehttp_request **reqs;
	size_t n_reqs, cap_reqs;
	struct fakehttp_item *head, *tail;
	size_t n_queued;
	fakehttp_handler_fn handler;
	void *handler_arg;
};

/* ------------------------------------------------------------ helpers -- */

static void
fakehttp_die(const char *what)
{
	fprintf(stderr, "fakehttp: %s: %s\n", what, strerror(errno));
	abort();
}

static void *
fakehttp_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (p == NULL)
		fakehttp_die("out of memory");
	return p;
}

static char *
fakehttp_memdup(const char *s, size_t n)
{
	char *p = fakehttp_alloc(n + 1);
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *
fakehttp_strdup(const char *s)
{
	return s != NULL ? fakehttp_memdup(s, strlen(s)) : NULL;
}

/* A growable byte string. */
struct fakehttp_buf {
	char *data;
	size_t len, cap;
};

static void
fakehttp_buf_add(struct fakehttp_buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (p == NULL)
			fakehttp_die("out of memory");
		b->data = p;
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void
fakehttp_buf_printf(struct fakehttp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
fakehttp_buf_printf(struct fakehttp_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		fakehttp_die("fakehttp_buf_printf: line too long");
	fakehttp_buf_add(b, tmp, (size_t)n);
}

static const char *
fakehttp_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Overloaded";
	default: return "Status";
	}
}

static int
fakehttp_stopping(struct fakehttp *s)
{
	pthread_mutex_lock(&s->lock);
	int stop = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/* ------------------------------------------------------------ reading -- */

/* Read more into the connection buffer. Returns 0 on EOF or error. */
static int
fakehttp_fill(struct fakehttp_conn *c)
{
	if (c->cap - c->len < 4096) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		char *p = realloc(c->buf, cap);
		if (p == NULL)
			fakehttp_die("out of memory");
		c->buf = p;
		c->cap = cap;
	}
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			return 1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return 0;
	}
}

static void
fakehttp_consume(struct fakehttp_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Make sure n bytes are buffered. Returns 0 on EOF. */
static int
fakehttp_need(struct fakehttp_conn *c, size_t n)
{
	while (c->len < n)
		if (!fakehttp_fill(c))
			return 0;
	return 1;
}

/* A line ending in LF (CR dropped), consumed; malloc'd. NULL on EOF or when too long. */
static char *
fakehttp_line(struct fakehttp_conn *c)
{
	for (;;) {
		char *lf = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (lf != NULL) {
			size_t n = (size_t)(lf - c->buf);
			char *line = fakehttp_memdup(c->buf, n > 0 && c->buf[n - 1] == '\r' ? n - 1 : n);
			fakehttp_consume(c, n + 1);
			return line;
		}
		if (c->len > FAKEHTTP_HEAD_MAX) {
			c->too_long = 1;
			return NULL;
		}
		if (!fakehttp_fill(c))
			return NULL;
	}
}

static int
fakehttp_send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
fakehttp_request_free(struct fakehttp_request *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->method);
	free(r->target);
	free(r->version);
	free(r->body);
	free(r);
}

const char *
fakehttp_header(const struct fakehttp_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Read and discard until the client closes (or the server stops and shuts us down). */
static void
fakehttp_drain(struct fakehttp_conn *c)
{
	char tmp[4096];
	for (;;) {
		ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
		if (n == 0 || (n < 0 && errno != EINTR))
			return;
	}
}

/*
 * Answer a request we cannot parse, then linger: closing with unread input
 * would send a reset that can destroy the answer before the client reads it.
 */
static void
fakehttp_reject(struct fakehttp_conn *c, int status)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status,
			 fakehttp_reason(status));
	fakehttp_send_all(c->fd, head, (size_t)n);
	shutdown(c->fd, SHUT_WR);
	fakehttp_drain(c);
}

static int
fakehttp_read_chunked(struct fakehttp_conn *c, struct fakehttp_buf *body)
{
	for (;;) {
		char *line = fakehttp_line(c), *end;
		if (line == NULL)
			return -1;
		unsigned long long size = strtoull(line, &end, 16);
		int bad = end == line || (*end != '\0' && *end != ';' && *end != ' ');
		free(line);
		if (bad || size > FAKEHTTP_BODY_MAX || body->len + size > FAKEHTTP_BODY_MAX)
			return -1;
		if (size == 0)
			break;
		if (!fakehttp_need(c, (size_t)size + 2))
			return -1;
		fakehttp_buf_add(body, c->buf, (size_t)size);
		fakehttp_consume(c, (size_t)size + 2);
	}
	for (;;) {  /* trailers, up to the blank line */
		char *line = fakehttp_line(c);
		if (line == NULL)
			return -1;
		int blank = line[0] == '\0';
		free(line);
		if (blank)
			return 0;
	}
}

/*
 * Read one request. NULL when the client went away, or after answering a request
 * we could not parse (the connection is then closed).
 */
static struct fakehttp_request *
fakehttp_read_request(struct fakehttp_conn *c)
{
	struct fakehttp_request *r = fakehttp_alloc(sizeof *r);
	struct fakehttp_buf body = { 0 };
	size_t cap = 0, head_bytes = 0;
	char *line;

	for (;;) {  /* tolerate blank lines before a request (RFC 9112 2.2) */
		line = fakehttp_line(c);
		if (line == NULL)
			goto eof;
		if (line[0] != '\0')
			break;
		free(line);
	}
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		free(line);
		fakehttp_reject(c, 400);
		goto fail;
	}
	r->method = fakehttp_memdup(line, (size_t)(sp1 - line));
	r->target = fakehttp_memdup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	r->version = fakehttp_strdup(sp2 + 1);
	head_bytes += strlen(line);
	free(line);

	for (;;) {
		line = fakehttp_line(c);
		if (line == NULL)
			goto eof;
		if (line[0] == '\0') {
			free(line);
			break;
		}
		head_bytes += strlen(line);
		char *colon = strchr(line, ':');
		if (colon == NULL || colon == line || head_bytes > FAKEHTTP_HEAD_MAX) {
			free(line);
			fakehttp_reject(c, colon == NULL || colon == line ? 400 : 431);
			goto fail;
		}
		if (r->n_headers == cap) {
			cap = cap ? cap * 2 : 16;
			r->headers = realloc(r->headers, cap * sizeof *r->headers);
			if (r->headers == NULL)
				fakehttp_die("out of memory");
		}
		char *v = colon + 1, *end = line + strlen(line);
		while (*v == ' ' || *v == '\t')
			v++;
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		r->headers[r->n_headers].name = fakehttp_memdup(line, (size_t)(colon - line));
		r->headers[r->n_headers].value = fakehttp_memdup(v, (size_t)(end - v));
		r->n_headers++;
		free(line);
	}

	const char *expect = fakehttp_header(r, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		fakehttp_send_all(c->fd, cont, sizeof cont - 1);
	}
	const char *te = fakehttp_header(r, "Transfer-Encoding");
	const char *cl = fakehttp_header(r, "Content-Length");
	if (te != NULL && strcasestr(te, "chunked") != NULL) {
		r->chunked = 1;
		if (fakehttp_read_chunked(c, &body) != 0) {
			fakehttp_reject(c, 400);
			goto fail;
		}
	} else if (cl != NULL) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);
		if (end == cl || *end != '\0' || n > FAKEHTTP_BODY_MAX) {
			fakehttp_reject(c, n > FAKEHTTP_BODY_MAX ? 413 : 400);
			goto fail;
		}
		if (!fakehttp_need(c, (size_t)n))
			goto fail;
		fakehttp_buf_add(&body, c->buf, (size_t)n);
		fakehttp_consume(c, (size_t)n);
	}
	if (body.data == NULL)
		fakehttp_buf_add(&body, "", 0);
	r->body = body.data;
	r->body_len = body.len;
	return r;

eof:
	if (c->too_long)
		fakehttp_reject(c, 431);
fail:
	free(body.data);
	fakehttp_request_free(r);
	return NULL;
}

/* ------------------------------------------------------------ writing -- */

/* Write in pieces as the response says; stops early when the server stops. */
static int
fakehttp_write(struct fakehttp_conn *c, const char *data, size_t len,
	       const struct fakehttp_response *resp)
{
	unsigned seed = resp->seed;
	size_t max = resp->max_write ? resp->max_write : resp->seed ? 16 : len;
	while (len > 0) {
		size_t n = max;
		if (resp->seed != 0)
			n = 1 + (size_t)rand_r(&seed) % max;
		if (n > len)
			n = len;
		if (fakehttp_send_all(c->fd, data, n) != 0)
			return -1;
		data += n;
		len -= n;
		if (len > 0 && resp->delay_us > 0) {
			if (fakehttp_stopping(c->server))
				return -1;
			usleep(resp->delay_us);
		}
	}
	return 0;
}

/* Answer one request. Returns 1 to keep the connection for another request. */
static int
fakehttp_respond(struct fakehttp_conn *c, const struct fakehttp_request *req,
		 const struct fakehttp_response *resp)
{
	struct fakehttp_buf wire = { 0 };
	size_t body_len = resp->body ? (resp->body_len ? resp->body_len : strlen(resp->body)) : 0;
	size_t head_len = 0;
	int status = resp->status ? resp->status : 200;
	int is_head = strcmp(req->method, "HEAD") == 0;
	int keep = !resp->close;

	switch (resp->action) {
	case FAKEHTTP_HANG:
		fakehttp_drain(c);
		return 0;
	case FAKEHTTP_CLOSE:
		return 0;
	case FAKEHTTP_RESET: {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		return 0;
	}
	default:
		break;
	}

	if (resp->framing == FAKEHTTP_RAW) {
		fakehttp_buf_add(&wire, resp->body ? resp->body : "", body_len);
	} else {
		fakehttp_buf_printf(&wire, "HTTP/1.1 %d %s\r\n", status,
				    resp->reason ? resp->reason : fakehttp_reason(status));
		if (resp->framing == FAKEHTTP_LENGTH)
			fakehttp_buf_printf(&wire, "Content-Length: %zu\r\n", body_len);
		else if (resp->framing == FAKEHTTP_CHUNKED)
			fakehttp_buf_printf(&wire, "Transfer-Encoding: chunked\r\n");
		if (resp->close || resp->framing == FAKEHTTP_EOF) {
			fakehttp_buf_printf(&wire, "Connection: close\r\n");
			keep = 0;
		}
		if (resp->headers != NULL)
			fakehttp_buf_add(&wire, resp->headers, strlen(resp->headers));
		fakehttp_buf_add(&wire, "\r\n", 2);
		head_len = wire.len;
		if (!is_head && resp->framing == FAKEHTTP_CHUNKED) {
			size_t step = resp->chunk_size ? resp->chunk_size : body_len;
			for (size_t off = 0; off < body_len; off += step) {
				size_t n = body_len - off < step ? body_len - off : step;
				fakehttp_buf_printf(&wire, "%zx\r\n", n);
				fakehttp_buf_add(&wire, resp->body + off, n);
				fakehttp_buf_add(&wire, "\r\n", 2);
			}
			fakehttp_buf_add(&wire, "0\r\n", 3);
			if (resp->trailers != NULL)
				fakehttp_buf_add(&wire, resp->trailers, strlen(resp->trailers));
			fakehttp_buf_add(&wire, "\r\n", 2);
		} else if (!is_head && body_len > 0) {
			fakehttp_buf_add(&wire, resp->body, body_len);
		}
	}

	size_t len = wire.len;
	if (resp->action == FAKEHTTP_CUT || resp->action == FAKEHTTP_STALL) {
		if (head_len + resp->cut_at < len)
			len = head_len + resp->cut_at;
		keep = 0;
	}
	int rc = len > 0 ? fakehttp_write(c, wire.data, len, resp) : 0;
	free(wire.data);
	if (rc != 0)
		return 0;
	if (resp->action == FAKEHTTP_STALL)
		fakehttp_drain(c);
	return keep;
}

/* ------------------------------------------------------------ threads -- */

static void
fakehttp_record(struct fakehttp *s, struct fakehttp_request *r)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_reqs == s->cap_reqs) {
		s->cap_reqs = s->cap_reqs ? s->cap_reqs * 2 : 16;
		s->reqs = realloc(s->reqs, s->cap_reqs * sizeof *s->reqs);
		if (s->reqs == NULL)
			fakehttp_die("out of memory");
	}
	r->index = s->n_reqs;
	s->reqs[s->n_reqs++] = r;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void
fakehttp_item_free(struct fakehttp_item *it)
{
	free(it->reason);
	free(it->headers);
	free(it->body);
	free(it->trailers);
	free(it);
}

static void *
fakehttp_conn_main(void *arg)
{
	struct fakehttp_conn *c = arg;
	struct fakehttp *s = c->server;

	for (;;) {
		struct fakehttp_request *req = fakehttp_read_request(c);
		if (req == NULL)
			break;
		req->conn = c->id;
		fakehttp_record(s, req);

		pthread_mutex_lock(&s->lock);
		struct fakehttp_item *it = s->head;
		if (it != NULL) {
			s->head = it->next;
			if (s->head == NULL)
				s->tail = NULL;
			s->n_queued--;
		}
		fakehttp_handler_fn fn = s->handler;
		void *fn_arg = s->handler_arg;
		pthread_mutex_unlock(&s->lock);

		struct fakehttp_response resp = { 0 };
		if (it != NULL) {
			resp = it->resp;
		} else if (fn != NULL) {
			pthread_mutex_lock(&s->handler_lock);
			fn(fn_arg, req, &resp);
			pthread_mutex_unlock(&s->handler_lock);
		} else {
			resp.status = 500;
			resp.body = "fakehttp: no response scripted\n";
		}
		int keep = fakehttp_respond(c, req, &resp);
		free(resp.to_free);
		if (it != NULL)
			fakehttp_item_free(it);
		if (!keep)
			break;
	}

	pthread_mutex_lock(&s->lock);
	close(c->fd);
	c->fd = -1;
	s->n_open--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void *
fakehttp_accept_main(void *arg)
{
	struct fakehttp *s = arg;
	for (;;) {
		struct pollfd pf[2] = { { .fd = s->listen_fd, .events = POLLIN },
					{ .fd = s->wake[0], .events = POLLIN } };
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fakehttp_die("poll");
		}
		if (pf[1].revents != 0)
			return NULL;
		if (!(pf[0].revents & POLLIN))
			continue;
		int fd = accept(s->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct fakehttp_conn *c = fakehttp_alloc(sizeof *c);
		c->server = s;
		c->fd = fd;
		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			close(fd);
			free(c);
			return NULL;
		}
		c->id = s->n_conns++;
		s->n_open++;
		c->next = s->conns;
		s->conns = c;
		if (pthread_create(&c->thread, NULL, fakehttp_conn_main, c) != 0)
			fakehttp_die("pthread_create");
		pthread_mutex_unlock(&s->lock);
	}
}

/* --------------------------------------------------------------- API -- */

struct fakehttp *
fakehttp_start(void)
{
	struct fakehttp *s = fakehttp_alloc(sizeof *s);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;

	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(s->listen_fd, 128) != 0 ||
	    getsockname(s->listen_fd, (struct sockaddr *)&sa, &len) != 0 ||
	    pipe(s->wake) != 0) {
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		free(s);
		return NULL;
	}
	s->port = ntohs(sa.sin_port);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->handler_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->acceptor, NULL, fakehttp_accept_main, s) != 0)
		fakehttp_die("pthread_create");
	return s;
}

void
fakehttp_free(struct fakehttp *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_mutex_unlock(&s->lock);
	if (write(s->wake[1], "x", 1) != 1)
		fakehttp_die("write");
	pthread_join(s->acceptor, NULL);
	close(s->listen_fd);
	close(s->wake[0]);
	close(s->wake[1]);

	/* Wake every connection thread out of recv(); each closes its own fd. */
	pthread_mutex_lock(&s->lock);
	for (struct fakehttp_conn *c = s->conns; c != NULL; c = c->next)
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	while (s->conns != NULL) {
		struct fakehttp_conn *c = s->conns;
		s->conns = c->next;
		pthread_join(c->thread, NULL);
		free(c->buf);
		free(c);
	}

	for (size_t i = 0; i < s->n_reqs; i++)
		fakehttp_request_free(s->reqs[i]);
	free(s->reqs);
	while (s->head != NULL) {
		struct fakehttp_item *it = s->head;
		s->head = it->next;
		fakehttp_item_free(it);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->handler_lock);
	free(s);
}

int
fakehttp_port(const struct fakehttp *s)
{
	return s->port;
}

char *
fakehttp_url(const struct fakehttp *s, const char *path)
{
	char tmp[64];
	snprintf(tmp, sizeof tmp, "http://127.0.0.1:%d", s->port);
	size_t a = strlen(tmp), b = strlen(path);
	char *url = fakehttp_alloc(a + b + 1);
	memcpy(url, tmp, a);
	memcpy(url + a, path, b + 1);
	return url;
}

void
fakehttp_push(struct fakehttp *s, const struct fakehttp_response *resp)
{
	struct fakehttp_item *it = fakehttp_alloc(sizeof *it);
	it->resp = *resp;
	it->resp.to_free = NULL;
	it->reason = fakehttp_strdup(resp->reason);
	it->headers = fakehttp_strdup(resp->headers);
	it->trailers = fakehttp_strdup(resp->trailers);
	if (resp->body != NULL) {
		size_t n = resp->body_len ? resp->body_len : strlen(resp->body);
		it->body = fakehttp_memdup(resp->body, n);
		it->resp.body_len = n;
	}
	it->resp.reason = it->reason;
	it->resp.headers = it->headers;
	it->resp.trailers = it->trailers;
	it->resp.body = it->body;
	pthread_mutex_lock(&s->lock);
	if (s->tail != NULL)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	s->n_queued++;
	pthread_mutex_unlock(&s->lock);
}

size_t
fakehttp_queued(struct fakehttp *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n_queued;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void
fakehttp_set_handler(struct fakehttp *s, fakehttp_handler_fn fn, void *arg)
{
	pthread_mutex_lock(&s->lock);
	s->handler = fn;
	s->handler_arg = arg;
	pthread_mutex_unlock(&s->lock);
}

size_t
fakehttp_count(struct fakehttp *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n_reqs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const struct fakehttp_request *
fakehttp_request(struct fakehttp *s, size_t i)
{
	pthread_mutex_lock(&s->lock);
	const struct fakehttp_request *r = i < s->n_reqs ? s->reqs[i] : NULL;
	pthread_mutex_unlock(&s->lock);
	return r;
}

size_t
fakehttp_connections(struct fakehttp *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n_conns;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t
fakehttp_open_connections(struct fakehttp *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n_open;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int
fakehttp_wait_for(struct fakehttp *s, size_t n, unsigned timeout_ms, int open)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	while (open ? s->n_open > n : s->n_reqs < n) {
		if (pthread_cond_timedwait(&s->cond, &s->lock, &dl) == ETIMEDOUT) {
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int
fakehttp_wait(struct fakehttp *s, size_t n, unsigned timeout_ms)
{
	return fakehttp_wait_for(s, n, timeout_ms, 0);
}

int
fakehttp_wait_open(struct fakehttp *s, size_t n, unsigned timeout_ms)
{
	return fakehttp_wait_for(s, n, timeout_ms, 1);
}
