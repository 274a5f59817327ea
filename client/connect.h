/*
 * connect.h: finding the daemon's socket, connecting, and starting the daemon
 * when none runs, as tmux does: on ENOENT or ECONNREFUSED take an exclusive
 * flock(2) on "<socket>.lock", retry the connect once (another client may have
 * started the daemon while we waited for the lock), and only then run hearthd,
 * which returns once it listens. Two clients starting at once make one daemon.
 */
#ifndef HEARTH_CLIENT_CONNECT_H
#define HEARTH_CLIENT_CONNECT_H

/* Connect attempts after starting the daemon, CONNECT_RETRY_MS apart (about 2 s). */
#define CONNECT_RETRIES 20
#define CONNECT_RETRY_MS 100

struct connect_opts {
	const char *socket_path; /* the socket (see connect_socket_path) */
	const char *config;      /* given to the daemon as --config, or NULL */
	int no_start;            /* fail rather than start a daemon */
};

/*
 * The socket: `explicit_path` (--socket) if non-NULL, else $HEARTH_SOCKET if set
 * and non-empty, else paths_runtime_dir()/hearth.sock. Malloc'd; caller frees.
 */
char *connect_socket_path(const char *explicit_path);

/*
 * The daemon program: $HEARTH_DAEMON if set and non-empty, else "hearthd" in the
 * directory of this executable if it is there, else "hearthd" (searched in PATH).
 * Malloc'd; caller frees.
 */
char *connect_daemon_path(void);

/*
 * One connect(2) to `path`. Returns 0 with *fd a connected, close-on-exec socket,
 * or a negative errno (-ENOENT, -ECONNREFUSED, -ENAMETOOLONG, ...).
 */
int connect_once(const char *path, int *fd);

/*
 * Connect, starting the daemon when none answers and o->no_start is 0. Returns 0
 * with *fd connected, or -1 with *why a malloc'd message for the user.
 */
int connect_open(const struct connect_opts *o, int *fd, char **why);

#endif
