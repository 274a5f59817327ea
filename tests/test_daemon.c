/*
 * test_daemon.c: the real hearthd, started on a temporary socket and state
 * directory, driven over its real Unix socket: kill -9 in the middle of a streaming
 * turn and restart (nothing committed lost, the turn marked interrupted, the
 * database intact, the session usable); kill -9 at many instants of a multi-step
 * turn (parts and events agree after each); two clients on one session, one of which
 * drops and resumes with its last sequence number; and bad frames.
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
/* How long a test waits for the daemon before it fails (a guard, not a measurement). */
#define WAIT_MS 20000

struct daemon {
	char *tmp, *conf, *script, *sock;
	pid_t pid;
};

struct peer {
	int fd;
	char buf[1 << 16];
	size_t len;
	json_t *got;           /* every message, in order */
	json_int_t next_id;
};

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
daemon_write_script(struct daemon *d, const char *json)
{
	assert_int_equal(testutil_write_file(d->script, json, strlen(json)), 0);
}

static void
daemon_start(struct daemon *d)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("XDG_RUNTIME_DIR", d->tmp, 1);
		char *state = xasprintf("%s/state", d->tmp);
		setenv("XDG_STATE_HOME", state, 1);
		char *log = xasprintf("%s/hearthd.log", d->tmp);
		execl(BUILDDIR "/hearthd", "hearthd", "--foreground", "--config", d->conf,
		      "--log-file", log, "--log-level", "debug", (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
	/* Ready when the socket answers. */
	int64_t until = now_ms() + WAIT_MS;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", d->sock);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok)
			return;
		if (now_ms() > until)
			fail_msg("hearthd did not start listening on %s", d->sock);
		usleep(10000);
	}
}

static int
daemon_kill(struct daemon *d, int sig)
{
	int status = 0;
	kill(d->pid, sig);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	return status;
}

static struct daemon *
daemon_new(const char *script)
{
	struct daemon *d = xcalloc(1, sizeof *d);
	d->tmp = testutil_mkdtemp("daemon");
	d->conf = xasprintf("%s/plugins.conf", d->tmp);
	d->script = xasprintf("%s/script.json", d->tmp);
	d->sock = xasprintf("%s/hearth/hearth.sock", d->tmp);
	daemon_write_script(d, script);
	char *text = xasprintf(
		"module_dir %s/tests/modules\nmodule_dir %s/plugins\nload frontend socket\n"
		"load provider script_provider\nload tool good_tool\n"
		"[frontend socket]\nmax_frame = 65536\n"
		"[provider script_provider]\nscript = %s\n", BUILDDIR, BUILDDIR, d->script);
	assert_int_equal(testutil_write_file(d->conf, text, strlen(text)), 0);
	free(text);
	daemon_start(d);
	return d;
}

static void
daemon_free(struct daemon *d)
{
	if (d->pid > 0) {
		int status = daemon_kill(d, SIGTERM);
		/* A clean shutdown is part of every test. */
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	testutil_rmtree(d->tmp);
	free(d->tmp);
	free(d->conf);
	free(d->script);
	free(d->sock);
	free(d);
}

static struct peer *
peer_connect(struct daemon *d)
{
	struct peer *p = xcalloc(1, sizeof *p);
	p->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", d->sock);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	p->got = json_array();
	p->next_id = 1;
	return p;
}

static void
peer_close(struct peer *p)
{
	close(p->fd);
	json_decref(p->got);
	free(p);
}

static void
peer_write(struct peer *p, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(p->fd, data, len);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void
peer_send_str(struct peer *p, const char *s)
{
	peer_write(p, s, strlen(s));
}

/* Read what is there (waiting up to ms); returns 0 on EOF, else 1. */
static int
peer_pump(struct peer *p, int ms)
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
		json_error_t err;
		json_t *m = json_loadb(p->buf, (size_t)(nl - p->buf), 0, &err);
		if (m == NULL)
			fail_msg("the daemon sent a line that is not JSON: %.*s", (int)(nl - p->buf),
				 p->buf);
		json_array_append_new(p->got, m);
		p->len -= (size_t)(nl + 1 - p->buf);
		memmove(p->buf, nl + 1, p->len);
	}
	return 1;
}

static json_int_t
peer_request(struct peer *p, const char *method, json_t *params)
{
	json_int_t id = p->next_id++;
	json_t *m = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
			      "params", params);
	char *text = json_dumps(m, JSON_COMPACT);
	peer_write(p, text, strlen(text));
	peer_write(p, "\n", 1);
	free(text);
	json_decref(m);
	return id;
}

static json_t *
peer_wait_response(struct peer *p, json_int_t id)
{
	int64_t until = now_ms() + WAIT_MS;
	while (now_ms() < until) {
		size_t i;
		json_t *m;
		json_array_foreach(p->got, i, m)
			if (json_object_get(m, "method") == NULL &&
			    json_integer_value(json_object_get(m, "id")) == id)
				return m;
		if (!peer_pump(p, 100))
			fail_msg("the daemon closed the connection before answering %lld",
				 (long long)id);
	}
	fail_msg("no answer to request %lld", (long long)id);
	return NULL;
}

static json_t *
peer_call_ok(struct peer *p, const char *method, json_t *params)
{
	json_t *r = peer_wait_response(p, peer_request(p, method, params));
	assert_null(json_object_get(r, "error"));
	return json_object_get(r, "result");
}

/* The session/update params received so far, as a new array. */
static json_t *
peer_updates(struct peer *p)
{
	json_t *out = json_array();
	size_t i;
	json_t *m;
	json_array_foreach(p->got, i, m) {
		const char *method = json_string_value(json_object_get(m, "method"));
		if (method != NULL && strcmp(method, "session/update") == 0)
			json_array_append(out, json_object_get(m, "params"));
	}
	return out;
}

/* Read until `count` updates have come. */
static void
peer_wait_updates(struct peer *p, size_t count)
{
	int64_t until = now_ms() + WAIT_MS;
	for (;;) {
		json_t *u = peer_updates(p);
		size_t n = json_array_size(u);
		json_decref(u);
		if (n >= count)
			return;
		if (now_ms() > until || !peer_pump(p, 100))
			fail_msg("only %zu of %zu updates came", n, count);
	}
}

static void
peer_initialize(struct peer *p)
{
	peer_call_ok(p, "initialize", json_pack("{s:i}", "protocolVersion", 1));
}

static char *
new_session(struct peer *p, struct daemon *d)
{
	char *cwd = xasprintf("%s/project", d->tmp);
	mkdir(cwd, 0700);
	json_t *r = peer_call_ok(p, "session/new", json_pack("{s:s,s:[]}", "cwd", cwd, "mcpServers"));
	free(cwd);
	return xstrdup(json_string_value(json_object_get(r, "sessionId")));
}

static char *
integrity_check(const char *db)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	char *out = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(h);
	return out;
}

/* ------------------------------------------------------------------ tests -- */

static void
test_kill_9_mid_turn(void **state)
{
	/* A long streamed answer that never ends: the daemon is killed while it streams. */
	size_t cap = 64 * 1024, len = 0;
	char *script = xmalloc(cap);
	len += (size_t)snprintf(script + len, cap - len, "[[");
	for (int i = 0; i < 400; i++)
		len += (size_t)snprintf(script + len, cap - len, "{\"text\":\"word%d \"},", i);
	snprintf(script + len, cap - len, "{\"hang\":true}]]");
	struct daemon *d = daemon_new(script);
	free(script);

	struct peer *p = peer_connect(d);
	peer_initialize(p);
	char *sid = new_session(p, d);
	peer_request(p, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
						    "prompt", "type", "text", "text", "talk"));
	/* At least two committed chunks (the prompt's echo is not sent to its sender). */
	peer_wait_updates(p, 2);
	int status = daemon_kill(d, SIGKILL);
	assert_true(WIFSIGNALED(status));
	while (peer_pump(p, 100))
		;   /* everything the daemon said before it died */
	json_t *before = peer_updates(p);
	size_t n_before = json_array_size(before);
	assert_true(n_before >= 2);

	char *db = xasprintf("%s/state/hearth/hearth.db", d->tmp);
	char *check = integrity_check(db);
	assert_string_equal(check, "ok");
	free(check);

	/* Restart with a script that answers. */
	daemon_write_script(d, "[[{\"text\":\"recovered\"},{\"finish\":\"end_turn\"}]]");
	daemon_start(d);
	struct peer *q = peer_connect(d);
	peer_initialize(q);
	json_t *st = peer_call_ok(q, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "interrupted");
	json_int_t last = json_integer_value(json_object_get(st, "lastSeq"));
	assert_true(last >= (json_int_t)n_before);

	/* Every update the first client saw is in the replay, exactly, after the echo. */
	peer_call_ok(q, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", d->tmp,
						  "mcpServers"));
	json_t *replay = peer_updates(q);
	assert_int_equal(json_array_size(replay), last);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(
		replay, 0), "update"), "sessionUpdate")), "user_message_chunk");
	for (size_t i = 0; i < n_before; i++)
		assert_true(json_equal(json_array_get(before, i), json_array_get(replay, i + 1)));
	json_decref(replay);

	/* The session goes on. */
	json_t *r = peer_wait_response(q, peer_request(q, "session/prompt", json_pack(
		"{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt", "type", "text", "text", "again")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
							      "stopReason")), "end_turn");
	st = peer_call_ok(q, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "idle");

	json_decref(before);
	peer_close(p);
	peer_close(q);
	free(sid);
	free(db);
	daemon_free(d);
}

/* Append `text` to the string at key in obj. */
static void
concat_at(json_t *obj, const char *key, const char *text)
{
	const char *before = json_string_value(json_object_get(obj, key));
	char *all = xasprintf("%s%s", before != NULL ? before : "", text);
	json_object_set_new(obj, key, json_string(all));
	free(all);
}

/*
 * What the events said and what the parts hold must agree, message by message:
 * the text and reasoning of each (chunks joined against parts joined), every
 * tool call announced against every tool_call part, every call's final status
 * against every tool_result part. Read straight from the database file.
 */
static void
assert_transcript_consistent(const char *db)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	json_t *said = json_object(), *stored = json_object();
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT payload FROM events ORDER BY session_id, seq",
					    -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *u = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
		assert_non_null(u);
		const char *type = json_string_value(json_object_get(u, "sessionUpdate"));
		const char *mid = json_string_value(json_object_get(u, "messageId"));
		const char *id = json_string_value(json_object_get(u, "toolCallId"));
		const char *status = json_string_value(json_object_get(u, "status"));
		const char *text = json_string_value(json_object_get(json_object_get(u, "content"),
								     "text"));
		char *key = NULL;
		if (strcmp(type, "agent_thought_chunk") == 0)
			key = xasprintf("%s/reasoning", mid);
		else if (strstr(type, "_message_chunk") != NULL)
			key = xasprintf("%s/text", mid);
		if (key != NULL)
			concat_at(said, key, text);
		free(key);
		if (strcmp(type, "tool_call") == 0)
			json_object_set_new(said, id, json_string("call"));
		if (strcmp(type, "tool_call_update") == 0 && status != NULL &&
		    (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)) {
			key = xasprintf("%s/result", id);
			json_object_set_new(said, key, json_true());
			free(key);
		}
		json_decref(u);
	}
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT m.id, p.type, p.data FROM parts p "
					    "JOIN messages m ON m.id = p.message_id "
					    "ORDER BY m.session_id, m.idx, p.idx", -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		json_t *part = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		assert_non_null(part);
		const char *id = json_string_value(json_object_get(part, "id"));
		char *key = NULL;
		if (strcmp(type, "text") == 0 || strcmp(type, "reasoning") == 0) {
			key = xasprintf("%s/%s", mid, type);
			concat_at(stored, key, json_string_value(json_object_get(part, "text")));
		} else if (strcmp(type, "tool_call") == 0) {
			json_object_set_new(stored, id, json_string("call"));
		} else if (strcmp(type, "tool_result") == 0) {
			key = xasprintf("%s/result", id);
			json_object_set_new(stored, key, json_true());
		}
		free(key);
		json_decref(part);
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (!json_equal(said, stored)) {
		char *a = json_dumps(said, JSON_SORT_KEYS | JSON_INDENT(1));
		char *b = json_dumps(stored, JSON_SORT_KEYS | JSON_INDENT(1));
		print_error("events said:\n%s\nparts hold:\n%s\n", a, b);
		free(a);
		free(b);
		fail_msg("the parts and the events of %s disagree", db);
	}
	json_decref(said);
	json_decref(stored);
}

/*
 * A turn of three steps (reasoning, text, tool calls, then a long answer that
 * never ends), killed with SIGKILL at a different instant each round; after each
 * kill the database is intact and its parts and events agree, and the next
 * round's prompt (after the restart) repairs the turn and runs.
 */
static void
test_kill_at_any_instant(void **state)
{
	size_t cap = 64 * 1024, len = 0;
	char *script = xmalloc(cap);
	len += (size_t)snprintf(script + len, cap - len, "[[");
	for (int i = 0; i < 30; i++)
		len += (size_t)snprintf(script + len, cap - len, "{\"reasoning\":\"r%d \"},", i);
	len += (size_t)snprintf(script + len, cap - len, "{\"part_end\":null},");
	for (int i = 0; i < 60; i++)
		len += (size_t)snprintf(script + len, cap - len, "{\"text\":\"a%d \"},", i);
	len += (size_t)snprintf(script + len, cap - len,
				"{\"tool_call\":{\"id\":\"c1\",\"name\":\"echo\",\"input\":"
				"{\"text\":\"x\"}}},{\"finish\":\"tool_use\"}],[");
	for (int i = 0; i < 60; i++)
		len += (size_t)snprintf(script + len, cap - len, "{\"text\":\"b%d \"},", i);
	len += (size_t)snprintf(script + len, cap - len,
				"{\"tool_call\":{\"id\":\"c2\",\"name\":\"echo\",\"input\":"
				"{\"text\":\"y\"}}},{\"finish\":\"tool_use\"}],[");
	for (int i = 0; i < 300; i++)
		len += (size_t)snprintf(script + len, cap - len, "{\"text\":\"c%d \"},", i);
	snprintf(script + len, cap - len, "{\"hang\":true}]]");
	struct daemon *d = daemon_new(script);
	free(script);
	char *db = xasprintf("%s/state/hearth/hearth.db", d->tmp);
	char *sid = NULL;
	for (int round = 0; round < 8; round++) {
		struct peer *p = peer_connect(d);
		peer_initialize(p);
		if (sid == NULL)
			sid = new_session(p, d);
		peer_request(p, "session/prompt", json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid,
							    "prompt", "type", "text", "text", "go"));
		/* A different instant each round, from the prompt's write to the last step. */
		usleep((useconds_t)(round * 61 % 450) * 1000);
		int status = daemon_kill(d, SIGKILL);
		assert_true(WIFSIGNALED(status));
		peer_close(p);
		char *check = integrity_check(db);
		assert_string_equal(check, "ok");
		free(check);
		assert_transcript_consistent(db);
		daemon_start(d);
	}
	free(sid);
	free(db);
	daemon_free(d);
}

static void
test_two_clients_reconnect(void **state)
{
	struct daemon *d = daemon_new(
		"[[{\"text\":\"a\"},{\"part_end\":null},{\"text\":\"b\"},{\"part_end\":null},"
		"{\"text\":\"c\"},{\"part_end\":null},{\"text\":\"d\"},{\"finish\":\"end_turn\"}],"
		"[{\"text\":\"second\"},{\"finish\":\"end_turn\"}]]");
	struct peer *a = peer_connect(d), *b = peer_connect(d);
	peer_initialize(a);
	peer_initialize(b);
	char *sid = new_session(a, d);
	peer_call_ok(b, "session/resume", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd",
						    d->tmp, "mcpServers"));
	peer_wait_response(a, peer_request(a, "session/prompt", json_pack(
		"{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt", "type", "text", "text", "1")));
	/* b gets a's prompt's echo (number 1); a, which sent it, does not. */
	json_t *ua = peer_updates(a);
	peer_wait_updates(b, json_array_size(ua) + 1);
	json_t *ub = peer_updates(b);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(
		ub, 0), "update"), "sessionUpdate")), "user_message_chunk");
	json_array_remove(ub, 0);
	assert_true(json_equal(ua, ub));

	/* b drops after seeing two updates' worth; the rest happens while it is away. */
	json_int_t seen = 2;
	peer_close(b);
	json_decref(ub);
	peer_wait_response(a, peer_request(a, "session/prompt", json_pack(
		"{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt", "type", "text", "text", "2")));
	json_decref(ua);
	/* Everything, as a client that loads the session gets it. */
	struct peer *c = peer_connect(d);
	peer_initialize(c);
	peer_call_ok(c, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", d->tmp,
						  "mcpServers"));
	ua = peer_updates(c);
	peer_close(c);

	/* It comes back with its last number and gets exactly what it missed. */
	b = peer_connect(d);
	peer_initialize(b);
	json_t *r = peer_call_ok(b, "session/resume", json_pack(
		"{s:s,s:s,s:[],s:{s:{s:I}}}", "sessionId", sid, "cwd", d->tmp, "mcpServers", "_meta",
		"hearth", "lastSeq", seen));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(
		r, "_meta"), "hearth"), "lastSeq")), (json_int_t)json_array_size(ua));
	ub = peer_updates(b);
	assert_int_equal(json_array_size(ub), json_array_size(ua) - (size_t)seen);
	for (size_t i = 0; i < json_array_size(ub); i++)
		assert_true(json_equal(json_array_get(ub, i), json_array_get(ua, (size_t)seen + i)));
	json_decref(ua);
	json_decref(ub);
	peer_close(a);
	peer_close(b);
	free(sid);
	daemon_free(d);
}

static json_t *
peer_wait_any(struct peer *p, size_t index)
{
	int64_t until = now_ms() + WAIT_MS;
	while (json_array_size(p->got) <= index) {
		if (now_ms() > until || !peer_pump(p, 100))
			return NULL;
	}
	return json_array_get(p->got, index);
}

static void
test_bad_frames(void **state)
{
	struct daemon *d = daemon_new("[]");
	struct peer *good = peer_connect(d), *hang = peer_connect(d), *bad = peer_connect(d);
	peer_initialize(good);
	/* One client sends half a frame and hangs; the others are not affected. */
	peer_send_str(hang, "{\"jsonrpc\":\"2.0\",\"id\":1,\"meth");

	peer_send_str(bad, "{not json}\n");
	json_t *m = peer_wait_any(bad, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
			 -32700);
	peer_write(bad, "\x7f" "ELF\x01\x02\xff\n", 8);
	m = peer_wait_any(bad, 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
			 -32700);
	peer_send_str(bad, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"nope\"}\n");
	m = peer_wait_any(bad, 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
			 -32601);
	peer_send_str(bad, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"session/load\","
			   "\"params\":{\"sessionId\":42}}\n");
	m = peer_wait_any(bad, 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
			 -32602);

	char *sid = new_session(good, d);
	/* A frame over the socket's limit (64 KiB here): -32600, then the connection closes. */
	char *big = xmalloc(70000);
	memset(big, 'x', 70000);
	peer_write(bad, big, 70000);
	free(big);
	m = peer_wait_any(bad, 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
			 -32600);
	int64_t until = now_ms() + WAIT_MS;
	while (peer_pump(bad, 100) && now_ms() < until)
		;
	assert_true(now_ms() < until);   /* it was closed */

	json_t *st = peer_call_ok(good, "_hearth/status", json_pack("{s:s}", "sessionId", sid));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "idle");
	/* The hanging client finishes its frame late and is answered. */
	peer_send_str(hang, "od\":\"initialize\",\"params\":{\"protocolVersion\":1}}\n");
	m = peer_wait_response(hang, 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "result"),
							    "protocolVersion")), 1);
	free(sid);
	peer_close(good);
	peer_close(hang);
	peer_close(bad);
	daemon_free(d);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_9_mid_turn),
		cmocka_unit_test(test_kill_at_any_instant),
		cmocka_unit_test(test_two_clients_reconnect),
		cmocka_unit_test(test_bad_frames),
	};
	return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
