/*
 * test_conn.c: connections own delivery and backpressure. The real core (the
 * dispatcher, sessions, the agent loop, the store, script_provider) behind the
 * real socket frontend, and plain Unix socket clients driven from this thread
 * that read when the test says so: a client that never reads while a turn
 * streams, one that pipelines 10,000 requests, an 8 MiB delta, a long replay to a
 * slow reader. Memory is checked where it lives: the connection's queue.
 *
 * Whenever a client would block, the test runs the loop once; a deadline guards
 * against a hang (a failure, never a timing assertion).
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
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "acp.h"
#include "agent.h"
#include "conf.h"
#include "conn.h"
#include "defer.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "session.h"
#include "store.h"
#include "testutil.h"
#include "tools.h"
#include "xmalloc.h"

#define TEST_MODULES TEST_BUILDDIR "/modules"
#define PLUGINS HEARTH_BUILDDIR "/plugins"
#define DEADLINE_NS (120ULL * 1000 * 1000 * 1000)

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct store *store;
	struct conf *conf;
	struct registry *reg;
	char *tmp, *script, *sock;
	uint64_t deadline;
};

static struct fixture *F;

static void
fixture_shutdown(void)
{
}

static int
setup(void **state)
{
	F = xcalloc(1, sizeof *F);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&F->loop);
	F->tmp = testutil_mkdtemp("conn");
	F->script = xasprintf("%s/script.json", F->tmp);
	F->sock = xasprintf("%s/hearth.sock", F->tmp);
	char *db = xasprintf("%s/hearth.db", F->tmp), *err = NULL;
	F->store = store_open(db, &err);
	assert_non_null(F->store);
	free(db);
	F->ctx.loop = &F->loop;
	F->ctx.state_dir = F->tmp;
	F->ctx.runtime_dir = F->tmp;
	F->ctx.store = F->store;
	host_context_set(&F->ctx);
	static const struct host_conn_ops ops = {
		.open = conn_open, .send = conn_send, .close = conn_close, .flow = conn_flow,
		.pause = conn_pause };
	host_set_conn_ops(&ops);
	defer_init(&F->loop);
	assert_int_equal(loader_init(), 0);
	testutil_log_capture();
	F->deadline = uv_hrtime() + DEADLINE_NS;
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	if (F->reg != NULL)
		registry_stop_frontends(F->reg);
	agent_shutdown();
	conn_end_all("test over");
	if (F->reg != NULL)
		registry_fini_all(F->reg);
	acp_close();
	defer_close();
	uv_run(&F->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&F->loop), 0);
	registry_free(F->reg);
	session_free_all();
	store_close(F->store);
	conf_free(F->conf);
	loader_exit();
	host_set_conn_ops(NULL);
	free(testutil_log_release());
	testutil_rmtree(F->tmp);
	free(F->tmp);
	free(F->script);
	free(F->sock);
	free(F);
	return 0;
}

/* The core and the socket frontend, with `script` for the provider and `socket`
 * as more of the [frontend socket] section. */
static void
core_up(const char *script, const char *socket)
{
	assert_int_equal(testutil_write_file(F->script, script, strlen(script)), 0);
	char *text = xasprintf("module_dir %s\nmodule_dir %s\nload provider script_provider\n"
			       "load frontend socket\n[provider script_provider]\nscript = %s\n"
			       "[frontend socket]\npath = %s\nstall_timeout_ms = 0\n%s",
			       TEST_MODULES, PLUGINS, F->script, F->sock, socket);
	F->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	assert_int_equal(F->conf->n_errors, 0);
	F->reg = registry_new(F->conf);
	assert_int_equal(registry_load_all(F->reg), 0);
	session_set_store(F->store, NULL, NULL);
	tools_set_registry(F->reg);
	agent_init(&F->loop, F->reg);
	acp_init(F->reg, fixture_shutdown);
	assert_int_equal(registry_start_frontends(F->reg), 0);
}

static void
check_deadline(const char *what)
{
	if (uv_hrtime() > F->deadline)
		fail_msg("timed out waiting for %s", what);
}

/* Run the loop once, waiting a little for it or for `fd`. */
static void
pump(int fd, short events)
{
	int timeout = uv_backend_timeout(&F->loop);
	if (timeout < 0 || timeout > 20)
		timeout = 20;
	struct pollfd p[2] = { { .fd = uv_backend_fd(&F->loop), .events = POLLIN },
			       { .fd = fd, .events = events } };
	poll(p, fd >= 0 ? 2 : 1, timeout);
	uv_run(&F->loop, UV_RUN_NOWAIT);
}

/* ---------------------------------------------------------------- clients -- */

/* A socket client. It reads only in client_read(), so a test decides its pace. */
struct client {
	int fd;
	char *in;            /* bytes read, not yet a whole line */
	size_t in_len, in_cap;
	json_t *got;         /* every message, parsed, in order */
	size_t seen;         /* how many the test has looked at */
	int eof;
	json_int_t next_id;
	int64_t last_seq;    /* the last session/update seq it saw */
	size_t resyncs;
	uint64_t dropped;    /* what the resyncs said */
	char *text;          /* the agent_message_chunk text it saw, joined */
	size_t text_len;
};

static struct client *
client_new(void)
{
	struct client *c = xcalloc(1, sizeof *c);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(c->fd >= 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, F->sock);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&addr, sizeof addr), 0);
	c->got = json_array();
	c->next_id = 1;
	c->text = xstrdup("");
	return c;
}

static void
client_free(struct client *c)
{
	close(c->fd);
	json_decref(c->got);
	free(c->in);
	free(c->text);
	free(c);
}

/* Keep what the resync logic and the tests need from one message. */
static void
client_take(struct client *c, json_t *m)
{
	const char *method = json_string_value(json_object_get(m, "method"));
	json_t *params = json_object_get(m, "params");
	if (method != NULL && strcmp(method, "session/update") == 0) {
		json_int_t seq = json_integer_value(json_object_get(
			json_object_get(json_object_get(params, "_meta"), "hearth"), "seq"));
		if (seq <= c->last_seq)
			fail_msg("seq %lld after %lld: not a gapless prefix", (long long)seq,
				 (long long)c->last_seq);
		c->last_seq = seq;
		json_t *u = json_object_get(params, "update");
		const char *kind = json_string_value(json_object_get(u, "sessionUpdate"));
		json_t *t = json_object_get(json_object_get(u, "content"), "text");
		if (kind != NULL && strcmp(kind, "agent_message_chunk") == 0 && t != NULL) {
			size_t n = json_string_length(t);
			c->text = xrealloc(c->text, c->text_len + n + 1);
			memcpy(c->text + c->text_len, json_string_value(t), n + 1);
			c->text_len += n;
		}
	} else if (method != NULL && strcmp(method, "_hearth/resync") == 0) {
		c->resyncs++;
		c->dropped += (uint64_t)json_integer_value(json_object_get(params, "dropped"));
	}
	json_array_append_new(c->got, m);
}

/* Read what is there, at most `max` bytes (0: all). Returns the bytes read. */
static size_t
client_read(struct client *c, size_t max)
{
	size_t total = 0;
	while (!c->eof && (max == 0 || total < max)) {
		if (c->in_cap - c->in_len < 65536)
			c->in = xrealloc(c->in, c->in_cap = c->in_cap * 2 + 65536);
		size_t room = c->in_cap - c->in_len;
		if (max != 0 && room > max - total)
			room = max - total;
		ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			c->eof = 1;
			break;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		assert_true(n > 0);
		c->in_len += (size_t)n;
		total += (size_t)n;
	}
	char *p = c->in, *end = c->in + c->in_len, *nl;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		json_error_t err;
		json_t *m = json_loadb(p, (size_t)(nl - p), 0, &err);
		if (m == NULL)
			fail_msg("the daemon sent a line that is not JSON: %s", err.text);
		client_take(c, m);
		p = nl + 1;
	}
	memmove(c->in, p, (size_t)(end - p));
	c->in_len = (size_t)(end - p);
	return total;
}

/* Write everything, reading meanwhile (unless `read_too` is 0) and running the loop. */
static void
client_write(struct client *c, const char *data, size_t len, int read_too)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			fail_msg("send: %s", strerror(errno));
		check_deadline("a client write");
		if (read_too)
			client_read(c, 0);
		pump(c->fd, read_too ? POLLIN | POLLOUT : POLLOUT);
	}
	uv_run(&F->loop, UV_RUN_NOWAIT);
}

static json_int_t
client_request(struct client *c, const char *method, json_t *params)
{
	json_int_t id = c->next_id++;
	json_t *m = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
			      "params", params != NULL ? params : json_object());
	char *text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	size_t len = strlen(text);
	text = xrealloc(text, len + 2);
	memcpy(text + len, "\n", 2);
	client_write(c, text, len + 1, 1);
	free(text);
	return id;
}

/* The response to `id` (borrowed), reading and running the loop until it comes. */
static json_t *
client_wait_response(struct client *c, json_int_t id)
{
	for (;;) {
		for (size_t i = 0; i < json_array_size(c->got); i++) {
			json_t *m = json_array_get(c->got, i);
			if (json_object_get(m, "method") == NULL &&
			    json_integer_value(json_object_get(m, "id")) == id)
				return m;
		}
		if (c->eof) {
			char *log = testutil_log_release();
			fprintf(stderr, "--- log:\n%s---\n", log);
			free(log);
			testutil_log_capture();
			fail_msg("the daemon hung up before answering request %lld", (long long)id);
		}
		check_deadline("a response");
		if (client_read(c, 0) == 0)
			pump(c->fd, POLLIN);
	}
}

static json_t *
call_ok(struct client *c, const char *method, json_t *params)
{
	json_t *r = client_wait_response(c, client_request(c, method, params));
	if (json_object_get(r, "error") != NULL) {
		char *s = json_dumps(r, 0);
		fail_msg("%s failed: %s", method, s);
		free(s);
	}
	return json_object_get(r, "result");
}

static char *
new_session(struct client *c)
{
	json_t *r = call_ok(c, "session/new", json_pack("{s:s,s:[]}", "cwd", F->tmp, "mcpServers"));
	return xstrdup(json_string_value(json_object_get(r, "sessionId")));
}

/* What follow.c does on _hearth/resync: resume from the last seq seen. */
static void
client_resume(struct client *c, const char *sid)
{
	call_ok(c, "session/resume", json_pack("{s:s,s:s,s:[],s:{s:{s:I}}}", "sessionId", sid,
					       "cwd", F->tmp, "mcpServers", "_meta", "hearth",
					       "lastSeq", (json_int_t)c->last_seq));
}

/* The core connection behind the newest socket client (conn_list is newest first). */
static void
conn_first_cb(struct hearth_conn *c, void *arg)
{
	struct hearth_conn **out = arg;
	if (*out == NULL)
		*out = c;
}

static struct hearth_conn *
newest_conn(void)
{
	struct hearth_conn *c = NULL;
	conn_foreach(conn_first_cb, &c);
	assert_non_null(c);
	return c;
}

/* A script: one reply of `n` text deltas of `size` bytes each ('a' + i % 26). */
static char *
script_deltas(size_t n, size_t size, char **expect)
{
	json_t *steps = json_array();
	*expect = xmalloc(n * size + 1);
	char *chunk = xmalloc(size + 1);
	for (size_t i = 0; i < n; i++) {
		memset(chunk, 'a' + (int)(i % 26), size);
		chunk[size] = '\0';
		memcpy(*expect + i * size, chunk, size);
		json_array_append_new(steps, json_pack("{s:s}", "text", chunk));
	}
	(*expect)[n * size] = '\0';
	json_array_append_new(steps, json_pack("{s:s}", "finish", "end_turn"));
	json_t *replies = json_pack("[o]", steps);
	char *s = json_dumps(replies, JSON_COMPACT);
	json_decref(replies);
	free(chunk);
	return s;
}

static json_t *
prompt_params(const char *sid, const char *text)
{
	return json_pack("{s:s,s:[{s:s,s:s}]}", "sessionId", sid, "prompt", "type", "text", "text",
			 text);
}

static const char *
stop_reason(json_t *response)
{
	return json_string_value(json_object_get(json_object_get(response, "result"),
						 "stopReason"));
}

/* ------------------------------------------------------------------ tests -- */

#define SLOW_MAX (128u * 1024)

/*
 * A client that reads nothing while a turn streams 2 MiB: updates are dropped
 * (never anything else), the daemon holds no more than the bound, the response
 * still comes, and the resync lets the client catch up on every byte.
 */
static void
test_never_reading_client(void **state)
{
	char *expect;
	char *script = script_deltas(128, 16384, &expect);
	char *section = xasprintf("send_queue_max = %u\n", SLOW_MAX);
	core_up(script, section);
	free(section);
	free(script);
	struct client *c = client_new();
	char *sid = new_session(c);
	struct hearth_conn *conn = newest_conn();
	json_int_t id = client_request(c, "session/prompt", prompt_params(sid, "stream"));
	/* The turn runs to its end while the client reads nothing. */
	struct session *s = session_find(sid);
	while (s->turn != NULL) {
		check_deadline("the turn to end");
		pump(-1, 0);
	}
	struct conn_info *info = conn_info(conn);
	assert_false(info->closed);
	assert_true(info->dropped > 0);
	/* The bound held: at most max, or under a quarter plus one message. */
	assert_true(info->queued_peak <= SLOW_MAX);
	char *log = testutil_log_release();
	testutil_log_capture();
	assert_non_null(strstr(log, "send queue full ("));
	assert_non_null(strstr(log, "dropping session updates until it catches up"));
	free(log);

	/* Now it reads: a gapless prefix (client_take checks), the answer, a resync. */
	json_t *r = client_wait_response(c, id);
	assert_string_equal(stop_reason(r), "end_turn");
	while (c->resyncs == 0) {
		check_deadline("the resync");
		if (client_read(c, 0) == 0)
			pump(c->fd, POLLIN);
	}
	assert_int_equal(c->resyncs, 1);
	assert_int_equal(c->dropped, info->dropped);
	assert_true(c->text_len < strlen(expect));
	/* Nothing of that session comes until the client resumes: then all of it. */
	client_resume(c, sid);
	assert_int_equal(c->text_len, strlen(expect));
	assert_string_equal(c->text, expect);
	assert_int_equal(c->resyncs, 1);
	assert_false(info->closed);
	free(expect);
	free(sid);
	client_free(c);
}

#define PIPELINED 10000

/* 10,000 requests in one write, the answers read only once it is all written:
 * every one is answered, in order, and the queue stays bounded. */
static void
test_pipelined_requests(void **state)
{
	core_up("[]", "send_queue_max = 65536\n");
	struct client *c = client_new();
	char *sid = new_session(c);
	struct hearth_conn *conn = newest_conn();
	size_t cap = PIPELINED * 96, len = 0;
	char *out = xmalloc(cap);
	for (json_int_t i = 0; i < PIPELINED; i++)
		len += (size_t)snprintf(out + len, cap - len, "{\"jsonrpc\":\"2.0\",\"id\":%lld,"
					"\"method\":\"session/list\",\"params\":{}}\n",
					(long long)(c->next_id + i));
	json_int_t first = c->next_id;
	c->next_id += PIPELINED;
	/* Written without reading: the daemon stops reading us before its queue fills. */
	size_t sent = 0;
	for (int idle = 0; sent < len && idle < 50;) {
		ssize_t n = send(c->fd, out + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else {
			idle++;
		}
		pump(-1, 0);
	}
	assert_true(sent < len);   /* it stopped reading us */
	assert_false(conn_info(conn)->closed);
	assert_true(conn_info(conn)->queued_peak <= 65536);
	/* Then both ways: every answer comes. */
	client_write(c, out + sent, len - sent, 1);
	for (json_int_t i = 0; i < PIPELINED; i++) {
		json_t *r = client_wait_response(c, first + i);
		assert_non_null(json_object_get(json_object_get(r, "result"), "sessions"));
	}
	size_t answers = 0;
	for (size_t i = 0; i < json_array_size(c->got); i++)
		answers += json_object_get(json_array_get(c->got, i), "result") != NULL;
	assert_int_equal(answers, PIPELINED + 1);   /* + session/new */
	assert_int_equal(conn_info(conn)->dropped, 0);
	assert_true(conn_info(conn)->queued_peak <= 65536);
	free(out);
	free(sid);
	client_free(c);
}

/* One delta of 8 MiB, more than the whole queue: still delivered. */
static void
test_huge_delta(void **state)
{
	char *expect;
	char *script = script_deltas(1, 8u << 20, &expect);
	core_up(script, "");
	free(script);
	struct client *c = client_new();
	char *sid = new_session(c);
	json_int_t id = client_request(c, "session/prompt", prompt_params(sid, "big"));
	json_t *r = client_wait_response(c, id);
	assert_string_equal(stop_reason(r), "end_turn");
	if (c->resyncs > 0)
		client_resume(c, sid);
	assert_int_equal(c->text_len, 8u << 20);
	assert_string_equal(c->text, expect);
	/* And again to a client that loads the session. */
	struct client *d = client_new();
	call_ok(d, "session/load", json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", F->tmp,
					     "mcpServers"));
	assert_int_equal(d->resyncs, 0);
	assert_string_equal(d->text, expect);
	free(expect);
	free(sid);
	client_free(c);
	client_free(d);
}

#define REPLAY_EVENTS 3000
#define REPLAY_MAX (64u * 1024)

/* A long session replayed to a client that reads 4 KiB at a time: every update,
 * in order, no resync, the answer last; the queue under half its bound. */
static void
test_replay_to_slow_reader(void **state)
{
	char *section = xasprintf("send_queue_max = %u\n", REPLAY_MAX);
	core_up("[]", section);
	free(section);
	struct client *c = client_new();
	char *sid = new_session(c);
	struct hearth_conn *c_conn = newest_conn();
	struct session *s = session_find(sid);
	char *pad = xmalloc(2049);
	memset(pad, 'r', 2048);
	pad[2048] = '\0';
	assert_int_equal(session_begin(), 0);
	for (int i = 0; i < REPLAY_EVENTS; i++) {
		json_t *u = json_pack("{s:s,s:{s:s,s:s}}", "sessionUpdate", "agent_message_chunk",
				      "content", "type", "text", "text", pad);
		assert_true(session_emit(s, u) > 0);
		json_decref(u);
	}
	assert_int_equal(session_commit(), 0);
	/* The live copies went to c (it follows the session): start afresh. */
	struct client *slow = client_new();
	json_int_t id = client_request(slow, "session/load",
				       json_pack("{s:s,s:s,s:[]}", "sessionId", sid, "cwd", F->tmp,
						 "mcpServers"));
	while (conn_info(newest_conn())->id == conn_info(c_conn)->id)
		pump(-1, 0);   /* accepted on the loop */
	struct hearth_conn *conn = newest_conn();
	size_t updates = 0;
	json_t *answer = NULL;
	while (answer == NULL) {
		check_deadline("the replay");
		if (client_read(slow, 4096) == 0)
			pump(slow->fd, POLLIN);
		for (; slow->seen < json_array_size(slow->got); slow->seen++) {
			json_t *m = json_array_get(slow->got, slow->seen);
			if (json_object_get(m, "method") != NULL)
				updates++;
			else if (json_integer_value(json_object_get(m, "id")) == id)
				answer = m;
		}
	}
	assert_null(json_object_get(answer, "error"));
	assert_int_equal(updates, REPLAY_EVENTS);
	assert_int_equal(slow->last_seq, REPLAY_EVENTS);
	assert_int_equal(slow->resyncs, 0);
	assert_int_equal(slow->text_len, (size_t)REPLAY_EVENTS * 2048);
	struct conn_info *info = conn_info(conn);
	assert_int_equal(info->dropped, 0);
	assert_false(info->closed);
	assert_true(info->queued_peak <= REPLAY_MAX / 2 + 4096);
	/* Then it follows live. */
	json_t *u = json_pack("{s:s,s:{s:s,s:s}}", "sessionUpdate", "agent_message_chunk",
			      "content", "type", "text", "text", "live");
	assert_true(session_emit(s, u) == REPLAY_EVENTS + 1);
	json_decref(u);
	while (slow->last_seq < REPLAY_EVENTS + 1) {
		check_deadline("the live update");
		if (client_read(slow, 0) == 0)
			pump(slow->fd, POLLIN);
	}
	free(pad);
	free(sid);
	client_free(c);
	client_free(slow);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_never_reading_client),
		T(test_pipelined_requests),
		T(test_huge_delta),
		T(test_replay_to_slow_reader),
#undef T
	};
	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
