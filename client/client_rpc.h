/*
 * client_rpc.h: a small blocking JSON-RPC 2.0 client for the hearth client, one
 * message per line over a connected stream socket (the daemon's wire, see
 * doc/protocol.md).
 *
 * client_rpc_call() sends a request and reads frames until its answer arrives;
 * every notification and every request from the daemon seen meanwhile goes to the
 * message handler. Handlers may call client_rpc_call() themselves: an answer that
 * belongs to an outer call is kept until that call looks for it.
 *
 * Transport failures (the daemon went away, a broken or oversized frame, a timeout,
 * an interrupt) are negative HEARTH_E* codes; client_rpc_why() then says what
 * happened in words.
 */
#ifndef HEARTH_CLIENT_RPC_H
#define HEARTH_CLIENT_RPC_H

#include <stddef.h>

#include <jansson.h>

#include "rpc.h"

/* The longest frame accepted from the daemon (a replayed tool output can be big). */
#define CLIENT_RPC_FRAME_MAX (64u * 1024 * 1024)
/* How long a call waits for the next frame unless told otherwise. */
#define CLIENT_RPC_TIMEOUT_MS 30000

struct client_rpc;

/*
 * Called with each notification and each daemon->client request; msg is borrowed
 * for the call. Return 1 when handled (a request must then be answered with
 * client_rpc_reply*), 0 when not: an unhandled request is answered -32601 and an
 * unhandled notification ignored.
 */
typedef int (*client_rpc_msg_fn)(void *arg, struct client_rpc *c, const struct rpc_msg *msg);
/*
 * Called when SIGINTs arrived (see sigint.h) since the last call, checked each time
 * the client starts or resumes waiting for the daemon. Return 0 to keep waiting,
 * non-zero to give up: the call or pump then returns HEARTH_ECANCELED.
 */
typedef int (*client_rpc_signal_fn)(void *arg, struct client_rpc *c);

/* Wrap a connected socket; the client_rpc owns fd from now on and closes it. */
struct client_rpc *client_rpc_new(int fd);
/* Close the socket and free everything, including answers nobody collected. */
void client_rpc_free(struct client_rpc *c);

void client_rpc_set_handler(struct client_rpc *c, client_rpc_msg_fn on_msg,
			    client_rpc_signal_fn on_signal, void *arg);
/* Longest wait for the next frame, in ms; -1 waits for ever. */
void client_rpc_set_timeout(struct client_rpc *c, int timeout_ms);
void client_rpc_set_frame_max(struct client_rpc *c, size_t max);

/*
 * Send request `method` (params stolen; NULL means {}) and wait for its answer.
 * Returns 0 when it came: then exactly one of *result (the result) and *error (the
 * error object, {code, message, data?}) is set, a new reference the caller
 * releases, and the other is NULL. Otherwise both are NULL and the return is
 * HEARTH_EIO (write failed or the daemon closed the connection), HEARTH_EPROTO (a
 * frame that is not JSON-RPC), HEARTH_ELIMIT (a frame over the limit),
 * HEARTH_ETIMEDOUT or HEARTH_ECANCELED (the signal handler gave up).
 */
int client_rpc_call(struct client_rpc *c, const char *method, json_t *params,
		    json_t **result, json_t **error);

/* Send a notification (params stolen). 0 or HEARTH_EIO. */
int client_rpc_notify(struct client_rpc *c, const char *method, json_t *params);
/* Answer a daemon request: id borrowed, result stolen (NULL means {}). 0 or HEARTH_EIO. */
int client_rpc_reply(struct client_rpc *c, const json_t *id, json_t *result);
int client_rpc_reply_error(struct client_rpc *c, const json_t *id, int code, const char *message);

/*
 * Wait for one message (up to the timeout) and hand it to the handler. Returns 0,
 * or what client_rpc_call() returns on failure (HEARTH_EIO when the daemon closed
 * the connection). A stray answer to no pending call is dropped.
 */
int client_rpc_pump(struct client_rpc *c);

/* What the last failure was, in words ("the daemon closed the connection"). Borrowed. */
const char *client_rpc_why(const struct client_rpc *c);

/*
 * The ACP handshake: initialize with protocolVersion 1, no fs or terminal
 * capabilities, clientInfo {name "hearth", version}. Returns 0 and, if agent is
 * non-NULL, the daemon's answer in *agent (new reference); else HEARTH_EPROTO with
 * *why a malloc'd message (an error answer, another protocol version) or a
 * transport failure code with *why a copy of client_rpc_why().
 */
int client_rpc_initialize(struct client_rpc *c, json_t **agent, char **why);

#endif
