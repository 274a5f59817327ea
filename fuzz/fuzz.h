/*
 * fuzz.h: what the libFuzzer harnesses share. Each harness defines
 * LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize); libFuzzer supplies
 * main(). Built only by `./configure CC=clang --enable-fuzzers && make fuzz`.
 */
#ifndef HEARTH_FUZZ_H
#define HEARTH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Feed data[0..size) to feed(arg, chunk, n) in chunks whose sizes come from the data
 * itself (its first byte seeds them), so the fuzzer explores every split of a stream.
 * Stops at the first non-zero return and returns it. */
static inline int
fuzz_chunks(const uint8_t *data, size_t size, int (*feed)(void *arg, const char *p, size_t n),
	    void *arg)
{
	if (size == 0)
		return 0;
	unsigned seed = data[0];
	data++;
	size--;
	size_t off = 0;
	while (off < size) {
		seed = seed * 1103515245u + 12345u;
		size_t n = 1 + (seed >> 16) % 64;
		if (n > size - off)
			n = size - off;
		int rc = feed(arg, (const char *)data + off, n);
		if (rc != 0)
			return rc;
		off += n;
	}
	return 0;
}

#endif
