/*
 * agent.h: prompts from ACP clients, run as turns (turn.h).
 *
 * A session/prompt becomes a turn whose requester is the connection and request
 * id that sent it: the requester gets {"stopReason": ...} when the turn ends
 * (end_turn, max_tokens, max_turn_requests, refusal, cancelled), or an error
 * response naming the provider, the status and what to do. The connection may go
 * away meanwhile: the turn goes on.
 */
#ifndef HEARTH_AGENT_H
#define HEARTH_AGENT_H

#include <jansson.h>
#include <uv.h>

#include "conn.h"
#include "registry.h"
#include "session.h"

void agent_init(uv_loop_t *loop, struct registry *registry);
/* How many model requests a turn may make (plugins.conf's max_steps; 0: the default). */
void agent_set_max_steps(int max_steps);

/*
 * Start a turn: `blocks` (borrowed) is the ACP prompt (content blocks). The answer
 * goes to (c, req_id) when the turn ends. Returns 0, or HEARTH_EBUSY when a turn
 * is already running, or HEARTH_EINVAL with *error (malloc'd) for a bad prompt or
 * model.
 */
int agent_prompt(struct session *s, const json_t *blocks, struct hearth_conn *c,
		 const json_t *req_id, char **error);
/* Cancel the session's turn, if any: it ends promptly with stopReason "cancelled". */
void agent_cancel(struct session *s);
/* $/cancel_request for a session/prompt request. */
void agent_cancel_request(struct hearth_conn *c, const json_t *req_id);
/* A connection went away: forget it as a requester. */
void agent_conn_gone(struct hearth_conn *c);
/* Shutdown: cancel every turn, answering nobody; their sessions are left "interrupted". */
void agent_shutdown(void);
/* Close what agent_init opened. */
void agent_close(void);

#endif
