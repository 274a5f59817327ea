/*
 * bench_grep.c: one call of the grep tool module, loaded through the real registry
 * and run with tools_start() as the daemon would; prints the elapsed milliseconds
 * and the number of result lines. Driven by bench/bench_grep.sh (make bench).
 *
 *     bench_grep DIR PATTERN [i]     ("i": case-insensitive; output_mode count)
 * DIR is the call's project directory.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "conf.h"
#include "defer.h"
#include "daemon_ops.h"
#include "host.h"
#include "loader.h"
#include "registry.h"
#include "tools.h"
#include "xmalloc.h"

static json_t *bench_result;

static void
bench_done_cb(void *arg, json_t *result)
{
	bench_result = result;
}

static double
bench_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_grep DIR PATTERN [i]\n");
		return 2;
	}
	char *dir = realpath(argv[1], NULL);
	if (dir == NULL) {
		perror(argv[1]);
		return 1;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct host_context ctx = { .loop = &loop, .state_dir = "/tmp", .runtime_dir = "/tmp" };
	ctx.daemon = &core_host_ops;
	host_context_set(&ctx);
	defer_init(&loop);
	if (loader_init() != 0)
		return 1;
	char *text = xasprintf("module_dir %s/plugins\nload tool grep\n"
			       "[tool grep]\nmax_results = 1000000\n", HEARTH_BUILDDIR);
	struct conf *conf = conf_parse("bench.conf", text, strlen(text));
	free(text);
	struct registry *reg = registry_new(conf);
	if (registry_load_all(reg) != 0)
		return 1;
	tools_set_registry(reg);

	json_t *in = json_pack("{s:s,s:s,s:b,s:i}", "pattern", argv[2], "output_mode", "count",
			       "case_insensitive", argc > 3 && strcmp(argv[3], "i") == 0,
			       "max_results", 1000000);
	double t0 = bench_now_ms();
	tools_start("grep", "bench", in, "bench", dir, NULL, bench_done_cb, NULL);
	while (bench_result == NULL)
		uv_run(&loop, UV_RUN_ONCE);
	double t1 = bench_now_ms();
	const char *out = json_string_value(json_object_get(
		json_array_get(json_object_get(bench_result, "content"), 0), "text"));
	size_t lines = 0;
	long long matches = 0;
	for (const char *p = out; p != NULL && *p != '\0'; lines++) {
		const char *nl = strchr(p, '\n');
		const char *end = nl != NULL ? nl : p + strlen(p);
		const char *colon = end;
		while (colon > p && colon[-1] != ':')
			colon--;
		if (colon > p)
			matches += atoll(colon);
		p = nl != NULL ? nl + 1 : NULL;
	}
	printf("%.1f ms %zu files %lld lines\n", t1 - t0, lines, matches);
	json_decref(in);
	json_decref(bench_result);
	registry_fini_all(reg);
	defer_close();
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	registry_free(reg);
	conf_free(conf);
	loader_exit();
	free(dir);
	return 0;
}
