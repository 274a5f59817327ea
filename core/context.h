/*
 * context.h: what a provider request is built from.
 *
 * A request (provider.h) is the model id, the system prompt, the tool list and
 * the history. The history of a session is read from the store once and then
 * kept in memory: transcript.c tells this file of every part it commits
 * (context_note_*), so a step costs what the new parts cost, not a re-read of the
 * whole conversation. The project's instruction files are read on a pool thread.
 *
 * Between the history and the request sits context_fit(), the token budget: the
 * one place where compaction (issue 14) will shorten what is sent.
 */
#ifndef HEARTH_CONTEXT_H
#define HEARTH_CONTEXT_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "session.h"

/* The instruction files read into the system prompt: at most this much of each. */
#define CONTEXT_FILE_MAX (64 * 1024)
/* How many sessions' histories are kept in memory (least recently used dropped). */
#define CONTEXT_CACHE_SESSIONS 32

struct context_build;

/*
 * request: {"model", "system", "messages", "tools"} (a new reference the callee
 * takes), or NULL with error (borrowed, valid during the call).
 */
typedef void (*context_done_fn)(void *arg, json_t *request, const char *error);

/* The loop whose thread pool reads the instruction files (borrowed). */
void context_init(uv_loop_t *loop);
/*
 * Build the request for the session's next step. done() is always called later,
 * from the loop, never inside this call; the returned handle is valid until then.
 * model_id is copied.
 */
struct context_build *context_build(struct session *s, const char *model_id,
				    context_done_fn done, void *arg);
/* The caller goes away: done() is never called for this build. */
void context_abandon(struct context_build *b);

/*
 * The session's history as store_history() gives it (borrowed, valid until the
 * next transcript write or context call), loaded from the store on first use; NULL
 * on a store error (store_errmsg()).
 */
const json_t *context_history(struct session *s);

/*
 * The token budget. Given the history to send (borrowed) and the model's context
 * window in tokens (0: unknown), returns the messages to send (a new reference).
 * Today it sends everything and only estimates (context_estimate_tokens); issue
 * 14's compaction replaces the oldest turns with a summary here, and nowhere else.
 */
json_t *context_fit(struct session *s, const json_t *messages, json_int_t window);
/* A rough token count of a JSON value: its serialized size / 4. */
size_t context_estimate_tokens(const json_t *v);

/*
 * What transcript.c committed, so the cached history follows. Only committed
 * writes are told. A session whose history is not cached ignores them.
 */
void context_note_message(const char *session_id, const char *msg_id, const char *role);
/* part is borrowed (copied). */
void context_note_part(const char *session_id, const char *msg_id, const char *role,
		       const json_t *part);
void context_note_text(const char *session_id, const char *msg_id, int part_idx,
		       const char *text, size_t len);
/* meta is borrowed (copied). */
void context_note_meta(const char *session_id, const char *msg_id, int part_idx,
		       const json_t *meta);
/* Forget the session's cached history (it is read again on next use). */
void context_forget(const char *session_id);

/* Free every cached history (shutdown; builds must be done or abandoned). */
void context_close(void);

#endif
