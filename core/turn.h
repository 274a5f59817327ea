/*
 * turn.h: the turn state machine. A turn runs one prompt in one session: it
 * stores the user's message, asks the session's model (through its provider
 * module) for a reply, streams the reply into the transcript (transcript.h), runs
 * the tool calls the model asks for (each after its permission check, which may
 * ask the followers), feeds the results back, and repeats until the model stops
 * or max_steps requests were made. Then it tells its requester how it ended.
 *
 * The requester is a callback, not a connection: an ACP client's session/prompt
 * (agent.c), a queued prompt or a sub-agent can each be one.
 *
 * Streamed text is coalesced: it is committed (part text plus one update event) at
 * part boundaries, when TURN_FLUSH_BYTES are pending, and at least every
 * TURN_FLUSH_MS. Retryable provider errors are retried up to TURN_MAX_RETRIES
 * times with exponential backoff and jitter, honouring retry-after. Each change of
 * what the turn is doing goes to the followers as `_hearth/turn_state`
 * (doc/protocol.md).
 */
#ifndef HEARTH_TURN_H
#define HEARTH_TURN_H

#include <jansson.h>
#include <uv.h>

#include "conn.h"
#include "session.h"

/* The default for the number of model requests one turn may make (max_steps). */
#define TURN_MAX_STEPS 50
#define TURN_FLUSH_MS 100
#define TURN_FLUSH_BYTES 16384
#define TURN_MAX_RETRIES 5
#define TURN_RETRY_BASE_MS 1000
#define TURN_RETRY_MAX_MS 60000
/* How much of a running tool's streamed output each progress update shows (its tail). */
#define TURN_PROGRESS_TAIL (8 * 1024)

struct turn_requester {
	/*
	 * The turn in session s ended: stop_reason is "end_turn", "max_tokens",
	 * "max_turn_requests", "refusal" or "cancelled"; or it is NULL and rpc_code and
	 * error (borrowed, valid during the call) say what failed. Called exactly once,
	 * from the loop, after s->turn is NULL: it may start the session's next turn.
	 */
	void (*done)(void *arg, struct session *s, const char *stop_reason, int rpc_code,
		     const char *error);
	void *arg;
};

/* The loop for the turns' timers (borrowed); max_steps 0 means TURN_MAX_STEPS. */
void turn_init(uv_loop_t *loop, int max_steps);
/*
 * Start a turn: `blocks` (borrowed) is the ACP prompt (content blocks); sender
 * (may be NULL) is the connection that sent it, which gets no echo of it; req is
 * copied. Returns 0 (req->done will be called), or HEARTH_EBUSY when a turn is
 * already running, or HEARTH_EINVAL with *error (malloc'd) for a bad prompt or
 * model or a store failure (req->done is not called then).
 */
int turn_start(struct session *s, const json_t *blocks, struct hearth_conn *sender,
	       const struct turn_requester *req, char **error);
/* Cancel the session's turn, if any: it ends promptly with stopReason "cancelled". */
void turn_cancel(struct session *s);
/*
 * Shutdown: cancel every turn; their sessions are left "interrupted". Then the
 * cached histories (context.h) and the transcript's last error are freed.
 */
void turn_shutdown(void);
/* The same (what agent_close() calls). */
void turn_close(void);

#endif
