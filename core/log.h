/*
 * log.h: the daemon's log. One line per message:
 *     2026-11-23T19:41:39.123Z INFO  tool/shell: message
 * to stderr, or appended to a file. `who` names the source: "core", or
 * "<kind>/<name>" for a module. Messages longer than LOG_LINE_MAX are cut and
 * end in "...". Newlines inside a message are written as "\n" so a line stays a line.
 */
#ifndef HEARTH_LOG_H
#define HEARTH_LOG_H

#include <stdarg.h>

#include <hearth/plugin.h>

#define LOG_LINE_MAX 8192

/* Send log lines to `path` (appended; NULL for stderr). Returns 0 or HEARTH_EIO. */
int log_open(const char *path);
void log_close(void);
void log_set_level(enum hearth_log_level level);
enum hearth_log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug"; returns 0 or HEARTH_EINVAL. */
int log_parse_level(const char *s, enum hearth_log_level *out);

void log_msg(const char *who, enum hearth_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(const char *who, enum hearth_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define log_error(...) log_msg("core", HEARTH_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg("core", HEARTH_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg("core", HEARTH_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg("core", HEARTH_LOG_DEBUG, __VA_ARGS__)

/* A static English name for a HEARTH_E* code. */
const char *hearth_strerror(int code);

#endif
