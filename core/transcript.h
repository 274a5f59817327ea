/*
 * transcript.h: the one writer of the conversation.
 *
 * A session's conversation is written twice: as messages and parts (what the
 * model is sent again) and as ACP `session/update` events (what clients are told
 * and replayed). Every function here writes a part and the event that announces
 * it in one store transaction, through session_begin()/session_commit(): both are
 * committed or neither is, and the event is sent to the followers only once it is
 * committed. The agent loop writes the conversation only through this file, and
 * this file is the only one that builds the ACP updates that announce it.
 *
 * Every function returns 0 or a negative HEARTH_E*; on error nothing was written
 * or said, and transcript_errmsg() says why (the caller ends the turn with it).
 * A message is created with its first part, so an attempt that wrote nothing (a
 * failed request, later retried) leaves no empty message in the history.
 */
#ifndef HEARTH_TRANSCRIPT_H
#define HEARTH_TRANSCRIPT_H

#include <stdint.h>

#include <jansson.h>
#include <hearth/provider.h>

#include "conn.h"
#include "session.h"

enum transcript_kind { TRANSCRIPT_NONE, TRANSCRIPT_TEXT, TRANSCRIPT_REASONING };

/* A message being written: the model's reply, or a step's tool results. */
struct transcript_msg {
	char *id;                  /* owned; NULL until the first part is written */
	const char *role;          /* borrowed: "assistant" or "tool" */
	const char *model;         /* borrowed: stored with an assistant message, or NULL */
	enum transcript_kind kind; /* the open text or reasoning part, or NONE */
	int part_idx;              /* its index, when kind is not NONE */
};

/* An empty message of this role; model is borrowed and must outlive it. */
void transcript_msg_init(struct transcript_msg *m, const char *role, const char *model);
/* Free what the message holds (not the store's copy) and make it empty again. */
void transcript_msg_reset(struct transcript_msg *m);

/* Why the last call failed (borrowed, valid until the next call). */
const char *transcript_errmsg(void);

/*
 * The user's prompt (ACP content blocks, borrowed): a user message with one part
 * per block and a `user_message_chunk` per block, sent to every follower but
 * `sender` (which has the prompt already; NULL: every follower). HEARTH_EINVAL
 * with *error (malloc'd) naming the block for a malformed or unsupported one;
 * HEARTH_EIO with *error for a store failure.
 */
int transcript_prompt(struct session *s, const json_t *blocks, struct hearth_conn *sender,
		      char **error);

/*
 * Streamed text of the given kind (text or reasoning): appended to the message's
 * open part of that kind, or a new part when none is open, with one
 * agent_message_chunk or agent_thought_chunk. The caller closes a part of the
 * other kind first (transcript_part_end).
 */
int transcript_text(struct session *s, struct transcript_msg *m, enum transcript_kind kind,
		    const char *text, size_t len);
/* The open part is complete: its meta (borrowed object, or NULL) is stored. */
int transcript_part_end(struct session *s, struct transcript_msg *m, const json_t *meta);

/*
 * A tool call of the model: a tool_call part and a pending `tool_call` update.
 * input and meta are borrowed; describe is tools_describe()'s answer (borrowed).
 */
int transcript_tool_call(struct session *s, struct transcript_msg *m, const char *id,
			 const char *name, const json_t *input, const json_t *meta,
			 const json_t *describe);
/*
 * A call's result: a tool_result part of the step's tool message and the call's
 * final `tool_call_update` ("completed" or "failed"), with content (ACP tool call
 * content, borrowed, or NULL) and raw_output (borrowed, or NULL).
 */
int transcript_tool_result(struct session *s, struct transcript_msg *m, const char *call_id,
			   const char *name, const char *text, int is_error,
			   const json_t *content, const json_t *raw_output);
/* The call is running: an `in_progress` tool_call_update (an event, no part). */
int transcript_tool_running(struct session *s, const char *call_id);
/*
 * Progress of a running call (update borrowed: a tool's tool_call_update). ACP's
 * tool_call_update replaces the call's content, so streamed text (a tool sending
 * only what is new) is kept in *tail (malloc'd, the caller frees it), its last
 * TURN_PROGRESS_TAIL bytes, and each update shows that tail. Other updates pass
 * through as they are.
 */
int transcript_tool_progress(struct session *s, const char *call_id, const json_t *update,
			     char **tail, size_t tail_max);

/*
 * The message is complete: how it ended, its usage (NULL: none) and cost. For an
 * assistant message with usage, a `usage_update` (context window `window`, 0 if
 * unknown) is written with it. A message that has no part yet is created empty
 * only when it is a reply that ended well (its usage counts); a failed or
 * cancelled attempt, or a step without tool results, that wrote nothing stores
 * nothing.
 */
int transcript_finish(struct session *s, struct transcript_msg *m, enum hearth_finish finish,
		      const struct hearth_usage *usage, int64_t cost_micros, json_int_t window);

/*
 * Every tool call in the session's history gets a result: a turn the daemon's
 * death cut short can leave calls without one, which no provider accepts. The
 * results say the call was interrupted; each call's `tool_call_update` "failed"
 * is written with it. *closed (may be NULL) gets how many were closed.
 */
int transcript_repair(struct session *s, size_t *closed);

/* Free what the last failure kept (shutdown). */
void transcript_close(void);

#endif
