/* connect.c: connect to the daemon, starting it when needed (see connect.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "connect.h"
#include "paths.h"
#include "xmalloc.h"

char *
connect_socket_path(const char *explicit_path)
{
	if (explicit_path != NULL)
		return xstrdup(explicit_path);
	const char *env = getenv("HEARTH_SOCKET");
	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	char *dir = paths_runtime_dir();
	char *path = xasprintf("%s/hearth.sock", dir);
	free(dir);
	return path;
}

char *
connect_daemon_path(void)
{
	/* The variable wins so that a build tree or a test can point at another daemon. */
	const char *env = getenv("HEARTH_DAEMON");
	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *near = xasprintf("%s/hearthd", dirname(self));
		if (access(near, X_OK) == 0)
			return near;
		free(near);
	}
	return xstrdup("hearthd");
}

int
connect_once(const char *path, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int rc;
	do
		rc = connect(s, (struct sockaddr *)&sa, sizeof sa);
	while (rc != 0 && errno == EINTR);
	if (rc != 0) {
		int err = errno;
		close(s);
		return -err;
	}
	*fd = s;
	return 0;
}

static void
connect_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Run the daemon and wait for it: hearthd forks into the background and exits 0
 * once it listens. Its stdin is /dev/null and its stdout our stderr, so it can
 * neither eat an editor's input nor write into our output (hearth acp, --format
 * json). $HEARTH_SOCKET tells it where we will look.
 */
static int
connect_start_daemon(const struct connect_opts *o, char **why)
{
	char *daemon = connect_daemon_path();
	char opt_config[] = "--config";
	char *argv[4] = { daemon, NULL, NULL, NULL };
	if (o->config != NULL) {
		argv[1] = opt_config;
		argv[2] = (char *)o->config;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		*why = xasprintf("cannot start %s: fork: %s", daemon, strerror(errno));
		free(daemon);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0 && null != STDIN_FILENO) {
			dup2(null, STDIN_FILENO);
			close(null);
		}
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("HEARTH_SOCKET", o->socket_path, 1);
		execvp(daemon, argv);
		fprintf(stderr, "hearth: cannot run %s: %s\n", daemon, strerror(errno));
		_exit(127);
	}
	int status;
	pid_t w;
	do
		w = waitpid(pid, &status, 0);
	while (w < 0 && errno == EINTR);
	int rc = 0;
	if (w < 0) {
		*why = xasprintf("cannot wait for %s: %s", daemon, strerror(errno));
		rc = -1;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		*why = xasprintf("cannot start the daemon: %s did not run", daemon);
		rc = -1;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		*why = xasprintf("the daemon did not start: %s exited with status %d", daemon,
				 WEXITSTATUS(status));
		rc = -1;
	} else if (WIFSIGNALED(status)) {
		*why = xasprintf("the daemon did not start: %s was killed by signal %d", daemon,
				 WTERMSIG(status));
		rc = -1;
	}
	free(daemon);
	return rc;
}

/* Create the socket's directory (0700) and take the start lock. Returns the fd or -1. */
static int
connect_lock(const char *socket_path, char **why)
{
	char *copy = xstrdup(socket_path);
	char *dir = dirname(copy);
	if (paths_mkdir_p(dir, 0700) != 0) {
		*why = xasprintf("cannot create %s: %s", dir, strerror(errno));
		free(copy);
		return -1;
	}
	free(copy);
	/* Close-on-exec, or the daemon would hold the lock for ever. */
	char *lock_path = xasprintf("%s.lock", socket_path);
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		*why = xasprintf("cannot open %s: %s", lock_path, strerror(errno));
		free(lock_path);
		return -1;
	}
	int rc;
	do
		rc = flock(fd, LOCK_EX);
	while (rc != 0 && errno == EINTR);
	if (rc != 0) {
		*why = xasprintf("cannot lock %s: %s", lock_path, strerror(errno));
		close(fd);
		fd = -1;
	}
	free(lock_path);
	return fd;
}

static int
connect_absent(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

int
connect_open(const struct connect_opts *o, int *fd, char **why)
{
	*why = NULL;
	int rc = connect_once(o->socket_path, fd);
	if (rc == 0)
		return 0;
	if (!connect_absent(rc) || o->no_start) {
		if (connect_absent(rc))
			*why = xasprintf("no daemon is running on %s (and --no-start was given)",
					 o->socket_path);
		else
			*why = xasprintf("cannot connect to %s: %s", o->socket_path, strerror(-rc));
		return -1;
	}

	int lock = connect_lock(o->socket_path, why);
	if (lock < 0)
		return -1;
	/* Another client may have started it while we waited for the lock. */
	rc = connect_once(o->socket_path, fd);
	if (rc == 0) {
		close(lock);
		return 0;
	}
	if (!connect_absent(rc)) {
		*why = xasprintf("cannot connect to %s: %s", o->socket_path, strerror(-rc));
		close(lock);
		return -1;
	}
	int started = connect_start_daemon(o, why);
	close(lock);
	if (started != 0)
		return -1;
	for (int i = 0; i < CONNECT_RETRIES; i++) {
		rc = connect_once(o->socket_path, fd);
		if (rc == 0 || !connect_absent(rc))
			break;
		connect_sleep_ms(CONNECT_RETRY_MS);
	}
	if (rc == 0)
		return 0;
	*why = xasprintf("the daemon started but %s does not answer: %s", o->socket_path,
			 strerror(-rc));
	return -1;
}
