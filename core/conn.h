/*
 * conn.h: connections to the core. A frontend opens one per client
 * (host->conn_open); every frame it passes in is parsed as JSON-RPC (rpc.h) and
 * handed to the dispatcher; what the core sends goes back through the frontend's
 * on_message. The core can also send requests of its own (permission requests)
 * and gets their answers through a callback.
 *
 * A connection is freed when both sides are done with it: the frontend by
 * conn_close(), the core by conn_end() (or at once when the frontend closes). The
 * core refers to connections by pointer only while they are open; every
 * broadcast checks conn->closed.
 */
#ifndef HEARTH_CONN_H
#define HEARTH_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rpc.h"

/* The largest frame the core accepts from a frontend. */
#define CONN_FRAME_MAX (64u * 1024 * 1024)

struct hearth_conn;

/* Called with each valid message from a client. msg is borrowed for the call. */
typedef void (*conn_dispatch_fn)(struct hearth_conn *c, struct rpc_msg *msg);
/* Called when a client disconnects (before the connection is freed). */
typedef void (*conn_gone_fn)(struct hearth_conn *c);

void conn_set_dispatch(conn_dispatch_fn dispatch, conn_gone_fn gone);

/* What host->conn_open/conn_send/conn_close do (see plugin.h for the contract). */
struct hearth_conn *conn_open(void (*on_message)(void *arg, const char *json, size_t len),
			      void (*on_close)(void *arg, const char *reason), void *arg);
int conn_send(struct hearth_conn *c, const char *json, size_t len);
void conn_close(struct hearth_conn *c);

/* Send a message to the client (borrowed). A closed connection drops it. */
void conn_write(struct hearth_conn *c, const json_t *msg);
/* Reply to a request: result stolen (NULL means {}). */
void conn_reply(struct hearth_conn *c, const json_t *id, json_t *result);
void conn_reply_error(struct hearth_conn *c, const json_t *id, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Send a request to the client. cb runs once: with the result or error object of
 * the answer (borrowed), or with both NULL when the request was withdrawn or the
 * connection closed. Returns the request id.
 */
typedef void (*conn_answer_fn)(void *arg, struct hearth_conn *c, const json_t *result,
			       const json_t *error);
json_int_t conn_request(struct hearth_conn *c, const char *method, json_t *params /* stolen */,
			conn_answer_fn cb, void *arg);
/* Forget a pending request without calling its callback; tells the client with
 * $/cancel_request. */
void conn_withdraw(struct hearth_conn *c, json_int_t id);

/* The core ends the connection: on_close(reason) reaches the frontend. */
void conn_end(struct hearth_conn *c, const char *reason);

/* Per-connection data the dispatcher keeps (initialize state, capabilities). */
struct conn_info {
	uint64_t id;             /* unique per daemon run, for logs */
	int initialized;         /* initialize was answered */
	json_t *client_caps;     /* owned: clientCapabilities, or NULL */
	int closed;              /* the frontend closed it: send nothing */
};
struct conn_info *conn_info(struct hearth_conn *c);

/* Every open connection, for broadcasts: call fn for each. */
void conn_foreach(void (*fn)(struct hearth_conn *c, void *arg), void *arg);
/* End every connection (shutdown). */
void conn_end_all(const char *reason);

#endif
