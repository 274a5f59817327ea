/*
 * cmd_sessions.c: `hearth sessions`: the daemon's sessions, as a table or JSON, and
 * what is done to one: rm, rename, fork, prune. Session ids may be shortened to any
 * unique prefix, here and in every command that takes one (cmd_sessions_resolve).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth.h"
#include "xmalloc.h"

#define CMD_SESSIONS_TITLE_MAX 40  /* characters of a title shown */
#define CMD_SESSIONS_NCOLS 9
#define CMD_SESSIONS_AMBIGUOUS_MAX 5 /* ids named when a prefix matches several */

static const char *const cmd_sessions_heads[CMD_SESSIONS_NCOLS] = {
	"ID", "TITLE", "DIRECTORY", "MODEL", "STATUS", "MSGS", "TOKENS", "COST", "AGE",
};
/* Right-aligned columns: the numbers. */
static const int cmd_sessions_right[CMD_SESSIONS_NCOLS] = { [5] = 1, [6] = 1, [7] = 1, [8] = 1 };

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
static int
cmd_sessions_parse_time(const json_t *v, time_t *out)
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
			return -1;
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
		return -1;
	}
	*out = t;
	return 0;
}

/* How long ago: "42s", "5m", "3h", "12d", "2y". Malloc'd. */
static char *
cmd_sessions_age(const json_t *v)
{
	time_t t;
	if (cmd_sessions_parse_time(v, &t) != 0)
		return xstrdup("-");
	double d = difftime(time(NULL), t);
	if (d < 0)
		d = 0;
	if (d < 60)
		return xasprintf("%ds", (int)d);
	if (d < 3600)
		return xasprintf("%dm", (int)(d / 60));
	if (d < 86400)
		return xasprintf("%dh", (int)(d / 3600));
	if (d < 365 * 86400.0)
		return xasprintf("%dd", (int)(d / 86400));
	return xasprintf("%dy", (int)(d / (365 * 86400.0)));
}

/* A token count: "950", "12.3k", "4.5M". Malloc'd. */
static char *
cmd_sessions_tokens(json_int_t n)
{
	if (n < 1000)
		return xasprintf("%lld", (long long)n);
	if (n < 1000000)
		return xasprintf("%.1fk", (double)n / 1e3);
	return xasprintf("%.1fM", (double)n / 1e6);
}

/* A session's tokens, all kinds read and written, and its cost in dollars. */
static void
cmd_sessions_usage(const json_t *s, char **tokens, char **cost)
{
	const json_t *u = json_object_get(s, "usage");
	if (!json_is_object(u)) {
		*tokens = xstrdup("-");
		*cost = xstrdup("-");
		return;
	}
	static const char *const keys[] = { "inputTokens", "outputTokens", "cacheReadTokens",
					    "cacheWriteTokens" };
	json_int_t n = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		n += json_integer_value(json_object_get(u, keys[i]));
	*tokens = cmd_sessions_tokens(n);
	json_int_t micros = json_integer_value(json_object_get(u, "costMicros"));
	*cost = micros > 0 ? xasprintf("$%.2f", (double)micros / 1e6) : xstrdup("-");
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
	cmd_sessions_usage(s, &cells[6], &cells[7]);
	cells[8] = cmd_sessions_age(json_object_get(s, "updatedAt"));
}

static void
cmd_sessions_print_row(char *const cells[CMD_SESSIONS_NCOLS],
		       const size_t widths[CMD_SESSIONS_NCOLS])
{
	for (int col = 0; col < CMD_SESSIONS_NCOLS; col++) {
		size_t pad = widths[col] - cmd_sessions_width(cells[col]);
		if (cmd_sessions_right[col])
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

/* The sessions the daemon has (a new reference to its array), or NULL after saying why. */
static json_t *
cmd_sessions_fetch(struct client_rpc *c)
{
	json_t *result;
	if (hearth_call(c, "_hearth/sessions", NULL, &result) != 0)
		return NULL;
	json_t *sessions = json_incref(json_object_get(result, "sessions"));
	json_decref(result);
	if (!json_is_array(sessions)) {
		hearth_error("the daemon's _hearth/sessions answer has no 'sessions' array");
		json_decref(sessions);
		return NULL;
	}
	return sessions;
}

char *
cmd_sessions_resolve(struct client_rpc *c, const char *arg)
{
	if (arg[0] == '\0') {
		hearth_error("an empty session id");
		return NULL;
	}
	json_t *sessions = cmd_sessions_fetch(c);
	if (sessions == NULL)
		return NULL;
	size_t len = strlen(arg), n = 0, i;
	json_t *s, *matches = json_array();
	const char *found = NULL;
	json_array_foreach(sessions, i, s) {
		const char *id = json_string_value(json_object_get(s, "sessionId"));
		if (id == NULL)
			continue;
		if (strcmp(id, arg) == 0) { /* a whole id is never ambiguous */
			found = id;
			n = 1;
			break;
		}
		if (strncmp(id, arg, len) == 0) {
			found = id;
			n++;
			json_array_append_new(matches, json_string(id));
		}
	}
	char *out = NULL;
	if (n == 1) {
		out = xstrdup(found);
	} else if (n == 0) {
		/* Not in the list: let the daemon say what it thinks of it. */
		out = xstrdup(arg);
	} else {
		char *names = xstrdup("");
		json_array_foreach(matches, i, s) {
			if (i == CMD_SESSIONS_AMBIGUOUS_MAX) {
				char *more = xasprintf("%s, ...", names);
				free(names);
				names = more;
				break;
			}
			char *more = xasprintf("%s%s%s", names, i > 0 ? ", " : "", json_string_value(s));
			free(names);
			names = more;
		}
		hearth_error("session id '%s' is ambiguous: %zu sessions start with it (%s)", arg, n,
			     names);
		free(names);
	}
	json_decref(matches);
	json_decref(sessions);
	return out;
}

/* `sessions rm ID...`: delete each; all are tried, the status says if one failed. */
static int
cmd_sessions_rm(struct client_rpc *c, int argc, char **argv)
{
	if (argc < 1) {
		hearth_error("sessions rm needs at least one session ID");
		return HEARTH_EXIT_USAGE;
	}
	int status = HEARTH_EXIT_OK;
	for (int i = 0; i < argc; i++) {
		char *id = cmd_sessions_resolve(c, argv[i]);
		json_t *result;
		if (id == NULL ||
		    hearth_call(c, "session/delete", json_pack("{s:s}", "sessionId", id), &result) != 0) {
			status = HEARTH_EXIT_ERROR;
		} else {
			printf("removed %s\n", id);
			json_decref(result);
		}
		free(id);
	}
	return status;
}

/* `sessions rename ID TITLE...`: the words are the title. */
static int
cmd_sessions_rename(struct client_rpc *c, int argc, char **argv)
{
	if (argc < 2) {
		hearth_error("sessions rename needs a session ID and a title");
		return HEARTH_EXIT_USAGE;
	}
	char *title = xstrdup(argv[1]);
	for (int i = 2; i < argc; i++) {
		char *more = xasprintf("%s %s", title, argv[i]);
		free(title);
		title = more;
	}
	int status = HEARTH_EXIT_ERROR;
	char *id = cmd_sessions_resolve(c, argv[0]);
	json_t *result;
	if (id != NULL && hearth_call(c, "_hearth/rename",
				      json_pack("{s:s, s:s}", "sessionId", id, "title", title),
				      &result) == 0) {
		json_decref(result);
		status = HEARTH_EXIT_OK;
	}
	free(id);
	free(title);
	return status;
}

/* `sessions fork ID`: a new session with ID's history; its id on stdout. */
static int
cmd_sessions_fork(struct client_rpc *c, int argc, char **argv)
{
	if (argc != 1) {
		hearth_error("sessions fork needs exactly one session ID");
		return HEARTH_EXIT_USAGE;
	}
	int status = HEARTH_EXIT_ERROR;
	char *id = cmd_sessions_resolve(c, argv[0]);
	json_t *status_of, *result;
	if (id == NULL ||
	    hearth_call(c, "_hearth/status", json_pack("{s:s}", "sessionId", id), &status_of) != 0) {
		free(id);
		return status;
	}
	const char *cwd = json_string_value(json_object_get(status_of, "cwd"));
	if (hearth_call(c, "session/fork", json_pack("{s:s, s:s, s:[]}", "sessionId", id, "cwd",
						     cwd != NULL ? cwd : "/", "mcpServers"),
			&result) == 0) {
		const char *nid = json_string_value(json_object_get(result, "sessionId"));
		if (nid != NULL) {
			printf("%s\n", nid);
			status = HEARTH_EXIT_OK;
		} else {
			hearth_error("the daemon's session/fork answer has no sessionId");
		}
		json_decref(result);
	}
	json_decref(status_of);
	free(id);
	return status;
}

/* "30d", "12h", "90m", "45s" or plain days, in seconds; -1 if not such. */
static double
cmd_sessions_span(const char *s)
{
	char *end;
	double n = strtod(s, &end);
	if (end == s || n < 0 || n > 1e6)
		return -1;
	double unit = 86400;
	if (*end == 's')
		unit = 1;
	else if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end != 'd' && *end != '\0')
		return -1;
	if (*end != '\0' && end[1] != '\0')
		return -1;
	return n * unit;
}

/*
 * `sessions prune --older-than SPAN [--dry-run]`: delete the sessions not updated
 * for SPAN, except those whose turn runs or waits. The span is required, so that
 * nothing is deleted by accident.
 */
static int
cmd_sessions_prune(struct client_rpc *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	double span = -1;
	int dry = 0, opt;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (opt == 'o') {
			span = cmd_sessions_span(optarg);
			if (span < 0) {
				hearth_error("sessions prune: --older-than takes a span such as 30d, "
					     "12h, 90m or 45s, not '%s'", optarg);
				return HEARTH_EXIT_USAGE;
			}
		} else if (opt == 'n') {
			dry = 1;
		} else {
			return HEARTH_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		hearth_error("sessions prune: unexpected argument '%s'", argv[optind]);
		return HEARTH_EXIT_USAGE;
	}
	if (span < 0) {
		hearth_error("sessions prune needs --older-than SPAN (for example 30d)");
		return HEARTH_EXIT_USAGE;
	}
	json_t *sessions = cmd_sessions_fetch(c);
	if (sessions == NULL)
		return HEARTH_EXIT_ERROR;
	int status = HEARTH_EXIT_OK, n = 0;
	time_t now = time(NULL);
	size_t i;
	json_t *s;
	json_array_foreach(sessions, i, s) {
		const char *id = json_string_value(json_object_get(s, "sessionId"));
		const char *st = json_string_value(json_object_get(s, "status"));
		time_t t;
		if (id == NULL || cmd_sessions_parse_time(json_object_get(s, "updatedAt"), &t) != 0 ||
		    difftime(now, t) < span || (st != NULL && (strcmp(st, "running") == 0 ||
							      strcmp(st, "waiting") == 0)))
			continue;
		json_t *result;
		if (dry) {
			printf("would remove %s\n", id);
			n++;
		} else if (hearth_call(c, "session/delete", json_pack("{s:s}", "sessionId", id),
				       &result) == 0) {
			printf("removed %s\n", id);
			json_decref(result);
			n++;
		} else {
			status = HEARTH_EXIT_ERROR;
		}
	}
	if (n == 0)
		printf("nothing to prune\n");
	json_decref(sessions);
	return status;
}

int
cmd_sessions_main(const struct hearth_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct client_rpc *c, int argc, char **argv);
	} subs[] = {
		{ "rm", cmd_sessions_rm },
		{ "rename", cmd_sessions_rename },
		{ "fork", cmd_sessions_fork },
		{ "prune", cmd_sessions_prune },
	};
	for (size_t i = 0; argc > 1 && i < sizeof subs / sizeof subs[0]; i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		struct client_rpc *c = hearth_connect(o, 1, NULL);
		if (c == NULL)
			return HEARTH_EXIT_ERROR;
		/* prune parses its own options from argv[1]; the others take words. */
		int status = subs[i].run == cmd_sessions_prune ? subs[i].run(c, argc - 1, argv + 1)
							       : subs[i].run(c, argc - 2, argv + 2);
		client_rpc_free(c);
		return status;
	}
	int as_json = 0;
	int early = hearth_options("sessions", argc, argv, &as_json, 0);
	if (early >= 0)
		return early;
	struct client_rpc *c = hearth_connect(o, 1, NULL);
	if (c == NULL)
		return HEARTH_EXIT_ERROR;
	int status = HEARTH_EXIT_ERROR;
	json_t *sessions = cmd_sessions_fetch(c);
	if (sessions != NULL) {
		if (as_json) {
			char *line = json_dumps(sessions, JSON_COMPACT);
			printf("%s\n", line);
			free(line);
		} else {
			cmd_sessions_table(sessions);
		}
		status = HEARTH_EXIT_OK;
		json_decref(sessions);
	}
	client_rpc_free(c);
	return status;
}
