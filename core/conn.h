/*
 * conn.h: connections to the core. A frontend opens one per client
 * (host->conn_open); every frame it passes in is parsed as JSON-RPC (rpc.h) and
 * handed to the dispatcher. The core can also send requests of its own
 * (permission requests) and gets their answers through a callback.
 *
 * Delivery. What the core sends is serialized at once into the connection's own
 * outbound queue and handed to the frontend's on_message later, from the loop
 * (defer.h), never inside the core's call stack: a frontend may call conn_send()
 * or conn_close() from inside on_message, and the core may send to a connection
 * from anywhere. on_close and on_drain come from the loop too.
 *
 * The queue is bounded (CONN_QUEUE_DEFAULT, or what the frontend sets with
 * conn_flow()); with max its bound:
 *   - anything fits while at most max/4 bytes are queued, whatever its size: a
 *     message larger than the whole queue still goes, alone;
 *   - a session/update (conn_queue_update) is dropped when it would take the queue
 *     past 3/4 of max; the connection is then "lagging": every update is dropped
 *     until the queue is back under max/2, when the client gets
 *     `_hearth/resync {reason, dropped}` and catches up by sequence number;
 *   - anything else (responses, requests, other notifications) is never dropped:
 *     one that would take the queue past max ends the connection, with the reason
 *     logged and sent (`_hearth/closing {reason}`);
 *   - with an on_drain callback set, conn_send() refuses (HEARTH_EBUSY) while more
 *     than max/2 bytes are queued, and on_drain runs once the queue is back under
 *     max/4: the frontend stops reading its client instead of letting the answers
 *     to what it sends overflow;
 *   - the frontend may pause delivery (conn_pause) while its own output is full.
 *
 * Lifetime. The frontend is done with a connection after conn_close() or once
 * on_close has run; the core forgets it (conn_gone_fn) when the frontend closes it
 * or when the core ends it. Its memory is freed only when nothing can reach it any
 * more: not before a delivery scheduled on the loop has run.
 */
#ifndef HEARTH_CONN_H
#define HEARTH_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rpc.h"

/* The largest frame the core accepts from a frontend. */
#define CONN_FRAME_MAX (64u * 1024 * 1024)
/* The outbound queue's bound unless the frontend sets another (conn_flow). */
#define CONN_QUEUE_DEFAULT (8u * 1024 * 1024)
/* The smallest bound conn_flow accepts. */
#define CONN_QUEUE_MIN 1024u

struct hearth_conn;

/* Called with each valid message from a client. msg is borrowed for the call. */
typedef void (*conn_dispatch_fn)(struct hearth_conn *c, struct rpc_msg *msg);
/* The connection is going (closed by its frontend or ended by the core): forget it.
 * Runs once, from the loop or from conn_close(), never inside a conn_write(). */
typedef void (*conn_gone_fn)(struct hearth_conn *c);

void conn_set_dispatch(conn_dispatch_fn dispatch, conn_gone_fn gone);

/*
 * What host->conn_open/conn_send/conn_close/conn_flow/conn_pause do (see plugin.h
 * for the contract). conn_open returns NULL when a callback is missing.
 * conn_send returns 0, HEARTH_ELIMIT (frame over CONN_FRAME_MAX, answered with an
 * error), HEARTH_EBUSY (on_drain is set and the queue is full: not taken, send it
 * again after on_drain) or HEARTH_EINVAL (closed).
 */
struct hearth_conn *conn_open(void (*on_message)(void *arg, const char *json, size_t len),
			      void (*on_close)(void *arg, const char *reason), void *arg);
int conn_send(struct hearth_conn *c, const char *json, size_t len);
void conn_close(struct hearth_conn *c);
/* queue_max 0 keeps the bound; else at least CONN_QUEUE_MIN (else HEARTH_EINVAL). */
int conn_flow(struct hearth_conn *c, size_t queue_max, void (*on_drain)(void *arg));
void conn_pause(struct hearth_conn *c, int paused);

/* Send a message to the client (borrowed); never dropped (see above). */
void conn_write(struct hearth_conn *c, const json_t *msg);
/* Queue serialized text (borrowed, copied; no newline). update 1: a session/update,
 * which may be dropped. Returns 0 when queued, HEARTH_ELIMIT when dropped (the
 * client will be told to resync), HEARTH_EINVAL when the connection is going. */
int conn_queue(struct hearth_conn *c, const char *text, size_t len, int update);
/* Reply to a request: result stolen (NULL means {}). */
void conn_reply(struct hearth_conn *c, const json_t *id, json_t *result);
void conn_reply_error(struct hearth_conn *c, const json_t *id, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Pacing, for replays: conn_has_room() is 1 when `len` more bytes keep the queue
 * under max/2 (or it is under max/4). conn_on_room() asks for fn(arg, c) to run
 * from the loop once that holds (one such callback per connection; fn NULL
 * cancels it). It never runs after the connection has gone.
 */
int conn_has_room(struct hearth_conn *c, size_t len);
void conn_on_room(struct hearth_conn *c, size_t len, void (*fn)(void *arg, struct hearth_conn *c),
		  void *arg);

/*
 * Send a request to the client. cb runs once, from the loop or a dispatch, never
 * inside conn_request(): with the result or error object of the answer (borrowed),
 * or with both NULL when the request was withdrawn or the connection went away.
 * Returns the request id.
 */
typedef void (*conn_answer_fn)(void *arg, struct hearth_conn *c, const json_t *result,
			       const json_t *error);
json_int_t conn_request(struct hearth_conn *c, const char *method, json_t *params /* stolen */,
			conn_answer_fn cb, void *arg);
/* Forget a pending request without calling its callback; tells the client with
 * $/cancel_request. */
void conn_withdraw(struct hearth_conn *c, json_int_t id);

/* The core ends the connection: what is queued goes out, then `_hearth/closing
 * {reason}`, then on_close(reason) reaches the frontend. reason is copied. */
void conn_end(struct hearth_conn *c, const char *reason);

/* Per-connection data the dispatcher keeps (initialize state, capabilities). */
struct conn_info {
	uint64_t id;             /* unique per daemon run, for logs */
	int initialized;         /* initialize was answered */
	json_t *client_caps;     /* owned: clientCapabilities, or NULL */
	int closed;              /* closed or ending: send nothing */
	size_t queued;           /* bytes in the outbound queue now */
	size_t queued_peak;      /* the most it ever held */
	uint64_t dropped;        /* updates dropped, ever */
};
struct conn_info *conn_info(struct hearth_conn *c);

/* Every open connection, for broadcasts: call fn for each. */
void conn_foreach(void (*fn)(struct hearth_conn *c, void *arg), void *arg);
/* End every connection now (shutdown, from the loop): each gets what is queued
 * (unless its frontend paused it) and its on_close before this returns. */
void conn_end_all(const char *reason);

#endif
