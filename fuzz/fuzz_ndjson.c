/* fuzz_ndjson.c: the newline-delimited JSON parser (core/ndjson.c), in every chunking. */
#include "config.h"

#include <stdlib.h>

#include "fuzz.h"
#include "ndjson.h"

static int
fuzz_ndjson_line_cb(void *arg, json_t *value, size_t line_no)
{
	size_t *count = arg;
	free(json_dumps(value, JSON_ENCODE_ANY));   /* borrowed: read, not freed */
	return ++*count > 1000 ? 1 : 0;
}

static int
fuzz_ndjson_feed(void *arg, const char *p, size_t n)
{
	return ndjson_feed(arg, p, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t count = 0;
	struct hearth_ndjson *p = ndjson_new(4096, fuzz_ndjson_line_cb, &count);
	if (fuzz_chunks(data, size, fuzz_ndjson_feed, p) == 0)
		ndjson_finish(p);
	(void)ndjson_error(p);
	(void)ndjson_buffered(p);
	ndjson_free(p);
	return 0;
}
