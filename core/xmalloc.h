/*
 * xmalloc.h: allocation that cannot fail. On out of memory the daemon logs and
 * aborts, as tmux and nvim do: every caller may assume a non-NULL result.
 * The caller owns what these return and frees it with free().
 */
#ifndef HEARTH_XMALLOC_H
#define HEARTH_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
