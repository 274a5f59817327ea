/*
 * test_http.c: the HTTP client (core/http.c) against a real HTTP/1.1 server on
 * 127.0.0.1 (tests/fakehttp.c): what reaches the server, what the callbacks get,
 * errors, timeouts, cancellation from every place, and shutdown.
 */
#include "config.h"

#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "fakehttp.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

struct fixture {
	uv_loop_t loop;
	struct http_client *client;
	struct fakehttp *srv;
	int closed;            /* closed_cb calls */
};

/* What one request saw, and what its callbacks should do. */
struct call {
	struct fixture *f;
	struct hearth_http *h;
	int n_response;
	long status;
	char **names, **values;
	size_t n_headers;
	char *body;
	size_t body_len;
	int n_data;
	int n_done;
	int error;
	long done_status;
	char *message;
	/* behaviour */
	int cancel_on_response, abort_on_response;
	int cancel_on_data, abort_on_data, close_on_data, close_on_done;
	void (*data_hook)(struct call *k);
	void (*done_hook)(struct call *k);
	void *hook_arg;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run the loop until cond holds; a hang fails the test instead of the suite. */
#define RUN_UNTIL(f, cond) \
	do { \
		uint64_t start_ = now_ms(); \
		while (!(cond)) { \
			uv_run(&(f)->loop, UV_RUN_NOWAIT); \
			if (cond) \
				break; \
			if (now_ms() - start_ > 20000) \
				fail_msg("still waiting for %s", #cond); \
			usleep(200); \
		} \
	} while (0)

static void
closed_cb(void *arg)
{
	struct fixture *f = arg;
	f->closed++;
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->client = http_client_new(&f->loop);
	assert_non_null(f->client);
	f->srv = fakehttp_start();
	assert_non_null(f->srv);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	if (f->client != NULL) {
		http_client_close(f->client, closed_cb, f);
		f->client = NULL;
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closed, 1);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	fakehttp_free(f->srv);
	free(f);
	return 0;
}

static void
call_free(struct call *k)
{
	for (size_t i = 0; i < k->n_headers; i++) {
		free(k->names[i]);
		free(k->values[i]);
	}
	free(k->names);
	free(k->values);
	free(k->body);
	free(k->message);
	memset(k, 0, sizeof *k);
}

static const char *
call_header(const struct call *k, const char *name)
{
	for (size_t i = 0; i < k->n_headers; i++)
		if (strcmp(k->names[i], name) == 0)
			return k->values[i];
	return NULL;
}

static int
on_response_cb(void *arg, long status, const char *const *names, const char *const *values,
	       size_t n)
{
	struct call *k = arg;
	k->n_response++;
	k->status = status;
	k->names = xcalloc(n + 1, sizeof *k->names);
	k->values = xcalloc(n + 1, sizeof *k->values);
	for (size_t i = 0; i < n; i++) {
		k->names[i] = xstrdup(names[i]);
		k->values[i] = xstrdup(values[i]);
	}
	assert_null(names[n]);
	k->n_headers = n;
	if (k->cancel_on_response)
		http_cancel(k->h);
	return k->abort_on_response;
}

static int
on_data_cb(void *arg, const char *data, size_t len)
{
	struct call *k = arg;
	assert_true(len > 0);
	k->n_data++;
	k->body = xrealloc(k->body, k->body_len + len + 1);
	memcpy(k->body + k->body_len, data, len);
	k->body_len += len;
	k->body[k->body_len] = '\0';
	if (k->data_hook != NULL)
		k->data_hook(k);
	if (k->cancel_on_data)
		http_cancel(k->h);
	if (k->close_on_data && k->f->client != NULL) {
		http_client_close(k->f->client, closed_cb, k->f);
		k->f->client = NULL;
	}
	return k->abort_on_data;
}

static void
on_done_cb(void *arg, int error, long status, const char *message)
{
	struct call *k = arg;
	assert_non_null(message);
	k->n_done++;
	k->error = error;
	k->done_status = status;
	free(k->message);
	k->message = xstrdup(message);
	if (k->done_hook != NULL)
		k->done_hook(k);
	if (k->close_on_done && k->f->client != NULL) {
		http_client_close(k->f->client, closed_cb, k->f);
		k->f->client = NULL;
	}
}

static struct hearth_http_request
req_for(struct call *k, const char *url)
{
	struct hearth_http_request req = {
		.struct_size = sizeof req,
		.url = url,
		.on_response = on_response_cb,
		.on_data = on_data_cb,
		.on_done = on_done_cb,
		.arg = k,
	};
	return req;
}

/* Start a request that must be accepted. */
static void
start(struct fixture *f, struct call *k, const struct hearth_http_request *req)
{
	char *err = NULL;
	k->f = f;
	k->h = http_start(f->client, req, &err);
	if (k->h == NULL)
		fail_msg("http_start: %s", err);
	assert_null(err);
}

/* GET path with no extra headers, from a scripted response. */
static void
simple_get(struct fixture *f, struct call *k, const char *path)
{
	char *url = fakehttp_url(f->srv, path);
	struct hearth_http_request req = req_for(k, url);
	start(f, k, &req);
	free(url);
}

/* ----------------------------------------------------------------- tests -- */

static void
test_get(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.status = 200,
		.headers = "X-Request-Id: abc-123\r\nContent-Type: text/plain\r\n"
			   "X-Spaces:   padded value  \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n",
		.body = "hello",
	});
	char *url = fakehttp_url(f->srv, "/v1/models?limit=5&after=x");
	const char *const headers[] = { "x-api-key: sk-test", "Anthropic-Version: 2023-06-01",
					"X-Empty:", NULL };
	struct hearth_http_request req = req_for(&k, url);
	req.headers = headers;
	start(f, &k, &req);
	free(url);
	assert_int_equal(http_client_active(f->client), 1);
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(http_client_active(f->client), 0);

	assert_int_equal(k.error, 0);
	assert_int_equal(k.done_status, 200);
	assert_string_equal(k.message, "ok");
	assert_int_equal(k.n_response, 1);
	assert_int_equal(k.status, 200);
	assert_int_equal(k.n_headers, 6);
	assert_string_equal(k.names[0], "content-length");
	assert_string_equal(k.values[0], "5");
	assert_string_equal(call_header(&k, "x-request-id"), "abc-123");
	assert_string_equal(call_header(&k, "content-type"), "text/plain");
	assert_string_equal(call_header(&k, "x-spaces"), "padded value");
	assert_string_equal(k.names[4], "set-cookie");
	assert_string_equal(k.values[4], "a=1");
	assert_string_equal(k.names[5], "set-cookie");
	assert_string_equal(k.values[5], "b=2");
	assert_int_equal(k.body_len, 5);
	assert_memory_equal(k.body, "hello", 5);

	assert_int_equal(fakehttp_count(f->srv), 1);
	const struct fakehttp_request *rq = fakehttp_request(f->srv, 0);
	assert_string_equal(rq->method, "GET");
	assert_string_equal(rq->target, "/v1/models?limit=5&after=x");
	assert_string_equal(rq->version, "HTTP/1.1");
	assert_string_equal(fakehttp_header(rq, "x-api-key"), "sk-test");
	assert_string_equal(fakehttp_header(rq, "anthropic-version"), "2023-06-01");
	assert_string_equal(fakehttp_header(rq, "X-Empty"), "");
	char host[64];
	snprintf(host, sizeof host, "127.0.0.1:%d", fakehttp_port(f->srv));
	assert_string_equal(fakehttp_header(rq, "Host"), host);
	assert_string_equal(fakehttp_header(rq, "User-Agent"), "hearth/" PACKAGE_VERSION);
	assert_null(fakehttp_header(rq, "Accept-Encoding"));
	assert_null(fakehttp_header(rq, "Content-Type"));
	assert_null(fakehttp_header(rq, "Content-Length"));
	assert_null(fakehttp_header(rq, "Expect"));
	assert_int_equal(rq->body_len, 0);
	call_free(&k);

	/* Nothing is left running: the loop ends by itself. */
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

static void
test_post(void **state)
{
	struct fixture *f = *state;
	size_t big_len = 200 * 1024;
	char *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7 + (i >> 9));  /* NULs included */
	for (int i = 0; i < 4; i++)
		fakehttp_push(f->srv, &(struct fakehttp_response){ .status = 201, .body = "made" });

	char *url = fakehttp_url(f->srv, "/v1/messages");
	const char *const headers[] = { "Content-Type: application/json", NULL };
	struct call k[4] = { { 0 } };
	/* 0: method NULL with a body means POST. */
	struct hearth_http_request req = req_for(&k[0], url);
	req.headers = headers;
	req.body = big;
	req.body_len = big_len;
	start(f, &k[0], &req);
	RUN_UNTIL(f, k[0].n_done == 1);
	/* 1: PUT without a body sends an empty one. */
	req = req_for(&k[1], url);
	req.method = "PUT";
	start(f, &k[1], &req);
	RUN_UNTIL(f, k[1].n_done == 1);
	/* 2: DELETE without a body sends none. */
	req = req_for(&k[2], url);
	req.method = "DELETE";
	start(f, &k[2], &req);
	RUN_UNTIL(f, k[2].n_done == 1);
	/* 3: PATCH with a short body and no Content-Type. */
	req = req_for(&k[3], url);
	req.method = "PATCH";
	req.body = "{\"a\":1}";
	req.body_len = 7;
	start(f, &k[3], &req);
	RUN_UNTIL(f, k[3].n_done == 1);
	free(url);

	for (int i = 0; i < 4; i++) {
		assert_int_equal(k[i].error, 0);
		assert_int_equal(k[i].done_status, 201);
		assert_string_equal(k[i].body, "made");
		call_free(&k[i]);
	}
	assert_int_equal(fakehttp_count(f->srv), 4);
	const struct fakehttp_request *rq = fakehttp_request(f->srv, 0);
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->target, "/v1/messages");
	assert_int_equal(rq->body_len, big_len);
	assert_memory_equal(rq->body, big, big_len);
	assert_string_equal(fakehttp_header(rq, "Content-Type"), "application/json");
	assert_string_equal(fakehttp_header(rq, "Content-Length"), "204800");
	assert_null(fakehttp_header(rq, "Expect"));
	assert_int_equal(rq->chunked, 0);

	rq = fakehttp_request(f->srv, 1);
	assert_string_equal(rq->method, "PUT");
	assert_string_equal(fakehttp_header(rq, "Content-Length"), "0");
	assert_null(fakehttp_header(rq, "Content-Type"));
	assert_int_equal(rq->body_len, 0);

	rq = fakehttp_request(f->srv, 2);
	assert_string_equal(rq->method, "DELETE");
	assert_null(fakehttp_header(rq, "Content-Length"));
	assert_int_equal(rq->body_len, 0);

	rq = fakehttp_request(f->srv, 3);
	assert_string_equal(rq->method, "PATCH");
	assert_string_equal(rq->body, "{\"a\":1}");
	assert_null(fakehttp_header(rq, "Content-Type"));
	/* All four on one kept-alive connection. */
	assert_int_equal(fakehttp_connections(f->srv), 1);
	assert_int_equal(rq->conn, 0);
	free(big);
}

static void
test_head(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = "0123456789" });
	char *url = fakehttp_url(f->srv, "/h");
	struct hearth_http_request req = req_for(&k, url);
	req.method = "HEAD";
	start(f, &k, &req);
	free(url);
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_int_equal(k.done_status, 200);
	assert_string_equal(call_header(&k, "content-length"), "10");
	assert_int_equal(k.n_data, 0);
	assert_string_equal(fakehttp_request(f->srv, 0)->method, "HEAD");
	call_free(&k);
}

static char *
pattern(size_t len, unsigned seed)
{
	char *p = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		p[i] = (char)('!' + (rand_r(&seed) % 90));
	p[len] = '\0';
	return p;
}

static void
test_one_byte_writes(void **state)
{
	struct fixture *f = *state;
	char *body = pattern(3000, 1);
	struct call k = { 0 };
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.headers = "X-One: byte by byte\r\n", .body = body, .max_write = 1 });
	simple_get(f, &k, "/slow");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_string_equal(call_header(&k, "x-one"), "byte by byte");
	assert_int_equal(k.body_len, 3000);
	assert_memory_equal(k.body, body, 3000);
	call_free(&k);

	/* The same, chunked with one-byte chunks. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.body = body, .framing = FAKEHTTP_CHUNKED, .chunk_size = 1, .max_write = 1 });
	simple_get(f, &k, "/slow");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_string_equal(call_header(&k, "transfer-encoding"), "chunked");
	assert_int_equal(k.body_len, 3000);
	assert_memory_equal(k.body, body, 3000);
	call_free(&k);
	free(body);
}

static void
test_random_writes(void **state)
{
	struct fixture *f = *state;
	size_t len = 64 * 1024;
	char *body = pattern(len, 2);
	for (unsigned seed = 1; seed <= 6; seed++) {
		struct call k = { 0 };
		fakehttp_push(f->srv, &(struct fakehttp_response){
			.body = body, .body_len = len,
			.framing = seed % 3 == 0 ? FAKEHTTP_LENGTH
				   : seed % 3 == 1 ? FAKEHTTP_CHUNKED : FAKEHTTP_EOF,
			.chunk_size = 1000 + seed * 37, .seed = seed, .max_write = 4000,
			.delay_us = seed % 2 ? 50 : 0 });
		simple_get(f, &k, "/random");
		RUN_UNTIL(f, k.n_done == 1);
		assert_int_equal(k.error, 0);
		assert_int_equal(k.done_status, 200);
		assert_int_equal(k.body_len, len);
		assert_memory_equal(k.body, body, len);
		call_free(&k);
	}
	free(body);
}

static void
test_chunked(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.headers = "Content-Type: text/event-stream\r\n",
		.body = "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n",
		.framing = FAKEHTTP_CHUNKED, .chunk_size = 7,
		.trailers = "X-Trailer: late\r\n" });
	simple_get(f, &k, "/sse");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_string_equal(k.body, "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n");
	assert_string_equal(call_header(&k, "transfer-encoding"), "chunked");
	assert_string_equal(call_header(&k, "content-type"), "text/event-stream");
	assert_null(call_header(&k, "x-trailer"));  /* trailers are not headers */
	assert_int_equal(k.n_headers, 2);
	call_free(&k);

	/* An empty chunked body. */
	fakehttp_push(f->srv, &(struct fakehttp_response){ .framing = FAKEHTTP_CHUNKED });
	simple_get(f, &k, "/empty");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_int_equal(k.n_response, 1);
	assert_int_equal(k.n_data, 0);
	call_free(&k);
}

static void
test_error_status(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int status;
		const char *headers, *body;
	} cases[] = {
		{ 400, NULL, "{\"error\":{\"type\":\"invalid_request_error\"}}" },
		{ 401, "WWW-Authenticate: Bearer\r\n", "unauthorized" },
		{ 404, NULL, "no such model" },
		{ 429, "Retry-After: 17\r\n", "{\"error\":\"rate_limited\"}" },
		{ 500, NULL, "boom" },
		{ 529, NULL, "{\"type\":\"overloaded_error\"}" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct call k = { 0 };
		fakehttp_push(f->srv, &(struct fakehttp_response){
			.status = cases[i].status, .headers = cases[i].headers,
			.body = cases[i].body, .framing = i % 2 ? FAKEHTTP_CHUNKED : FAKEHTTP_LENGTH });
		simple_get(f, &k, "/err");
		RUN_UNTIL(f, k.n_done == 1);
		assert_int_equal(k.error, 0);
		assert_int_equal(k.status, cases[i].status);
		assert_int_equal(k.done_status, cases[i].status);
		assert_string_equal(k.body, cases[i].body);
		if (cases[i].status == 429)
			assert_string_equal(call_header(&k, "retry-after"), "17");
		call_free(&k);
	}
}

static void
test_refused(void **state)
{
	struct fixture *f = *state;
	/* A bound socket that does not listen: connecting to it is refused. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	char url[64], where[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/x?key=SECRET", ntohs(sa.sin_port));
	snprintf(where, sizeof where, "POST 127.0.0.1:%d: ", ntohs(sa.sin_port));

	struct call k = { 0 };
	struct hearth_http_request req = req_for(&k, url);
	req.body = "{}";
	req.body_len = 2;
	start(f, &k, &req);
	RUN_UNTIL(f, k.n_done == 1);
	close(fd);
	assert_int_equal(k.error, HEARTH_EIO);
	assert_int_equal(k.done_status, 0);
	assert_int_equal(k.n_response, 0);
	assert_int_equal(k.n_data, 0);
	assert_ptr_equal(strstr(k.message, where), k.message);
	assert_non_null(strstr(k.message, "onnect"));
	assert_null(strstr(k.message, "SECRET"));  /* never the query */
	call_free(&k);
}

static void
test_connect_timeout(void **state)
{
	struct fixture *f = *state;
	/*
	 * A listener with a full accept queue: Linux drops further SYNs, so the
	 * handshake never completes. Backlog 0 leaves room for one connection.
	 */
	int lfd = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof sa), 0);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sa.sin_port));

	struct call k = { 0 };
	struct hearth_http_request req = req_for(&k, url);
	req.connect_timeout_ms = 100;
	start(f, &k, &req);
	RUN_UNTIL(f, k.n_done == 1);
	close(filler);
	close(lfd);
	assert_int_equal(k.error, HEARTH_ETIMEDOUT);
	assert_int_equal(k.done_status, 0);
	assert_int_equal(k.n_response, 0);
	assert_non_null(strstr(k.message, "GET 127.0.0.1:"));
	call_free(&k);
}

static void
test_cut_short(void **state)
{
	struct fixture *f = *state;
	char *body = pattern(1000, 3);
	struct call k = { 0 };

	/* Content-Length 1000, 300 bytes, then close. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.body = body, .action = FAKEHTTP_CUT, .cut_at = 300 });
	simple_get(f, &k, "/cut");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_EIO);
	assert_int_equal(k.done_status, 200);
	assert_int_equal(k.n_response, 1);
	assert_int_equal(k.body_len, 300);
	assert_memory_equal(k.body, body, 300);
	assert_non_null(strstr(k.message, "GET 127.0.0.1:"));
	call_free(&k);

	/* Chunked, cut inside the second chunk: no terminating chunk. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.body = body, .framing = FAKEHTTP_CHUNKED, .chunk_size = 100,
		.action = FAKEHTTP_CUT, .cut_at = 160 });
	simple_get(f, &k, "/cut");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_EIO);
	assert_int_equal(k.done_status, 200);
	assert_true(k.body_len >= 100 && k.body_len < 1000);
	assert_memory_equal(k.body, body, k.body_len);
	call_free(&k);

	/* Cut inside the headers (curl itself calls that a success): no response. */
	static const char *const heads[] = { "HTTP/1.1 200 OK\r\nContent-Le",
					     "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nA: b\r\n" };
	for (size_t i = 0; i < 3; i++) {
		fakehttp_push(f->srv, &(struct fakehttp_response){
			.framing = FAKEHTTP_RAW, .body = heads[i], .close = 1 });
		simple_get(f, &k, "/cut");
		RUN_UNTIL(f, k.n_done == 1);
		assert_int_equal(k.error, HEARTH_EIO);
		assert_int_equal(k.n_response, 0);
		assert_int_equal(k.done_status, 0);
		assert_non_null(strstr(k.message, "inside the response headers"));
		call_free(&k);
	}

	/* A body framed by the end of the connection is complete when it closes. */
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = body, .framing = FAKEHTTP_EOF });
	simple_get(f, &k, "/eof");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_int_equal(k.body_len, 1000);
	call_free(&k);
	free(body);
}

static void
test_no_answer(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	/* Each on a fresh connection: a reused one would be retried by curl. */
	fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_CLOSE });
	simple_get(f, &k, "/close");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_EIO);
	assert_int_equal(k.n_response, 0);
	assert_non_null(strstr(k.message, "GET 127.0.0.1:"));
	call_free(&k);

	fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_RESET });
	simple_get(f, &k, "/reset");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_EIO);
	assert_int_equal(k.n_response, 0);
	/* curl's words for the socket's error, not a generic poll failure. */
	assert_non_null(strstr(k.message, "reset"));
	call_free(&k);
	assert_int_equal(fakehttp_count(f->srv), 2);
}

static void
test_malformed(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	static const char *const bad[] = {
		"garbage\r\n\r\n",                                   /* not HTTP */
		"HTTP/1.1 abc Nope\r\nContent-Length: 0\r\n\r\n",    /* no status code */
		"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",     /* negative length */
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  /* bad chunk */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fakehttp_push(f->srv, &(struct fakehttp_response){
			.framing = FAKEHTTP_RAW, .body = bad[i], .close = 1 });
		simple_get(f, &k, "/bad");
		RUN_UNTIL(f, k.n_done == 1);
		if (k.error != HEARTH_EPROTO && k.error != HEARTH_EIO)
			fail_msg("case %zu: error %d (%s)", i, k.error, k.message);
		assert_non_null(strstr(k.message, "GET 127.0.0.1:"));
		assert_int_equal(k.n_data, 0);
		call_free(&k);
	}
	/* A reply that is not HTTP at all is a protocol error. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.framing = FAKEHTTP_RAW, .body = "SSH-2.0-OpenSSH_9.2\r\n", .close = 1 });
	simple_get(f, &k, "/ssh");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_EPROTO);
	call_free(&k);
}

static void
test_interim_and_fold(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	/* Interim 1xx responses are not the response; their headers are dropped. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.framing = FAKEHTTP_RAW,
		.body = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
			"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
			"HTTP/1.1 202 Accepted\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok" });
	simple_get(f, &k, "/interim");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_int_equal(k.n_response, 1);
	assert_int_equal(k.status, 202);
	assert_int_equal(k.done_status, 202);
	assert_int_equal(k.n_headers, 2);
	assert_string_equal(call_header(&k, "x-final"), "yes");
	assert_null(call_header(&k, "x-interim"));
	assert_null(call_header(&k, "link"));
	assert_string_equal(k.body, "ok");
	call_free(&k);

	/* Header names come lower-cased whatever the server wrote. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.framing = FAKEHTTP_RAW,
		.body = "HTTP/1.1 200 OK\r\nX-MiXeD-CaSe:Value\r\nCONTENT-LENGTH: 0\r\n\r\n" });
	simple_get(f, &k, "/case");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_string_equal(k.names[0], "x-mixed-case");
	assert_string_equal(k.values[0], "Value");
	assert_string_equal(k.names[1], "content-length");
	call_free(&k);
}

static void
test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	char *url = fakehttp_url(f->srv, "/hang");

	/* Nothing at all after the request. */
	fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_HANG });
	struct hearth_http_request req = req_for(&k, url);
	req.idle_timeout_ms = 100;
	start(f, &k, &req);
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_ETIMEDOUT);
	assert_int_equal(k.done_status, 0);
	assert_int_equal(k.n_response, 0);
	assert_non_null(strstr(k.message, "GET 127.0.0.1:"));
	assert_non_null(strstr(k.message, "idle"));
	call_free(&k);

	/* Headers and 10 bytes, then silence. */
	char *body = pattern(1000, 4);
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.body = body, .action = FAKEHTTP_STALL, .cut_at = 10 });
	req = req_for(&k, url);
	req.idle_timeout_ms = 100;
	start(f, &k, &req);
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_ETIMEDOUT);
	assert_int_equal(k.done_status, 200);
	assert_int_equal(k.body_len, 10);
	assert_memory_equal(k.body, body, 10);
	call_free(&k);
	free(body);
	free(url);
	/* curl closed both connections. */
	assert_int_equal(fakehttp_wait_open(f->srv, 0, 10000), 0);
}

static void
test_total_timeout(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	char *body = pattern(100000, 5);
	/* Steady bytes, never idle, never done. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.body = body, .max_write = 1, .delay_us = 2000 });
	char *url = fakehttp_url(f->srv, "/trickle");
	struct hearth_http_request req = req_for(&k, url);
	req.total_timeout_ms = 150;
	start(f, &k, &req);
	free(url);
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_ETIMEDOUT);
	assert_int_equal(k.done_status, 200);
	assert_true(k.body_len < 100000);
	assert_memory_equal(k.body, body, k.body_len);
	assert_non_null(strstr(k.message, "GET 127.0.0.1:"));
	call_free(&k);
	free(body);
}

static void
test_cancel_early(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };

	/* Before the loop ever ran: nothing reaches the server. */
	simple_get(f, &k, "/never");
	http_cancel(k.h);
	assert_int_equal(http_client_active(f->client), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(k.n_response + k.n_data + k.n_done, 0);
	assert_int_equal(fakehttp_count(f->srv), 0);

	/* While the server sits on the request. */
	fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_HANG });
	simple_get(f, &k, "/wait");
	RUN_UNTIL(f, fakehttp_count(f->srv) == 1);
	http_cancel(k.h);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(k.n_response + k.n_data + k.n_done, 0);
	assert_int_equal(fakehttp_wait_open(f->srv, 0, 10000), 0);
	call_free(&k);
}

static void
test_cancel_in_callbacks(void **state)
{
	struct fixture *f = *state;
	char *body = pattern(100000, 6);
	struct call k = { 0 };

	/* From on_data: no more data, no on_done, the connection goes. */
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.body = body, .max_write = 1000, .delay_us = 1000 });
	simple_get(f, &k, "/a");
	k.cancel_on_data = 1;
	RUN_UNTIL(f, k.n_data == 1);
	assert_int_equal(fakehttp_wait_open(f->srv, 0, 10000), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(k.n_data, 1);
	assert_int_equal(k.n_done, 0);
	assert_int_equal(http_client_active(f->client), 0);
	call_free(&k);

	/* From on_response: no data, no on_done. */
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = body, .max_write = 1000 });
	simple_get(f, &k, "/b");
	k.cancel_on_response = 1;
	RUN_UNTIL(f, k.n_response == 1);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(k.n_data, 0);
	assert_int_equal(k.n_done, 0);
	call_free(&k);
	free(body);
}

static void
test_abort_by_return(void **state)
{
	struct fixture *f = *state;
	char *body = pattern(100000, 7);
	struct call k = { 0 };

	fakehttp_push(f->srv, &(struct fakehttp_response){
		.body = body, .max_write = 1000, .delay_us = 1000 });
	simple_get(f, &k, "/a");
	k.abort_on_data = 1;
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_ECANCELED);
	assert_int_equal(k.done_status, 200);
	assert_int_equal(k.n_data, 1);
	assert_non_null(strstr(k.message, "aborted by on_data"));
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(k.n_done, 1);
	call_free(&k);

	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = body });
	simple_get(f, &k, "/b");
	k.abort_on_response = 1;
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_ECANCELED);
	assert_int_equal(k.done_status, 200);
	assert_int_equal(k.n_response, 1);
	assert_int_equal(k.n_data, 0);
	assert_non_null(strstr(k.message, "aborted by on_response"));
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(k.n_done, 1);
	call_free(&k);
	free(body);
}

/* on_done: cancel itself (harmless), then start the next request in the chain. */
static void
chain_done(struct call *k)
{
	struct call *next = k->hook_arg;
	http_cancel(k->h);
	if (next != NULL)
		simple_get(k->f, next, "/next");
}

static void
test_start_in_on_done(void **state)
{
	struct fixture *f = *state;
	struct call k[3] = { { 0 } };
	for (int i = 0; i < 3; i++)
		fakehttp_push(f->srv, &(struct fakehttp_response){ .body = i == 0 ? "one" : "more" });
	k[0].done_hook = chain_done;
	k[0].hook_arg = &k[1];
	k[1].done_hook = chain_done;
	k[1].hook_arg = &k[2];
	k[2].done_hook = chain_done;
	simple_get(f, &k[0], "/first");
	RUN_UNTIL(f, k[2].n_done == 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(k[i].n_done, 1);
		assert_int_equal(k[i].error, 0);
		assert_string_equal(k[i].body, i == 0 ? "one" : "more");
		call_free(&k[i]);
	}
	assert_string_equal(fakehttp_request(f->srv, 2)->target, "/next");
	/* One connection, reused by each request in turn. */
	assert_int_equal(fakehttp_connections(f->srv), 1);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

/* In A's first on_data (inside curl): cancel B, start C. */
struct juggle {
	struct call *b, *c;
};

static void
juggle_data(struct call *k)
{
	struct juggle *j = k->hook_arg;
	if (k->n_data != 1)
		return;
	http_cancel(j->b->h);
	simple_get(k->f, j->c, "/c");
}

static void
test_cancel_other_in_callback(void **state)
{
	struct fixture *f = *state;
	struct call a = { 0 }, b = { 0 }, c = { 0 };
	struct juggle j = { &b, &c };

	fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_HANG });  /* B */
	simple_get(f, &b, "/b");
	RUN_UNTIL(f, fakehttp_count(f->srv) == 1);
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = "aaaa", .max_write = 1, .delay_us = 500 });
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = "cccc" });
	a.data_hook = juggle_data;
	a.hook_arg = &j;
	simple_get(f, &a, "/a");
	RUN_UNTIL(f, a.n_done == 1 && c.n_done == 1);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(a.error, 0);
	assert_string_equal(a.body, "aaaa");
	assert_int_equal(b.n_response + b.n_data + b.n_done, 0);
	assert_int_equal(c.error, 0);
	assert_string_equal(c.body, "cccc");
	/* B's connection is gone; A's is kept alive (and C's, unless C reused A's). */
	assert_int_equal(fakehttp_wait_open(f->srv, fakehttp_connections(f->srv) - 1, 10000), 0);
	call_free(&a);
	call_free(&b);
	call_free(&c);
}

static void
concurrent_handler(void *arg, const struct fakehttp_request *req, struct fakehttp_response *resp)
{
	char *body = xasprintf("reply to %s, %s", req->target, req->body);
	resp->body = body;
	resp->to_free = body;
	resp->framing = req->index % 2 ? FAKEHTTP_CHUNKED : FAKEHTTP_LENGTH;
	resp->chunk_size = 3;
	resp->seed = (unsigned)req->index + 1;
	resp->max_write = 5;
}

static int
count_done(const struct call *k, int n)
{
	int done = 0;
	for (int i = 0; i < n; i++)
		done += k[i].n_done;
	return done;
}

static void
test_concurrent(void **state)
{
	struct fixture *f = *state;
	enum { N = 20 };
	struct call k[N];
	char *bodies[N];
	memset(k, 0, sizeof k);
	fakehttp_set_handler(f->srv, concurrent_handler, NULL);
	for (int i = 0; i < N; i++) {
		char path[32];
		snprintf(path, sizeof path, "/req/%d", i);
		char *url = fakehttp_url(f->srv, path);
		bodies[i] = xasprintf("body %d", i);
		struct hearth_http_request req = req_for(&k[i], url);
		req.body = bodies[i];
		req.body_len = strlen(bodies[i]);
		start(f, &k[i], &req);
		free(url);
	}
	assert_int_equal(http_client_active(f->client), N);
	RUN_UNTIL(f, count_done(k, N) == N);
	for (int i = 0; i < N; i++) {
		char *want = xasprintf("reply to /req/%d, body %d", i, i);
		assert_int_equal(k[i].n_done, 1);
		assert_int_equal(k[i].error, 0);
		assert_string_equal(k[i].body, want);
		free(want);
		free(bodies[i]);
		call_free(&k[i]);
	}
	assert_int_equal(fakehttp_count(f->srv), N);
	assert_int_equal(http_client_active(f->client), 0);
}

static void
test_close_in_flight(void **state)
{
	struct fixture *f = *state;
	struct call k[5] = { { 0 } };
	for (int i = 0; i < 5; i++) {
		fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_HANG });
		simple_get(f, &k[i], "/hang");
	}
	RUN_UNTIL(f, fakehttp_count(f->srv) == 5);
	/* And one that curl has not even begun. */
	struct call late = { 0 };
	simple_get(f, &late, "/late");
	http_client_close(f->client, closed_cb, f);
	f->client = NULL;
	assert_int_equal(f->closed, 0);  /* never from inside http_client_close */
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->closed, 1);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(k[i].n_response + k[i].n_data + k[i].n_done, 0);
		call_free(&k[i]);
	}
	assert_int_equal(late.n_done, 0);
	assert_int_equal(fakehttp_wait_open(f->srv, 0, 10000), 0);
}

static void
test_close_in_callbacks(void **state)
{
	struct fixture *f = *state;
	struct call a = { 0 }, b = { 0 };

	/* From on_data (inside curl), with another request waiting. */
	fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_HANG });
	simple_get(f, &b, "/b");
	RUN_UNTIL(f, fakehttp_count(f->srv) == 1);
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = "abcdef", .max_write = 2, .delay_us = 1000 });
	simple_get(f, &a, "/a");
	a.close_on_data = 1;
	RUN_UNTIL(f, f->closed == 1);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(a.n_data, 1);
	assert_int_equal(a.n_done, 0);
	assert_int_equal(b.n_response + b.n_data + b.n_done, 0);
	call_free(&a);
	call_free(&b);

	/* From on_done (after curl), with another request waiting. */
	f->closed = 0;
	f->client = http_client_new(&f->loop);
	fakehttp_push(f->srv, &(struct fakehttp_response){ .action = FAKEHTTP_HANG });
	simple_get(f, &b, "/b");
	RUN_UNTIL(f, fakehttp_count(f->srv) == 3);
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = "x" });
	simple_get(f, &a, "/a");
	a.close_on_done = 1;
	RUN_UNTIL(f, f->closed == 1);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(a.n_done, 1);
	assert_int_equal(a.error, 0);
	assert_int_equal(b.n_response + b.n_data + b.n_done, 0);
	call_free(&a);
	call_free(&b);
	/* teardown wants one close of its own */
	f->closed = 0;
	f->client = http_client_new(&f->loop);
}

static void
expect_invalid(struct fixture *f, const struct hearth_http_request *req, const char *needle)
{
	char *err = NULL;
	assert_null(http_start(f->client, req, &err));
	assert_non_null(err);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	free(err);
	assert_null(http_start(f->client, req, NULL));  /* error_out is optional */
}

static void
test_invalid(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	char *good = fakehttp_url(f->srv, "/x");
	struct hearth_http_request req;

	static const struct {
		const char *url, *needle;
	} urls[] = {
		{ "ftp://127.0.0.1/x", "not http or https" },
		{ "file:///etc/passwd", "not http or https" },
		{ "http://", "invalid URL" },
		{ "no scheme at all", "invalid URL" },
		{ "127.0.0.1/x", "invalid URL" },
		{ "http://exa mple.com/", "invalid URL" },
		{ "http://example.com/\r\nX-Injected: 1", "invalid URL" },
		{ "http://example.com:99999/", "invalid URL" },
		{ "", "invalid URL" },
	};
	for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		req = req_for(&k, urls[i].url);
		expect_invalid(f, &req, urls[i].needle);
	}
	req = req_for(&k, NULL);
	expect_invalid(f, &req, "url is missing");
	req = req_for(&k, good);
	req.on_done = NULL;
	expect_invalid(f, &req, "on_done is missing");
	req = req_for(&k, good);
	req.struct_size = 8;
	expect_invalid(f, &req, "struct_size");
	req = req_for(&k, good);
	req.method = "GE T";
	expect_invalid(f, &req, "method");
	req = req_for(&k, good);
	req.method = "";
	expect_invalid(f, &req, "method");
	req = req_for(&k, good);
	req.method = "HEAD";
	req.body = "x";
	req.body_len = 1;
	expect_invalid(f, &req, "HEAD");

	static const char *const bad_headers[][2] = {
		{ "no colon here", "header 1" },
		{ ": no name", "header 1" },
		{ "Bad Name: x", "header 1" },
		{ "X-Ok: fine\r\nX-Injected: 1", "control character" },
		{ "X-Ok: line\nbreak", "control character" },
		{ "Content-Length: 5", "Content-Length" },
		{ "transfer-encoding: chunked", "transfer-encoding" },
	};
	for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
		const char *const headers[] = { bad_headers[i][0], NULL };
		req = req_for(&k, good);
		req.headers = headers;
		expect_invalid(f, &req, bad_headers[i][1]);
	}
	/* The message of a bad header names neither the URL's query nor a value. */
	char *err = NULL;
	const char *const secret[] = { "Authorization: Bearer sk-SECRET\n", NULL };
	char *url = fakehttp_url(f->srv, "/x?key=QUERYSECRET");
	req = req_for(&k, url);
	req.headers = secret;
	assert_null(http_start(f->client, &req, &err));
	assert_null(strstr(err, "SECRET"));
	assert_non_null(strstr(err, "GET 127.0.0.1:"));
	free(err);
	free(url);

	assert_int_equal(http_client_active(f->client), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(k.n_response + k.n_data + k.n_done, 0);
	assert_int_equal(fakehttp_connections(f->srv), 0);
	free(good);
}

static void
test_big_headers(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	/* Over curl's own bound for one line, and over ours for all of them. */
	size_t sizes[] = { 100 * 1024, 80 * 1024 };

	for (size_t i = 0; i < 2; i++) {
		/* One huge header line. */
		size_t n = sizes[i];
		char *raw = xmalloc(n + 128);
		int off = sprintf(raw, "HTTP/1.1 200 OK\r\nX-Big: ");
		memset(raw + off, 'a', n);
		strcpy(raw + off + n, "\r\nContent-Length: 2\r\n\r\nok");
		fakehttp_push(f->srv, &(struct fakehttp_response){
			.framing = FAKEHTTP_RAW, .body = raw, .close = 1 });
		free(raw);
		simple_get(f, &k, "/big");
		RUN_UNTIL(f, k.n_done == 1);
		assert_int_equal(k.error, HEARTH_ELIMIT);
		assert_int_equal(k.n_response, 0);
		assert_int_equal(k.n_data, 0);
		assert_non_null(strstr(k.message, "GET 127.0.0.1:"));
		assert_non_null(strstr(k.message, "headers"));
		call_free(&k);
	}

	/* Many ordinary headers that add up to more than the bound. */
	size_t cap = HTTP_HEADER_MAX + 4096, len = 0;
	char *h = xmalloc(cap);
	for (int i = 0; len + 64 < HTTP_HEADER_MAX + 2048; i++)
		len += (size_t)sprintf(h + len, "X-Header-%05d: %040d\r\n", i, i);
	fakehttp_push(f->srv, &(struct fakehttp_response){ .headers = h, .body = "ok", .close = 1 });
	simple_get(f, &k, "/many");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, HEARTH_ELIMIT);
	assert_int_equal(k.n_response, 0);
	assert_non_null(strstr(k.message, "headers"));
	call_free(&k);

	/* Just under the bound is fine. */
	len = 0;
	for (int i = 0; len + 64 < HTTP_HEADER_MAX - 1024; i++)
		len += (size_t)sprintf(h + len, "X-Header-%05d: %040d\r\n", i, i);
	fakehttp_push(f->srv, &(struct fakehttp_response){ .headers = h, .body = "ok" });
	simple_get(f, &k, "/many");
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_string_equal(call_header(&k, "x-header-00000"), "0000000000000000000000000000000000000000");
	assert_string_equal(k.body, "ok");
	call_free(&k);
	free(h);
}

static void
test_gzip(void **state)
{
	struct fixture *f = *state;
	static const char gz[] =
		"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\xd7\x51\x48\xaf"
		"\xca\x2c\x50\x28\xcf\x2f\xca\x49\xe1\xca\x20\x42\x04\x00\x44\x14\xe9\x91\x36"
		"\x00\x00\x00";
	struct call k = { 0 };
	fakehttp_push(f->srv, &(struct fakehttp_response){
		.headers = "Content-Encoding: gzip\r\n", .body = gz, .body_len = sizeof gz - 1 });
	char *url = fakehttp_url(f->srv, "/gz");
	const char *const headers[] = { "Accept-Encoding: gzip", NULL };
	struct hearth_http_request req = req_for(&k, url);
	req.headers = headers;
	start(f, &k, &req);
	free(url);
	RUN_UNTIL(f, k.n_done == 1);
	assert_int_equal(k.error, 0);
	assert_string_equal(k.body, "hello, gzip world\nhello, gzip world\nhello, gzip world\n");
	assert_string_equal(fakehttp_header(fakehttp_request(f->srv, 0), "Accept-Encoding"), "gzip");
	call_free(&k);
}

static void
test_proxy_env(void **state)
{
	struct fixture *f = *state;
	struct call k = { 0 };
	char *proxy = fakehttp_url(f->srv, "");
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = "via proxy" });
	setenv("http_proxy", proxy, 1);
	struct hearth_http_request req = req_for(&k, "http://provider.invalid/v1/chat?x=1");
	start(f, &k, &req);
	RUN_UNTIL(f, k.n_done == 1);
	unsetenv("http_proxy");
	free(proxy);
	assert_int_equal(k.error, 0);
	assert_string_equal(k.body, "via proxy");
	const struct fakehttp_request *rq = fakehttp_request(f->srv, 0);
	assert_string_equal(rq->target, "http://provider.invalid/v1/chat?x=1");
	assert_string_equal(fakehttp_header(rq, "Host"), "provider.invalid");
	call_free(&k);
}

/* Read from fd until the peer closes or `want` shows up; returns what came. */
static char *
raw_read(int fd, const char *want)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	buf[0] = '\0';
	while (want == NULL || strstr(buf, want) == NULL) {
		if (len + 1 == cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

static int
raw_connect(struct fakehttp *srv)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons((uint16_t)fakehttp_port(srv)) };
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* The helper itself, from a plain socket: chunked and pipelined requests, bad ones. */
static void
test_fakehttp_server(void **state)
{
	struct fixture *f = *state;
	fakehttp_push(f->srv, &(struct fakehttp_response){ .status = 202, .body = "one" });
	fakehttp_push(f->srv, &(struct fakehttp_response){ .body = "two", .close = 1 });
	assert_int_equal(fakehttp_queued(f->srv), 2);

	int fd = raw_connect(f->srv);
	static const char two[] =
		"POST /up?x=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		"Expect: 100-continue\r\n\r\n"
		"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"
		"GET /next HTTP/1.1\r\nX-A:  spaced  \r\nx-a: again\r\nContent-Length: 3\r\n\r\nabc";
	assert_int_equal(send(fd, two, sizeof two - 1, 0), (ssize_t)(sizeof two - 1));
	char *got = raw_read(fd, NULL);  /* the second answer closes */
	close(fd);
	assert_ptr_equal(strstr(got, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n"), got);
	assert_non_null(strstr(got, "Content-Length: 3\r\n\r\noneHTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(got, "Connection: close\r\n"));
	assert_int_equal(strcmp(got + strlen(got) - 7, "\r\n\r\ntwo"), 0);
	free(got);
	assert_int_equal(fakehttp_queued(f->srv), 0);

	assert_int_equal(fakehttp_count(f->srv), 2);
	const struct fakehttp_request *rq = fakehttp_request(f->srv, 0);
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->target, "/up?x=1");
	assert_int_equal(rq->chunked, 1);
	assert_int_equal(rq->body_len, 6);
	assert_string_equal(rq->body, "hello!");
	rq = fakehttp_request(f->srv, 1);
	assert_int_equal(rq->index, 1);
	assert_int_equal(rq->conn, 0);
	assert_string_equal(rq->target, "/next");
	assert_string_equal(fakehttp_header(rq, "x-a"), "spaced");
	assert_int_equal(rq->n_headers, 3);
	assert_string_equal(rq->headers[1].name, "x-a");
	assert_string_equal(rq->headers[1].value, "again");
	assert_string_equal(rq->body, "abc");
	assert_null(fakehttp_request(f->srv, 2));

	/* Nothing scripted: a 500 that says so. */
	fd = raw_connect(f->srv);
	static const char get[] = "GET / HTTP/1.1\r\n\r\n";
	assert_int_equal(send(fd, get, sizeof get - 1, 0), (ssize_t)(sizeof get - 1));
	got = raw_read(fd, "scripted\n");
	close(fd);
	assert_ptr_equal(strstr(got, "HTTP/1.1 500 "), got);
	assert_non_null(strstr(got, "no response scripted"));
	free(got);

	/* Malformed, truncated and oversized requests: answered 4xx, not recorded. */
	static const struct {
		const char *req, *status;
	} bad[] = {
		{ "NONSENSE\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET / SPDY/3\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET / HTTP/1.1\r\nno colon\r\n\r\n", "HTTP/1.1 400 " },
		{ "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "HTTP/1.1 400 " },
		{ "POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n", "HTTP/1.1 413 " },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400 " },
		{ "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", "" },  /* then EOF */
	};
	size_t before = fakehttp_count(f->srv);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fd = raw_connect(f->srv);
		size_t n = strlen(bad[i].req);
		assert_int_equal(send(fd, bad[i].req, n, 0), (ssize_t)n);
		shutdown(fd, SHUT_WR);
		got = raw_read(fd, NULL);
		close(fd);
		if (strstr(got, bad[i].status) != got)
			fail_msg("case %zu: got \"%.40s\"", i, got);
		free(got);
	}
	/* A head over 64 KiB. */
	fd = raw_connect(f->srv);
	char *huge = xmalloc(100 * 1024);
	memset(huge, 'a', 100 * 1024);
	memcpy(huge, "GET / HTTP/1.1\r\nX: ", 20);
	assert_int_equal(send(fd, huge, 100 * 1024, MSG_NOSIGNAL), 100 * 1024);
	shutdown(fd, SHUT_WR);
	free(huge);
	got = raw_read(fd, NULL);
	close(fd);
	assert_ptr_equal(strstr(got, "HTTP/1.1 431 "), got);
	free(got);
	assert_int_equal(fakehttp_count(f->srv), before);
	assert_int_equal(fakehttp_wait_open(f->srv, 0, 10000), 0);
}

int
main(void)
{
	/* The proxy test sets its own; nothing from the environment may interfere. */
	static const char *const vars[] = { "http_proxy", "HTTP_PROXY", "https_proxy",
					    "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
					    "no_proxy", "NO_PROXY" };
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	log_set_level(HEARTH_LOG_WARN);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_byte_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interim_and_fold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_in_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_by_return, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_in_on_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_other_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_in_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fakehttp_server, setup, teardown),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
