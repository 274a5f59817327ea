/*
 * test_crash.c: the crash campaign. The real hearthd, with the real anthropic provider
 * against the fake Anthropic server (tests/fake-anthropic) and the real grep module's
 * `ls`, is killed with SIGKILL CRASH_KILLS times at random moments of streaming turns
 * and tool calls, and restarted each time. After every kill:
 *
 *  - the database passes PRAGMA integrity_check;
 *  - the session's events have the sequence numbers 1..N, no gaps, no repeats;
 *  - every update the follower received before the kill is in the store, the same
 *    update under the same number (session/load replays it exactly);
 *  - after the restart no session is left running or waiting (interrupted at most),
 *    and the session takes the next prompt.
 *
 * The moments come from a seeded generator: HEARTH_CRASH_SEED=N repeats a run (the
 * seed is printed); HEARTH_CRASH_KILLS=N changes how many kills (default 40). The
 * kill moments are what vary; nothing here measures time.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "testutil.h"
#include "xmalloc.h"

#define BUILDDIR TEST_BUILDDIR "/.."
/* How long the test waits for the daemon before it fails (a guard, not a measurement). */
#define CRASH_WAIT_MS 20000
#define CRASH_KILLS 40

struct crash {
	char *tmp, *conf, *script, *sock, *db, *portfile, *project;
	pid_t daemon, server;
	unsigned rng;
};

struct crash_peer {
	int fd;
	char buf[1 << 16];
	size_t len;
	json_t *got;          /* every message, in order */
	json_int_t next_id;
};

static int64_t
crash_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned
crash_rand(struct crash *c, unsigned n)
{
	c->rng = c->rng * 1103515245u + 12345u;
	return (c->rng >> 8) % n;
}

/* ------------------------------------------------- the server, the daemon -- */

/* A script of many replies, each a valid answer to any request: streamed text
 * ending the turn, text then an `ls` tool call, or text then a hang (the kill
 * comes mid-stream). More than the campaign uses, in a fixed seeded mix. */
static void
crash_write_script(struct crash *c)
{
	json_t *replies = json_array();
	for (int i = 0; i < 400; i++) {
		json_t *words = json_array();
		for (int w = 0; w < 60; w++)
			json_array_append_new(words, json_sprintf("r%d-w%d ", i, w));
		json_t *steps = json_pack("[{s:s},{s:s,s:o}]", "type", "message_start", "type",
					  "text", "text", words);
		switch (i % 3) {
		case 0:
			json_array_append_new(steps, json_pack("{s:s,s:s}", "type", "stop",
							       "stop_reason", "end_turn"));
			break;
		case 1: {
			char id[32];
			snprintf(id, sizeof id, "toolu_%d", i);
			json_array_append_new(steps, json_pack(
				"{s:s,s:s,s:s,s:{s:s}}", "type", "tool_use", "id", id, "name", "ls",
				"input", "path", "."));
			json_array_append_new(steps, json_pack("{s:s,s:s}", "type", "stop",
							       "stop_reason", "tool_use"));
			break;
		}
		default:
			json_array_append_new(steps, json_pack("{s:s}", "type", "hang"));
		}
		json_array_append_new(replies, steps);
	}
	char *text = json_dumps(replies, JSON_COMPACT);
	assert_int_equal(testutil_write_file(c->script, text, strlen(text)), 0);
	free(text);
	json_decref(replies);
}

static int
crash_read_port(const char *path)
{
	int64_t until = crash_now_ms() + CRASH_WAIT_MS;
	for (;;) {
		FILE *f = fopen(path, "r");
		int port = 0;
		if (f != NULL) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port > 0)
			return port;
		if (crash_now_ms() > until)
			fail_msg("fake-anthropic wrote no port to %s", path);
		usleep(10000);
	}
}

static void
crash_server_start(struct crash *c)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char seed[16];
		snprintf(seed, sizeof seed, "%u", c->rng);
		execl(BUILDDIR "/tests/fake-anthropic", "fake-anthropic", "-w", "5", "-s", seed,
		      c->script, c->portfile, (char *)NULL);
		_exit(127);
	}
	c->server = pid;
	int port = crash_read_port(c->portfile);
	char *text = xasprintf(
		"module_dir %s/plugins\nload frontend socket\nload provider anthropic\n"
		"load tool grep\n[provider anthropic]\nbase_url = http://127.0.0.1:%d\n",
		BUILDDIR, port);
	assert_int_equal(testutil_write_file(c->conf, text, strlen(text)), 0);
	free(text);
}

static void
crash_daemon_start(struct crash *c)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("XDG_RUNTIME_DIR", c->tmp, 1);
		char *state = xasprintf("%s/state", c->tmp);
		setenv("XDG_STATE_HOME", state, 1);
		setenv("ANTHROPIC_API_KEY", "sk-ant-crash-test", 1);
		unsetenv("ANTHROPIC_BASE_URL");
		char *log = xasprintf("%s/hearthd.log", c->tmp);
		execl(BUILDDIR "/hearthd", "hearthd", "--foreground", "--config", c->conf,
		      "--log-file", log, (char *)NULL);
		_exit(127);
	}
	c->daemon = pid;
	int64_t until = crash_now_ms() + CRASH_WAIT_MS;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", c->sock);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok)
			return;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("hearthd exited (status %d) before listening; see %s/hearthd.log",
				 status, c->tmp);
		if (crash_now_ms() > until)
			fail_msg("hearthd did not start listening on %s", c->sock);
		usleep(5000);
	}
}

static int
crash_stop(pid_t *pid, int sig)
{
	int status = 0;
	kill(*pid, sig);
	waitpid(*pid, &status, 0);
	*pid = 0;
	return status;
}

/* ------------------------------------------------------------ the peer -- */

static struct crash_peer *
crash_peer_connect(struct crash *c)
{
	struct crash_peer *p = xcalloc(1, sizeof *p);
	p->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", c->sock);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	p->got = json_array();
	p->next_id = 1;
	return p;
}

static void
crash_peer_close(struct crash_peer *p)
{
	close(p->fd);
	json_decref(p->got);
	free(p);
}

/* Read what is there (waiting up to ms); 0 on EOF or error, else 1. */
static int
crash_peer_pump(struct crash_peer *p, int ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	if (poll(&pfd, 1, ms) <= 0)
		return 1;
	ssize_t n = read(p->fd, p->buf + p->len, sizeof p->buf - p->len - 1);
	if (n <= 0)
		return 0;
	p->len += (size_t)n;
	char *nl;
	while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
		json_t *m = json_loadb(p->buf, (size_t)(nl - p->buf), 0, NULL);
		if (m == NULL)
			fail_msg("the daemon sent a line that is not JSON: %.*s",
				 (int)(nl - p->buf), p->buf);
		json_array_append_new(p->got, m);
		p->len -= (size_t)(nl + 1 - p->buf);
		memmove(p->buf, nl + 1, p->len);
	}
	/* A line longer than the buffer would stall: the updates here are short. */
	assert_true(p->len < sizeof p->buf - 1);
	return 1;
}

static json_int_t
crash_peer_request(struct crash_peer *p, const char *method, json_t *params)
{
	json_int_t id = p->next_id++;
	json_t *m = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
			      "params", params);
	char *text = json_dumps(m, JSON_COMPACT);
	size_t len = strlen(text);
	assert_int_equal(write(p->fd, text, len), (ssize_t)len);
	assert_int_equal(write(p->fd, "\n", 1), 1);
	free(text);
	json_decref(m);
	return id;
}

static json_t *
crash_peer_call_ok(struct crash_peer *p, const char *method, json_t *params)
{
	json_int_t id = crash_peer_request(p, method, params);
	int64_t until = crash_now_ms() + CRASH_WAIT_MS;
	while (crash_now_ms() < until) {
		size_t i;
		json_t *m;
		json_array_foreach(p->got, i, m) {
			if (json_object_get(m, "method") != NULL ||
			    json_integer_value(json_object_get(m, "id")) != id)
				continue;
			if (json_object_get(m, "error") != NULL)
				fail_msg("%s failed: %s", method,
					 json_string_value(json_object_get(json_object_get(
						 m, "error"), "message")));
			return json_object_get(m, "result");
		}
		if (!crash_peer_pump(p, 50))
			fail_msg("the daemon closed the connection before answering %s", method);
	}
	fail_msg("no answer to %s", method);
	return NULL;
}

/* The session/update params received so far for `sid`, as a new array. */
static json_t *
crash_peer_updates(struct crash_peer *p, const char *sid)
{
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(p->got, i, m) {
		const char *method = json_string_value(json_object_get(m, "method"));
		json_t *params = json_object_get(m, "params");
		if (method != NULL && strcmp(method, "session/update") == 0 &&
		    strcmp(json_string_value(json_object_get(params, "sessionId")), sid) == 0)
			json_array_append(out, params);
	}
	return out;
}

static json_int_t
crash_seq_of(const json_t *update)
{
	return json_integer_value(json_object_get(json_object_get(json_object_get(
		update, "_meta"), "hearth"), "seq"));
}

/* ------------------------------------------------------------ the checks -- */

/* PRAGMA integrity_check, and the session's event numbers 1..N without a gap.
 * Returns N. */
static json_int_t
crash_check_store(struct crash *c, const char *sid)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open_v2(c->db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT seq FROM events WHERE session_id = ?1 "
					    "ORDER BY seq", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, sid, -1, SQLITE_STATIC);
	json_int_t want = 1;
	while (sqlite3_step(s) == SQLITE_ROW) {
		json_int_t seq = sqlite3_column_int64(s, 0);
		if (seq != want)
			fail_msg("session %s: event %lld follows %lld", sid, (long long)seq,
				 (long long)want - 1);
		want++;
	}
	sqlite3_finalize(s);
	sqlite3_close(h);
	return want - 1;
}

/* After the restart: every update `before` holds (what the follower got before the
 * kill) is in the replay under its number, exactly; the replay is 1..last. */
static void
crash_check_replay(struct crash_peer *q, const char *sid, const json_t *before,
		   json_int_t stored)
{
	json_t *r = crash_peer_call_ok(q, "session/load", json_pack(
		"{s:s,s:s,s:[]}", "sessionId", sid, "cwd", "/", "mcpServers"));
	json_int_t last = json_integer_value(json_object_get(json_object_get(json_object_get(
		r, "_meta"), "hearth"), "lastSeq"));
	json_t *replay = crash_peer_updates(q, sid);
	assert_int_equal(json_array_size(replay), (size_t)last);
	assert_int_equal(last, stored);
	for (size_t i = 0; i < json_array_size(replay); i++)
		assert_int_equal(crash_seq_of(json_array_get(replay, i)), (json_int_t)i + 1);
	size_t i;
	json_t *u;
	json_array_foreach(before, i, u) {
		json_int_t seq = crash_seq_of(u);
		if (seq < 1 || seq > last)
			fail_msg("the follower got update %lld; the store has %lld", (long long)seq,
				 (long long)last);
		if (!json_equal(u, json_array_get(replay, (size_t)seq - 1))) {
			char *a = json_dumps(u, JSON_COMPACT | JSON_SORT_KEYS);
			char *b = json_dumps(json_array_get(replay, (size_t)seq - 1),
					     JSON_COMPACT | JSON_SORT_KEYS);
			fail_msg("update %lld differs after the restart:\n  sent   %s\n  stored %s",
				 (long long)seq, a, b);
		}
	}
	json_decref(replay);
}

/* No session is running or waiting after a restart. */
static void
crash_check_idle(struct crash_peer *q)
{
	json_t *r = crash_peer_call_ok(q, "_hearth/sessions", json_object());
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(r, "sessions"), i, s) {
		const char *st = json_string_value(json_object_get(s, "status"));
		if (strcmp(st, "running") == 0 || strcmp(st, "waiting") == 0)
			fail_msg("session %s is %s after the restart",
				 json_string_value(json_object_get(s, "sessionId")), st);
	}
}

/* ------------------------------------------------------------- the test -- */

/* The campaign's state, static so that the teardown can stop the children after a
 * failed check (cmocka leaves the test at the first one). */
static struct crash c;

static int
crash_teardown(void **state)
{
	if (c.daemon > 0)
		crash_stop(&c.daemon, SIGKILL);
	if (c.server > 0)
		crash_stop(&c.server, SIGTERM);
	if (c.tmp != NULL)
		testutil_rmtree(c.tmp);
	free(c.tmp);
	free(c.conf);
	free(c.script);
	free(c.sock);
	free(c.db);
	free(c.portfile);
	free(c.project);
	memset(&c, 0, sizeof c);
	return 0;
}

static void
test_crash_campaign(void **state)
{
	const char *env = getenv("HEARTH_CRASH_SEED");
	c.rng = env != NULL ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	unsigned seed = c.rng;
	env = getenv("HEARTH_CRASH_KILLS");
	int kills = env != NULL ? atoi(env) : CRASH_KILLS;
	printf("# crash campaign: %d kills, HEARTH_CRASH_SEED=%u\n", kills, seed);
	c.tmp = testutil_mkdtemp("crash");
	c.conf = xasprintf("%s/plugins.conf", c.tmp);
	c.script = xasprintf("%s/script.json", c.tmp);
	c.sock = xasprintf("%s/hearth/hearth.sock", c.tmp);
	c.db = xasprintf("%s/state/hearth/hearth.db", c.tmp);
	c.portfile = xasprintf("%s/port", c.tmp);
	c.project = xasprintf("%s/project", c.tmp);
	assert_int_equal(mkdir(c.project, 0700), 0);
	char *f = xasprintf("%s/file.txt", c.project);
	assert_int_equal(testutil_write_file(f, "x\n", 2), 0);
	free(f);
	crash_write_script(&c);
	crash_server_start(&c);

	crash_daemon_start(&c);
	struct crash_peer *p = crash_peer_connect(&c);
	crash_peer_call_ok(p, "initialize", json_pack("{s:i}", "protocolVersion", 1));
	json_t *r = crash_peer_call_ok(p, "session/new", json_pack("{s:s,s:[]}", "cwd", c.project,
								    "mcpServers"));
	char *sid = xstrdup(json_string_value(json_object_get(r, "sessionId")));
	int mid_turn = 0;
	size_t seen = 0, tool_calls = 0;

	for (int k = 0; k < kills; k++) {
		/* A prompt, then the kill at a random moment of its turn: while it streams,
		 * between a tool call and its result, or after it ended. */
		crash_peer_request(p, "session/prompt", json_pack(
			"{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt", "type", "text", "text",
			"go on"));
		int64_t until = crash_now_ms() + (int64_t)crash_rand(&c, 120);
		while (crash_now_ms() < until && crash_peer_pump(p, 5))
			;
		int status = crash_stop(&c.daemon, SIGKILL);
		assert_true(WIFSIGNALED(status));
		while (crash_peer_pump(p, 50))
			;   /* everything the daemon said before it died */
		size_t i;
		json_t *m;
		json_t *before = crash_peer_updates(p, sid);
		seen += json_array_size(before);
		json_array_foreach(before, i, m) {
			const char *kind = json_string_value(json_object_get(json_object_get(
				m, "update"), "sessionUpdate"));
			tool_calls += kind != NULL && strcmp(kind, "tool_call") == 0;
		}
		/* This connection sent one prompt: was it answered before the kill? */
		int answered = 0;
		json_array_foreach(p->got, i, m)
			answered |= json_object_get(json_object_get(m, "result"), "stopReason") != NULL;
		mid_turn += !answered;
		crash_peer_close(p);

		json_int_t stored = crash_check_store(&c, sid);
		crash_daemon_start(&c);
		p = crash_peer_connect(&c);
		crash_peer_call_ok(p, "initialize", json_pack("{s:i}", "protocolVersion", 1));
		crash_check_idle(p);
		crash_check_replay(p, sid, before, stored);
		json_decref(before);
		/* p follows the session again (session/load); what the next kill is checked
		 * against starts with the replay: drop it so each round sees its own. */
		json_array_clear(p->got);
	}
	/* Most kills must have hit a turn in progress, or the campaign tested little. */
	printf("# %d of %d kills came mid-turn; the follower got %zu updates, %zu tool calls\n",
	       mid_turn, kills, seen, tool_calls);
	assert_true(mid_turn * 4 >= kills);
	assert_true(tool_calls > 0);
	assert_true(seen > (size_t)kills);

	crash_peer_close(p);
	int status = crash_stop(&c.daemon, SIGTERM);
	assert_true(WIFEXITED(status));
	free(sid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_crash_campaign, crash_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
