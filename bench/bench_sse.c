/*
 * bench_sse.c: SSE parser throughput on a large synthetic Anthropic-like stream,
 * fed in 1-byte, 7-byte and 64 KiB chunks. Run by `make bench`, not make check.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sse.h"
#include "xmalloc.h"

static int
bench_event_cb(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	size_t *bytes = arg;
	*bytes += len + strlen(event);
	return 0;
}

static double
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
	const size_t target = 32u * 1024 * 1024;
	static const char ev[] =
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
		"{\"type\":\"text_delta\",\"text\":\"Hello there, this is a streamed token\"}}\n\n"
		": keep-alive\n\n"
		"event: content_block_delta\r\n"
		"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
		"{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \\\"src/\"}}\r\n\r\n";
	size_t evlen = sizeof ev - 1;
	size_t n = target / evlen * evlen;
	char *stream = xmalloc(n);
	for (size_t o = 0; o < n; o += evlen)
		memcpy(stream + o, ev, evlen);

	static const size_t chunks[] = { 1, 7, 65536 };
	for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		size_t bytes = 0;
		struct hearth_sse *p = sse_new(1024 * 1024, bench_event_cb, &bytes);
		double t0 = bench_now();
		for (size_t i = 0; i < n; i += chunks[c]) {
			size_t len = n - i < chunks[c] ? n - i : chunks[c];
			if (sse_feed(p, stream + i, len) != 0) {
				fprintf(stderr, "bench_sse: %s\n", sse_error(p));
				return 1;
			}
		}
		if (sse_finish(p) != 0) {
			fprintf(stderr, "bench_sse: %s\n", sse_error(p));
			return 1;
		}
		double dt = bench_now() - t0;
		sse_free(p);
		printf("sse: %zu MiB in %6zu-byte chunks: %8.1f MB/s (%zu payload bytes)\n",
		       n >> 20, chunks[c], (double)n / 1e6 / dt, bytes);
	}
	free(stream);
	return 0;
}
