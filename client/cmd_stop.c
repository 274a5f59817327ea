/*
 * cmd_stop.c: `hearth stop`: ask the daemon to shut down (_hearth/shutdown) and
 * wait until its socket no longer accepts connections. Never starts a daemon.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connect.h"
#include "hearth.h"

#define CMD_STOP_WAIT_MS 5000
#define CMD_STOP_POLL_MS 50

static int
cmd_stop_absent(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

/* Wait until nothing accepts connections on path. 0, or -1 if it still does. */
static int
cmd_stop_wait(const char *path)
{
	for (int waited = 0; waited < CMD_STOP_WAIT_MS; waited += CMD_STOP_POLL_MS) {
		int fd;
		int rc = connect_once(path, &fd);
		if (rc != 0)
			return 0;
		close(fd);
		struct timespec ts = { 0, CMD_STOP_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	return -1;
}

int
cmd_stop_main(const struct hearth_opts *o, int argc, char **argv)
{
	int early = hearth_options("stop", argc, argv, NULL, 0);
	if (early >= 0)
		return early;

	int fd;
	int rc = connect_once(o->socket_path, &fd);
	if (cmd_stop_absent(rc)) {
		printf("no daemon is running on %s\n", o->socket_path);
		return HEARTH_EXIT_OK;
	}
	if (rc != 0) {
		hearth_error("cannot connect to %s: %s", o->socket_path, strerror(-rc));
		return HEARTH_EXIT_ERROR;
	}
	struct client_rpc *c = client_rpc_new(fd);
	char *why;
	json_t *result;
	if (client_rpc_initialize(c, NULL, &why) != 0) {
		hearth_error("%s", why);
		free(why);
		client_rpc_free(c);
		return HEARTH_EXIT_ERROR;
	}
	rc = hearth_call(c, "_hearth/shutdown", NULL, &result);
	client_rpc_free(c);
	if (rc != 0)
		return HEARTH_EXIT_ERROR;
	json_decref(result);
	if (cmd_stop_wait(o->socket_path) != 0) {
		hearth_error("the daemon still accepts connections on %s after %d s",
			     o->socket_path, CMD_STOP_WAIT_MS / 1000);
		return HEARTH_EXIT_ERROR;
	}
	return HEARTH_EXIT_OK;
}
