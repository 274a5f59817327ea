/*
 * bench_replay.c: how long session/load takes to replay a long session to a client
 * that reads everything: the paced replay (core/session.c) through a core
 * connection (core/conn.c) and the dispatcher, as an in-process frontend sees it.
 * The session is built through the daemon's own API (session_emit, store_message_add),
 * one message and one update per turn half. Built by `make bench`; run
 * ./bench/bench_replay [messages] [queue bytes]. It works in a temporary directory
 * (tests/testutil.c) and removes it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "acp.h"
#include "agent.h"
#include "conf.h"
#include "conn.h"
#include "defer.h"
#include "host.h"
#include "loader.h"
#include "registry.h"
#include "session.h"
#include "store.h"
#include "../tests/testutil.h"
#include "tools.h"
#include "xmalloc.h"

/* Seconds, monotonic. */
static double
bench_now(void)
{
	return (double)uv_hrtime() / 1e9;
}

static void
bench_die(const char *what)
{
	fprintf(stderr, "bench_replay: %s\n", what);
	exit(1);
}

/* The reading client: counts what it gets, notes the answer. */
struct bench_client {
	size_t updates, bytes;
	int answered;
};

static void
bench_on_message(void *arg, const char *json, size_t len)
{
	struct bench_client *b = arg;
	b->bytes += len;
	if (strstr(json, "\"method\":\"session/update\"") != NULL)
		b->updates++;
	else if (strstr(json, "\"id\":1,") != NULL)
		b->answered = 1;
}

static void
bench_on_close(void *arg, const char *reason)
{
	(void)arg;
	(void)reason;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	size_t queue_max = argc > 2 ? (size_t)atol(argv[2]) : 0;
	char *tmp = testutil_mkdtemp("bench-replay");
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *db = xasprintf("%s/hearth.db", tmp), *err = NULL;
	struct store *st = store_open(db, &err);
	if (st == NULL)
		bench_die(err);
	struct host_context ctx = { .loop = &loop, .state_dir = tmp, .runtime_dir = tmp,
				    .store = st };
	host_context_set(&ctx);
	defer_init(&loop);
	if (loader_init() != 0)
		bench_die("loader_init");
	struct conf *conf = conf_parse("bench.conf", "", 0);
	struct registry *reg = registry_new(conf);
	registry_load_all(reg);
	session_set_store(st, NULL, NULL);
	tools_set_registry(reg);
	agent_init(&loop, reg);
	acp_init(reg, NULL);

	/* The session: n messages, each with its text part and its update. */
	char *why = NULL;
	struct session *s = session_create(tmp, NULL, &why);
	if (s == NULL)
		bench_die(why);
	const char *text = "Here is a line of the conversation, about as long as a chunk of "
			   "streamed text usually is, give or take a few words.";
	double t0 = bench_now();
	for (long i = 0; i < n; i += 100) {
		if (session_begin() != 0)
			bench_die("begin");
		for (long j = i; j < i + 100 && j < n; j++) {
			const char *role = j % 2 == 0 ? "user" : "assistant";
			char *mid = NULL;
			json_t *part = json_pack("{s:s,s:s}", "type", "text", "text", text);
			if (store_message_add(st, s->id, role, NULL, &mid) != 0 ||
			    store_part_add(st, mid, part) < 0)
				bench_die(store_errmsg(st));
			json_t *u = json_pack("{s:s,s:{s:s,s:s}}", "sessionUpdate",
					      j % 2 == 0 ? "user_message_chunk" :
					      "agent_message_chunk", "content", "type", "text",
					      "text", text);
			if (session_emit(s, u) < 0)
				bench_die("emit");
			json_decref(u);
			json_decref(part);
			free(mid);
		}
		if (session_commit() != 0)
			bench_die("commit");
	}
	double built = bench_now() - t0;

	struct bench_client b = { 0 };
	struct hearth_conn *c = conn_open(bench_on_message, bench_on_close, &b);
	if (queue_max != 0 && conn_flow(c, queue_max, NULL) != 0)
		bench_die("conn_flow");
	char *req = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session/load\","
			      "\"params\":{\"sessionId\":\"%s\",\"cwd\":\"%s\",\"mcpServers\":[]}}",
			      s->id, tmp);
	t0 = bench_now();
	if (conn_send(c, req, strlen(req)) != 0)
		bench_die("conn_send");
	while (!b.answered)
		uv_run(&loop, UV_RUN_ONCE);
	double replay = bench_now() - t0;
	printf("replay of a %ld-message session (session/load, in-process client, queue %zu "
	       "bytes):\n", n, queue_max != 0 ? queue_max : (size_t)CONN_QUEUE_DEFAULT);
	printf("  built in          %8.1f ms\n", built * 1000);
	printf("  replayed in       %8.1f ms (%zu updates, %.1f MiB, %.0f updates/s)\n",
	       replay * 1000, b.updates, (double)b.bytes / (1024 * 1024),
	       (double)b.updates / replay);
	printf("  queue peak        %8zu bytes\n", conn_info(c)->queued_peak);
	if (b.updates != (size_t)n)
		bench_die("not every update arrived");

	free(req);
	conn_close(c);
	agent_shutdown();
	conn_end_all("bench over");
	registry_fini_all(reg);
	acp_close();
	defer_close();
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	registry_free(reg);
	session_free_all();
	store_close(st);
	conf_free(conf);
	loader_exit();
	testutil_rmtree(tmp);
	free(db);
	free(tmp);
	return 0;
}
