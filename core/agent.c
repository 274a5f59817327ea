/* agent.c: ACP prompts as turns (see agent.h). */
#include "config.h"

#include <stdlib.h>

#include "agent.h"
#include "turn.h"
#include "xmalloc.h"

/* A session/prompt waiting for its turn's end. */
struct agent_request {
	struct session *s;
	struct hearth_conn *conn;       /* who asked; NULL once gone */
	json_t *req_id;                 /* owned */
	struct agent_request *next;
};

static struct agent_request *agent_requests;
static uv_loop_t *agent_loop;
static int agent_max_steps;

void
agent_init(uv_loop_t *loop, struct registry *registry)
{
	(void)registry;
	agent_loop = loop;
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
	free(r);
}

/* The turn ended: answer the request that started it. */
static void
agent_turn_done_cb(void *arg, struct session *s, const char *stop_reason, int rpc_code,
		   const char *error)
{
	struct agent_request *r = arg;
	(void)s;
	if (r->conn != NULL) {
		if (stop_reason != NULL)
			conn_reply(r->conn, r->req_id, json_pack("{s:s}", "stopReason", stop_reason));
		else
			conn_reply_error(r->conn, r->req_id, rpc_code, "%s", error);
	}
	agent_request_free(r);
}

int
agent_prompt(struct session *s, const json_t *blocks, struct hearth_conn *c,
	     const json_t *req_id, char **error)
{
	struct agent_request *r = xcalloc(1, sizeof *r);
	r->s = s;
	r->conn = c;
	r->req_id = json_deep_copy(req_id);
	r->next = agent_requests;
	agent_requests = r;
	struct turn_requester req = { .done = agent_turn_done_cb, .arg = r };
	int rc = turn_start(s, blocks, c, &req, error);
	if (rc != 0)
		agent_request_free(r);
	return rc;
}

void
agent_cancel(struct session *s)
{
	turn_cancel(s);
}

void
agent_cancel_request(struct hearth_conn *c, const json_t *req_id)
{
	for (struct agent_request *r = agent_requests; r != NULL; r = r->next)
		if (r->conn == c && json_equal(r->req_id, req_id)) {
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
	/* The daemon is going: nobody to answer. */
	for (struct agent_request *r = agent_requests; r != NULL; r = r->next)
		r->conn = NULL;
	turn_shutdown();
}

void
agent_close(void)
{
	agent_shutdown();
	turn_close();
}
