/*
 * testutil.h: what several tests share: temporary directories, whole-file reads,
 * and a captured log. Everything returned is malloc'd and freed by the caller.
 */
#ifndef HEARTH_TESTUTIL_H
#define HEARTH_TESTUTIL_H

#include <stddef.h>

/* A new empty directory under $TMPDIR (or /tmp), named after `tag`. */
char *testutil_mkdtemp(const char *tag);
/* Remove `path` and everything below it (not following symlinks). */
void testutil_rmtree(const char *path);
/* The whole file as a NUL-terminated string (length in *len if non-NULL), or NULL. */
char *testutil_read_file(const char *path, size_t *len);
/* Write `len` bytes to `path`, replacing it. Returns 0 or -1. */
int testutil_write_file(const char *path, const char *data, size_t len);

/* Send log lines to a fresh temporary file, at debug level. */
void testutil_log_capture(void);
/* Everything logged since testutil_log_capture(), and stop capturing. */
char *testutil_log_release(void);
/* Count the occurrences of `needle` in `haystack`. */
size_t testutil_count(const char *haystack, const char *needle);

#endif
