/* log.c: levelled log lines to stderr or a file (see log.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static FILE *log_file;   /* NULL: stderr */
static enum hearth_log_level log_level = HEARTH_LOG_INFO;

static const char *const log_level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

int
log_open(const char *path)
{
	log_close();
	if (path == NULL)
		return 0;
	FILE *f = fopen(path, "ae");
	if (f == NULL) {
		log_error("cannot open log file %s: %s", path, strerror(errno));
		return HEARTH_EIO;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	log_file = f;
	return 0;
}

void
log_close(void)
{
	if (log_file != NULL)
		fclose(log_file);
	log_file = NULL;
}

void
log_set_level(enum hearth_log_level level)
{
	log_level = level;
}

enum hearth_log_level
log_get_level(void)
{
	return log_level;
}

int
log_parse_level(const char *s, enum hearth_log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum hearth_log_level)i;
			return 0;
		}
	}
	return HEARTH_EINVAL;
}

void
log_vmsg(const char *who, enum hearth_log_level level, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	if (level < HEARTH_LOG_ERROR || level > HEARTH_LOG_DEBUG)
		level = HEARTH_LOG_ERROR;

	char msg[LOG_LINE_MAX];
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof msg, "(unformattable message: %s)", fmt);
	else if ((size_t)n >= sizeof msg)
		memcpy(msg + sizeof msg - 4, "...", 4);

	/* Escape newlines and other control bytes so one message is one line. */
	char line[LOG_LINE_MAX * 2];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)msg; *p && o + 5 < sizeof line; p++) {
		if (*p == '\n') {
			line[o++] = '\\';
			line[o++] = 'n';
		} else if (*p < 0x20 && *p != '\t') {
			o += (size_t)snprintf(line + o, sizeof line - o, "\\x%02x", *p);
		} else {
			line[o++] = (char)*p;
		}
	}
	line[o] = '\0';

	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

	FILE *out = log_file != NULL ? log_file : stderr;
	fprintf(out, "%s.%03ldZ %-5s %s: %s\n", stamp, ts.tv_nsec / 1000000L,
		log_level_names[level], who != NULL ? who : "core", line);
}

void
log_msg(const char *who, enum hearth_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(who, level, fmt, ap);
	va_end(ap);
}

const char *
hearth_strerror(int code)
{
	static const char *const names[] = HEARTH_ERROR_NAMES_INIT;
	int i = -code;
	if (i < 0 || (size_t)i >= sizeof names / sizeof names[0])
		return "unknown error";
	return names[i];
}
