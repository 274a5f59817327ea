/*
 * test_client_rpc.c: the client's blocking JSON-RPC over a real socket pair: what
 * it sends, answers, errors, notifications and daemon requests in between, nested
 * calls, frames split anywhere, and every way the daemon's side can be bad
 * (malformed, not JSON-RPC, truncated, oversized, silent, gone); then SIGINT.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <hearth/plugin.h>

#include "client_rpc.h"
#include "sigint.h"
#include "xmalloc.h"

struct pair {
	struct client_rpc *c;
	int peer;
	pid_t writer;     /* a child writing the daemon's side, or 0 */
};

static int
setup(void **state)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	struct pair *p = xcalloc(1, sizeof *p);
	p->c = client_rpc_new(fds[0]);
	p->peer = fds[1];
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct pair *p = *state;
	client_rpc_free(p->c);
	if (p->peer >= 0)
		close(p->peer);
	if (p->writer > 0) {
		int status;
		waitpid(p->writer, &status, 0);
	}
	free(p);
	return 0;
}

/* The daemon's side says `text` (small enough for the socket buffer). */
static void
peer_say(struct pair *p, const char *text)
{
	size_t n = strlen(text);
	assert_int_equal(write(p->peer, text, n), (ssize_t)n);
}

/* A child process writes `text` in pieces of `piece` bytes. */
static void
peer_say_slowly(struct pair *p, const char *text, size_t len, size_t piece)
{
	p->writer = fork();
	assert_true(p->writer >= 0);
	if (p->writer == 0) {
		for (size_t off = 0; off < len; off += piece) {
			size_t n = len - off < piece ? len - off : piece;
			if (write(p->peer, text + off, n) != (ssize_t)n)
				_exit(1);
		}
		_exit(0);
	}
}

/* Everything the client sent so far, as a string (the peer side must not block). */
static char *
peer_heard(struct pair *p)
{
	char buf[65536];
	ssize_t n = recv(p->peer, buf, sizeof buf - 1, MSG_DONTWAIT);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return xstrdup(buf);
}

static char *
dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* What the handler saw, in order: "METHOD PARAMS" lines. */
struct seen {
	char log[4096];
	int reply_to_requests;  /* answer requests {"handled":true} */
	int nested;             /* on "nest", make a call of its own */
	json_t *nested_result;
	int signals;
	int give_up_after;
};

static int
seen_msg_cb(void *arg, struct client_rpc *c, const struct rpc_msg *msg)
{
	struct seen *s = arg;
	char *params = dump(msg->params);
	size_t used = strlen(s->log);
	snprintf(s->log + used, sizeof s->log - used, "%s %s %s\n",
		 msg->kind == RPC_REQUEST ? "request" : "notification", msg->method, params);
	free(params);
	if (s->nested && strcmp(msg->method, "nest") == 0) {
		json_t *error;
		assert_int_equal(client_rpc_call(c, "inner", NULL, &s->nested_result, &error), 0);
		assert_null(error);
		return 1;
	}
	if (msg->kind == RPC_REQUEST && s->reply_to_requests) {
		client_rpc_reply(c, msg->id, json_pack("{s:b}", "handled", 1));
		return 1;
	}
	return msg->kind == RPC_NOTIFICATION;
}

static int
seen_signal_cb(void *arg, struct client_rpc *c)
{
	struct seen *s = arg;
	(void)c;
	s->signals++;
	return s->signals >= s->give_up_after;
}

static void
test_call_sends_one_line_and_gets_result(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}\n");
	json_t *result, *error;
	assert_int_equal(client_rpc_call(p->c, "session/new", json_pack("{s:s}", "cwd", "/x"),
					 &result, &error), 0);
	assert_null(error);
	char *r = dump(result);
	assert_string_equal(r, "{\"ok\":true}");
	free(r);
	json_decref(result);
	char *heard = peer_heard(p);
	assert_string_equal(heard, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session/new\","
				   "\"params\":{\"cwd\":\"/x\"}}\n");
	free(heard);
}

static void
test_call_error_answer(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,"
		    "\"message\":\"session s1 is busy\"}}\n");
	json_t *result, *error;
	assert_int_equal(client_rpc_call(p->c, "session/prompt", NULL, &result, &error), 0);
	assert_null(result);
	assert_int_equal(json_integer_value(json_object_get(error, "code")), -32602);
	assert_string_equal(json_string_value(json_object_get(error, "message")),
			    "session s1 is busy");
	json_decref(error);
	char *heard = peer_heard(p);
	assert_string_equal(heard, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session/prompt\","
				   "\"params\":{}}\n");
	free(heard);
}

static void
test_messages_before_the_answer(void **state)
{
	struct pair *p = *state;
	struct seen s = { .log = "" };
	client_rpc_set_handler(p->c, seen_msg_cb, NULL, &s);
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":{\"n\":1}}\n"
		    "\r\n\n"
		    "{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"method\":\"fs/read_text_file\","
		    "\"params\":{\"path\":\"/etc/passwd\"}}\r\n"
		    "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}\n"
		    "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\"}\n"
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"stopReason\":\"end_turn\"}}\n");
	json_t *result, *error;
	assert_int_equal(client_rpc_call(p->c, "session/prompt", NULL, &result, &error), 0);
	assert_string_equal(json_string_value(json_object_get(result, "stopReason")), "end_turn");
	json_decref(result);
	assert_string_equal(s.log, "notification session/update {\"n\":1}\n"
				   "request fs/read_text_file {\"path\":\"/etc/passwd\"}\n"
				   "notification session/update {}\n");
	/* The unhandled request was refused; the stray answer (id 99) dropped. */
	char *heard = peer_heard(p);
	assert_string_equal(heard,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session/prompt\",\"params\":{}}\n"
		"{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"error\":{\"code\":-32601,\"message\":"
		"\"method not found: fs/read_text_file (the hearth client does not offer it)\"}}\n");
	free(heard);
}

static void
test_handled_request_is_answered_by_handler(void **state)
{
	struct pair *p = *state;
	struct seen s = { .log = "", .reply_to_requests = 1 };
	client_rpc_set_handler(p->c, seen_msg_cb, NULL, &s);
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"session/request_permission\","
		    "\"params\":{}}\n"
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
	json_t *result, *error;
	assert_int_equal(client_rpc_call(p->c, "x", NULL, &result, &error), 0);
	json_decref(result);
	char *heard = peer_heard(p);
	assert_string_equal(heard,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{}}\n"
		"{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"handled\":true}}\n");
	free(heard);
}

/* A handler's own call sees the outer answer first: it is kept for the outer call. */
static void
test_nested_call(void **state)
{
	struct pair *p = *state;
	struct seen s = { .log = "", .nested = 1 };
	client_rpc_set_handler(p->c, seen_msg_cb, NULL, &s);
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"method\":\"nest\"}\n"
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"outer\":1}}\n"
		    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"inner\":2}}\n");
	json_t *result, *error;
	assert_int_equal(client_rpc_call(p->c, "outer", NULL, &result, &error), 0);
	char *r = dump(result);
	assert_string_equal(r, "{\"outer\":1}");
	free(r);
	r = dump(s.nested_result);
	assert_string_equal(r, "{\"inner\":2}");
	free(r);
	json_decref(result);
	json_decref(s.nested_result);
}

/* A 300 KB answer written 4093 bytes at a time, and small frames split byte by byte. */
static void
test_split_frames(void **state)
{
	struct pair *p = *state;
	size_t big = 300 * 1024;
	char *text = xmalloc(big + 200);
	int n = sprintf(text, "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":{\"a\":1}}\n"
			      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"s\":\"");
	memset(text + n, 'x', big);
	strcpy(text + n + big, "\"}}\n");
	peer_say_slowly(p, text, strlen(text), 4093);
	struct seen s = { .log = "" };
	client_rpc_set_handler(p->c, seen_msg_cb, NULL, &s);
	json_t *result, *error;
	assert_int_equal(client_rpc_call(p->c, "big", NULL, &result, &error), 0);
	assert_int_equal(json_string_length(json_object_get(result, "s")), big);
	assert_string_equal(s.log, "notification n {\"a\":1}\n");
	json_decref(result);
	free(text);
	int status;
	waitpid(p->writer, &status, 0);
	p->writer = 0;

	const char *small = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":[1,2]}\n";
	peer_say_slowly(p, small, strlen(small), 1);
	assert_int_equal(client_rpc_call(p->c, "small", NULL, &result, &error), 0);
	assert_int_equal(json_array_size(result), 2);
	json_decref(result);
}

/* Call and expect a transport failure `code` whose reason contains `why`. */
static void
expect_failure(struct pair *p, int code, const char *why)
{
	json_t *result = (json_t *)1, *error = (json_t *)1;
	assert_int_equal(client_rpc_call(p->c, "m", NULL, &result, &error), code);
	assert_null(result);
	assert_null(error);
	if (strstr(client_rpc_why(p->c), why) == NULL)
		fail_msg("reason '%s' lacks '%s'", client_rpc_why(p->c), why);
}

static void
test_malformed_frame(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\n");
	expect_failure(p, HEARTH_EPROTO, "the daemon sent a malformed message: parse error");
}

static void
test_not_jsonrpc(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":{}}\n");
	expect_failure(p, HEARTH_EPROTO, "'jsonrpc' must be \"2.0\"");
}

static void
test_batch_refused(void **state)
{
	struct pair *p = *state;
	peer_say(p, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}]\n");
	expect_failure(p, HEARTH_EPROTO, "batches are not supported");
}

static void
test_truncated_frame(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"res");
	shutdown(p->peer, SHUT_WR);
	expect_failure(p, HEARTH_EIO, "the daemon closed the connection in the middle of a message");
}

static void
test_daemon_gone(void **state)
{
	struct pair *p = *state;
	shutdown(p->peer, SHUT_WR);
	expect_failure(p, HEARTH_EIO, "the daemon closed the connection");
	close(p->peer);
	p->peer = -1;
	/* Writing now fails too (SIGPIPE is ignored by main; here by the test). */
	expect_failure(p, HEARTH_EIO, "cannot write to the daemon");
}

static void
test_oversized_frame(void **state)
{
	struct pair *p = *state;
	client_rpc_set_frame_max(p->c, 1024);
	char line[3000];
	memset(line, ' ', sizeof line);
	line[sizeof line - 1] = '\0';
	peer_say(p, line); /* no newline: refused before it ends */
	expect_failure(p, HEARTH_ELIMIT, "longer than 1024 bytes");
}

static void
test_oversized_complete_frame(void **state)
{
	struct pair *p = *state;
	client_rpc_set_frame_max(p->c, 100);
	char line[200];
	int n = snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"%080d\"}\n", 0);
	assert_true(n > 100);
	peer_say(p, line);
	expect_failure(p, HEARTH_ELIMIT, "longer than 100 bytes");
}

static void
test_timeout(void **state)
{
	struct pair *p = *state;
	client_rpc_set_timeout(p->c, 20);
	expect_failure(p, HEARTH_ETIMEDOUT, "did not answer");
}

static void
test_pump(void **state)
{
	struct pair *p = *state;
	struct seen s = { .log = "" };
	client_rpc_set_handler(p->c, seen_msg_cb, NULL, &s);
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n"
		    "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":{\"x\":[]}}\n");
	assert_int_equal(client_rpc_pump(p->c), 0); /* the stray answer, dropped */
	assert_string_equal(s.log, "");
	assert_int_equal(client_rpc_pump(p->c), 0);
	assert_string_equal(s.log, "notification session/update {\"x\":[]}\n");
	shutdown(p->peer, SHUT_WR);
	assert_int_equal(client_rpc_pump(p->c), HEARTH_EIO);
	assert_string_equal(client_rpc_why(p->c), "the daemon closed the connection");
}

static void
test_notify_and_reply(void **state)
{
	struct pair *p = *state;
	assert_int_equal(client_rpc_notify(p->c, "session/cancel",
					   json_pack("{s:s}", "sessionId", "s1")), 0);
	json_t *id = json_string("q");
	assert_int_equal(client_rpc_reply_error(p->c, id, -32601, "no"), 0);
	assert_int_equal(client_rpc_reply(p->c, id, NULL), 0);
	json_decref(id);
	char *heard = peer_heard(p);
	assert_string_equal(heard,
		"{\"jsonrpc\":\"2.0\",\"method\":\"session/cancel\",\"params\":{\"sessionId\":\"s1\"}}\n"
		"{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":{\"code\":-32601,\"message\":\"no\"}}\n"
		"{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"result\":{}}\n");
	free(heard);
}

static void
test_initialize(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":1,"
		    "\"agentInfo\":{\"name\":\"hearth\",\"version\":\"9\"}}}\n");
	json_t *agent;
	char *why;
	assert_int_equal(client_rpc_initialize(p->c, &agent, &why), 0);
	assert_null(why);
	assert_string_equal(json_string_value(json_object_get(json_object_get(agent, "agentInfo"),
							      "version")), "9");
	json_decref(agent);
	char *heard = peer_heard(p);
	assert_string_equal(heard,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
		"{\"protocolVersion\":1,\"clientCapabilities\":{\"fs\":{\"readTextFile\":false,"
		"\"writeTextFile\":false},\"terminal\":false},\"clientInfo\":{\"name\":\"hearth\","
		"\"version\":\"" PACKAGE_VERSION "\"}}}\n");
	free(heard);
}

static void
test_initialize_wrong_version(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":2}}\n");
	char *why;
	assert_int_equal(client_rpc_initialize(p->c, NULL, &why), HEARTH_EPROTO);
	assert_string_equal(why, "the daemon speaks ACP protocol version 2; this client speaks "
				 "version 1");
	free(why);
}

static void
test_initialize_no_version(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
	char *why;
	assert_int_equal(client_rpc_initialize(p->c, NULL, &why), HEARTH_EPROTO);
	assert_string_equal(why, "the daemon speaks ACP protocol version (none); this client "
				 "speaks version 1");
	free(why);
}

static void
test_initialize_refused(void **state)
{
	struct pair *p = *state;
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,\"message\":\"boom\"}}\n");
	char *why;
	assert_int_equal(client_rpc_initialize(p->c, NULL, &why), HEARTH_EPROTO);
	assert_string_equal(why, "the daemon refused initialize: boom");
	free(why);
}

static void
test_initialize_daemon_gone(void **state)
{
	struct pair *p = *state;
	shutdown(p->peer, SHUT_WR);
	char *why;
	assert_int_equal(client_rpc_initialize(p->c, NULL, &why), HEARTH_EIO);
	assert_string_equal(why, "the daemon closed the connection");
	free(why);
}

/* SIGINT wakes a wait: the handler decides to keep waiting (once), then to give up. */
static void
test_sigint(void **state)
{
	struct pair *p = *state;
	struct seen s = { .log = "", .give_up_after = 2 };
	client_rpc_set_handler(p->c, seen_msg_cb, seen_signal_cb, &s);
	sigint_install();
	raise(SIGINT); /* blocked: pending until the wait */
	peer_say(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
	json_t *result, *error;
	assert_int_equal(client_rpc_call(p->c, "m", NULL, &result, &error), 0);
	json_decref(result);
	assert_int_equal(s.signals, 1);
	assert_int_equal(sigint_count(), 1);
	raise(SIGINT);
	assert_int_equal(client_rpc_call(p->c, "m", NULL, &result, &error), HEARTH_ECANCELED);
	assert_int_equal(s.signals, 2);
	assert_string_equal(client_rpc_why(p->c), "interrupted");
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_call_sends_one_line_and_gets_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_error_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages_before_the_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handled_request_is_answered_by_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_jsonrpc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_complete_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_and_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize_wrong_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize_no_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize_daemon_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigint, setup, teardown),
	};
	return cmocka_run_group_tests_name("client_rpc", tests, NULL, NULL);
}
