/* kit.c: helpers shared by the provider modules (see kit.h). */
#define _GNU_SOURCE /* vasprintf */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit.h"

void
kit_oom(void)
{
	fputs("hearth provider module: out of memory\n", stderr);
	abort();
}

char *
kit_strdup(const char *s)
{
	char *d = strdup(s);
	if (d == NULL)
		kit_oom();
	return d;
}

char *
kit_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		kit_oom();
	return s;
}

int
kit_buf_add(struct kit_buf *b, const char *s, size_t n, size_t max)
{
	if (n > max || b->len > max - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL)
			kit_oom();
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void
kit_buf_free(struct kit_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
kit_err_set(struct kit_err *e, uint32_t type, int retryable, const char *vendor_code,
	    char *message)
{
	free(e->message);
	free(e->vendor_code);
	memset(e, 0, sizeof *e);
	e->type = type;
	e->retryable = retryable;
	e->vendor_code = vendor_code != NULL ? kit_strdup(vendor_code) : NULL;
	e->message = message;
}

void
kit_err_free(struct kit_err *e)
{
	free(e->message);
	free(e->vendor_code);
	memset(e, 0, sizeof *e);
}

struct hearth_provider_error
kit_err_view(const struct kit_err *e)
{
	return (struct hearth_provider_error){
		.struct_size = sizeof(struct hearth_provider_error),
		.type = e->type,
		.http_status = e->http_status,
		.retryable = e->retryable,
		.retry_after_ms = e->retry_after_ms,
		.message = e->message,
		.vendor_code = e->vendor_code,
	};
}

void
kit_check_keys(const struct hearth_host *host, const json_t *config, const char *const *known,
	       size_t n)
{
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)config, key, value) {
		size_t i = 0;
		while (i < n && strcmp(key, known[i]) != 0)
			i++;
		/* price.<model> is the core's (the cost of a call), read at each turn. */
		if (i == n && strncmp(key, "price.", 6) != 0)
			host->log(host, HEARTH_LOG_WARN, "unknown key '%s' ignored", key);
	}
}
