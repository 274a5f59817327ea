/*
 * agent.h: the agent loop. A turn runs one prompt in one session: it stores the
 * user's message, asks the session's model (through its provider module) for a
 * reply, streams the reply into the store and out to the session's followers,
 * runs the tool calls the model asks for (each after its permission check, which
 * may ask the followers), feeds the results back, and repeats until the model
 * stops or AGENT_MAX_STEPS requests were made. The prompt's requester gets
 * {"stopReason": ...} at the end (end_turn, max_tokens, max_turn_requests, refusal,
 * cancelled), or an error response naming the provider, the status and what to do.
 *
 * Streamed text is coalesced: it is committed (part text plus one update event) at
 * part boundaries, when AGENT_FLUSH_BYTES are pending, and at least every
 * AGENT_FLUSH_MS. Retryable provider errors are retried up to AGENT_MAX_RETRIES
 * times with exponential backoff and jitter, honouring retry-after.
 */
#ifndef HEARTH_AGENT_H
#define HEARTH_AGENT_H

#include <jansson.h>
#include <uv.h>

#include "conn.h"
#include "registry.h"
#include "session.h"

/* The default for the number of model requests one turn may make (max_steps). */
#define AGENT_MAX_STEPS 50
#define AGENT_FLUSH_MS 100
#define AGENT_FLUSH_BYTES 16384
#define AGENT_MAX_RETRIES 5
#define AGENT_RETRY_BASE_MS 1000
#define AGENT_RETRY_MAX_MS 60000
/* How much of a running tool's streamed output each progress update shows (its tail). */
#define AGENT_PROGRESS_TAIL (8 * 1024)
/* Project instructions read into the system prompt, at most this much of each file. */
#define AGENT_CONTEXT_FILE_MAX (64 * 1024)

void agent_init(uv_loop_t *loop, struct registry *registry);
/* How many model requests a turn may make (plugins.conf's max_steps). */
void agent_set_max_steps(int max_steps);

/*
 * Start a turn: `blocks` (borrowed) is the ACP prompt (content blocks). The answer
 * goes to (c, req_id) when the turn ends; c may go away meanwhile (the turn goes
 * on). Returns 0, or HEARTH_EBUSY when a turn is already running, or HEARTH_EINVAL
 * with *error (malloc'd) for a bad prompt or model.
 */
/*
 * The prompt's own permission rules (stolen; NULL for none) for the turn the next
 * agent_prompt() starts; that call takes them whatever it returns.
 */
struct permission_rules;
void agent_prompt_rules(struct permission_rules *rules);
int agent_prompt(struct session *s, const json_t *blocks, struct hearth_conn *c,
		 const json_t *req_id, char **error);
/* Cancel the session's turn, if any: it ends promptly with stopReason "cancelled". */
void agent_cancel(struct session *s);
/* $/cancel_request for a session/prompt request. */
void agent_cancel_request(struct hearth_conn *c, const json_t *req_id);
/* A connection went away: forget it as a requester and as a permission answerer. */
void agent_conn_gone(struct hearth_conn *c);
/* Shutdown: cancel every turn; their sessions are left "interrupted". */
void agent_shutdown(void);
/* Close what agent_init opened. */
void agent_close(void);

/*
 * Split "provider/model" and find the provider. On success *provider is the loaded
 * module (borrowed) and *model_id a malloc'd model id; else *error (malloc'd).
 * model NULL means the default model.
 */
int agent_resolve_model(const char *model, struct module **provider, char **model_id,
			char **error);
/* The default "provider/model" (malloc'd), or NULL when no provider offers one. */
char *agent_default_model(void);

#endif
