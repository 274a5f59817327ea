/* follow.c: following one session's updates (see follow.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"
#include "hearth.h"
#include "permission.h"
#include "sigint.h"
#include "xmalloc.h"

void
follow_init(struct follow *f, const char *session_id, const char *cwd,
	    enum render_format format, int show_user, enum follow_permission permission)
{
	memset(f, 0, sizeof *f);
	f->session_id = xstrdup(session_id);
	f->cwd = xstrdup(cwd);
	f->permission = permission;
	render_init(&f->render, format, show_user, stdout, stderr);
}

void
follow_clear(struct follow *f)
{
	free(f->session_id);
	free(f->cwd);
	render_clear(&f->render);
}

static void
follow_update(struct follow *f, const json_t *params)
{
	const char *sid = json_string_value(json_object_get(params, "sessionId"));
	if (sid == NULL || strcmp(sid, f->session_id) != 0)
		return;
	json_t *seq = json_object_get(json_object_get(json_object_get(params, "_meta"), "hearth"),
				      "seq");
	if (json_is_integer(seq)) {
		/* A replay after a resync may repeat what was shown already. */
		if (json_integer_value(seq) <= f->last_seq)
			return;
		f->last_seq = json_integer_value(seq);
	}
	render_update(&f->render, params);
}

/* What to call the tool that asks: its title, else the one its tool_call gave. */
static const char *
follow_tool_title(struct follow *f, const json_t *params)
{
	const json_t *tool = json_object_get(params, "toolCall");
	const char *title = json_string_value(json_object_get(tool, "title"));
	if (title != NULL && title[0] != '\0')
		return title;
	const char *id = json_string_value(json_object_get(tool, "toolCallId"));
	if (id != NULL) {
		title = json_string_value(
			json_object_get(json_object_get(f->render.tools, id), "title"));
		return title != NULL ? title : id;
	}
	return "a tool";
}

static void
follow_send_cancel(struct follow *f, struct client_rpc *c)
{
	if (f->cancel_sent)
		return;
	f->cancel_sent = 1;
	/* Sent before it is said, so that what the user reads has happened. */
	client_rpc_notify(c, "session/cancel", json_pack("{s:s}", "sessionId", f->session_id));
	render_break(&f->render);
	hearth_error("cancelling the turn (interrupt again to quit)");
}

/* Whether another connection follows the session (asked of the daemon now). */
static int
follow_others(struct follow *f, struct client_rpc *c)
{
	json_t *result = NULL, *error = NULL;
	int others = 0;
	if (client_rpc_call(c, "_hearth/status", json_pack("{s:s}", "sessionId", f->session_id),
			    &result, &error) == 0 && error == NULL)
		others = json_integer_value(json_object_get(result, "followers")) > 1;
	json_decref(result);
	json_decref(error);
	return others;
}

static void
follow_permission(struct follow *f, struct client_rpc *c, const struct rpc_msg *msg)
{
	const char *title = follow_tool_title(f, msg->params);
	const char *option = NULL;
	if (f->cancel_sent) {
		/* ACP: a cancelled turn's questions are answered "cancelled". */
	} else if (f->permission == FOLLOW_PERMISSION_ASK) {
		render_break(&f->render);
		option = permission_ask(msg->params, title);
		/* Interrupted: run cancels its turn; attach just leaves, and lets other
		 * clients answer. */
		if (option == NULL && !f->cancel_on_interrupt)
			return;
		if (option == NULL)
			follow_send_cancel(f, c);
	} else if (f->permission == FOLLOW_PERMISSION_REJECT && follow_others(f, c)) {
		/* Nobody here can answer, but another client follows: it may. */
		render_break(&f->render);
		hearth_error("%s asks for permission: stdin is not a terminal, so waiting for "
			     "another client to answer", title);
		return;
	} else if (f->permission == FOLLOW_PERMISSION_REJECT) {
		option = permission_option(msg->params, "reject_once");
		if (option == NULL)
			option = permission_option(msg->params, "reject_always");
		render_break(&f->render);
		hearth_error("refused permission for %s: stdin is not a terminal, so nobody "
			     "can be asked", title);
	}
	client_rpc_reply(c, msg->id, permission_outcome(option));
}

int
follow_msg_cb(void *arg, struct client_rpc *c, const struct rpc_msg *msg)
{
	struct follow *f = arg;
	if (msg->kind == RPC_NOTIFICATION && strcmp(msg->method, "session/update") == 0) {
		follow_update(f, msg->params);
		return 1;
	}
	if (msg->kind == RPC_NOTIFICATION && strcmp(msg->method, "_hearth/resync") == 0) {
		follow_resume(f, c);
		return 1;
	}
	if (msg->kind == RPC_REQUEST && strcmp(msg->method, "session/request_permission") == 0) {
		if (f->permission == FOLLOW_PERMISSION_LEAVE) {
			if (!f->left_noted) {
				render_break(&f->render);
				hearth_error("%s asks for permission: answer it from another client",
					     follow_tool_title(f, msg->params));
			}
			f->left_noted = 1;
			return 1;
		}
		follow_permission(f, c, msg);
		return 1;
	}
	return 0;
}

int
follow_signal_cb(void *arg, struct client_rpc *c)
{
	struct follow *f = arg;
	if (!f->cancel_on_interrupt || sigint_count() >= 2)
		return 1;
	follow_send_cancel(f, c);
	return 0;
}

int
follow_resume(struct follow *f, struct client_rpc *c)
{
	json_t *params = json_pack("{s:s, s:s, s:[], s:{s:{s:I}}}", "sessionId", f->session_id,
				   "cwd", f->cwd, "mcpServers", "_meta", "hearth", "lastSeq",
				   (json_int_t)f->last_seq);
	json_t *result;
	if (hearth_call(c, "session/resume", params, &result) != 0)
		return -1;
	json_decref(result);
	return 0;
}
