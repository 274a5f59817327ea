/*
 * kit.h: the small toolkit every provider module needs, linked into each module
 * statically (modules cannot link the core): allocation that aborts on out of
 * memory, a bounded growable buffer, and an owned error record that becomes a
 * struct hearth_provider_error. Hidden with the rest of each module.
 */
#ifndef HEARTH_PROVIDER_KIT_H
#define HEARTH_PROVIDER_KIT_H

#include <stddef.h>
#include <stdint.h>

#include <hearth/provider.h>

/* Report and abort: a provider cannot go on without memory. */
void kit_oom(void) __attribute__((noreturn));
/* malloc'd copy of s, never NULL. */
char *kit_strdup(const char *s);
/* A malloc'd formatted string, never NULL. */
char *kit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Warn about each key of config (borrowed) that is not one of the n `known` ones
 * and not a key the core reads from every provider section (`price.<model>`,
 * plugins.conf(5)): "unknown key 'x' ignored".
 */
void kit_check_keys(const struct hearth_host *host, const json_t *config,
		    const char *const *known, size_t n);

/* A growable byte buffer; data is NUL-terminated once anything was added. Owns data. */
struct kit_buf {
	char *data;
	size_t len, cap;
};

/* Append n bytes, as long as the total stays within max. -1 (nothing added) past it. */
int kit_buf_add(struct kit_buf *b, const char *s, size_t n, size_t max);
/* Free the data; the buffer is empty and reusable afterwards. */
void kit_buf_free(struct kit_buf *b);

/* An error on its way to a callback; the strings are owned. */
struct kit_err {
	uint32_t type;           /* enum hearth_provider_errtype */
	long http_status;
	int retryable;
	uint64_t retry_after_ms;
	char *message;
	char *vendor_code;
};

/* Replace *e: type, retryable, vendor_code (copied, may be NULL), message (stolen). */
void kit_err_set(struct kit_err *e, uint32_t type, int retryable, const char *vendor_code,
		 char *message);
void kit_err_free(struct kit_err *e);
/* The ABI view of e, borrowing its strings. */
struct hearth_provider_error kit_err_view(const struct kit_err *e);

#endif
