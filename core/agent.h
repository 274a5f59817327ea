/*
 * agent.h: prompts from ACP clients, run as turns (turn.h).
 *
 * A session/prompt becomes a turn whose requester is the connection and request
 * id that sent it: the requester gets {"stopReason": ...} when the turn ends
 * (end_turn, max_tokens, max_turn_requests, refusal, cancelled), or an error
 * response naming the provider, the status and what to do. The connection may go
 * away meanwhile: the turn goes on. One turn runs per session at a time; the
 * prompts that come meanwhile wait in the session's queue, in order.
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

/* How many prompts may wait behind a session's running turn. */
#define AGENT_QUEUE_MAX 16

/*
 * Run a prompt: `blocks` (borrowed) is the ACP prompt (content blocks). When the
 * session has no turn running it starts now; else it is queued behind it (the
 * followers get `_hearth/prompt_queue`) and starts when the turns before it end,
 * its echo and message stored only then. The answer goes to (c, req_id) when its
 * own turn ends. Returns 0, or HEARTH_EBUSY when AGENT_QUEUE_MAX prompts wait
 * already, or HEARTH_EINVAL with *error (malloc'd) for a bad prompt or model (a
 * queued prompt that turns out bad at its start is answered with the error).
 */
/*
 * The prompt's own permission rules (stolen; NULL for none) for the turn the next
 * agent_prompt() starts; that call takes them whatever it returns.
 */
struct permission_rules;
void agent_prompt_rules(struct permission_rules *rules);
int agent_prompt(struct session *s, const json_t *blocks, struct hearth_conn *c,
		 const json_t *req_id, char **error);
/*
 * session/cancel: the session's turn, if any, ends promptly with stopReason
 * "cancelled", and so is every prompt queued behind it.
 */
void agent_cancel(struct session *s);
/* $/cancel_request for a session/prompt request: its turn, or only it if queued. */
void agent_cancel_request(struct hearth_conn *c, const json_t *req_id);
/* A connection went away: forget it as a requester. */
void agent_conn_gone(struct hearth_conn *c);
/* Shutdown: cancel every turn, answering nobody; their sessions are left "interrupted". */
void agent_shutdown(void);
/* Close what agent_init opened. */
void agent_close(void);

#endif
