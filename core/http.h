/*
 * http.h: the daemon's HTTP client. libcurl's multi interface driven by the
 * daemon's libuv loop; it backs host->http_start and host->http_cancel, so the
 * contract of struct hearth_http_request in include/hearth/plugin.h is the one
 * this file keeps:
 *
 *   - on_done runs exactly once per request, unless http_cancel() came first;
 *     after http_cancel() no callback of that request runs again.
 *   - on_response runs at most once, when the final (non-1xx) status line and
 *     headers are in: names lower-cased, values trimmed, in the order received
 *     (repeats kept), both arrays also NULL-terminated and borrowed for the call.
 *     Trailers of a chunked body are not reported. A connection that closes
 *     before the headers end is an error (HEARTH_EIO), never a response.
 *   - on_data gets the body in whatever pieces the network gives.
 *   - A non-zero return from on_response or on_data aborts: on_done gets
 *     HEARTH_ECANCELED.
 *   - error 0 means a complete response, whatever its status (4xx and 5xx too).
 *     Otherwise: HEARTH_ETIMEDOUT (connect, idle or total timeout), HEARTH_EIO
 *     (connection refused or reset, DNS, TLS, a body cut short), HEARTH_EPROTO
 *     (the server's reply is not HTTP), HEARTH_ELIMIT (response headers over
 *     HTTP_HEADER_MAX bytes), HEARTH_ECANCELED (a callback asked to abort).
 *   - on_done's message is never NULL: "ok" on success, else "METHOD host[:port]:
 *     what failed" (curl's words where curl failed). It never holds the full URL
 *     (query strings carry API keys) nor a header value.
 *
 * Callbacks may call http_start() (a new request) and http_cancel() (on any
 * request, their own included) and http_client_close(). Calling http_cancel() on
 * a request from inside its own on_done is harmless; after on_done has returned
 * the handle is dead and must not be touched.
 *
 * Timeouts: connect_timeout_ms (default HTTP_CONNECT_TIMEOUT_MS) bounds name
 * resolution plus the TCP and TLS handshakes; idle_timeout_ms (default
 * HTTP_IDLE_TIMEOUT_MS) fails a request when no byte has moved for that long,
 * counted from the start and reset by every byte received (or sent: a large
 * upload on a slow link is not idle); total_timeout_ms (default none) bounds the
 * whole request.
 *
 * What is sent: the caller's headers, plus Host, Content-Length when there is a
 * body, curl's default Accept header and "User-Agent: hearth/VERSION" unless the
 * caller gives its own. No Content-Type unless the caller sets one (curl's form-urlencoded
 * default is removed), no "Expect: 100-continue". No Accept-Encoding unless the
 * caller sends one: then curl is asked for that encoding (an empty value: every
 * one it knows) and decodes the body, so on_data always sees plain bytes.
 * Content-Length and Transfer-Encoding come from the body and are refused as
 * caller headers; "Name:" with an empty value is sent as an empty header. Redirects are not followed (a 3xx is a
 * complete response). Certificates are checked against the system CA store, and
 * the usual proxy variables (http_proxy, https_proxy, no_proxy) are honoured.
 *
 * Threads: everything here runs on the loop thread.
 */
#ifndef HEARTH_HTTP_H
#define HEARTH_HTTP_H

#include <stddef.h>

#include <uv.h>

#include <hearth/plugin.h>

/* Defaults for the request's zero timeouts, and the response header bound. */
#define HTTP_CONNECT_TIMEOUT_MS 10000u
#define HTTP_IDLE_TIMEOUT_MS 300000u
#define HTTP_HEADER_MAX (64u * 1024)   /* all header lines of one response */

struct http_client;

/*
 * A new client on `loop` (borrowed; must outlive the client). One per daemon:
 * requests share its connection cache. Initialises libcurl on first use. Aborts
 * only on out of memory; returns NULL if libcurl cannot be set up (logged).
 */
struct http_client *http_client_new(uv_loop_t *loop);

/*
 * Start shutting the client down. Every request still in flight is cancelled
 * without a callback (the owners are shutting down too); http_start() fails from
 * now on. The client's uv handles are closed while the loop runs; closed_cb(arg)
 * (optional) is called from the loop once the last one is closed, and the client
 * is freed right before it. The client pointer and every request handle are dead
 * once this returns (a callback of the client's own may still be unwinding: it
 * finishes safely). A second call is ignored. Safe from inside any callback.
 */
void http_client_close(struct http_client *c, void (*closed_cb)(void *arg), void *arg);

/*
 * Start a request. The request struct and everything it points to are borrowed
 * for the call only (copied). Returns a handle owned by the client: it stays
 * valid until on_done has returned or http_cancel() is called, and the caller
 * never frees it. On an invalid request (bad struct_size, no on_done, no url, a
 * URL that is not http(s), a method or header that is not a valid token or holds
 * CR/LF, HEAD with a body) or a closing client, returns NULL and, if error_out
 * is not NULL, stores a malloc'd message there (the caller frees it); no
 * callback runs. No callback ever runs before http_start() has returned.
 */
struct hearth_http *http_start(struct http_client *c, const struct hearth_http_request *req,
			       char **error_out);

/*
 * Cancel a request: no callback of it runs afterwards, and the handle is dead.
 * The connection it used is closed if the response was not complete. Must not be
 * called on a handle whose on_done has returned.
 */
void http_cancel(struct hearth_http *r);

/* How many requests are in flight (started, and neither done nor cancelled). */
size_t http_client_active(const struct http_client *c);

#endif
