/*
 * fuzz_acp.c: ACP frames through the whole dispatcher path, as a client on the socket
 * would send them: conn_send (core/conn.c) parses each line (rpc.c), checks its
 * params (params.c) and runs its method (acp.c) against sessions in a real store.
 * No provider is loaded, so a prompt ends in an error reply rather than a model call.
 * Input: frames separated by newlines, all on one connection, then the connection
 * closes. Each input gets a new store and a fresh core (as test_acp.c brings one up
 * and down per test), so an input replays alone and a leak is the input's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "acp.h"
#include "agent.h"
#include "conf.h"
#include "conn.h"
#include "defer.h"
#include "fuzz.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "session.h"
#include "store.h"
#include "tools.h"
#include "xmalloc.h"

static uv_loop_t fuzz_loop;
static struct host_context fuzz_ctx;
/* On tmpfs when there is one: the store syncs every commit, and a disk makes that
 * the whole cost of a run. */
static char fuzz_dir[] = "/dev/shm/hearth-fuzz-acp.XXXXXX";
static char *fuzz_db;

static void
fuzz_on_message(void *arg, const char *json, size_t len)
{
	size_t *n = arg;
	/* Every frame the core sends is one line of valid JSON. */
	if (memchr(json, '\n', len) != NULL)
		abort();
	json_t *m = json_loadb(json, len, 0, NULL);
	if (m == NULL)
		abort();
	json_decref(m);
	++*n;
}

static void
fuzz_on_close(void *arg, const char *reason)
{
}

static void
fuzz_shutdown_cb(void)
{
}

static void
fuzz_unlink_db(void)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		char *p = xasprintf("%s%s", fuzz_db, sfx[i]);
		unlink(p);
		free(p);
	}
}

static void
fuzz_cleanup(void)
{
	fuzz_unlink_db();
	rmdir(fuzz_dir);
}

static struct registry *fuzz_reg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(HEARTH_LOG_ERROR);
	if (mkdtemp(fuzz_dir) == NULL) {
		memcpy(fuzz_dir, "/tmp/hearth", 11);   /* same length as "/dev/shm/he" */
		if (mkdtemp(fuzz_dir) == NULL)
			abort();
	}
	fuzz_db = xasprintf("%s/hearth.db", fuzz_dir);
	atexit(fuzz_cleanup);
	uv_loop_init(&fuzz_loop);
	fuzz_ctx.loop = &fuzz_loop;
	fuzz_ctx.state_dir = fuzz_dir;
	fuzz_ctx.runtime_dir = fuzz_dir;
	host_context_set(&fuzz_ctx);
	defer_init(&fuzz_loop);
	if (loader_init() != 0)
		abort();
	struct conf *conf = conf_parse("fuzz.conf", "", 0);   /* kept for the run */
	fuzz_reg = registry_new(conf);
	registry_load_all(fuzz_reg);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	char *err = NULL;
	struct store *st = store_open(fuzz_db, &err);
	if (st == NULL) {
		fprintf(stderr, "fuzz_acp: %s\n", err);
		abort();
	}
	fuzz_ctx.store = st;
	session_set_store(st, NULL, NULL);
	tools_set_registry(fuzz_reg);
	agent_init(&fuzz_loop, fuzz_reg);
	acp_init(fuzz_reg, fuzz_shutdown_cb);

	size_t got = 0;
	struct hearth_conn *c = conn_open(fuzz_on_message, fuzz_on_close, &got);
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (conn_send(c, p, n) != 0)
			break;
		uv_run(&fuzz_loop, UV_RUN_NOWAIT);
		p += n + 1;
	}
	for (int i = 0; i < 4; i++)
		uv_run(&fuzz_loop, UV_RUN_NOWAIT);
	conn_close(c);
	/* Down in test_acp.c's order. */
	agent_shutdown();
	conn_end_all("input over");
	acp_close();
	for (int i = 0; i < 4; i++)
		uv_run(&fuzz_loop, UV_RUN_NOWAIT);
	session_free_all();
	store_close(st);
	fuzz_ctx.store = NULL;
	fuzz_unlink_db();
	return 0;
}
