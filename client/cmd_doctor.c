/*
 * cmd_doctor.c: `hearth doctor`: checks what hearth needs, one line each,
 *     ok|warn|fail  WHAT: DETAIL
 * with indented detail lines below some, or with --json one object
 *     {"ok": BOOL, "checks": [{"check", "verdict", "detail", "details": [...]}]}
 * It exits 1 if any check fails (no daemon running is a warning: it works before
 * one ever ran), and never starts a daemon or prints a key's value.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "conf.h"
#include "connect.h"
#include "hearth.h"
#include "loader.h"
#include "paths.h"
#include "xmalloc.h"

#define CMD_DOCTOR_CHECK_TIMEOUT_MS 30000 /* hearthd --check */
#define CMD_DOCTOR_OUTPUT_MAX 65536       /* of its stdout and stderr, each */
#define CMD_DOCTOR_SOCKET_TIMEOUT_MS 5000
#define CMD_DOCTOR_DETAIL_LINES 20

enum cmd_doctor_verdict { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

struct cmd_doctor {
	const struct hearth_opts *opts;
	int failures;
	json_t *checks; /* owned: one {check, verdict, detail, details} per line */
};

static const char *const cmd_doctor_verdicts[] = { "ok", "warn", "fail" };

/* Record one check; details added next go under it. */
static void
cmd_doctor_line(struct cmd_doctor *d, enum cmd_doctor_verdict v, const char *what,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cmd_doctor_line(struct cmd_doctor *d, enum cmd_doctor_verdict v, const char *what,
		const char *fmt, ...)
{
	if (v == DOCTOR_FAIL)
		d->failures++;
	va_list ap;
	va_start(ap, fmt);
	char *detail = xvasprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(d->checks, json_pack("{s:s, s:s, s:s, s:[]}", "check", what,
						   "verdict", cmd_doctor_verdicts[v],
						   "detail", detail, "details"));
	free(detail);
}

/* Each line of text, under the last check; at most CMD_DOCTOR_DETAIL_LINES. */
static void
cmd_doctor_details(struct cmd_doctor *d, const char *text)
{
	json_t *lines = json_object_get(json_array_get(d->checks, json_array_size(d->checks) - 1),
					"details");
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len > 0) {
			if (json_array_size(lines) == CMD_DOCTOR_DETAIL_LINES) {
				json_array_append_new(lines, json_string("..."));
				return;
			}
			json_array_append_new(lines, json_stringn(p, len));
		}
		p += len + (nl != NULL);
	}
}

/* The checks as text, "VERDICT  WHAT: DETAIL" and indented details. */
static void
cmd_doctor_print(const struct cmd_doctor *d)
{
	size_t i, j;
	json_t *c, *line;
	json_array_foreach(d->checks, i, c) {
		printf("%-4s  %s: %s\n", json_string_value(json_object_get(c, "verdict")),
		       json_string_value(json_object_get(c, "check")),
		       json_string_value(json_object_get(c, "detail")));
		json_array_foreach(json_object_get(c, "details"), j, line)
			printf("      %s\n", json_string_value(line));
	}
}

static void
cmd_doctor_config(struct cmd_doctor *d)
{
	char *path = conf_find(d->opts->config);
	if (path == NULL) {
		cmd_doctor_line(d, DOCTOR_OK, "config", "built-in default (no plugins.conf found)");
		return;
	}
	struct conf *conf = conf_load(path);
	if (conf->n_errors == 0) {
		cmd_doctor_line(d, DOCTOR_OK, "config", "%s (%zu module%s)", path, conf->n_modules,
				conf->n_modules == 1 ? "" : "s");
	} else {
		cmd_doctor_line(d, DOCTOR_FAIL, "config", "%s: %zu error%s", path, conf->n_errors,
				conf->n_errors == 1 ? "" : "s");
		for (size_t i = 0; i < conf->n_errors; i++)
			cmd_doctor_details(d, conf->errors[i]);
	}
	conf_free(conf);
	free(path);
}

/* Append what fd has to *buf (up to the limit). Returns 0 at end of input. */
static int
cmd_doctor_drain(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof chunk);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0)
		return 0;
	size_t keep = *len + (size_t)n > CMD_DOCTOR_OUTPUT_MAX ? CMD_DOCTOR_OUTPUT_MAX - *len
							       : (size_t)n;
	*buf = xrealloc(*buf, *len + keep + 1);
	memcpy(*buf + *len, chunk, keep);
	*len += keep;
	(*buf)[*len] = '\0';
	return 1;
}

/*
 * Run argv with stdout and stderr captured (malloc'd, NUL-terminated). Returns
 * the wait status, or -1 with *out a malloc'd reason. A run over the timeout is
 * killed.
 */
static int
cmd_doctor_capture(char *const argv[], char **out, char **err)
{
	int po[2], pe[2];
	*out = xstrdup("");
	*err = xstrdup("");
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		free(*out);
		*out = xasprintf("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		free(*out);
		*out = xasprintf("fork: %s", strerror(errno));
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct pollfd fds[2] = { { .fd = po[0], .events = POLLIN },
				 { .fd = pe[0], .events = POLLIN } };
	size_t lens[2] = { 0, 0 };
	char **bufs[2] = { out, err };
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (fds[0].fd >= 0 || fds[1].fd >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 +
			       (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= CMD_DOCTOR_CHECK_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(fds, 2, CMD_DOCTOR_CHECK_TIMEOUT_MS - (int)elapsed) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd >= 0 && fds[i].revents != 0 &&
			    !cmd_doctor_drain(fds[i].fd, bufs[i], &lens[i]))
				fds[i].fd = -1;
		}
	}
	close(po[0]);
	close(pe[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			free(*out);
			*out = xasprintf("waitpid: %s", strerror(errno));
			return -1;
		}
	}
	return status;
}

static void
cmd_doctor_modules(struct cmd_doctor *d)
{
	char *daemon = connect_daemon_path();
	char opt_check[] = "--check", opt_config[] = "--config";
	char *argv[5] = { daemon, opt_check, NULL, NULL, NULL };
	if (d->opts->config != NULL) {
		argv[2] = opt_config;
		argv[3] = (char *)d->opts->config;
	}
	char *out, *err;
	int status = cmd_doctor_capture(argv, &out, &err);
	if (status == -1) {
		cmd_doctor_line(d, DOCTOR_FAIL, "modules", "cannot run %s --check: %s", daemon, out);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		size_t n = 0;
		for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
			n++;
		cmd_doctor_line(d, DOCTOR_OK, "modules", "%zu loaded by %s --check", n, daemon);
		cmd_doctor_details(d, out);
		cmd_doctor_details(d, err);
	} else {
		if (WIFEXITED(status))
			cmd_doctor_line(d, DOCTOR_FAIL, "modules", "%s --check failed (exit status %d)",
					daemon, WEXITSTATUS(status));
		else
			cmd_doctor_line(d, DOCTOR_FAIL, "modules", "%s --check was killed by signal %d",
					daemon, WTERMSIG(status));
		cmd_doctor_details(d, out);
		cmd_doctor_details(d, err);
	}
	free(out);
	free(err);
	free(daemon);
}

static int
cmd_doctor_env_set(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0';
}

static void
cmd_doctor_keys(struct cmd_doctor *d)
{
	int anthropic = cmd_doctor_env_set("ANTHROPIC_API_KEY");
	int openai = cmd_doctor_env_set("OPENAI_API_KEY");
	int gemini = cmd_doctor_env_set("GEMINI_API_KEY") || cmd_doctor_env_set("GOOGLE_API_KEY");
	int ollama = cmd_doctor_env_set("OLLAMA_HOST");
	int any = anthropic || openai || gemini || ollama;
	cmd_doctor_line(d, any ? DOCTOR_OK : DOCTOR_WARN, "keys",
			"ANTHROPIC_API_KEY %s, OPENAI_API_KEY %s, GEMINI_API_KEY/GOOGLE_API_KEY %s, "
			"OLLAMA_HOST %s%s",
			anthropic ? "present" : "absent", openai ? "present" : "absent",
			gemini ? "present" : "absent", ollama ? "present" : "absent",
			any ? "" : " (no provider can be reached without one)");
}

/* Whether a daemon answers on the socket, and which. */
static void
cmd_doctor_socket(struct cmd_doctor *d)
{
	const char *path = d->opts->socket_path;
	int fd;
	int rc = connect_once(path, &fd);
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		/* Not a fault: the first command that needs one starts it. */
		cmd_doctor_line(d, DOCTOR_WARN, "socket", "%s: no daemon is running (%s); "
				"the first command that needs one starts it", path,
				rc == -ENOENT ? "no socket" : "connection refused");
		return;
	}
	if (rc != 0) {
		cmd_doctor_line(d, DOCTOR_FAIL, "socket", "%s: %s", path, strerror(-rc));
		return;
	}
	struct client_rpc *c = client_rpc_new(fd);
	client_rpc_set_timeout(c, CMD_DOCTOR_SOCKET_TIMEOUT_MS);
	char *why;
	json_t *agent;
	if (client_rpc_initialize(c, &agent, &why) != 0) {
		cmd_doctor_line(d, DOCTOR_FAIL, "socket", "%s: the daemon does not answer "
				"initialize: %s", path, why);
		free(why);
		client_rpc_free(c);
		return;
	}
	json_t *result, *error;
	if (client_rpc_call(c, "_hearth/daemon", NULL, &result, &error) == 0 && result != NULL) {
		const char *v = json_string_value(json_object_get(result, "version"));
		cmd_doctor_line(d, DOCTOR_OK, "socket", "%s: hearthd %s answers (pid %lld)", path,
				v != NULL ? v : "(no version)",
				(long long)json_integer_value(json_object_get(result, "pid")));
	} else {
		json_t *info = json_object_get(agent, "agentInfo");
		const char *name = json_string_value(json_object_get(info, "name"));
		const char *v = json_string_value(json_object_get(info, "version"));
		cmd_doctor_line(d, DOCTOR_WARN, "socket", "%s: %s %s answers initialize but not "
				"_hearth/daemon", path, name != NULL ? name : "a daemon",
				v != NULL ? v : "(no version)");
	}
	json_decref(result);
	json_decref(error);
	json_decref(agent);
	client_rpc_free(c);
}

/* The socket's directory must be ours and closed to everyone else. */
static void
cmd_doctor_socket_dir(struct cmd_doctor *d)
{
	char *copy = xstrdup(d->opts->socket_path);
	const char *dir = dirname(copy);
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT)
			cmd_doctor_line(d, DOCTOR_WARN, "socket directory",
					"%s does not exist (made when a daemon starts)", dir);
		else
			cmd_doctor_line(d, DOCTOR_FAIL, "socket directory", "%s: %s", dir,
					strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		cmd_doctor_line(d, DOCTOR_FAIL, "socket directory", "%s is not a directory", dir);
	} else if (st.st_uid != getuid()) {
		cmd_doctor_line(d, DOCTOR_FAIL, "socket directory", "%s belongs to uid %u, not to "
				"you (uid %u)", dir, (unsigned)st.st_uid, (unsigned)getuid());
	} else if ((st.st_mode & 077) != 0) {
		cmd_doctor_line(d, DOCTOR_FAIL, "socket directory", "%s is mode %04o: others can "
				"reach the daemon (chmod 700 it)", dir, (unsigned)(st.st_mode & 07777));
	} else {
		cmd_doctor_line(d, DOCTOR_OK, "socket directory", "%s (mode %04o)", dir,
				(unsigned)(st.st_mode & 07777));
	}
	free(copy);
}

static char *
cmd_doctor_size(long long bytes)
{
	if (bytes < 1024)
		return xasprintf("%lld bytes", bytes);
	if (bytes < 1024 * 1024)
		return xasprintf("%lld KiB", bytes / 1024);
	return xasprintf("%lld MiB", bytes / (1024 * 1024));
}

/* The session store: there, readable, and sound by PRAGMA quick_check. */
/*
 * PRAGMA quick_check on the store, read-only. libsqlite3 is opened here, at run
 * time, because only this command needs it: every other command starts without
 * loading and relocating it. 0 with *verdict (malloc'd; "ok" when sound), or -1
 * with *error (malloc'd).
 */
static int
cmd_doctor_quick_check(const char *path, char **verdict, char **error)
{
	*verdict = *error = NULL;
	if (loader_init() != 0) {
		*error = xstrdup("cannot initialise libltdl");
		return -1;
	}
	void *lib = loader_open("libsqlite3.so.0", error);
	if (lib == NULL) {
		loader_exit();
		return -1;
	}
	int (*open_v2)(const char *, sqlite3 **, int, const char *) =
		(int (*)(const char *, sqlite3 **, int, const char *))loader_sym(lib, "sqlite3_open_v2");
	int (*busy)(sqlite3 *, int) = (int (*)(sqlite3 *, int))loader_sym(lib, "sqlite3_busy_timeout");
	int (*prepare)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **) =
		(int (*)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **))
		loader_sym(lib, "sqlite3_prepare_v2");
	int (*step)(sqlite3_stmt *) = (int (*)(sqlite3_stmt *))loader_sym(lib, "sqlite3_step");
	const unsigned char *(*column)(sqlite3_stmt *, int) =
		(const unsigned char *(*)(sqlite3_stmt *, int))loader_sym(lib, "sqlite3_column_text");
	const char *(*errmsg)(sqlite3 *) = (const char *(*)(sqlite3 *))loader_sym(lib, "sqlite3_errmsg");
	const char *(*errstr)(int) = (const char *(*)(int))loader_sym(lib, "sqlite3_errstr");
	int (*finalize)(sqlite3_stmt *) = (int (*)(sqlite3_stmt *))loader_sym(lib, "sqlite3_finalize");
	int (*close_db)(sqlite3 *) = (int (*)(sqlite3 *))loader_sym(lib, "sqlite3_close");
	if (open_v2 == NULL || busy == NULL || prepare == NULL || step == NULL || column == NULL ||
	    errmsg == NULL || errstr == NULL || finalize == NULL || close_db == NULL) {
		*error = xstrdup("libsqlite3.so.0 lacks a function hearth needs");
		loader_close(lib);
		loader_exit();
		return -1;
	}
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		busy(db, 2000);
		rc = prepare(db, "PRAGMA quick_check", -1, &stmt, NULL);
	}
	if (rc == SQLITE_OK)
		rc = step(stmt);
	const unsigned char *v = rc == SQLITE_ROW ? column(stmt, 0) : NULL;
	if (v != NULL)
		*verdict = xstrdup((const char *)v);
	else
		*error = xstrdup(db != NULL ? errmsg(db) : errstr(rc));
	finalize(stmt);
	close_db(db);
	loader_close(lib);
	loader_exit();
	return v != NULL ? 0 : -1;
}

static void
cmd_doctor_store(struct cmd_doctor *d)
{
	char *dir = paths_state_dir();
	char *path = xasprintf("%s/hearth.db", dir);
	free(dir);
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			cmd_doctor_line(d, DOCTOR_WARN, "store", "%s does not exist yet (made when "
					"the daemon first runs)", path);
		else
			cmd_doctor_line(d, DOCTOR_FAIL, "store", "%s: %s", path, strerror(errno));
		free(path);
		return;
	}
	if (access(path, R_OK) != 0) {
		cmd_doctor_line(d, DOCTOR_FAIL, "store", "%s: cannot read it: %s", path,
				strerror(errno));
		free(path);
		return;
	}
	char *size = cmd_doctor_size((long long)st.st_size);
	char *verdict = NULL, *error = NULL;
	if (cmd_doctor_quick_check(path, &verdict, &error) == 0 && strcmp(verdict, "ok") == 0)
		cmd_doctor_line(d, DOCTOR_OK, "store", "%s (%s, quick_check ok)", path, size);
	else if (verdict != NULL)
		cmd_doctor_line(d, DOCTOR_FAIL, "store", "%s (%s): quick_check: %s", path, size,
				verdict);
	else
		cmd_doctor_line(d, DOCTOR_FAIL, "store", "%s (%s): %s", path, size, error);
	free(verdict);
	free(error);
	free(size);
	free(path);
}

int
cmd_doctor_main(const struct hearth_opts *o, int argc, char **argv)
{
	int as_json = 0;
	int early = hearth_options("doctor", argc, argv, &as_json, 0);
	if (early >= 0)
		return early;
	struct cmd_doctor d = { .opts = o, .checks = json_array() };
	cmd_doctor_config(&d);
	cmd_doctor_modules(&d);
	cmd_doctor_keys(&d);
	cmd_doctor_socket(&d);
	cmd_doctor_socket_dir(&d);
	cmd_doctor_store(&d);
	if (as_json) {
		json_t *all = json_pack("{s:b, s:O}", "ok", d.failures == 0, "checks", d.checks);
		json_dumpf(all, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(all);
	} else {
		cmd_doctor_print(&d);
	}
	json_decref(d.checks);
	return d.failures > 0 ? HEARTH_EXIT_ERROR : HEARTH_EXIT_OK;
}
