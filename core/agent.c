/* agent.c: ACP prompts as turns, one at a time per session, the others queued (see agent.h). */
#include "config.h"

#include <stdlib.h>

#include "agent.h"
#include "permission.h"
#include "rpc.h"
#include "turn.h"
#include "xmalloc.h"

/* A session/prompt: running (its turn's requester) or queued behind the session's turn. */
struct agent_request {
	struct session *s;
	struct hearth_conn *conn;       /* who asked; NULL once gone */
	json_t *req_id;                 /* owned */
	json_t *blocks;                 /* owned while queued; NULL once its turn started */
	json_int_t queue_id;            /* names it in _hearth/prompt_queue */
	struct permission_rules *rules; /* owned until its turn starts: the prompt's own rules */
	struct agent_request *next;
};

/* Every request, in the order they came: a session's queue is its queued ones, in order. */
static struct agent_request *agent_requests;
static uv_loop_t *agent_loop;
static int agent_max_steps;
static json_int_t agent_next_queue_id = 1;
static int agent_stopping;

void
agent_init(uv_loop_t *loop, struct registry *registry)
{
	(void)registry;
	agent_loop = loop;
	agent_stopping = 0;
	turn_init(loop, agent_max_steps);
}

void
agent_set_max_steps(int max_steps)
{
	agent_max_steps = max_steps;
	turn_init(agent_loop, max_steps);
}

static void
agent_request_free(struct agent_request *r)
{
	for (struct agent_request **pp = &agent_requests; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	json_decref(r->req_id);
	json_decref(r->blocks);
	permission_rules_free(r->rules);
	free(r);
}

static void
agent_answer(struct agent_request *r, const char *stop_reason, int rpc_code, const char *error)
{
	if (r->conn == NULL)
		return;
	if (stop_reason != NULL)
		conn_reply(r->conn, r->req_id, json_pack("{s:s}", "stopReason", stop_reason));
	else
		conn_reply_error(r->conn, r->req_id, rpc_code, "%s", error);
}

/* How many prompts wait in the session's queue. */
static size_t
agent_queued(const struct session *s)
{
	size_t n = 0;
	for (struct agent_request *r = agent_requests; r != NULL; r = r->next)
		if (r->s == s && r->blocks != NULL)
			n++;
	return n;
}

/* Tell every follower what waits in the session's queue (not stored: it is transient). */
static void
agent_queue_changed(struct session *s)
{
	json_t *queued = json_array();
	for (struct agent_request *r = agent_requests; r != NULL; r = r->next)
		if (r->s == s && r->blocks != NULL)
			json_array_append_new(queued, json_pack("{s:I,s:O}", "queueId", r->queue_id,
								"prompt", r->blocks));
	for (struct session_follower *f = s->followers; f != NULL; f = f->next) {
		json_t *n = rpc_notification("_hearth/prompt_queue",
					     json_pack("{s:s,s:O}", "sessionId", s->id, "queued",
						       queued));
		conn_write(f->conn, n);
		json_decref(n);
	}
	json_decref(queued);
}

static void agent_turn_done_cb(void *arg, struct session *s, const char *stop_reason,
			       int rpc_code, const char *error);

/* Start r's turn; a prompt refused at its start is answered with why. */
static int
agent_start(struct agent_request *r, char **error)
{
	struct turn_requester req = { .done = agent_turn_done_cb, .arg = r };
	json_t *blocks = r->blocks;
	struct permission_rules *rules = r->rules;
	r->blocks = NULL;
	r->rules = NULL;
	int rc = turn_start(r->s, blocks, r->conn, &req, rules, error);
	json_decref(blocks);
	return rc;
}

/* The session's turn ended: start its first queued prompt that starts. */
static void
agent_next(struct session *s)
{
	int changed = 0;
	while (!agent_stopping && s->turn == NULL) {
		struct agent_request *r = agent_requests;
		while (r != NULL && !(r->s == s && r->blocks != NULL))
			r = r->next;
		if (r == NULL)
			break;
		changed = 1;
		char *why = NULL;
		if (agent_start(r, &why) == 0)
			break;
		agent_answer(r, NULL, RPC_INVALID_PARAMS, why);
		free(why);
		agent_request_free(r);
	}
	if (changed)
		agent_queue_changed(s);
}

/* The turn ended: answer the request that started it, then run the next one queued. */
static void
agent_turn_done_cb(void *arg, struct session *s, const char *stop_reason, int rpc_code,
		   const char *error)
{
	struct agent_request *r = arg;
	agent_answer(r, stop_reason, rpc_code, error);
	agent_request_free(r);
	agent_next(s);
}

/* The rules agent_prompt() gives the next prompt it takes (agent_prompt_rules()). */
static struct permission_rules *agent_next_rules;

void
agent_prompt_rules(struct permission_rules *rules)
{
	permission_rules_free(agent_next_rules);
	agent_next_rules = rules;
}

int
agent_prompt(struct session *s, const json_t *blocks, struct hearth_conn *c,
	     const json_t *req_id, char **error)
{
	/* Taken now, so that they never reach a later prompt's turn. */
	struct permission_rules *rules = agent_next_rules;
	agent_next_rules = NULL;
	if (!json_is_array(blocks) || json_array_size(blocks) == 0) {
		*error = xstrdup("'prompt' must be a non-empty array of content blocks");
		permission_rules_free(rules);
		return HEARTH_EINVAL;
	}
	if (s->turn != NULL && agent_queued(s) >= AGENT_QUEUE_MAX) {
		*error = xasprintf("session %s is busy: a turn is running and %d prompts are "
				   "queued", s->id, AGENT_QUEUE_MAX);
		permission_rules_free(rules);
		return HEARTH_EBUSY;
	}
	struct agent_request *r = xcalloc(1, sizeof *r);
	r->s = s;
	r->conn = c;
	r->req_id = json_deep_copy(req_id);
	r->blocks = json_deep_copy(blocks);
	r->rules = rules;
	r->queue_id = agent_next_queue_id++;
	struct agent_request **pp = &agent_requests;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = r;
	if (s->turn != NULL) {
		agent_queue_changed(s);   /* answered when its own turn ends */
		return 0;
	}
	int rc = agent_start(r, error);
	if (rc != 0)
		agent_request_free(r);
	return rc;
}

/* Answer every queued prompt of the session (or only the one asked for) "cancelled". */
static void
agent_dequeue(struct session *s, struct hearth_conn *c, const json_t *req_id)
{
	int changed = 0;
	for (struct agent_request *r = agent_requests, *next; r != NULL; r = next) {
		next = r->next;
		if (r->s != s || r->blocks == NULL ||
		    (c != NULL && !(r->conn == c && json_equal(r->req_id, req_id))))
			continue;
		agent_answer(r, "cancelled", 0, NULL);
		agent_request_free(r);
		changed = 1;
	}
	if (changed)
		agent_queue_changed(s);
}

void
agent_cancel(struct session *s)
{
	agent_dequeue(s, NULL, NULL);
	turn_cancel(s);
}

void
agent_cancel_request(struct hearth_conn *c, const json_t *req_id)
{
	for (struct agent_request *r = agent_requests; r != NULL; r = r->next) {
		if (r->conn != c || !json_equal(r->req_id, req_id))
			continue;
		if (r->blocks != NULL)
			agent_dequeue(r->s, c, req_id);
		else
			turn_cancel(r->s);
		return;
	}
}

void
agent_conn_gone(struct hearth_conn *c)
{
	for (struct agent_request *r = agent_requests; r != NULL; r = r->next)
		if (r->conn == c)
			r->conn = NULL;
}

void
agent_shutdown(void)
{
	/* The daemon is going: nobody to answer, and nothing queued starts. */
	agent_stopping = 1;
	for (struct agent_request *r = agent_requests, *next; r != NULL; r = next) {
		next = r->next;
		r->conn = NULL;
		if (r->blocks != NULL)
			agent_request_free(r);
	}
	turn_shutdown();
}

void
agent_close(void)
{
	agent_shutdown();
	turn_close();
}
