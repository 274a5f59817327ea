/* transcript.c: the one writer of the conversation (see transcript.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "log.h"
#include "store.h"
#include "transcript.h"
#include "xmalloc.h"

static char *transcript_err;   /* the last failure, malloc'd */

const char *
transcript_errmsg(void)
{
	return transcript_err != NULL ? transcript_err : "no error";
}

/* Keep the store's message, drop the transaction (nothing written, nothing said). */
static int
transcript_fail(int rc)
{
	struct store *st = session_store();
	free(transcript_err);
	transcript_err = xstrdup(store_errmsg(st));
	if (store_in_transaction(st))
		session_rollback();
	log_error("%s", transcript_err);
	return rc < 0 ? rc : HEARTH_EIO;
}

static int
transcript_begin(void)
{
	int rc = session_begin();
	return rc != 0 ? transcript_fail(rc) : 0;
}

static int
transcript_commit(void)
{
	int rc = session_commit();
	if (rc != 0) {
		free(transcript_err);
		transcript_err = xstrdup(store_errmsg(session_store()));
		/* A commit that failed busy leaves the transaction open: drop it. */
		if (store_in_transaction(session_store()))
			session_rollback();
		return rc;
	}
	return 0;
}

/* Emit inside the open transaction; its failure aborts it. */
static int
transcript_emit(struct session *s, json_t *update, const struct hearth_conn *except)
{
	int64_t seq = session_emit_except(s, update, except);
	json_decref(update);
	return seq < 0 ? transcript_fail((int)seq) : 0;
}

void
transcript_msg_init(struct transcript_msg *m, const char *role, const char *model)
{
	memset(m, 0, sizeof *m);
	m->role = role;
	m->model = model;
}

void
transcript_msg_reset(struct transcript_msg *m)
{
	free(m->id);
	transcript_msg_init(m, m->role, m->model);
}

/* The message in the store, created now if this is its first part. */
static int
transcript_msg_need(struct session *s, struct transcript_msg *m)
{
	if (m->id != NULL)
		return 0;
	int rc = store_message_add(session_store(), s->id, m->role, m->model, &m->id);
	return rc != 0 ? transcript_fail(rc) : 0;
}

/*
 * A part added inside the open transaction. A message created in a transaction
 * that is then rolled back is forgotten too (its id would name nothing).
 */
static int
transcript_part_add(struct session *s, struct transcript_msg *m, const json_t *part,
		    int *created, int *idx)
{
	*created = m->id == NULL;
	int rc = transcript_msg_need(s, m);
	if (rc != 0)
		return rc;
	int i = store_part_add(session_store(), m->id, part);
	if (i < 0)
		return transcript_fail(i);
	if (idx != NULL)
		*idx = i;
	return 0;
}

/* After a failure: a message created by the failed transaction does not exist. */
static int
transcript_undo(struct transcript_msg *m, int created, int rc)
{
	if (created) {
		free(m->id);
		m->id = NULL;
	}
	return rc;
}

/* ---------------------------------------------------------------- prompt -- */

/* The part a prompt block is stored as (a new reference), or NULL with *error. */
static json_t *
transcript_prompt_part(const json_t *b, size_t i, char **error)
{
	const char *type = json_string_value(json_object_get(b, "type"));
	json_t *part = NULL;
	if (type == NULL) {
		*error = xasprintf("prompt block %zu has no 'type'", i);
	} else if (strcmp(type, "text") == 0 && json_is_string(json_object_get(b, "text"))) {
		part = json_pack("{s:s,s:O}", "type", "text", "text", json_object_get(b, "text"));
	} else if (strcmp(type, "image") == 0 && json_is_string(json_object_get(b, "data")) &&
		   json_is_string(json_object_get(b, "mimeType"))) {
		part = json_pack("{s:s,s:O,s:O}", "type", "image", "mime",
				 json_object_get(b, "mimeType"), "data", json_object_get(b, "data"));
	} else if (strcmp(type, "resource_link") == 0 &&
		   json_is_string(json_object_get(b, "uri"))) {
		char *text = xasprintf("[resource: %s]", json_string_value(json_object_get(b, "uri")));
		part = json_pack("{s:s,s:s}", "type", "text", "text", text);
		free(text);
	} else if (strcmp(type, "resource") == 0 &&
		   json_is_string(json_object_get(json_object_get(b, "resource"), "text"))) {
		const json_t *r = json_object_get(b, "resource");
		char *text = xasprintf("<file uri=\"%s\">\n%s\n</file>",
				       json_is_string(json_object_get(r, "uri")) ?
				       json_string_value(json_object_get(r, "uri")) : "",
				       json_string_value(json_object_get(r, "text")));
		part = json_pack("{s:s,s:s}", "type", "text", "text", text);
		free(text);
	} else {
		*error = xasprintf("prompt block %zu: unsupported or malformed '%s' block", i, type);
	}
	return part;
}

int
transcript_prompt(struct session *s, const json_t *blocks, struct hearth_conn *sender,
		  char **error)
{
	/* Every block is checked before anything is written. */
	json_t *parts = json_array();
	size_t i;
	json_t *b;
	json_array_foreach(blocks, i, b) {
		json_t *part = transcript_prompt_part(b, i, error);
		if (part == NULL) {
			json_decref(parts);
			return HEARTH_EINVAL;
		}
		json_array_append_new(parts, part);
	}
	struct transcript_msg m;
	transcript_msg_init(&m, "user", NULL);
	int rc = transcript_begin();
	json_array_foreach(blocks, i, b) {
		int created;
		if (rc == 0)
			rc = transcript_part_add(s, &m, json_array_get(parts, i), &created, NULL);
		if (rc == 0)
			rc = transcript_emit(s, json_pack("{s:s,s:O,s:s}", "sessionUpdate",
							  "user_message_chunk", "content", b,
							  "messageId", m.id), sender);
	}
	if (rc == 0) {
		rc = store_message_finish(session_store(), m.id, HEARTH_FINISH_END_TURN, NULL, 0);
		rc = rc != 0 ? transcript_fail(rc) : transcript_commit();
	}
	json_t *part;
	json_array_foreach(parts, i, part)
		if (rc == 0)
			context_note_part(s->id, m.id, "user", part);
	json_decref(parts);
	transcript_msg_reset(&m);
	if (rc != 0)
		*error = xasprintf("could not store the prompt: %s", transcript_errmsg());
	return rc != 0 ? HEARTH_EIO : 0;
}

/* ------------------------------------------------------------- the reply -- */

int
transcript_text(struct session *s, struct transcript_msg *m, enum transcript_kind kind,
		const char *text, size_t len)
{
	json_t *content = json_pack("{s:s,s:s%}", "type", "text", "text", text, len);
	if (content == NULL) {  /* not UTF-8: never from a provider that parsed JSON */
		text = "\xef\xbf\xbd";
		len = strlen(text);
		content = json_pack("{s:s,s:s}", "type", "text", "text", text);
	}
	int rc = transcript_begin(), created = 0, opened = 0;
	json_t *part = NULL;
	if (rc == 0 && m->kind == kind) {
		rc = store_part_append_text(session_store(), m->id, m->part_idx, text, len);
		if (rc != 0)
			rc = transcript_fail(rc);
	} else if (rc == 0) {
		part = json_pack("{s:s,s:O}", "type", kind == TRANSCRIPT_TEXT ? "text" : "reasoning",
				 "text", json_object_get(content, "text"));
		int idx = 0;
		rc = transcript_part_add(s, m, part, &created, &idx);
		if (rc == 0) {
			opened = 1;
			m->kind = kind;
			m->part_idx = idx;
		}
	}
	if (rc == 0)
		rc = transcript_emit(s, json_pack("{s:s,s:O,s:s}", "sessionUpdate",
						  kind == TRANSCRIPT_TEXT ? "agent_message_chunk" :
						  "agent_thought_chunk", "content", content,
						  "messageId", m->id), NULL);
	json_decref(content);
	if (rc == 0)
		rc = transcript_commit();
	if (rc == 0 && opened)
		context_note_part(s->id, m->id, m->role, part);
	else if (rc == 0)
		context_note_text(s->id, m->id, m->part_idx, text, len);
	json_decref(part);
	if (rc != 0 && opened)
		m->kind = TRANSCRIPT_NONE;
	return rc != 0 ? transcript_undo(m, created, rc) : 0;
}

int
transcript_part_end(struct session *s, struct transcript_msg *m, const json_t *meta)
{
	int rc = 0;
	if (m->kind != TRANSCRIPT_NONE && json_is_object(meta)) {
		rc = store_part_set_meta(session_store(), m->id, m->part_idx, meta);
		if (rc != 0)
			rc = transcript_fail(rc);
		else
			context_note_meta(s->id, m->id, m->part_idx, meta);
	}
	m->kind = TRANSCRIPT_NONE;
	return rc;
}

int
transcript_tool_call(struct session *s, struct transcript_msg *m, const char *id,
		     const char *name, const json_t *input, const json_t *meta,
		     const json_t *describe)
{
	json_t *part = json_pack("{s:s,s:s,s:s,s:O}", "type", "tool_call", "id", id, "name", name,
				 "input", input);
	if (json_is_object(meta))
		json_object_set(part, "meta", (json_t *)meta);
	m->kind = TRANSCRIPT_NONE;
	int created = 0, rc = transcript_begin();
	if (rc == 0)
		rc = transcript_part_add(s, m, part, &created, NULL);
	if (rc == 0)
		rc = transcript_emit(s, json_pack("{s:s,s:s,s:O,s:O,s:s,s:O,s:O}", "sessionUpdate",
						  "tool_call", "toolCallId", id, "title",
						  json_object_get(describe, "title"), "kind",
						  json_object_get(describe, "kind"), "status", "pending",
						  "locations", json_object_get(describe, "locations"),
						  "rawInput", input), NULL);
	if (rc == 0)
		rc = transcript_commit();
	if (rc == 0)
		context_note_part(s->id, m->id, m->role, part);
	json_decref(part);
	return rc != 0 ? transcript_undo(m, created, rc) : 0;
}

/* A call's tool_call_update: status, and content/raw_output when given (borrowed). */
static json_t *
transcript_call_update(const char *call_id, const char *status, const json_t *content,
		       const json_t *raw_output)
{
	json_t *u = json_pack("{s:s,s:s,s:s}", "sessionUpdate", "tool_call_update", "toolCallId",
			      call_id, "status", status);
	if (content != NULL)
		json_object_set(u, "content", (json_t *)content);
	if (raw_output != NULL)
		json_object_set(u, "rawOutput", (json_t *)raw_output);
	return u;
}

int
transcript_tool_result(struct session *s, struct transcript_msg *m, const char *call_id,
		       const char *name, const char *text, int is_error, const json_t *content,
		       const json_t *raw_output)
{
	json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:b}", "type", "tool_result", "id", call_id,
			      "name", name != NULL ? name : "", "content", text, "is_error", is_error);
	if (r == NULL)
		r = json_pack("{s:s,s:s,s:s,s:s,s:b}", "type", "tool_result", "id", call_id, "name",
			      name != NULL ? name : "", "content", "(output was not valid UTF-8)",
			      "is_error", 1);
	int created = 0, rc = transcript_begin();
	if (rc == 0)
		rc = transcript_part_add(s, m, r, &created, NULL);
	if (rc == 0)
		rc = transcript_emit(s, transcript_call_update(call_id, is_error ? "failed" :
							       "completed", content, raw_output),
				     NULL);
	if (rc == 0)
		rc = transcript_commit();
	if (rc == 0)
		context_note_part(s->id, m->id, m->role, r);
	json_decref(r);
	return rc != 0 ? transcript_undo(m, created, rc) : 0;
}

int
transcript_tool_running(struct session *s, const char *call_id)
{
	return transcript_emit(s, transcript_call_update(call_id, "in_progress", NULL, NULL), NULL);
}

/*
 * The streamed text of an update ({"content": [{"type": "content", "content":
 * {"type": "text", "text"}}...]}) joined, or NULL when the update is not only text.
 * malloc'd.
 */
static char *
transcript_update_text(const json_t *content)
{
	if (!json_is_array(content) || json_array_size(content) == 0)
		return NULL;
	size_t i;
	json_t *item;
	char *out = xstrdup("");
	json_array_foreach(content, i, item) {
		const json_t *block = json_object_get(item, "content");
		const char *type = json_string_value(json_object_get(item, "type"));
		const char *text = json_string_value(json_object_get(block, "text"));
		if (type == NULL || strcmp(type, "content") != 0 || text == NULL) {
			free(out);
			return NULL;
		}
		char *more = xasprintf("%s%s", out, text);
		free(out);
		out = more;
	}
	return out;
}

int
transcript_tool_progress(struct session *s, const char *call_id, const json_t *update,
			 char **tail, size_t tail_max)
{
	json_t *u = json_deep_copy(update);
	json_object_del(u, "status");
	json_object_set_new(u, "sessionUpdate", json_string("tool_call_update"));
	json_object_set_new(u, "toolCallId", json_string(call_id));
	char *text = transcript_update_text(json_object_get(update, "content"));
	if (text != NULL) {
		char *all = xasprintf("%s%s", *tail != NULL ? *tail : "", text);
		size_t len = strlen(all), cut = 0;
		if (len > tail_max) {
			cut = len - tail_max;
			/* Never start inside a UTF-8 character. */
			while (cut < len && ((unsigned char)all[cut] & 0xc0) == 0x80)
				cut++;
		}
		free(*tail);
		*tail = xstrdup(all + cut);
		json_object_set_new(u, "content", json_pack("[{s:s,s:{s:s,s:s}}]", "type", "content",
							    "content", "type", "text", "text",
							    *tail));
		free(all);
		free(text);
	}
	int64_t seq = session_emit(s, u);
	json_decref(u);
	return seq < 0 ? transcript_fail((int)seq) : 0;
}

/* Tell the followers how full the context is and what the session has cost. */
static int
transcript_usage(struct session *s, const struct hearth_usage *u, json_int_t window)
{
	struct store_usage total;
	int rc = store_session_usage(session_store(), s->id, &total);
	if (rc != 0)
		return transcript_fail(rc);
	return transcript_emit(s, json_pack(
		"{s:s,s:I,s:I,s:{s:f,s:s},s:{s:{s:I,s:I,s:I,s:I,s:I}}}",
		"sessionUpdate", "usage_update",
		"used", (json_int_t)(u->input_tokens + u->cache_read_tokens + u->cache_write_tokens +
				     u->output_tokens),
		"size", window,
		"cost", "amount", (double)total.cost_micros / 1e6, "currency", "USD",
		"_meta", "hearth", "inputTokens", (json_int_t)total.tokens.input_tokens,
		"outputTokens", (json_int_t)total.tokens.output_tokens,
		"reasoningTokens", (json_int_t)total.tokens.reasoning_tokens,
		"cacheReadTokens", (json_int_t)total.tokens.cache_read_tokens,
		"cacheWriteTokens", (json_int_t)total.tokens.cache_write_tokens), NULL);
}

int
transcript_finish(struct session *s, struct transcript_msg *m, enum hearth_finish finish,
		  const struct hearth_usage *usage, int64_t cost_micros, json_int_t window)
{
	m->kind = TRANSCRIPT_NONE;
	/* Nothing written: only a reply that ended well is kept, for its usage. */
	if (m->id == NULL && (finish == HEARTH_FINISH_ERROR || finish == HEARTH_FINISH_CANCELLED ||
			      strcmp(m->role, "assistant") != 0))
		return 0;
	int has_usage = usage != NULL && usage->input_tokens + usage->output_tokens +
			usage->cache_read_tokens + usage->cache_write_tokens > 0;
	int created = 0, rc = transcript_begin();
	if (rc == 0) {
		created = m->id == NULL;
		rc = transcript_msg_need(s, m);
	}
	if (rc == 0) {
		rc = store_message_finish(session_store(), m->id, finish, usage, cost_micros);
		if (rc != 0)
			rc = transcript_fail(rc);
	}
	if (rc == 0 && has_usage && strcmp(m->role, "assistant") == 0)
		rc = transcript_usage(s, usage, window);
	if (rc == 0)
		rc = transcript_commit();
	if (rc == 0 && created)
		context_note_message(s->id, m->id, m->role);
	return rc != 0 ? transcript_undo(m, created, rc) : 0;
}

/* ---------------------------------------------------------------- repair -- */

int
transcript_repair(struct session *s, size_t *closed)
{
	if (closed != NULL)
		*closed = 0;
	const json_t *history = context_history(s);
	if (history == NULL)
		return transcript_fail(HEARTH_EIO);
	json_t *open = json_object();
	size_t i;
	json_t *msg;
	json_array_foreach(history, i, msg) {
		size_t j;
		json_t *part;
		json_array_foreach(json_object_get(msg, "parts"), j, part) {
			const char *type = json_string_value(json_object_get(part, "type"));
			const char *id = json_string_value(json_object_get(part, "id"));
			if (type == NULL || id == NULL)
				continue;
			if (strcmp(type, "tool_call") == 0)
				json_object_set(open, id, json_object_get(part, "name"));
			else if (strcmp(type, "tool_result") == 0)
				json_object_del(open, id);
		}
	}
	int rc = 0;
	if (json_object_size(open) > 0) {
		struct transcript_msg m;
		transcript_msg_init(&m, "tool", NULL);
		const char *id;
		json_t *name;
		json_t *results = json_array();
		rc = transcript_begin();
		json_object_foreach(open, id, name) {
			json_t *r = json_pack("{s:s,s:s,s:O,s:s,s:b}", "type", "tool_result", "id", id,
					      "name", name, "content",
					      "interrupted: this call did not run", "is_error", 1);
			int created;
			if (rc == 0)
				rc = transcript_part_add(s, &m, r, &created, NULL);
			json_array_append_new(results, r);
			if (rc == 0)
				rc = transcript_emit(s, transcript_call_update(id, "failed", NULL, NULL),
						     NULL);
		}
		if (rc == 0) {
			rc = store_message_finish(session_store(), m.id, HEARTH_FINISH_END_TURN, NULL, 0);
			rc = rc != 0 ? transcript_fail(rc) : transcript_commit();
		}
		json_t *r;
		json_array_foreach(results, i, r)
			if (rc == 0)
				context_note_part(s->id, m.id, "tool", r);
		json_decref(results);
		transcript_msg_reset(&m);
		if (rc == 0) {
			if (closed != NULL)
				*closed = json_object_size(open);
			log_info("session %s: closed %zu tool call%s left open by an interrupted turn",
				 s->id, json_object_size(open), json_object_size(open) == 1 ? "" : "s");
		}
	}
	json_decref(open);
	return rc;
}

void
transcript_close(void)
{
	free(transcript_err);
	transcript_err = NULL;
}
