/*
 * fakehttp.h: a real HTTP/1.1 server on 127.0.0.1 for tests, with its own
 * threads and plain blocking sockets, so the test's own uv loop stays free to
 * run the client under test.
 *
 *     struct fakehttp *s = fakehttp_start();
 *     fakehttp_push(s, &(struct fakehttp_response){ .status = 200, .body = "hi" });
 *     char *url = fakehttp_url(s, "/v1/x");
 *     ... run the client against url ...
 *     const struct fakehttp_request *rq = fakehttp_request(s, 0);
 *     assert_string_equal(rq->method, "POST");
 *     fakehttp_free(s);
 *
 * It listens on an ephemeral port, accepts any number of connections (a thread
 * each), keeps connections alive between requests, and parses each request
 * (request line, headers, a Content-Length or chunked body; answers
 * "Expect: 100-continue"). Every request is recorded, in order of arrival.
 *
 * Each request is answered with the next response of a FIFO queue
 * (fakehttp_push), or when the queue is empty by the handler (fakehttp_set_handler),
 * or else with a 500 whose body says no response was scripted.
 *
 * Beware that an HTTP client retries a request on a fresh connection when a
 * kept-alive connection dies before any byte of the answer (FAKEHTTP_CLOSE and
 * FAKEHTTP_RESET on a reused connection): the retry takes the next response.
 *
 * Everything here aborts the test (via abort()) on an internal failure such as
 * a thread that cannot be created; fakehttp_start() returns NULL only when it
 * cannot listen.
 */
#ifndef HEARTH_FAKEHTTP_H
#define HEARTH_FAKEHTTP_H

#include <stddef.h>

struct fakehttp;

struct fakehttp_header {
	char *name;   /* as received */
	char *value;  /* leading and trailing blanks removed */
};

/* One request as received. Owned by the server; immutable; valid until fakehttp_free. */
struct fakehttp_request {
	size_t index;         /* 0-based, in order of arrival */
	size_t conn;          /* 0-based number of the connection it came on */
	char *method;
	char *target;         /* as on the request line: "/path?query" (or a full URL, via a proxy) */
	char *version;        /* "HTTP/1.1" */
	struct fakehttp_header *headers;
	size_t n_headers;
	char *body;           /* body_len bytes, plus a NUL not counted */
	size_t body_len;
	int chunked;          /* the body came with Transfer-Encoding: chunked */
};

/* How the body is framed on the wire. */
enum fakehttp_framing {
	FAKEHTTP_LENGTH = 0,  /* Content-Length */
	FAKEHTTP_CHUNKED,     /* Transfer-Encoding: chunked (chunk_size bytes per chunk) */
	FAKEHTTP_EOF,         /* no length: the body ends when the server closes */
	FAKEHTTP_RAW,         /* body is the whole response, bytes as given; nothing added */
};

/* What the server does with the request. */
enum fakehttp_action {
	FAKEHTTP_SEND = 0,    /* send the response */
	FAKEHTTP_CUT,         /* send the head and cut_at bytes of the framed body, then close */
	FAKEHTTP_STALL,       /* send the head and cut_at bytes of the framed body, then wait */
	FAKEHTTP_HANG,        /* send nothing and wait */
	FAKEHTTP_CLOSE,       /* close the connection without answering */
	FAKEHTTP_RESET,       /* close with a TCP reset (SO_LINGER 0) without answering */
};
/* "Wait" means: read and discard until the client closes or the server stops. */

/*
 * A scripted response. Zero-initialise, set what matters. The server copies it
 * (fakehttp_push) or uses it right away (handler), so the strings are borrowed.
 */
struct fakehttp_response {
	int status;              /* 0: 200 */
	const char *reason;      /* NULL: the usual phrase for status */
	const char *headers;     /* extra header lines, each ending in "\r\n", or NULL */
	const char *body;        /* NULL: empty */
	size_t body_len;         /* 0: strlen(body) */
	enum fakehttp_framing framing;
	size_t chunk_size;       /* FAKEHTTP_CHUNKED: bytes per chunk; 0: one chunk */
	const char *trailers;    /* FAKEHTTP_CHUNKED: trailer lines ending in "\r\n", or NULL */
	int close;               /* send "Connection: close" and close after the response */
	enum fakehttp_action action;
	size_t cut_at;           /* FAKEHTTP_CUT and FAKEHTTP_STALL, see above */
	/*
	 * How the bytes are written: in one write, or in pieces of at most max_write
	 * bytes (1: byte by byte). With a non-zero seed, piece sizes are random in
	 * 1..max_write (16 if max_write is 0), reproducible from the seed. delay_us
	 * pauses between pieces.
	 */
	size_t max_write;
	unsigned seed;
	unsigned delay_us;
	/* Handler only: a malloc'd block the server frees once the response is sent
	 * (say the body it built). */
	void *to_free;
};

/*
 * A handler builds the answer to one request into *resp (zeroed beforehand).
 * It runs on a server thread, never two at once; req is borrowed.
 */
typedef void (*fakehttp_handler_fn)(void *arg, const struct fakehttp_request *req,
				    struct fakehttp_response *resp);

/* Listen on 127.0.0.1, port 0. NULL if it cannot. Free with fakehttp_free(). */
struct fakehttp *fakehttp_start(void);
/* Stop: close every connection, join every thread, free everything. */
void fakehttp_free(struct fakehttp *s);

int fakehttp_port(const struct fakehttp *s);
/* "http://127.0.0.1:PORT" + path; malloc'd, the caller frees it. */
char *fakehttp_url(const struct fakehttp *s, const char *path);

/* Queue a response for a later request (deep copy). */
void fakehttp_push(struct fakehttp *s, const struct fakehttp_response *resp);
/* Responses still queued. */
size_t fakehttp_queued(struct fakehttp *s);
/* Set (or with NULL clear) the handler for requests the queue does not answer. */
void fakehttp_set_handler(struct fakehttp *s, fakehttp_handler_fn fn, void *arg);

/* Requests recorded so far, and the i-th one (borrowed; NULL if i is too large). */
size_t fakehttp_count(struct fakehttp *s);
const struct fakehttp_request *fakehttp_request(struct fakehttp *s, size_t i);
/* The first value of header `name` (case-insensitive), or NULL. Borrowed. */
const char *fakehttp_header(const struct fakehttp_request *r, const char *name);

/* Connections accepted so far, and how many of them are still open. */
size_t fakehttp_connections(struct fakehttp *s);
size_t fakehttp_open_connections(struct fakehttp *s);

/*
 * Block until at least n requests are recorded (fakehttp_wait) or at most n
 * connections are open (fakehttp_wait_open), or timeout_ms passes. Returns 0,
 * or -1 on timeout. Only for tests whose client runs on another thread or has
 * already done its part: the caller's loop does not run meanwhile.
 */
int fakehttp_wait(struct fakehttp *s, size_t n, unsigned timeout_ms);
int fakehttp_wait_open(struct fakehttp *s, size_t n, unsigned timeout_ms);

#endif
