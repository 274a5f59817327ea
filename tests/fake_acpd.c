/*
 * fake_acpd.c: a fake hearth daemon for the client's tests. It listens on a Unix
 * socket and speaks just enough of doc/protocol.md, one connection at a time,
 * with canned, deterministic answers:
 *
 *   initialize                 protocolVersion 1, agentInfo {name "hearth", version}
 *   session/new                a session "new-N" (model from _meta.hearth.model)
 *   session/prompt             streams: user_message_chunk (the prompt),
 *                              agent_thought_chunk "Let me look.", agent_message_chunk
 *                              "Hello, ", tool_call call-1 "Read README", [a permission
 *                              request with --permission], tool_call_update call-1
 *                              completed (failed if refused), agent_message_chunk
 *                              "world."; then {stopReason} (--stop-reason, default
 *                              end_turn). --hang: after the tool call, wait for
 *                              session/cancel and answer "cancelled" (never, with
 *                              --ignore-cancel). --prompt-error
 *                              MSG: answer -32602 MSG instead. --resync: drop the
 *                              tool_call, send _hearth/resync, serve the client's
 *                              session/resume (replaying 2 updates more than asked).
 *   session/load, session/resume   replay the session's updates (all, or after
 *                              _meta.hearth.lastSeq); --live TEXT then sends one more
 *                              agent_message_chunk; --close-after-load hangs up.
 *   session/set_config_option  sets the model
 *   session/cancel             noted
 *   session/delete             removes the session; _hearth/rename {sessionId, title}
 *   _hearth/status             with followers 1 (--followers N); requests that come
 *                              while a prompt waits for an answer are served too
 *   _hearth/sessions {cwd?}, _hearth/status, _hearth/daemon, _hearth/shutdown (exits)
 *
 * Every update carries _meta.hearth.seq. Sessions can be seeded with --state FILE:
 * a JSON array of {sessionId, title, cwd, model, status, messages, updatedAt,
 * history: [update params...]}, newest first. Each message received is logged to
 * --log FILE as one line "METHOD PARAMS" ("response RESULT" for answers).
 * --daemonize forks once listening (the parent exits 0, as hearthd does);
 * --pidfile FILE gets the server's pid appended.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "xmalloc.h"

struct fake_opts {
	const char *socket_path;
	const char *pidfile;
	const char *log;
	const char *state;
	const char *stop_reason;
	const char *prompt_error;
	const char *live;
	const char *version;
	int daemonize;
	int permission;
	int hang;
	int ignore_cancel;
	int followers; /* what _hearth/status says follows the session (--followers N) */
	int resync;
	int close_after_load;
};

struct fake_conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static struct fake_opts fake_opts = { .stop_reason = "end_turn", .version = "0.0-fake" };
static json_t *fake_sessions; /* the array of sessions, newest first */
static int fake_new_count;
static int fake_cancelled;
static int fake_gone;      /* the client hung up in the middle of a turn */

static void
fake_log(const char *what, const json_t *params)
{
	if (fake_opts.log == NULL)
		return;
	FILE *f = fopen(fake_opts.log, "a");
	if (f == NULL)
		return;
	char *text = params != NULL ? rpc_dump(params, NULL) : xstrdup("");
	fprintf(f, "%s %s\n", what, text);
	free(text);
	fclose(f);
}

static void
fake_send(struct fake_conn *c, json_t *msg /* stolen */)
{
	size_t len;
	char *text = rpc_dump(msg, &len);
	text = xrealloc(text, len + 1);
	text[len] = '\n';
	size_t off = 0;
	while (off <= len) {
		ssize_t w = write(c->fd, text + off, len + 1 - off);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			off += (size_t)w;
	}
	free(text);
	json_decref(msg);
}

/* The next message, or -1 at the end of the connection. */
static int
fake_read(struct fake_conn *c, struct rpc_msg *msg)
{
	for (;;) {
		char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf);
			json_t *reply = NULL;
			int rc = rpc_parse(c->buf, n, msg, &reply);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			if (rc == 0)
				return 0;
			fake_log("malformed", NULL);
			fake_send(c, reply);
			continue;
		}
		if (c->len + 4096 > c->cap) {
			c->cap = c->len + 65536;
			c->buf = xrealloc(c->buf, c->cap);
		}
		ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

static json_t *
fake_session(const char *id)
{
	size_t i;
	json_t *s;
	json_array_foreach(fake_sessions, i, s) {
		const char *sid = json_string_value(json_object_get(s, "sessionId"));
		if (id != NULL && sid != NULL && strcmp(sid, id) == 0)
			return s;
	}
	return NULL;
}

/* Make sure every seeded session has what the fake keeps. */
static void
fake_fill_session(json_t *s)
{
	if (json_object_get(s, "history") == NULL)
		json_object_set_new(s, "history", json_array());
	json_object_set_new(s, "lastSeq", json_integer((json_int_t)json_array_size(
							json_object_get(s, "history"))));
}

/* Append an update to the session's history; returns its params (borrowed). */
static json_t *
fake_record(json_t *s, json_t *update /* stolen */)
{
	json_int_t seq = json_integer_value(json_object_get(s, "lastSeq")) + 1;
	json_object_set_new(s, "lastSeq", json_integer(seq));
	json_t *params = json_pack("{s:O, s:o, s:{s:{s:I}}}", "sessionId",
				   json_object_get(s, "sessionId"), "update", update, "_meta",
				   "hearth", "seq", seq);
	json_array_append_new(json_object_get(s, "history"), params);
	return params;
}

/* Append an update to the session's history and send it. */
static void
fake_update(struct fake_conn *c, json_t *s, json_t *update /* stolen */)
{
	json_t *params = fake_record(s, update);
	fake_send(c, rpc_notification("session/update", json_incref(params)));
}

static int fake_request(struct fake_conn *c, const struct rpc_msg *msg);

/* Read until a request comes, and serve it. */
static void
fake_serve_one(struct fake_conn *c)
{
	struct rpc_msg msg;
	while (fake_read(c, &msg) == 0) {
		int done = msg.kind == RPC_REQUEST;
		fake_log(msg.kind == RPC_RESPONSE ? "response" : msg.method,
			 msg.kind == RPC_RESPONSE ? msg.result : msg.params);
		if (done)
			fake_request(c, &msg);
		rpc_msg_clear(&msg);
		if (done)
			return;
	}
}

static json_t *
fake_chunk(const char *tag, const char *text)
{
	return json_pack("{s:s, s:{s:s, s:s}}", "sessionUpdate", tag, "content", "type", "text",
			 "text", text);
}

/*
 * Read until the answer to our request (returned, a new reference), or until
 * session/cancel when until_cancel (and not --ignore-cancel), or the end of the
 * connection (NULL for both).
 */
static int fake_request(struct fake_conn *c, const struct rpc_msg *msg);

static json_t *
fake_wait(struct fake_conn *c, int until_cancel)
{
	struct rpc_msg msg;
	while (fake_read(c, &msg) == 0) {
		if (msg.kind == RPC_RESPONSE) {
			json_t *answer = json_incref(msg.result != NULL ? msg.result : msg.error);
			fake_log("response", answer);
			rpc_msg_clear(&msg);
			return answer;
		}
		fake_log(msg.method, msg.params);
		/* A request meanwhile (the client asking for the status) is served. */
		if (msg.kind == RPC_REQUEST && strcmp(msg.method, "session/prompt") != 0)
			fake_request(c, &msg);
		int cancel = strcmp(msg.method, "session/cancel") == 0;
		rpc_msg_clear(&msg);
		if (cancel) {
			fake_cancelled = 1;
			if (until_cancel && !fake_opts.ignore_cancel)
				return NULL;
		}
	}
	fake_gone = 1;
	return NULL;
}

static void
fake_prompt(struct fake_conn *c, const struct rpc_msg *msg, json_t *s)
{
	if (fake_opts.prompt_error != NULL) {
		fake_send(c, rpc_error(msg->id, RPC_INVALID_PARAMS, fake_opts.prompt_error, NULL));
		return;
	}
	const char *text = json_string_value(
		json_object_get(json_array_get(json_object_get(msg->params, "prompt"), 0), "text"));
	fake_cancelled = fake_gone = 0;
	fake_update(c, s, fake_chunk("user_message_chunk", text != NULL ? text : ""));
	fake_update(c, s, fake_chunk("agent_thought_chunk", "Let me look."));
	fake_update(c, s, fake_chunk("agent_message_chunk", "Hello, "));
	json_t *tool = json_pack("{s:s, s:s, s:s, s:s, s:s}", "sessionUpdate", "tool_call",
				 "toolCallId", "call-1", "title", "Read README", "kind", "read",
				 "status", "pending");
	if (fake_opts.resync) {
		/* As if the client lagged: the update is dropped, the client told. */
		fake_record(s, tool);
		fake_send(c, rpc_notification("_hearth/resync", json_pack(
			"{s:s, s:i}", "reason", "send queue overflow", "dropped", 1)));
		fake_serve_one(c);
	} else {
		fake_update(c, s, tool);
	}
	const char *tool_status = "completed";
	if (fake_opts.permission) {
		json_t *params = json_pack(
			"{s:O, s:{s:s}, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, "
			"{s:s, s:s, s:s}]}",
			"sessionId", json_object_get(s, "sessionId"),
			"toolCall", "toolCallId", "call-1", "options",
			"optionId", "allow", "name", "Allow once", "kind", "allow_once",
			"optionId", "always", "name", "Always allow", "kind", "allow_always",
			"optionId", "reject", "name", "Reject", "kind", "reject_once",
			"optionId", "never", "name", "Never", "kind", "reject_always");
		json_t *req = json_pack("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", "perm-1",
					"method", "session/request_permission", "params", params);
		fake_send(c, req);
		json_t *answer = fake_wait(c, 0);
		const char *chosen = json_string_value(
			json_object_get(json_object_get(answer, "outcome"), "optionId"));
		if (chosen == NULL || (strcmp(chosen, "allow") != 0 && strcmp(chosen, "always") != 0))
			tool_status = "failed";
		json_decref(answer);
	}
	if (fake_opts.hang) {
		while (!fake_gone && !(fake_cancelled && !fake_opts.ignore_cancel))
			json_decref(fake_wait(c, 1));
		if (!fake_gone)
			fake_send(c, rpc_result(msg->id, json_pack("{s:s}", "stopReason", "cancelled")));
		return;
	}
	json_t *done = json_pack("{s:s, s:s, s:s}", "sessionUpdate", "tool_call_update",
				 "toolCallId", "call-1", "status", tool_status);
	if (strcmp(tool_status, "failed") == 0) /* the daemon says why */
		json_object_set_new(done, "content", json_pack("[{s:s, s:{s:s, s:s}}]", "type",
			"content", "content", "type", "text", "text",
			"the user refused permission for this call"));
	fake_update(c, s, done);
	fake_update(c, s, fake_chunk("agent_message_chunk", "world."));
	json_object_set_new(s, "messages",
			    json_integer(json_integer_value(json_object_get(s, "messages")) + 2));
	fake_send(c, rpc_result(msg->id, json_pack("{s:s}", "stopReason", fake_opts.stop_reason)));
}

/* Replay the updates after `after`. */
static void
fake_replay(struct fake_conn *c, json_t *s, json_int_t after)
{
	size_t i;
	json_t *params;
	json_array_foreach(json_object_get(s, "history"), i, params) {
		json_int_t seq = json_integer_value(json_object_get(
			json_object_get(json_object_get(params, "_meta"), "hearth"), "seq"));
		if (seq > after)
			fake_send(c, rpc_notification("session/update", json_incref(params)));
	}
}

/* The public fields of a session. */
static json_t *
fake_public(const json_t *s, int with_seq)
{
	json_t *o = json_object();
	const char *keys[] = { "sessionId", "title", "cwd", "model", "status", "messages",
			       "updatedAt", "usage" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		json_t *v = json_object_get(s, keys[i]);
		if (v != NULL)
			json_object_set(o, keys[i], v);
	}
	if (with_seq)
		json_object_set(o, "lastSeq", json_object_get(s, "lastSeq"));
	return o;
}

/* Serve one request; returns 1 to hang up, 2 to exit. */
static int
fake_request(struct fake_conn *c, const struct rpc_msg *msg)
{
	const char *m = msg->method;
	const char *sid = json_string_value(json_object_get(msg->params, "sessionId"));
	json_t *s = fake_session(sid);
	if (strcmp(m, "initialize") == 0) {
		fake_send(c, rpc_result(msg->id, json_pack(
			"{s:i, s:{s:b}, s:{s:s, s:s}}", "protocolVersion", 1, "agentCapabilities",
			"loadSession", 1, "agentInfo", "name", "hearth", "version", fake_opts.version)));
	} else if (strcmp(m, "session/new") == 0) {
		const char *model = json_string_value(json_object_get(json_object_get(
			json_object_get(msg->params, "_meta"), "hearth"), "model"));
		char *id = xasprintf("new-%d", ++fake_new_count);
		json_t *cwd = json_object_get(msg->params, "cwd");
		s = json_pack("{s:s, s:s, s:O, s:s, s:s, s:i, s:s, s:[], s:i}", "sessionId", id,
			      "title", "", "cwd", cwd != NULL ? cwd : json_null(), "model",
			      model != NULL ? model : "fake/default", "status", "idle", "messages", 0,
			      "updatedAt", "2026-01-01T00:00:00Z", "history", "lastSeq", 0);
		json_array_insert_new(fake_sessions, 0, s);
		fake_send(c, rpc_result(msg->id, json_pack("{s:s}", "sessionId", id)));
		free(id);
	} else if (strcmp(m, "_hearth/sessions") == 0) {
		const char *cwd = json_string_value(json_object_get(msg->params, "cwd"));
		json_t *list = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(fake_sessions, i, e) {
			const char *ecwd = json_string_value(json_object_get(e, "cwd"));
			if (cwd == NULL || (ecwd != NULL && strcmp(cwd, ecwd) == 0))
				json_array_append_new(list, fake_public(e, 0));
		}
		fake_send(c, rpc_result(msg->id, json_pack("{s:o}", "sessions", list)));
	} else if (strcmp(m, "_hearth/daemon") == 0) {
		fake_send(c, rpc_result(msg->id, json_pack(
			"{s:s, s:i, s:i, s:[], s:s, s:s}", "version", fake_opts.version,
			"pid", (int)getpid(), "abi", 1, "modules", "stateDir", "",
			"socket", fake_opts.socket_path)));
	} else if (strcmp(m, "_hearth/shutdown") == 0) {
		fake_send(c, rpc_result(msg->id, NULL));
		return 2;
	} else if (s == NULL && (strncmp(m, "session/", 8) == 0 || strcmp(m, "_hearth/status") == 0 ||
				 strcmp(m, "_hearth/rename") == 0)) {
		fake_send(c, rpc_errorf(msg->id, RPC_INVALID_PARAMS, "unknown session '%s'",
					sid != NULL ? sid : "(none)"));
	} else if (strcmp(m, "_hearth/status") == 0) {
		json_t *st = fake_public(s, 1);
		json_object_set_new(st, "followers", json_integer(fake_opts.followers > 0 ?
								  fake_opts.followers : 1));
		fake_send(c, rpc_result(msg->id, st));
	} else if (strcmp(m, "session/prompt") == 0) {
		fake_prompt(c, msg, s);
	} else if (strcmp(m, "session/delete") == 0) {
		size_t i;
		json_t *e;
		json_array_foreach(fake_sessions, i, e) {
			if (e == s)
				break;
		}
		json_array_remove(fake_sessions, i);
		fake_send(c, rpc_result(msg->id, NULL));
	} else if (strcmp(m, "_hearth/rename") == 0) {
		json_object_set(s, "title", json_object_get(msg->params, "title"));
		fake_send(c, rpc_result(msg->id, json_object()));
	} else if (strcmp(m, "session/set_config_option") == 0) {
		json_object_set(s, "model", json_object_get(msg->params, "value"));
		fake_send(c, rpc_result(msg->id, json_pack(
			"{s:[{s:s, s:s, s:s, s:s, s:O}]}", "configOptions", "id", "model", "name",
			"Model", "category", "model", "type", "select", "currentValue",
			json_object_get(s, "model"))));
	} else if (strcmp(m, "session/load") == 0 || strcmp(m, "session/resume") == 0) {
		json_int_t after = 0;
		if (strcmp(m, "session/resume") == 0) {
			json_t *last = json_object_get(json_object_get(
				json_object_get(msg->params, "_meta"), "hearth"), "lastSeq");
			after = last != NULL ? json_integer_value(last)
					     : json_integer_value(json_object_get(s, "lastSeq"));
			/* --resync replays two updates too many: the client must skip them. */
			if (fake_opts.resync)
				after = after > 2 ? after - 2 : 0;
		}
		fake_replay(c, s, after);
		fake_send(c, rpc_result(msg->id, json_pack("{s:{s:{s:O}}}", "_meta", "hearth",
							   "lastSeq", json_object_get(s, "lastSeq"))));
		if (strcmp(m, "session/load") == 0 && fake_opts.live != NULL)
			fake_update(c, s, fake_chunk("agent_message_chunk", fake_opts.live));
		if (strcmp(m, "session/load") == 0 && fake_opts.close_after_load)
			return 1;
	} else {
		fake_send(c, rpc_errorf(msg->id, RPC_METHOD_NOT_FOUND, "method not found: %s", m));
	}
	return 0;
}

/* Serve one client until it hangs up. Returns 2 when told to shut down. */
static int
fake_serve(int fd)
{
	struct fake_conn c = { .fd = fd };
	struct rpc_msg msg;
	int rc = 0;
	while (rc == 0 && fake_read(&c, &msg) == 0) {
		if (msg.kind == RPC_REQUEST) {
			fake_log(msg.method, msg.params);
			rc = fake_request(&c, &msg);
		} else if (msg.kind == RPC_NOTIFICATION) {
			fake_log(msg.method, msg.params);
		} else {
			fake_log("response", msg.result != NULL ? msg.result : msg.error);
		}
		rpc_msg_clear(&msg);
	}
	free(c.buf);
	close(fd);
	return rc;
}

static int
fake_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "fake_acpd: socket path too long\n");
		exit(1);
	}
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 16) != 0) {
		fprintf(stderr, "fake_acpd: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return s;
}

static void
fake_load_state(void)
{
	if (fake_opts.state == NULL) {
		fake_sessions = json_array();
		return;
	}
	json_error_t err;
	fake_sessions = json_load_file(fake_opts.state, 0, &err);
	if (!json_is_array(fake_sessions)) {
		fprintf(stderr, "fake_acpd: %s:%d: %s\n", fake_opts.state, err.line, err.text);
		exit(1);
	}
	size_t i;
	json_t *s;
	json_array_foreach(fake_sessions, i, s)
		fake_fill_session(s);
}

static void
fake_write_pid(pid_t pid)
{
	if (fake_opts.pidfile == NULL)
		return;
	FILE *f = fopen(fake_opts.pidfile, "a");
	if (f != NULL) {
		fprintf(f, "%ld\n", (long)pid);
		fclose(f);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 'S' },
		{ "stop-reason", required_argument, NULL, 'r' },
		{ "prompt-error", required_argument, NULL, 'e' },
		{ "live", required_argument, NULL, 'L' },
		{ "version", required_argument, NULL, 'v' },
		{ "daemonize", no_argument, NULL, 'd' },
		{ "permission", no_argument, NULL, 'P' },
		{ "hang", no_argument, NULL, 'H' },
		{ "close-after-load", no_argument, NULL, 'c' },
		{ "ignore-cancel", no_argument, NULL, 'I' },
		{ "followers", required_argument, NULL, 'F' },
		{ "resync", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': fake_opts.socket_path = optarg; break;
		case 'p': fake_opts.pidfile = optarg; break;
		case 'l': fake_opts.log = optarg; break;
		case 'S': fake_opts.state = optarg; break;
		case 'r': fake_opts.stop_reason = optarg; break;
		case 'e': fake_opts.prompt_error = optarg; break;
		case 'L': fake_opts.live = optarg; break;
		case 'v': fake_opts.version = optarg; break;
		case 'd': fake_opts.daemonize = 1; break;
		case 'P': fake_opts.permission = 1; break;
		case 'H': fake_opts.hang = 1; break;
		case 'c': fake_opts.close_after_load = 1; break;
		case 'I': fake_opts.ignore_cancel = 1; break;
		case 'F': fake_opts.followers = atoi(optarg); break;
		case 'R': fake_opts.resync = 1; break;
		default:
			fprintf(stderr, "usage: fake_acpd --socket PATH [options] (see the source)\n");
			return 2;
		}
	}
	if (fake_opts.socket_path == NULL) {
		fprintf(stderr, "fake_acpd: --socket is required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	fake_load_state();
	int ls = fake_listen(fake_opts.socket_path);
	if (fake_opts.daemonize) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0) {
			/* Listening already: like hearthd, return once ready. */
			fake_write_pid(pid);
			return 0;
		}
		setsid();
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	} else {
		fake_write_pid(getpid());
	}
	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fake_serve(fd) == 2)
			break;
	}
	/* Unlinked first: once connects fail, the socket is gone too. */
	unlink(fake_opts.socket_path);
	close(ls);
	json_decref(fake_sessions);
	return 0;
}
