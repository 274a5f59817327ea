/* cmd_sessions.c: `hearth sessions`: the daemon's sessions, as a table or JSON. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth.h"
#include "xmalloc.h"

#define CMD_SESSIONS_TITLE_MAX 40  /* characters of a title shown */
#define CMD_SESSIONS_NCOLS 7

static const char *const cmd_sessions_heads[CMD_SESSIONS_NCOLS] = {
	"ID", "TITLE", "DIRECTORY", "MODEL", "STATUS", "MSGS", "UPDATED",
};

/* Characters (UTF-8 code points) in s. */
static size_t
cmd_sessions_width(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* s cut to max characters, with "…" when cut. Malloc'd. */
static char *
cmd_sessions_cut(const char *s, size_t max)
{
	if (cmd_sessions_width(s) <= max)
		return xstrdup(s);
	size_t n = 0, bytes = 0;
	for (; s[bytes] != '\0'; bytes++) {
		if (((unsigned char)s[bytes] & 0xc0) != 0x80 && n++ == max - 1)
			break;
	}
	return xasprintf("%.*s…", (int)bytes, s);
}

/* An ISO 8601 time ("2026-11-23T19:41:39.123Z", offsets allowed) or Unix seconds or
 * milliseconds, as local time "YYYY-MM-DD HH:MM". Malloc'd. */
static char *
cmd_sessions_time(const json_t *v)
{
	time_t t;
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		t = (time_t)(n > 100000000000LL ? n / 1000 : n);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		struct tm tm = { 0 };
		int used = 0;
		if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
			return xstrdup(s);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		t = timegm(&tm);
		const char *p = s + used;
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
		int oh, om;
		if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
			t -= (*p == '+' ? 1 : -1) * (time_t)(oh * 3600 + om * 60);
	} else {
		return xstrdup("-");
	}
	struct tm local;
	char buf[32];
	if (localtime_r(&t, &local) == NULL || strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &local) == 0)
		return xstrdup("-");
	return xstrdup(buf);
}

/* A directory with $HOME written as "~". Malloc'd. */
static char *
cmd_sessions_dir(const char *dir)
{
	const char *home = getenv("HOME");
	size_t n = home != NULL ? strlen(home) : 0;
	if (n > 1 && strncmp(dir, home, n) == 0 && (dir[n] == '/' || dir[n] == '\0'))
		return xasprintf("~%s", dir + n);
	return xstrdup(dir);
}

static char *
cmd_sessions_str(const json_t *s, const char *key)
{
	const char *v = json_string_value(json_object_get(s, key));
	return xstrdup(v != NULL && v[0] != '\0' ? v : "-");
}

/* The cells of one session, each malloc'd. */
static void
cmd_sessions_row(const json_t *s, char *cells[CMD_SESSIONS_NCOLS])
{
	cells[0] = cmd_sessions_str(s, "sessionId");
	char *title = cmd_sessions_str(s, "title");
	cells[1] = cmd_sessions_cut(title, CMD_SESSIONS_TITLE_MAX);
	free(title);
	char *dir = cmd_sessions_str(s, "cwd");
	cells[2] = cmd_sessions_dir(dir);
	free(dir);
	cells[3] = cmd_sessions_str(s, "model");
	cells[4] = cmd_sessions_str(s, "status");
	json_t *msgs = json_object_get(s, "messages");
	cells[5] = json_is_integer(msgs) ? xasprintf("%lld", (long long)json_integer_value(msgs))
					 : xstrdup("-");
	cells[6] = cmd_sessions_time(json_object_get(s, "updatedAt"));
}

static void
cmd_sessions_print_row(char *const cells[CMD_SESSIONS_NCOLS],
		       const size_t widths[CMD_SESSIONS_NCOLS])
{
	for (int col = 0; col < CMD_SESSIONS_NCOLS; col++) {
		size_t pad = widths[col] - cmd_sessions_width(cells[col]);
		if (col == 5) /* numbers right-aligned */
			printf("%*s%s", (int)pad, "", cells[col]);
		else if (col == CMD_SESSIONS_NCOLS - 1)
			printf("%s", cells[col]);
		else
			printf("%s%*s", cells[col], (int)pad, "");
		fputs(col == CMD_SESSIONS_NCOLS - 1 ? "\n" : "  ", stdout);
	}
}

static void
cmd_sessions_table(const json_t *sessions)
{
	size_t n = json_array_size(sessions);
	if (n == 0) {
		printf("no sessions\n");
		return;
	}
	char *(*rows)[CMD_SESSIONS_NCOLS] = xcalloc(n, sizeof *rows);
	size_t widths[CMD_SESSIONS_NCOLS];
	for (int col = 0; col < CMD_SESSIONS_NCOLS; col++)
		widths[col] = strlen(cmd_sessions_heads[col]);
	for (size_t i = 0; i < n; i++) {
		cmd_sessions_row(json_array_get(sessions, i), rows[i]);
		for (int col = 0; col < CMD_SESSIONS_NCOLS; col++) {
			size_t w = cmd_sessions_width(rows[i][col]);
			if (w > widths[col])
				widths[col] = w;
		}
	}
	cmd_sessions_print_row((char *const *)cmd_sessions_heads, widths);
	for (size_t i = 0; i < n; i++) {
		cmd_sessions_print_row(rows[i], widths);
		for (int col = 0; col < CMD_SESSIONS_NCOLS; col++)
			free(rows[i][col]);
	}
	free(rows);
}

int
cmd_sessions_main(const struct hearth_opts *o, int argc, char **argv)
{
	int as_json = 0;
	int early = hearth_options("sessions", argc, argv, &as_json, 0);
	if (early >= 0)
		return early;
	struct client_rpc *c = hearth_connect(o, 1, NULL);
	if (c == NULL)
		return HEARTH_EXIT_ERROR;
	json_t *result;
	int status = HEARTH_EXIT_ERROR;
	if (hearth_call(c, "_hearth/sessions", NULL, &result) == 0) {
		json_t *sessions = json_object_get(result, "sessions");
		if (!json_is_array(sessions)) {
			hearth_error("the daemon's _hearth/sessions answer has no 'sessions' array");
		} else if (as_json) {
			char *line = json_dumps(sessions, JSON_COMPACT);
			printf("%s\n", line);
			free(line);
			status = HEARTH_EXIT_OK;
		} else {
			cmd_sessions_table(sessions);
			status = HEARTH_EXIT_OK;
		}
		json_decref(result);
	}
	client_rpc_free(c);
	return status;
}
