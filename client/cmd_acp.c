/*
 * cmd_acp.c: `hearth acp`: ACP over stdin and stdout, for editors, bridged byte
 * for byte to the daemon's socket. The editor does the handshake; stdout carries
 * only what the daemon sends, and anything of ours goes to stderr. At the end of
 * stdin the socket is shut for writing and the daemon's last words still pass;
 * the bridge ends when the daemon closes the connection.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connect.h"
#include "hearth.h"

#define CMD_ACP_CHUNK 65536

/* Write all n bytes; 0, or -1 with errno. */
static int
cmd_acp_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Move what `from` has to `to`. Returns the bytes read (0 at end of input), or -1. */
static ssize_t
cmd_acp_pass(int from, int to, int *write_failed)
{
	char buf[CMD_ACP_CHUNK];
	ssize_t n;
	do
		n = read(from, buf, sizeof buf);
	while (n < 0 && errno == EINTR);
	if (n > 0 && cmd_acp_write_all(to, buf, (size_t)n) != 0) {
		*write_failed = 1;
		return -1;
	}
	return n;
}

static int
cmd_acp_bridge(int sock)
{
	struct pollfd fds[2] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = sock, .events = POLLIN },
	};
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			hearth_error("acp: poll: %s", strerror(errno));
			return HEARTH_EXIT_ERROR;
		}
		if (fds[1].revents != 0) {
			int failed = 0;
			ssize_t n = cmd_acp_pass(sock, STDOUT_FILENO, &failed);
			if (failed) /* the editor is gone: nothing left to say */
				return HEARTH_EXIT_OK;
			if (n < 0) {
				hearth_error("acp: cannot read from the daemon: %s", strerror(errno));
				return HEARTH_EXIT_ERROR;
			}
			if (n == 0)
				return HEARTH_EXIT_OK;
		}
		if (fds[0].revents != 0) {
			int failed = 0;
			ssize_t n = cmd_acp_pass(STDIN_FILENO, sock, &failed);
			if (failed) {
				hearth_error("acp: cannot write to the daemon: %s", strerror(errno));
				return HEARTH_EXIT_ERROR;
			}
			if (n <= 0) {
				if (n < 0)
					hearth_error("acp: cannot read stdin: %s", strerror(errno));
				/* Let the daemon answer what it has, then close. */
				shutdown(sock, SHUT_WR);
				fds[0].fd = -1;
			}
		}
	}
}

int
cmd_acp_main(const struct hearth_opts *o, int argc, char **argv)
{
	int early = hearth_options("acp", argc, argv, NULL, 0);
	if (early >= 0)
		return early;
	struct connect_opts co = {
		.socket_path = o->socket_path, .config = o->config, .no_start = o->no_start,
	};
	int sock;
	char *why;
	if (connect_open(&co, &sock, &why) != 0) {
		hearth_error("%s", why);
		free(why);
		return HEARTH_EXIT_ERROR;
	}
	int status = cmd_acp_bridge(sock);
	close(sock);
	return status;
}
