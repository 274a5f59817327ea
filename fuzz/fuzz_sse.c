/* fuzz_sse.c: the Server-Sent Events parser (core/sse.c), fed in every chunking. */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "sse.h"

static int
fuzz_sse_event_cb(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	size_t *count = arg;
	/* Touch every byte the parser hands out, so ASan sees a bad length. */
	volatile size_t sum = strlen(event != NULL ? event : "") + (id != NULL ? strlen(id) : 0);
	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)data[i];
	(void)sum;
	/* Stop after many events sometimes, to fuzz the abort path too. */
	return ++*count > 1000 ? 1 : 0;
}

static int
fuzz_sse_feed(void *arg, const char *p, size_t n)
{
	return sse_feed(arg, p, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t count = 0;
	struct hearth_sse *p = sse_new(4096, fuzz_sse_event_cb, &count);
	if (fuzz_chunks(data, size, fuzz_sse_feed, p) == 0)
		sse_finish(p);
	(void)sse_error(p);
	(void)sse_retry(p);
	(void)sse_last_id(p);
	(void)sse_buffered(p);
	sse_free(p);
	return 0;
}
