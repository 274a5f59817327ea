/*
 * bench_store.c: how fast the session store appends events (one per transaction,
 * and 100 per transaction) and reads back a long history. Built by `make bench`;
 * run ./bench/bench_store [events] [messages]. It works in a temporary directory
 * under $TMPDIR (or /tmp) and removes it.
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store.h"
#include "xmalloc.h"

static double
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
bench_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
bench_die(struct store *st, const char *what)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, st != NULL ? store_errmsg(st) : "");
	exit(1);
}

/* Append n events to a new session, `batch` per transaction (1: each alone); with
 * `path`, checkpoint (inline, timed) whenever the WAL passes STORE_CHECKPOINT_PAGES,
 * as the daemon does on its thread pool. */
static void
bench_append(struct store *st, long n, long batch, const char *path)
{
	int checkpoints = 0;
	char *sid;
	if (store_session_create(st, "/bench", "append", NULL, &sid) != 0)
		bench_die(st, "session");
	json_t *payload = json_pack("{s:s, s:s}", "sessionUpdate", "agent_message_chunk",
				    "text", "a small delta of streamed text");
	double t0 = bench_now();
	for (long i = 0; i < n; i += batch) {
		if (batch > 1 && store_begin(st) != 0)
			bench_die(st, "begin");
		for (long j = i; j < i + batch && j < n; j++) {
			if (store_event_append(st, sid, "update", payload) != j + 1)
				bench_die(st, "append");
		}
		if (batch > 1 && store_commit(st) != 0)
			bench_die(st, "commit");
		if (path != NULL && store_wal_pages(st) >= STORE_CHECKPOINT_PAGES) {
			char *err = NULL;
			if (store_checkpoint(path, &err) != 0)
				fprintf(stderr, "bench_store: %s\n", err);
			free(err);
			checkpoints++;
		}
	}
	double dt = bench_now() - t0;
	printf("append %ld events, %ld per transaction%s: %.3f s, %.0f events/s", n, batch,
	       path != NULL ? ", checkpoints included" : "", dt, (double)n / dt);
	if (path != NULL)
		printf(" (%d checkpoints)", checkpoints);
	printf("\n");
	json_decref(payload);
	free(sid);
}

static void
bench_history(struct store *st, long n)
{
	char *sid;
	if (store_session_create(st, "/bench", "history", NULL, &sid) != 0)
		bench_die(st, "session");
	json_t *text = json_pack("{s:s, s:s}", "type", "text", "text",
				 "A message of typical length: a sentence or two of prose that "
				 "a model or a user wrote, a little over a hundred bytes.");
	json_t *call = json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "tool_call", "id", "call_1",
				 "name", "read", "input", "path", "src/main.c");
	static const char *const roles[] = { "user", "assistant", "tool" };
	for (long i = 0; i < n; i += 100) {
		if (store_begin(st) != 0)
			bench_die(st, "begin");
		for (long j = i; j < i + 100 && j < n; j++) {
			char *mid;
			if (store_message_add(st, sid, roles[j % 3], NULL, &mid) != 0 ||
			    store_part_add(st, mid, text) != 0 ||
			    (j % 3 == 1 && store_part_add(st, mid, call) != 1))
				bench_die(st, "message");
			free(mid);
		}
		if (store_commit(st) != 0)
			bench_die(st, "commit");
	}
	const int runs = 5;
	double best = 1e9;
	for (int r = 0; r < runs; r++) {
		double t0 = bench_now();
		json_t *h = store_history(st, sid);
		double dt = bench_now() - t0;
		if (h == NULL || json_array_size(h) != (size_t)n)
			bench_die(st, "history");
		json_decref(h);
		if (dt < best)
			best = dt;
	}
	printf("history of %ld messages: %.1f ms (best of %d)\n", n, best * 1e3, runs);
	json_decref(text);
	json_decref(call);
	free(sid);
}

int
main(int argc, char **argv)
{
	long events = argc > 1 ? atol(argv[1]) : 100000;
	long messages = argc > 2 ? atol(argv[2]) : 10000;
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/hearth-bench-store-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	char *path = xasprintf("%s/hearth.db", dir);
	char *err = NULL;
	struct store *st = store_open(path, &err);
	if (st == NULL) {
		fprintf(stderr, "bench_store: %s\n", err);
		return 1;
	}
	printf("sqlite %s, synchronous=NORMAL, WAL, no autocheckpoint\n", sqlite3_libversion());

	bench_append(st, events, 1, NULL);
	double t0 = bench_now();
	if (store_checkpoint(path, &err) != 0)
		fprintf(stderr, "bench_store: %s\n", err);
	printf("checkpoint of that WAL: %.1f ms\n", (bench_now() - t0) * 1e3);
	bench_append(st, events, 1, path);
	bench_append(st, events, 100, NULL);
	bench_append(st, events, 100, path);
	bench_history(st, messages);

	store_close(st);
	nftw(dir, bench_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
	free(dir);
	return 0;
}
