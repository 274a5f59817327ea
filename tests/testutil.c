/* testutil.c: helpers shared by the tests (see testutil.h). */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"
#include "xmalloc.h"

char *
testutil_mkdtemp(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/hearth-%s-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp", tag);
	if (mkdtemp(path) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return path;
}

static int
testutil_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

void
testutil_rmtree(const char *path)
{
	nftw(path, testutil_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *
testutil_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0, got;
	char *buf = xmalloc(cap);
	while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n - 1 == 0)
			buf = xrealloc(buf, cap *= 2);
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int
testutil_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	size_t put = fwrite(data, 1, len, f);
	return fclose(f) == 0 && put == len ? 0 : -1;
}

static char *testutil_log_path;

void
testutil_log_capture(void)
{
	char *dir = testutil_mkdtemp("log");
	testutil_log_path = xasprintf("%s/log", dir);
	free(dir);
	log_open(testutil_log_path);
	log_set_level(HEARTH_LOG_DEBUG);
}

char *
testutil_log_release(void)
{
	log_close();
	char *text = testutil_read_file(testutil_log_path, NULL);
	char *dir = xstrdup(testutil_log_path);
	*strrchr(dir, '/') = '\0';
	testutil_rmtree(dir);
	free(dir);
	free(testutil_log_path);
	testutil_log_path = NULL;
	return text != NULL ? text : xstrdup("");
}

size_t
testutil_count(const char *haystack, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p += len)
		n++;
	return n;
}
