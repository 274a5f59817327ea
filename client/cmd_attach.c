/*
 * cmd_attach.c: `hearth attach ID`: replay a session (session/load), then show
 * its updates live, whoever prompts it, until SIGINT or the daemon goes away.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <hearth/plugin.h>

#include "follow.h"
#include "hearth.h"
#include "sigint.h"

int
cmd_attach_main(const struct hearth_opts *o, int argc, char **argv)
{
	int early = hearth_options("attach", argc, argv, NULL, 1);
	if (early >= 0)
		return early;
	if (argc - optind != 1) {
		hearth_error("attach needs exactly one session ID");
		hearth_usage_cmd("attach", stderr);
		return HEARTH_EXIT_USAGE;
	}
	struct client_rpc *c = hearth_connect(o, 1, NULL);
	if (c == NULL)
		return HEARTH_EXIT_ERROR;
	char *id = cmd_sessions_resolve(c, argv[optind]); /* a unique prefix will do */
	json_t *status;
	if (id == NULL ||
	    hearth_call(c, "_hearth/status", json_pack("{s:s}", "sessionId", id), &status) != 0) {
		free(id);
		client_rpc_free(c);
		return HEARTH_EXIT_ERROR;
	}
	const char *cwd = json_string_value(json_object_get(status, "cwd"));
	struct follow f;
	/* Without a terminal to ask on, permission questions are for other clients. */
	follow_init(&f, id, cwd != NULL ? cwd : "/", RENDER_TEXT, 1,
		    isatty(STDIN_FILENO) && isatty(STDERR_FILENO) ? FOLLOW_PERMISSION_ASK
								  : FOLLOW_PERMISSION_LEAVE);
	json_decref(status);
	client_rpc_set_handler(c, follow_msg_cb, follow_signal_cb, &f);
	client_rpc_set_timeout(c, -1);
	sigint_install();

	json_t *result, *error;
	int rc = client_rpc_call(c, "session/load",
				 json_pack("{s:s, s:s, s:[]}", "sessionId", id, "cwd", f.cwd,
					   "mcpServers"), &result, &error);
	int exit_status = HEARTH_EXIT_ERROR;
	if (rc == 0 && error != NULL) {
		render_finish(&f.render);
		hearth_error("%s", json_string_value(json_object_get(error, "message")));
		json_decref(error);
		goto out;
	}
	json_decref(result);
	if (rc == 0 && isatty(STDERR_FILENO)) {
		render_break(&f.render);
		hearth_error("following %s live; interrupt to stop", id);
	}
	while (rc == 0)
		rc = client_rpc_pump(c);
	render_finish(&f.render);
	if (rc == HEARTH_ECANCELED) {
		exit_status = HEARTH_EXIT_OK;
	} else {
		hearth_error("%s", client_rpc_why(c));
	}
out:
	follow_clear(&f);
	client_rpc_free(c);
	free(id);
	return exit_status;
}
