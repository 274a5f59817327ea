/*
 * http.c: the daemon's HTTP client, curl's multi interface on the libuv loop
 * (see http.h for the contract).
 *
 * Shape (after curl's docs/examples/multi-uv.c, hardened as style.md says): one
 * uv_timer_t for curl's timeout, one uv_poll_t per socket, kept in a table keyed
 * by fd and freed only in its close callback. Each request carries its state in
 * CURLOPT_PRIVATE.
 *
 * curl refuses curl_multi_add_handle/remove_handle from inside its callbacks, and
 * our callbacks run user code that may start or cancel requests. So while
 * curl_multi_socket_action runs (in_curl), a cancel or an abort only marks the
 * request and a new request waits in the list unadded; http_client_settle() then
 * reaps, fails and adds them, and drains curl_multi_info_read, after every action.
 * User code only ever runs with the client on the stack (depth > 0), so a close
 * asked for from a callback is finished when the outermost frame unwinds.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <uv.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

/* One watched socket. Freed only in its uv_close callback. */
struct http_poll {
	uv_poll_t poll;
	curl_socket_t fd;
	int events;                     /* what curl asked for */
	struct http_client *client;
	struct http_poll *prev, *next;  /* the client's table of live polls */
};

struct http_client {
	uv_loop_t *loop;               /* borrowed */
	CURLM *multi;
	uv_timer_t curl_timer;         /* curl's one timeout */
	uv_timer_t idle_timer;         /* fires at the earliest idle deadline */
	struct http_poll *polls;       /* live polls (not closing), keyed by fd */
	struct hearth_http *reqs;      /* every request not yet freed */
	size_t n_active;               /* neither done nor cancelled */
	unsigned open_handles;         /* uv handles not yet closed */
	int depth;                     /* > 0 while the client is on the stack */
	int in_curl;                   /* inside curl_multi_socket_action */
	int reap;                      /* a request needs http_client_settle() */
	int closing;                   /* http_client_close() was called */
	int shut;                      /* ... and its work is done: curl is gone */
	void (*closed_cb)(void *arg);
	void *closed_arg;
};

struct hearth_http {
	struct http_client *client;
	struct hearth_http *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	char *what;                    /* "METHOD host[:port]", for messages */
	int (*on_response)(void *arg, long status, const char *const *names,
			   const char *const *values, size_t n);
	int (*on_data)(void *arg, const char *data, size_t len);
	void (*on_done)(void *arg, int error, long status, const char *message);
	void *arg;
	uint64_t idle_ms;
	uint64_t last_io;              /* uv_now() of the last byte moved */
	curl_off_t sent;               /* upload progress seen */
	long status;                   /* of the header block being read */
	unsigned added : 1;            /* in the multi handle */
	unsigned cancelled : 1;        /* http_cancel(), or the client closing */
	unsigned done : 1;             /* on_done is running */
	unsigned responded : 1;        /* on_response was called */
	int fail;                      /* an error found in a callback, for on_done */
	char *fail_msg;
	char **names, **values;        /* headers of the current block */
	size_t n_headers, cap_headers;
	size_t header_bytes;
	char errbuf[CURL_ERROR_SIZE];
};

/* curl_global_init() is not thread-safe: clients are made on the loop thread. */
static int http_curl_ready;

static void http_client_settle(struct http_client *c);
static void http_client_shutdown(struct http_client *c);
static void http_idle_arm(struct http_client *c);

/* ------------------------------------------------------------ handles -- */

static void
http_handle_closed(struct http_client *c)
{
	if (--c->open_handles > 0 || !c->shut)
		return;
	void (*cb)(void *) = c->closed_cb;
	void *arg = c->closed_arg;
	free(c);
	if (cb != NULL)
		cb(arg);
}

static void
http_timer_close_cb(uv_handle_t *h)
{
	http_handle_closed(h->data);
}

static void
http_poll_close_cb(uv_handle_t *h)
{
	struct http_poll *p = h->data;
	struct http_client *c = p->client;
	free(p);
	http_handle_closed(c);
}

static struct http_poll *
http_poll_find(struct http_client *c, curl_socket_t fd)
{
	for (struct http_poll *p = c->polls; p != NULL; p = p->next)
		if (p->fd == fd)
			return p;
	return NULL;
}

/* Take p out of the table and close it (uv_close stops it first). */
static void
http_poll_close(struct http_poll *p)
{
	struct http_client *c = p->client;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		c->polls = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	uv_close((uv_handle_t *)&p->poll, http_poll_close_cb);
}

/* ---------------------------------------------------------- requests -- */

static void
http_headers_clear(struct hearth_http *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	r->n_headers = 0;
}

static void
http_request_free(struct hearth_http *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	http_headers_clear(r);
	free(r->names);
	free(r->values);
	free(r->fail_msg);
	free(r->what);
	free(r);
}

/* Out of the list and out of curl. Not from inside curl. */
static void
http_request_detach(struct hearth_http *r)
{
	struct http_client *c = r->client;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	if (r->added) {
		curl_multi_remove_handle(c->multi, r->easy);
		r->added = 0;
	}
	/* A pending idle sweep must not keep the loop alive for nothing. */
	if (c->reqs == NULL)
		uv_timer_stop(&c->idle_timer);
}

/* Free a cancelled request. Not from inside curl. */
static void
http_request_drop(struct hearth_http *r)
{
	http_request_detach(r);
	http_request_free(r);
}

/*
 * The end of a live request: on_done, then free. Not from inside curl. on_done
 * may start, cancel (itself included: r->done makes that a no-op) or close.
 */
static void
http_request_finish(struct hearth_http *r, int error, const char *message)
{
	struct http_client *c = r->client;
	http_request_detach(r);
	r->done = 1;
	c->n_active--;
	r->on_done(r->arg, error, r->responded ? r->status : 0, message);
	http_request_free(r);
}

/* Note an error found inside a callback; on_done reports it after the action. */
static void
http_request_fail(struct hearth_http *r, int error, char *message /* stolen */)
{
	if (r->fail == 0) {
		r->fail = error;
		r->fail_msg = message;
	} else {
		free(message);
	}
	r->client->reap = 1;
}

/* Call on_response with the collected headers. Returns 0 to abort the transfer. */
static int
http_request_respond(struct hearth_http *r)
{
	int rc = 0;
	r->responded = 1;
	if (r->status == 0)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->on_response != NULL) {
		static const char *const none[] = { NULL };
		rc = r->on_response(r->arg, r->status,
				    r->names ? (const char *const *)r->names : none,
				    r->values ? (const char *const *)r->values : none, r->n_headers);
	}
	http_headers_clear(r);
	if (r->cancelled)
		return 0;
	if (rc != 0) {
		http_request_fail(r, HEARTH_ECANCELED,
				  xasprintf("%s: aborted by on_response", r->what));
		return 0;
	}
	return 1;
}

static int
http_map_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return HEARTH_ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return HEARTH_ECANCELED;
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return HEARTH_EINVAL;
	case CURLE_UNSUPPORTED_PROTOCOL:   /* the scheme was checked: an HTTP/0.9 reply */
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_BAD_CONTENT_ENCODING:
		return HEARTH_EPROTO;
	case CURLE_FILESIZE_EXCEEDED:
		return HEARTH_ELIMIT;
#if LIBCURL_VERSION_NUM >= 0x080600
	case CURLE_TOO_LARGE:
		return HEARTH_ELIMIT;
#endif
	case CURLE_OUT_OF_MEMORY:
		/* Where curl's own header bounds are hit too; real OOM would abort first. */
		return HEARTH_ELIMIT;
	default:
		return HEARTH_EIO;
	}
}

/* curl reported the transfer over. Not from inside curl. */
static void
http_request_complete(struct hearth_http *r, CURLcode rc)
{
	if (r->cancelled) {
		http_request_drop(r);
		return;
	}
	if (r->fail != 0) {
		char *msg = r->fail_msg;
		r->fail_msg = NULL;
		http_request_finish(r, r->fail, msg);
		free(msg);
	} else if (rc == CURLE_OK && !r->responded) {
		/* curl 7.88 calls a close before the blank line after the headers a success. */
		char *msg = xasprintf("%s: the connection closed inside the response headers",
				      r->what);
		http_request_finish(r, HEARTH_EIO, msg);
		free(msg);
	} else if (rc == CURLE_OK) {
		http_request_finish(r, 0, "ok");
	} else {
		const char *why = r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc);
		char *msg = rc == CURLE_OUT_OF_MEMORY && !r->responded
				    ? xasprintf("%s: response headers too large for curl (%s)",
						r->what, why)
				    : xasprintf("%s: %s", r->what, why);
		http_request_finish(r, http_map_error(rc), msg);
		free(msg);
	}
}

/* ------------------------------------------------------ curl callbacks -- */

static int
http_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void
http_header_push(struct hearth_http *r, char *name, char *value)
{
	if (r->n_headers + 1 >= r->cap_headers) {
		r->cap_headers = r->cap_headers ? 2 * r->cap_headers : 16;
		r->names = xreallocarray(r->names, r->cap_headers, sizeof *r->names);
		r->values = xreallocarray(r->values, r->cap_headers, sizeof *r->values);
	}
	r->names[r->n_headers] = name;
	r->values[r->n_headers] = value;
	r->n_headers++;
	/* NULL-terminated as well, for callers that prefer it. */
	r->names[r->n_headers] = NULL;
	r->values[r->n_headers] = NULL;
}

/* One header line, status line or blank line of the response (curl's own framing). */
static size_t
http_header_cb(char *buf, size_t size, size_t nitems, void *userp)
{
	struct hearth_http *r = userp;
	size_t whole = size * nitems, len = whole;

	if (r->cancelled || r->fail != 0)
		return 0;
	r->last_io = uv_now(r->client->loop);
	if (r->responded)
		return whole;  /* trailers of a chunked body */
	r->header_bytes += whole;
	if (r->header_bytes > HTTP_HEADER_MAX) {
		http_request_fail(r, HEARTH_ELIMIT,
				  xasprintf("%s: response headers over %u bytes", r->what,
					    HTTP_HEADER_MAX));
		return 0;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;

	if (len == 0) {
		/* The end of a header block: an interim 1xx one starts over. */
		if (r->status >= 100 && r->status < 200) {
			http_headers_clear(r);
			r->status = 0;
			return whole;
		}
		return http_request_respond(r) ? whole : 0;
	}
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);
		long status = 0;
		http_headers_clear(r);
		if (sp != NULL) {
			for (const char *p = sp + 1; p < buf + len && *p >= '0' && *p <= '9' &&
						     status < 1000; p++)
				status = status * 10 + (*p - '0');
		}
		r->status = status;
		return whole;
	}
	if (buf[0] == ' ' || buf[0] == '\t') {
		/* obs-fold: a continuation of the previous value. */
		size_t i = 0;
		while (i < len && http_is_space(buf[i]))
			i++;
		if (r->n_headers > 0 && i < len) {
			char *prev = r->values[r->n_headers - 1];
			char *cont = xstrndup(buf + i, len - i);
			r->values[r->n_headers - 1] =
				xasprintf("%s%s%s", prev, prev[0] != '\0' ? " " : "", cont);
			free(prev);
			free(cont);
		}
		return whole;
	}
	const char *colon = memchr(buf, ':', len);
	if (colon == NULL || colon == buf)
		return whole;  /* not a header line: ignored, as browsers do */
	size_t nlen = (size_t)(colon - buf);
	while (nlen > 0 && http_is_space(buf[nlen - 1]))
		nlen--;
	char *name = xstrndup(buf, nlen);
	for (char *p = name; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	const char *v = colon + 1, *end = buf + len;
	while (v < end && http_is_space(*v))
		v++;
	while (end > v && http_is_space(end[-1]))
		end--;
	http_header_push(r, name, xstrndup(v, (size_t)(end - v)));
	return whole;
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct hearth_http *r = userp;
	size_t len = size * nmemb;

	if (r->cancelled || r->fail != 0)
		return 0;
	r->last_io = uv_now(r->client->loop);
	if (!r->responded && !http_request_respond(r))
		return 0;
	if (len > 0 && r->on_data != NULL) {
		int rc = r->on_data(r->arg, data, len);
		if (r->cancelled)
			return 0;
		if (rc != 0) {
			http_request_fail(r, HEARTH_ECANCELED,
					  xasprintf("%s: aborted by on_data", r->what));
			return 0;
		}
	}
	return len;
}

/* Upload progress counts as activity for the idle timeout. */
static int
http_xferinfo_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		 curl_off_t ulnow)
{
	struct hearth_http *r = userp;
	if (r->cancelled || r->fail != 0)
		return 1;
	if (ulnow != r->sent) {
		r->sent = ulnow;
		r->last_io = uv_now(r->client->loop);
	}
	return 0;
}

/* ------------------------------------------------------ the multi side -- */

static void
http_client_enter(struct http_client *c)
{
	c->depth++;
}

static void
http_client_leave(struct http_client *c)
{
	if (--c->depth == 0 && c->closing && !c->shut)
		http_client_shutdown(c);
}

/* Run curl on a socket event or its timeout, then settle what it left. */
static void
http_client_action(struct http_client *c, curl_socket_t fd, int flags)
{
	int running = 0;
	if (c->shut)
		return;
	http_client_enter(c);
	c->in_curl = 1;
	CURLMcode mc = curl_multi_socket_action(c->multi, fd, flags, &running);
	c->in_curl = 0;
	if (mc != CURLM_OK)
		log_error("http: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	http_client_settle(c);
	http_client_leave(c);
}

static void
http_curl_timer_cb(uv_timer_t *t)
{
	http_client_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void
http_poll_cb(uv_poll_t *h, int status, int events)
{
	struct http_poll *p = h->data;
	struct http_client *c = p->client;
	curl_socket_t fd = p->fd;
	int flags = 0;

	if (status < 0) {
		/*
		 * POLLERR (libuv says EBADF, and stops the handle). Telling curl
		 * nothing would stall the transfer. ERR alone makes curl fail with
		 * "select/poll returned error"; with IN and OUT too it reads and
		 * writes, and reports the socket's own error (connection reset...).
		 */
		log_debug("http: poll on fd %d: %s", (int)fd, uv_strerror(status));
		flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	http_client_action(c, fd, flags);
	/* Still wanted after a spurious error: curl will not ask again, so resume. */
	if (status < 0 && !c->shut && http_poll_find(c, fd) == p &&
	    !uv_is_active((uv_handle_t *)&p->poll) && p->events != 0)
		uv_poll_start(&p->poll, p->events, http_poll_cb);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops; 0 must not call curl from here, so 1 ms. */
static int
http_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&c->curl_timer);
	else
		uv_timer_start(&c->curl_timer, http_curl_timer_cb,
			       timeout_ms > 0 ? (uint64_t)timeout_ms : 1, 0);
	return 0;
}

static void
http_socket_fail(struct http_client *c, CURL *easy, const char *what, int uverr)
{
	struct hearth_http *r = NULL;
	log_error("http: %s: %s", what, uv_strerror(uverr));
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	if (r != NULL && !r->cancelled)
		http_request_fail(r, HEARTH_EIO,
				  xasprintf("%s: %s: %s", r->what, what, uv_strerror(uverr)));
}

/*
 * CURLMOPT_SOCKETFUNCTION. Returning -1 would abort every transfer, so a socket
 * we cannot watch fails its own request instead. Poll state is keyed by fd: curl
 * may re-add a REMOVE'd socket, lose our socketp, or hand us a new socket on a
 * reused fd number; any doubt closes the old poll and starts a fresh one.
 */
static int
http_socket_fn(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct http_poll *p = socketp;

	if (p != NULL && p != http_poll_find(c, s))
		p = NULL;  /* already closed by us: stale */
	if (what == CURL_POLL_REMOVE) {
		if (p == NULL)
			p = http_poll_find(c, s);
		if (p != NULL)
			http_poll_close(p);
		if (!c->shut)
			curl_multi_assign(c->multi, s, NULL);
		return 0;
	}
	if (p == NULL) {
		struct http_poll *old = http_poll_find(c, s);
		if (old != NULL)
			http_poll_close(old);
		p = xcalloc(1, sizeof *p);
		int err = uv_poll_init_socket(c->loop, &p->poll, s);
		if (err != 0) {
			free(p);
			http_socket_fail(c, easy, "cannot watch a socket", err);
			return 0;
		}
		p->fd = s;
		p->client = c;
		p->poll.data = p;
		p->next = c->polls;
		if (c->polls != NULL)
			c->polls->prev = p;
		c->polls = p;
		c->open_handles++;
		curl_multi_assign(c->multi, s, p);
	}
	int events = 0;
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	p->events = events;
	if (events == 0) {
		uv_poll_stop(&p->poll);
		return 0;
	}
	int err = uv_poll_start(&p->poll, events, http_poll_cb);
	if (err != 0)
		http_socket_fail(c, easy, "cannot poll a socket", err);
	return 0;
}

/* Add a request to curl. Not from inside curl. Returns 0 or a curl message. */
static const char *
http_request_add(struct hearth_http *r)
{
	CURLMcode mc = curl_multi_add_handle(r->client->multi, r->easy);
	if (mc != CURLM_OK)
		return curl_multi_strerror(mc);
	r->added = 1;
	return NULL;
}

/*
 * After every action (and only outside curl): drop what was cancelled, report
 * what a callback failed, add what was started, then drain curl's messages. User
 * code runs in between and may change the list, hence the restarts.
 */
static void
http_client_settle(struct http_client *c)
{
	while (c->reap) {
		c->reap = 0;
		for (struct hearth_http *r = c->reqs; r != NULL; r = r->next) {
			if (r->cancelled) {
				http_request_drop(r);
			} else if (r->fail != 0) {
				char *msg = r->fail_msg;
				r->fail_msg = NULL;
				http_request_finish(r, r->fail, msg);
				free(msg);
			} else if (!r->added) {
				const char *err = http_request_add(r);
				if (err == NULL)
					continue;
				http_request_fail(r, HEARTH_EIO,
						  xasprintf("%s: cannot start: %s", r->what, err));
			} else {
				continue;
			}
			c->reap = 1;
			break;
		}
	}
	if (c->shut)
		return;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct hearth_http *r = NULL;
		CURLcode rc = msg->data.result;  /* msg dies with remove_handle */
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r != NULL)
			http_request_complete(r, rc);
	}
}

/* -------------------------------------------------------- idle timeout -- */

static void
http_idle_cb(uv_timer_t *t)
{
	struct http_client *c = t->data;
	uint64_t now = uv_now(c->loop);

	http_client_enter(c);
	for (struct hearth_http *r = c->reqs; r != NULL;) {
		if (!r->cancelled && r->fail == 0 && r->added && now - r->last_io >= r->idle_ms) {
			char *msg = xasprintf("%s: no data for %llu ms (idle timeout)", r->what,
					      (unsigned long long)r->idle_ms);
			http_request_finish(r, HEARTH_ETIMEDOUT, msg);
			free(msg);
			r = c->reqs;  /* on_done may have changed the list */
			continue;
		}
		r = r->next;
	}
	if (!c->closing)
		http_idle_arm(c);
	http_client_leave(c);
}

/* Set the sweep for the earliest idle deadline (last_io only moves forward). */
static void
http_idle_arm(struct http_client *c)
{
	uint64_t now = uv_now(c->loop), next = UINT64_MAX;
	for (struct hearth_http *r = c->reqs; r != NULL; r = r->next) {
		if (r->cancelled)
			continue;
		uint64_t due = r->last_io + r->idle_ms;
		if (due < next)
			next = due;
	}
	if (next == UINT64_MAX)
		uv_timer_stop(&c->idle_timer);
	else
		uv_timer_start(&c->idle_timer, http_idle_cb, next > now ? next - now : 0, 0);
}

/* ------------------------------------------------------------- client -- */

struct http_client *
http_client_new(uv_loop_t *loop)
{
	if (!http_curl_ready) {
		CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		if (rc != CURLE_OK) {
			log_error("http: curl_global_init: %s", curl_easy_strerror(rc));
			return NULL;
		}
		http_curl_ready = 1;
	}
	struct http_client *c = xcalloc(1, sizeof *c);
	c->loop = loop;
	c->multi = curl_multi_init();
	if (c->multi == NULL) {
		log_error("http: curl_multi_init failed");
		free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, http_socket_fn);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, http_timer_fn);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	uv_timer_init(loop, &c->curl_timer);
	uv_timer_init(loop, &c->idle_timer);
	c->curl_timer.data = c;
	c->idle_timer.data = c;
	c->open_handles = 2;
	return c;
}

size_t
http_client_active(const struct http_client *c)
{
	return c->n_active;
}

/* Let go of curl while the loop still runs, then close our handles. */
static void
http_client_shutdown(struct http_client *c)
{
	c->shut = 1;
	while (c->reqs != NULL)
		http_request_drop(c->reqs);
	uv_timer_stop(&c->curl_timer);
	uv_timer_stop(&c->idle_timer);
	/* May call http_socket_fn with CURL_POLL_REMOVE for cached connections. */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	while (c->polls != NULL)
		http_poll_close(c->polls);
	uv_close((uv_handle_t *)&c->curl_timer, http_timer_close_cb);
	uv_close((uv_handle_t *)&c->idle_timer, http_timer_close_cb);
}

void
http_client_close(struct http_client *c, void (*closed_cb)(void *arg), void *arg)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	c->closed_cb = closed_cb;
	c->closed_arg = arg;
	for (struct hearth_http *r = c->reqs; r != NULL; r = r->next)
		r->cancelled = 1;
	c->n_active = 0;
	if (c->depth == 0)
		http_client_shutdown(c);
	else
		c->reap = 1;  /* finished by http_client_leave() */
}

/* ------------------------------------------------------------ requests -- */

void
http_cancel(struct hearth_http *r)
{
	if (r == NULL || r->cancelled || r->done)
		return;
	struct http_client *c = r->client;
	r->cancelled = 1;
	c->n_active--;
	if (c->in_curl && r->added) {
		c->reap = 1;  /* curl still holds it: dropped after the action */
		return;
	}
	http_request_drop(r);
}

/* RFC 9110 token characters, for methods and header names. */
static int
http_is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int
http_is_token(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!http_is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
http_name_is(const char *line, size_t nlen, const char *name)
{
	return strlen(name) == nlen && strncasecmp(line, name, nlen) == 0;
}

/* Parse and check the URL; on success *what is "METHOD host[:port]" (malloc'd). */
static char *
http_check_url(const char *url, const char *method, char **what)
{
	for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return xstrdup("invalid URL: it contains a space or control character");
	CURLU *u = curl_url();
	if (u == NULL)
		return xstrdup("curl_url failed");
	char *err = NULL, *scheme = NULL, *host = NULL, *port = NULL;
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		err = xasprintf("invalid URL: %s", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		err = xstrdup("invalid URL: the scheme is not http or https");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
		err = xstrdup("invalid URL: no host");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
		*what = xasprintf("%s %s:%s", method, host, port);
	else
		*what = xasprintf("%s %s", method, host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return err;
}

/* Build the header list; returns an error message (malloc'd) or NULL. */
static char *
http_build_headers(struct hearth_http *r, const char *const *headers, const char **encoding)
{
	int have_type = 0, have_expect = 0;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		const char *line = headers[i], *colon = strchr(line, ':');
		if (colon == NULL || !http_is_token(line, (size_t)(colon - line)))
			return xasprintf("header %zu: not a \"Name: value\" line", i + 1);
		size_t nlen = (size_t)(colon - line);
		for (const unsigned char *p = (const unsigned char *)colon + 1; *p != '\0'; p++)
			if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
				return xasprintf("header %zu (%.*s): control character in the value",
						 i + 1, (int)nlen, line);
		if (http_name_is(line, nlen, "Content-Length") ||
		    http_name_is(line, nlen, "Transfer-Encoding"))
			return xasprintf("header %zu (%.*s): set from the body, not by the caller",
					 i + 1, (int)nlen, line);
		const char *value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		if (http_name_is(line, nlen, "Accept-Encoding")) {
			/* Asked for: curl sends it and decodes what comes back. */
			*encoding = value;
			continue;
		}
		have_type |= http_name_is(line, nlen, "Content-Type");
		have_expect |= http_name_is(line, nlen, "Expect");
		char *item = *value == '\0'
				     ? xasprintf("%.*s;", (int)nlen, line)  /* curl's "send empty" */
				     : xstrdup(line);
		struct curl_slist *l = curl_slist_append(r->headers, item);
		free(item);
		if (l == NULL)
			return xstrdup("out of memory");
		r->headers = l;
	}
	/* "Name:" alone tells curl not to send its own. */
	static const char *const defaults[] = { "Content-Type:", "Expect:" };
	for (size_t i = 0; i < 2; i++) {
		if ((i == 0 && have_type) || (i == 1 && have_expect))
			continue;
		struct curl_slist *l = curl_slist_append(r->headers, defaults[i]);
		if (l == NULL)
			return xstrdup("out of memory");
		r->headers = l;
	}
	return NULL;
}

#define HTTP_SETOPT(opt, val) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(r->easy, opt, val); \
	} while (0)

/* Configure the easy handle; returns an error message (malloc'd) or NULL. */
static char *
http_setup(struct hearth_http *r, const struct hearth_http_request *req, const char *method,
	   const char *encoding)
{
	CURLcode rc = CURLE_OK;
	r->easy = curl_easy_init();
	if (r->easy == NULL)
		return xstrdup("curl_easy_init failed");
	HTTP_SETOPT(CURLOPT_PRIVATE, (char *)r);
	HTTP_SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
	HTTP_SETOPT(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	HTTP_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	HTTP_SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	HTTP_SETOPT(CURLOPT_NOSIGNAL, 1L);
	/*
	 * Left at curl's defaults on purpose: CURLOPT_PROXY unset, so http_proxy,
	 * https_proxy and no_proxy from the environment apply; CURLOPT_CAINFO unset,
	 * so the system CA store is used and verified; redirects not followed.
	 */
	HTTP_SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	HTTP_SETOPT(CURLOPT_USERAGENT, "hearth/" PACKAGE_VERSION);
	HTTP_SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	HTTP_SETOPT(CURLOPT_HEADERFUNCTION, http_header_cb);
	HTTP_SETOPT(CURLOPT_HEADERDATA, r);
	HTTP_SETOPT(CURLOPT_WRITEFUNCTION, http_write_cb);
	HTTP_SETOPT(CURLOPT_WRITEDATA, r);
	HTTP_SETOPT(CURLOPT_XFERINFOFUNCTION, http_xferinfo_cb);
	HTTP_SETOPT(CURLOPT_XFERINFODATA, r);
	HTTP_SETOPT(CURLOPT_NOPROGRESS, 0L);
	HTTP_SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
		    (long)(req->connect_timeout_ms ? req->connect_timeout_ms
						   : HTTP_CONNECT_TIMEOUT_MS));
	if (req->total_timeout_ms != 0)
		HTTP_SETOPT(CURLOPT_TIMEOUT_MS, (long)req->total_timeout_ms);
	if (encoding != NULL)
		HTTP_SETOPT(CURLOPT_ACCEPT_ENCODING, encoding);
	HTTP_SETOPT(CURLOPT_HTTPHEADER, r->headers);

	int has_body = req->body != NULL;
	if (strcmp(method, "GET") == 0 && !has_body) {
		HTTP_SETOPT(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		HTTP_SETOPT(CURLOPT_NOBODY, 1L);
	} else {
		if (has_body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
		    strcmp(method, "PATCH") == 0) {
			/* Size first: COPYPOSTFIELDS copies that many bytes (NULs too). */
			HTTP_SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
				    (curl_off_t)(has_body ? req->body_len : 0));
			HTTP_SETOPT(CURLOPT_COPYPOSTFIELDS, has_body ? req->body : "");
		}
		if (strcmp(method, "POST") != 0)
			HTTP_SETOPT(CURLOPT_CUSTOMREQUEST, method);
	}
	if (rc != CURLE_OK)
		return xasprintf("cannot set up the request: %s", curl_easy_strerror(rc));
	return NULL;
}

struct hearth_http *
http_start(struct http_client *c, const struct hearth_http_request *req, char **error_out)
{
	struct hearth_http *r = NULL;
	char *err = NULL, *what = NULL;
	const char *method = NULL, *encoding = NULL;

	if (error_out != NULL)
		*error_out = NULL;
	if (c == NULL || c->closing) {
		err = xstrdup("the HTTP client is shutting down");
		goto fail;
	}
	if (req == NULL || req->struct_size != sizeof *req) {
		err = xasprintf("struct_size is %u, expected %zu", req ? req->struct_size : 0,
				sizeof *req);
		goto fail;
	}
	if (req->on_done == NULL) {
		err = xstrdup("on_done is missing");
		goto fail;
	}
	if (req->url == NULL) {
		err = xstrdup("url is missing");
		goto fail;
	}
	method = req->method ? req->method : req->body ? "POST" : "GET";
	if (!http_is_token(method, strlen(method))) {
		err = xstrdup("the method is not a token");
		goto fail;
	}
	if (strcmp(method, "HEAD") == 0 && req->body != NULL) {
		err = xstrdup("a HEAD request cannot have a body");
		goto fail;
	}
	err = http_check_url(req->url, method, &what);
	if (err != NULL)
		goto fail;

	r = xcalloc(1, sizeof *r);
	r->client = c;
	r->what = what;
	what = NULL;
	r->on_response = req->on_response;
	r->on_data = req->on_data;
	r->on_done = req->on_done;
	r->arg = req->arg;
	r->idle_ms = req->idle_timeout_ms ? req->idle_timeout_ms : HTTP_IDLE_TIMEOUT_MS;
	r->last_io = uv_now(c->loop);
	err = http_build_headers(r, req->headers, &encoding);
	if (err == NULL)
		err = http_setup(r, req, method, encoding);
	if (err == NULL && !c->in_curl) {
		const char *e = http_request_add(r);
		if (e != NULL)
			err = xasprintf("cannot start: %s", e);
	}
	if (err != NULL)
		goto fail;

	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prev = r;
	c->reqs = r;
	c->n_active++;
	if (c->in_curl)
		c->reap = 1;  /* added by http_client_settle() */
	http_idle_arm(c);
	return r;

fail:
	if (error_out != NULL) {
		*error_out = r != NULL ? xasprintf("%s: %s", r->what, err)
				       : xasprintf("HTTP request: %s", err);
	}
	free(err);
	free(what);
	if (r != NULL)
		http_request_free(r);
	return NULL;
}
