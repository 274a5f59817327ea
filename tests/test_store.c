/*
 * test_store.c: the session store on real SQLite files in a temporary directory:
 * opening (modes, WAL, refusals), the v1 -> v2 migration, sequence numbers and
 * replay, transactions, the history round trip, part validation, sessions, usage,
 * kv, permissions, checkpoints, and a process killed in the middle of writing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------- helpers -- */

static char *
tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/hearth-test-store-XXXXXX",
			       base != NULL && *base != '\0' ? base : "/tmp");
	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static int
rmtree_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rmtree(const char *path)
{
	nftw(path, rmtree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static off_t
file_size(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return -1;
	return sb.st_size;
}

static mode_t
file_mode(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

/* The first column of the first row of `sql`, on a connection of our own. */
static char *
sql_text(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	char *out = NULL;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		out = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

static long long
sql_int(const char *path, const char *sql)
{
	char *t = sql_text(path, sql);
	assert_non_null(t);
	long long v = strtoll(t, NULL, 10);
	free(t);
	return v;
}

static void
sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

static void
assert_integrity(const char *path)
{
	char *ok = sql_text(path, "PRAGMA integrity_check");
	assert_non_null(ok);
	assert_string_equal(ok, "ok");
	free(ok);
	/* No row of foreign_key_check: no orphan. */
	char *orphan = sql_text(path, "PRAGMA foreign_key_check");
	assert_null(orphan);
}

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (v == NULL)
		fail_msg("bad test JSON: %s: %s", err.text, text);
	return v;
}

static int64_t fake_now;

static int64_t
fake_clock_cb(void *arg)
{
	(void)arg;
	return fake_now;
}

/* ---------------------------------------------------------------- fixture -- */

struct fixture {
	char *dir;
	char *path;      /* dir/state/hearth/hearth.db */
	struct store *st;
	char *sid;       /* a session in it */
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	f->dir = tmpdir_new();
	f->path = xasprintf("%s/state/hearth/hearth.db", f->dir);
	char *err = NULL;
	f->st = store_open(f->path, &err);
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_session_create(f->st, "/proj", "first", "fake/model", &f->sid),
			 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->st);
	if (file_size(f->path) >= 0)
		assert_integrity(f->path);
	rmtree(f->dir);
	free(f->sid);
	free(f->path);
	free(f->dir);
	free(f);
	return 0;
}

/* Collects what store_events_since() delivers. */
struct seen {
	int64_t seqs[64];
	char *types[64];
	json_t *payloads[64];
	size_t n;
	size_t stop_after; /* return 7 after this many; 0: never */
};

static int
seen_cb(void *arg, int64_t seq, const char *type, const json_t *payload)
{
	struct seen *s = arg;
	assert_true(s->n < 64);
	s->seqs[s->n] = seq;
	s->types[s->n] = xstrdup(type);
	s->payloads[s->n] = json_deep_copy(payload);
	s->n++;
	return s->stop_after != 0 && s->n == s->stop_after ? 7 : 0;
}

static void
seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->types[i]);
		json_decref(s->payloads[i]);
	}
	memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- opening -- */

static void
test_open_creates_private_files(void **state)
{
	struct fixture *f = *state;
	char *state_dir = xasprintf("%s/state", f->dir);
	char *hearth_dir = xasprintf("%s/state/hearth", f->dir);
	char *wal = xasprintf("%s-wal", f->path);
	assert_int_equal(file_mode(state_dir), 0700);
	assert_int_equal(file_mode(hearth_dir), 0700);
	assert_int_equal(file_mode(f->path), 0600);
	assert_true(store_event_append(f->st, f->sid, "x", NULL) > 0);
	assert_int_equal(file_mode(wal), 0600);

	char *mode = sql_text(f->path, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 2);
	assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
	assert_int_equal(STORE_SCHEMA_VERSION, 2);
	assert_string_equal(store_errmsg(f->st), "");

	/* A second open of an existing database keeps its data and its version. */
	char *err = NULL;
	struct store *again = store_open(f->path, &err);
	assert_non_null(again);
	struct store_session s;
	assert_int_equal(store_session_get(again, f->sid, &s), 0);
	assert_string_equal(s.title, "first");
	store_session_clear(&s);
	store_close(again);
	free(state_dir);
	free(hearth_dir);
	free(wal);
}

static void
test_open_bad_arguments(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	assert_null(store_open(NULL, &err));
	assert_string_equal(err, "store: opening: the database path is empty");
	free(err);
	assert_null(store_open("", &err));
	assert_string_equal(err, "store: opening: the database path is empty");
	free(err);
	assert_null(store_open("", NULL)); /* error may be NULL */

	char *other = xasprintf("%s/other.db", f->dir);
	char *want = xasprintf("store: opening %s: no schema version 3 (1 to 2)", other);
	assert_null(store_open_at_version(other, 3, &err));
	assert_string_equal(err, want);
	free(err);
	free(want);
	want = xasprintf("store: opening %s: no schema version 0 (1 to 2)", other);
	assert_null(store_open_at_version(other, 0, &err));
	assert_string_equal(err, want);
	free(err);
	free(want);

	/* A parent that is a file. */
	char *file = xasprintf("%s/plain", f->dir);
	write_file(file, "x", 1);
	char *below = xasprintf("%s/plain/sub/hearth.db", f->dir);
	want = xasprintf("store: creating directory %s/plain/sub: Not a directory", f->dir);
	assert_null(store_open(below, &err));
	assert_string_equal(err, want);
	free(err);
	free(want);
	free(below);
	free(file);
	free(other);

	/* A database version past what open_at_version was asked for. */
	want = xasprintf("store: %s has schema version 2, past the 1 asked for; "
			 "not opening it", f->path);
	assert_null(store_open_at_version(f->path, 1, &err));
	assert_string_equal(err, want);
	free(err);
	free(want);
}

static void
test_open_refuses_newer_schema(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/newer.db", f->dir);
	sql_exec(path, "CREATE TABLE future (x); INSERT INTO future VALUES (42);"
		 "PRAGMA user_version = 99;");
	size_t before_len, after_len;
	char *before = read_file(path, &before_len);
	assert_non_null(before);

	char *err = NULL;
	assert_null(store_open(path, &err));
	char *want = xasprintf("store: %s has schema version 99, newer than the 2 this hearth "
			       "knows; not opening it", path);
	assert_string_equal(err, want);

	/* Untouched: same bytes, same version, still not WAL. */
	char *after = read_file(path, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 99);
	char *mode = sql_text(path, "PRAGMA journal_mode");
	assert_string_equal(mode, "delete");
	free(mode);
	free(want);
	free(err);
	free(before);
	free(after);
	free(path);
}

static void
test_open_refuses_garbage(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/garbage.db", f->dir);
	char junk[8192];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)("not a database! "[i % 16]);
	write_file(path, junk, sizeof junk);

	char *err = NULL;
	assert_null(store_open(path, &err));
	char *want = xasprintf("store: opening %s: file is not a database", path);
	assert_string_equal(err, want);
	free(err);
	size_t len;
	char *after = read_file(path, &len);
	assert_int_equal(len, sizeof junk);
	assert_memory_equal(after, junk, sizeof junk);
	free(after);

	/* Truncated: a short file that is not a database either. */
	write_file(path, "SQLite format", 13);
	assert_null(store_open(path, &err));
	assert_string_equal(err, want);
	free(err);
	free(want);
	free(path);
}

/* -------------------------------------------------------------- migration -- */

static void
test_migration_v1_to_v2(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/v1/hearth.db", f->dir);
	char *err = NULL;
	struct store *st = store_open_at_version(path, 1, &err);
	assert_non_null(st);
	assert_int_equal(store_schema_version(st), 1);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 1);
	assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'kv'"),
			 0);

	char *sid, *m1, *m2;
	assert_int_equal(store_session_create(st, "/old", "old session", "a/b", &sid), 0);
	assert_int_equal(store_session_set_status(st, sid, STORE_RUNNING), 0);
	assert_int_equal(store_message_add(st, sid, "user", NULL, &m1), 0);
	assert_int_equal(store_message_add(st, sid, "assistant", "a/b", &m2), 0);
	json_t *p1 = parse("{\"type\": \"text\", \"text\": \"hi\"}");
	json_t *p2 = parse("{\"type\": \"tool_call\", \"id\": \"c1\", \"name\": \"read\","
			   " \"input\": {\"path\": \"x\"}}");
	assert_int_equal(store_part_add(st, m1, p1), 0);
	assert_int_equal(store_part_add(st, m2, p2), 0);
	assert_int_equal(store_event_append(st, sid, "a", p1), 1);
	assert_int_equal(store_event_append(st, sid, "b", p2), 2);
	/* What v2 adds is not there yet: SQLite's error, with the operation named. */
	assert_int_equal(store_kv_put(st, "mod", "k", "v", 1), HEARTH_EIO);
	assert_string_equal(store_errmsg(st), "store: writing key k of mod: no such table: kv");
	json_t *history_v1 = store_history(st, sid);
	assert_non_null(history_v1);
	store_close(st);

	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(store_schema_version(st), 2);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 2);

	/* Everything is still there. */
	struct store_session s;
	assert_int_equal(store_session_get(st, sid, &s), 0);
	assert_string_equal(s.title, "old session");
	assert_string_equal(s.cwd, "/old");
	assert_string_equal(s.model, "a/b");
	assert_int_equal(s.status, STORE_RUNNING);
	assert_int_equal(s.last_seq, 2);
	assert_int_equal(s.message_count, 2);
	store_session_clear(&s);
	json_t *history_v2 = store_history(st, sid);
	assert_true(json_equal(history_v1, history_v2));
	struct seen seen = { 0 };
	assert_int_equal(store_events_since(st, sid, 0, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_true(json_equal(seen.payloads[0], p1));
	assert_true(json_equal(seen.payloads[1], p2));
	seen_clear(&seen);

	/* And what v2 adds works. */
	struct store_usage u;
	assert_int_equal(store_session_usage(st, sid, &u), 0);
	assert_int_equal(u.tokens.input_tokens, 0);
	struct hearth_usage usage = { .input_tokens = 10, .output_tokens = 5 };
	assert_int_equal(store_message_finish(st, m2, HEARTH_FINISH_TOOL_USE, &usage, 300), 0);
	assert_int_equal(store_session_usage(st, sid, &u), 0);
	assert_int_equal(u.tokens.input_tokens, 10);
	assert_int_equal(u.tokens.output_tokens, 5);
	assert_int_equal(u.cost_micros, 300);
	assert_int_equal(store_kv_put(st, "mod", "k", "v", 1), 0);
	char *v;
	size_t len;
	assert_int_equal(store_kv_get(st, "mod", "k", &v, &len), 0);
	assert_int_equal(len, 1);
	assert_string_equal(v, "v");
	free(v);
	assert_int_equal(store_permission_put(st, "/old", "shell", "ls", "allow"), 0);
	assert_int_equal(store_event_append(st, sid, "c", NULL), 3);
	store_close(st);
	assert_integrity(path);

	json_decref(history_v1);
	json_decref(history_v2);
	json_decref(p1);
	json_decref(p2);
	free(sid);
	free(m1);
	free(m2);
	free(path);
}

static void
test_migration_failure_rolls_back(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/clash.db", f->dir);
	struct store *st = store_open_at_version(path, 1, NULL);
	assert_non_null(st);
	char *sid;
	assert_int_equal(store_session_create(st, "/p", NULL, NULL, &sid), 0);
	store_close(st);
	/* Something in the way of migration 2. */
	sql_exec(path, "CREATE TABLE kv (x)");

	char *err = NULL;
	assert_null(store_open(path, &err));
	char *want = xasprintf("store: migrating %s to schema version 2: table kv already "
			       "exists", path);
	assert_string_equal(err, want);
	free(want);
	free(err);
	/* Nothing of migration 2 stayed: its first steps were rolled back with it. */
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 1);
	assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM pragma_table_info('messages')"
				 " WHERE name = 'input_tokens'"), 0);
	assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM sessions"), 1);

	sql_exec(path, "DROP TABLE kv");
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(store_schema_version(st), 2);
	struct store_session s;
	assert_int_equal(store_session_get(st, sid, &s), 0);
	store_session_clear(&s);
	store_close(st);
	assert_integrity(path);
	free(sid);
	free(path);
}

/* --------------------------------------------------------------- events -- */

static void
test_seq_per_session(void **state)
{
	struct fixture *f = *state;
	char *other;
	assert_int_equal(store_session_create(f->st, "/proj", NULL, NULL, &other), 0);
	assert_int_equal(store_event_append(f->st, f->sid, "t", NULL), 1);
	assert_int_equal(store_event_append(f->st, other, "t", NULL), 1);
	assert_int_equal(store_event_append(f->st, f->sid, "t", NULL), 2);
	assert_int_equal(store_event_append(f->st, f->sid, "t", NULL), 3);
	assert_int_equal(store_event_append(f->st, other, "t", NULL), 2);

	/* Across a reopen. */
	store_close(f->st);
	char *err = NULL;
	f->st = store_open(f->path, &err);
	assert_non_null(f->st);
	assert_int_equal(store_event_append(f->st, f->sid, "t", NULL), 4);
	assert_int_equal(store_event_append(f->st, other, "t", NULL), 3);
	struct store_session s;
	assert_int_equal(store_session_get(f->st, f->sid, &s), 0);
	assert_int_equal(s.last_seq, 4);
	store_session_clear(&s);

	/* Unknown session, bad arguments. */
	assert_int_equal(store_event_append(f->st, "ses_nope", "t", NULL), HEARTH_ENOENT);
	assert_string_equal(store_errmsg(f->st),
			    "store: appending event to session ses_nope: no such session");
	assert_int_equal(store_event_append(f->st, f->sid, "", NULL), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st),
			    "store: appending event to session: event type is empty");
	assert_int_equal(store_event_append(f->st, NULL, "t", NULL), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st),
			    "store: appending event to session: session id is missing");
	char *huge = xmalloc(STORE_STRING_MAX + 2);
	memset(huge, 'x', STORE_STRING_MAX + 1);
	huge[STORE_STRING_MAX + 1] = '\0';
	assert_int_equal(store_event_append(f->st, f->sid, huge, NULL), HEARTH_ELIMIT);
	assert_string_equal(store_errmsg(f->st), "store: appending event to session: event "
			    "type is longer than 65536 bytes");
	free(huge);
	/* None of the failures used a number. */
	assert_int_equal(store_event_append(f->st, f->sid, "t", NULL), 5);
	free(other);
}

static void
test_events_since(void **state)
{
	struct fixture *f = *state;
	const char *payloads[] = {
		"{\"n\": 1}", "[1, 2.5, \"three\"]", "\"just a string\"",
		"{\"nested\": {\"deep\": [true, false, null]}, \"u\": \"caf\\u00e9 \\u0000 x\"}",
		"null",
	};
	for (size_t i = 0; i < 5; i++) {
		json_t *p = parse(payloads[i]);
		char type[16];
		snprintf(type, sizeof type, "type%zu", i + 1);
		assert_int_equal(store_event_append(f->st, f->sid, type, i == 4 ? NULL : p),
				 (int64_t)i + 1);
		json_decref(p);
	}

	struct seen seen = { 0 };
	assert_int_equal(store_events_since(f->st, f->sid, 0, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 5);
	for (size_t i = 0; i < 5; i++) {
		json_t *want = parse(payloads[i]);
		char type[16];
		snprintf(type, sizeof type, "type%zu", i + 1);
		assert_int_equal(seen.seqs[i], (int64_t)i + 1);
		assert_string_equal(seen.types[i], type);
		assert_true(json_equal(seen.payloads[i], want));
		json_decref(want);
	}
	seen_clear(&seen);

	assert_int_equal(store_events_since(f->st, f->sid, 2, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.seqs[0], 3);
	assert_int_equal(seen.seqs[1], 4);
	assert_int_equal(seen.seqs[2], 5);
	seen_clear(&seen);

	assert_int_equal(store_events_since(f->st, f->sid, 5, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(store_events_since(f->st, f->sid, 99, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(store_events_since(f->st, f->sid, -5, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 5);
	seen_clear(&seen);

	/* The callback stops the walk. */
	seen.stop_after = 2;
	assert_int_equal(store_events_since(f->st, f->sid, 0, seen_cb, &seen), 7);
	assert_int_equal(seen.n, 2);
	seen_clear(&seen);

	assert_int_equal(store_events_since(f->st, "ses_nope", 0, seen_cb, &seen),
			 HEARTH_ENOENT);
	assert_string_equal(store_errmsg(f->st),
			    "store: reading events of session ses_nope: no such session");
	assert_int_equal(seen.n, 0);

	/* An empty session has nothing to replay. */
	char *other;
	assert_int_equal(store_session_create(f->st, "/p", NULL, NULL, &other), 0);
	assert_int_equal(store_events_since(f->st, other, 0, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 0);
	free(other);
}

static void
test_event_payload_corrupt_or_oversized(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_event_append(f->st, f->sid, "ok", NULL), 1);
	assert_int_equal(store_event_append(f->st, f->sid, "bad", NULL), 2);

	/* Over the limit: refused before it reaches the database. */
	char *big = xmalloc(STORE_VALUE_MAX + 1);
	memset(big, 'a', STORE_VALUE_MAX);
	big[STORE_VALUE_MAX] = '\0';
	json_t *p = json_string(big);
	free(big);
	assert_int_equal(store_event_append(f->st, f->sid, "big", p), HEARTH_ELIMIT);
	char *want = xasprintf("store: appending event to session %s: the payload is %d "
			       "bytes, over %d", f->sid, STORE_VALUE_MAX + 2, STORE_VALUE_MAX);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	json_decref(p);

	/* A payload damaged on disk is reported, not passed on. */
	char *sql = xasprintf("UPDATE events SET payload = '{\"trunc' WHERE session_id = '%s'"
			      " AND seq = 2", f->sid);
	sql_exec(f->path, sql);
	free(sql);
	struct seen seen = { 0 };
	assert_int_equal(store_events_since(f->st, f->sid, 0, seen_cb, &seen), HEARTH_EIO);
	assert_int_equal(seen.n, 1);
	want = xasprintf("store: reading events of session %s: event 2 has a corrupt payload: ",
			 f->sid);
	assert_memory_equal(store_errmsg(f->st), want, strlen(want));
	free(want);
	seen_clear(&seen);
	/* Repair it, so the integrity check of the teardown sees a sane database. */
	sql = xasprintf("UPDATE events SET payload = 'null' WHERE session_id = '%s'", f->sid);
	sql_exec(f->path, sql);
	free(sql);
}

/* ---------------------------------------------------------- transactions -- */

static void
test_transaction_rollback(void **state)
{
	struct fixture *f = *state;
	char *mid;
	assert_int_equal(store_message_add(f->st, f->sid, "assistant", NULL, &mid), 0);
	json_t *part = parse("{\"type\": \"text\", \"text\": \"draft\"}");

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_in_transaction(f->st), 1);
	assert_int_equal(store_begin(f->st), HEARTH_EBUSY);
	assert_string_equal(store_errmsg(f->st),
			    "store: beginning a transaction: one is already open");
	assert_int_equal(store_in_transaction(f->st), 1);
	assert_int_equal(store_part_add(f->st, mid, part), 0);
	assert_int_equal(store_event_append(f->st, f->sid, "part", part), 1);
	assert_int_equal(store_event_append(f->st, f->sid, "part", part), 2);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_in_transaction(f->st), 0);

	/* Nothing of it remains, and the numbers are handed out again. */
	struct store_session s;
	assert_int_equal(store_session_get(f->st, f->sid, &s), 0);
	assert_int_equal(s.last_seq, 0);
	store_session_clear(&s);
	char *sql = xasprintf("SELECT COUNT(*) FROM events WHERE session_id = '%s'", f->sid);
	assert_int_equal(sql_int(f->path, sql), 0);
	free(sql);
	json_t *h = store_history(f->st, f->sid);
	json_t *want = parse("[{\"role\": \"assistant\", \"parts\": []}]");
	assert_true(json_equal(h, want));
	json_decref(h);
	json_decref(want);
	assert_int_equal(store_event_append(f->st, f->sid, "part", part), 1);

	/* Ending what is not open. */
	assert_int_equal(store_commit(f->st), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st), "store: committing: no transaction is open");
	assert_int_equal(store_rollback(f->st), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st), "store: rolling back: no transaction is open");

	json_decref(part);
	free(mid);
}

static void
test_transaction_commit_survives_failed_step(void **state)
{
	struct fixture *f = *state;
	char *mid;
	assert_int_equal(store_message_add(f->st, f->sid, "assistant", NULL, &mid), 0);
	json_t *good = parse("{\"type\": \"text\", \"text\": \"a\"}");
	json_t *bad = parse("{\"type\": \"text\"}");

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_event_append(f->st, f->sid, "e", NULL), 1);
	/* Failures inside the transaction undo only themselves. */
	assert_int_equal(store_event_append(f->st, "ses_nope", "e", NULL), HEARTH_ENOENT);
	assert_int_equal(store_part_add(f->st, mid, bad), HEARTH_EINVAL);
	assert_int_equal(store_part_add(f->st, "msg_nope", good), HEARTH_ENOENT);
	assert_int_equal(store_part_append_text(f->st, mid, 3, "x", 1), HEARTH_ENOENT);
	assert_int_equal(store_in_transaction(f->st), 1);
	assert_int_equal(store_part_add(f->st, mid, good), 0);
	assert_int_equal(store_event_append(f->st, f->sid, "e", NULL), 2);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_in_transaction(f->st), 0);

	struct seen seen = { 0 };
	assert_int_equal(store_events_since(f->st, f->sid, 0, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.seqs[0], 1);
	assert_int_equal(seen.seqs[1], 2);
	seen_clear(&seen);
	json_t *h = store_history(f->st, f->sid);
	assert_int_equal(json_array_size(json_object_get(json_array_get(h, 0), "parts")), 1);
	json_decref(h);

	/* A committed transaction is visible to another connection. */
	char *sql = xasprintf("SELECT last_seq FROM sessions WHERE id = '%s'", f->sid);
	assert_int_equal(sql_int(f->path, sql), 2);
	free(sql);
	json_decref(good);
	json_decref(bad);
	free(mid);
}

static void
test_transaction_aborted_by_sqlite(void **state)
{
	struct fixture *f = *state;
	/* A trigger that makes SQLite roll back the whole transaction, as a full disk
	 * or an I/O error would. */
	sql_exec(f->path, "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.type = 'boom'"
		 " BEGIN SELECT RAISE(ROLLBACK, 'boom'); END");

	for (int end_with_commit = 0; end_with_commit < 2; end_with_commit++) {
		assert_int_equal(store_begin(f->st), 0);
		assert_int_equal(store_event_append(f->st, f->sid, "ok", NULL), 1);
		assert_int_equal(store_event_append(f->st, f->sid, "boom", NULL), HEARTH_EINVAL);
		char *want = xasprintf("store: appending event to session %s: boom", f->sid);
		assert_string_equal(store_errmsg(f->st), want);
		free(want);
		assert_int_equal(store_in_transaction(f->st), 0);

		/* Later writes must not commit on their own as if nothing happened. */
		assert_int_equal(store_event_append(f->st, f->sid, "after", NULL), HEARTH_EIO);
		want = xasprintf("store: the transaction was rolled back after an earlier error "
				 "(appending event to session %s: boom); end it with "
				 "store_rollback()", f->sid);
		assert_string_equal(store_errmsg(f->st), want);
		free(want);
		assert_int_equal(store_kv_put(f->st, "m", "k", "v", 1), HEARTH_EIO);
		assert_int_equal(store_begin(f->st), HEARTH_EBUSY);

		if (end_with_commit) {
			assert_int_equal(store_commit(f->st), HEARTH_EINVAL);
			want = xasprintf("store: committing: the transaction was rolled back after "
					 "an earlier error (appending event to session %s: boom)",
					 f->sid);
			assert_string_equal(store_errmsg(f->st), want);
			free(want);
		} else {
			assert_int_equal(store_rollback(f->st), 0);
		}
		/* Nothing was kept, and the store is usable again. */
		struct store_session s;
		assert_int_equal(store_session_get(f->st, f->sid, &s), 0);
		assert_int_equal(s.last_seq, 0);
		store_session_clear(&s);
		char *v;
		assert_int_equal(store_kv_get(f->st, "m", "k", &v, NULL), HEARTH_ENOENT);
		assert_int_equal(store_commit(f->st), HEARTH_EINVAL);
	}
	assert_int_equal(store_event_append(f->st, f->sid, "ok", NULL), 1);
	/* Outside a transaction the same failure costs only itself. */
	assert_int_equal(store_event_append(f->st, f->sid, "boom", NULL), HEARTH_EINVAL);
	assert_int_equal(store_event_append(f->st, f->sid, "ok", NULL), 2);
	sql_exec(f->path, "DROP TRIGGER boom");
}

/* --------------------------------------------------------------- history -- */

static void
test_history_round_trip(void **state)
{
	struct fixture *f = *state;
	const char *expected_text =
		"["
		"{\"role\": \"user\", \"parts\": ["
		"  {\"type\": \"text\", \"text\": \"Read main.c, please. \\u00e9\\u4e2d\\ud83d\\ude00\"},"
		"  {\"type\": \"image\", \"mime\": \"image/png\", \"data\": \"iVBORw0KGgo=\"},"
		"  {\"type\": \"file\", \"mime\": \"text/plain\", \"name\": \"a.txt\","
		"   \"data\": \"aGVsbG8=\"}]},"
		"{\"role\": \"assistant\", \"parts\": ["
		"  {\"type\": \"reasoning\", \"text\": \"The user wants...\","
		"   \"meta\": {\"provider\": \"anthropic\", \"signature\": \"EqQBCgIYAhIM\"}},"
		"  {\"type\": \"text\", \"text\": \"Reading it.\", \"meta\": {\"provider\": \"x\"}},"
		"  {\"type\": \"tool_call\", \"id\": \"call_1\", \"name\": \"read\","
		"   \"input\": {\"path\": \"main.c\", \"range\": [1, 200], \"opts\": {\"raw\": true,"
		"   \"ratio\": 0.25, \"none\": null, \"big\": 9007199254740993}},"
		"   \"meta\": {\"provider\": \"gemini\", \"thoughtSignature\": \"abc\"}}]},"
		"{\"role\": \"tool\", \"parts\": ["
		"  {\"type\": \"tool_result\", \"id\": \"call_1\", \"name\": \"read\","
		"   \"content\": \"int main(void)\\n{\\n\\treturn 0;\\n}\\n\\u0000tail\","
		"   \"is_error\": false}]},"
		"{\"role\": \"assistant\", \"parts\": ["
		"  {\"type\": \"diff\", \"path\": \"main.c\", \"diff\": \"--- a\\n+++ b\\n\"},"
		"  {\"type\": \"text\", \"text\": \"\"}]},"
		"{\"role\": \"user\", \"parts\": []}"
		"]";
	json_t *expected = parse(expected_text);
	size_t i;
	json_t *msg;
	json_array_foreach(expected, i, msg) {
		char *mid;
		const char *role = json_string_value(json_object_get(msg, "role"));
		assert_int_equal(store_message_add(f->st, f->sid, role, "m/x", &mid), 0);
		size_t j;
		json_t *part;
		json_array_foreach(json_object_get(msg, "parts"), j, part)
			assert_int_equal(store_part_add(f->st, mid, part), (int)j);
		free(mid);
	}
	json_t *h = store_history(f->st, f->sid);
	assert_non_null(h);
	if (!json_equal(h, expected)) {
		char *got = json_dumps(h, JSON_INDENT(1));
		fail_msg("history differs:\n%s", got);
	}
	json_decref(h);

	/* The same after a reopen. */
	store_close(f->st);
	f->st = store_open(f->path, NULL);
	assert_non_null(f->st);
	h = store_history(f->st, f->sid);
	assert_true(json_equal(h, expected));
	json_decref(h);

	struct store_session s;
	assert_int_equal(store_session_get(f->st, f->sid, &s), 0);
	assert_int_equal(s.message_count, 5);
	store_session_clear(&s);

	assert_null(store_history(f->st, "ses_nope"));
	assert_string_equal(store_errmsg(f->st),
			    "store: reading the history of session ses_nope: no such session");
	assert_null(store_history(f->st, ""));
	assert_string_equal(store_errmsg(f->st),
			    "store: reading the history of session: session id is empty");
	json_decref(expected);
}

static void
test_history_empty_and_corrupt(void **state)
{
	struct fixture *f = *state;
	json_t *h = store_history(f->st, f->sid);
	assert_non_null(h);
	assert_true(json_is_array(h));
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);

	char *mid;
	assert_int_equal(store_message_add(f->st, f->sid, "user", NULL, &mid), 0);
	json_t *p = parse("{\"type\": \"text\", \"text\": \"x\"}");
	assert_int_equal(store_part_add(f->st, mid, p), 0);
	json_decref(p);
	char *sql = xasprintf("UPDATE parts SET data = '{\"type\": \"te' WHERE message_id = "
			      "'%s'", mid);
	sql_exec(f->path, sql);
	free(sql);
	assert_null(store_history(f->st, f->sid));
	char *want = xasprintf("store: reading the history of session %s: part 0 of message "
			       "%s is corrupt: ", f->sid, mid);
	assert_memory_equal(store_errmsg(f->st), want, strlen(want));
	free(want);
	free(mid);
}

static void
test_append_text(void **state)
{
	struct fixture *f = *state;
	char *mid;
	assert_int_equal(store_message_add(f->st, f->sid, "assistant", NULL, &mid), 0);
	json_t *reasoning = parse("{\"type\": \"reasoning\", \"text\": \"\"}");
	json_t *text = parse("{\"type\": \"text\", \"text\": \"\", \"meta\": {\"k\": 1}}");
	json_t *call = parse("{\"type\": \"tool_call\", \"id\": \"c\", \"name\": \"n\","
			     " \"input\": {}}");
	assert_int_equal(store_part_add(f->st, mid, reasoning), 0);
	assert_int_equal(store_part_add(f->st, mid, text), 1);
	assert_int_equal(store_part_add(f->st, mid, call), 2);

	assert_int_equal(store_part_append_text(f->st, mid, 0, "Thinking", 8), 0);
	assert_int_equal(store_part_append_text(f->st, mid, 0, " hard.xx", 6), 0);
	assert_int_equal(store_part_append_text(f->st, mid, 1, "Hel", 3), 0);
	assert_int_equal(store_part_append_text(f->st, mid, 1, "lo", 2), 0);
	assert_int_equal(store_part_append_text(f->st, mid, 1, "", 0), 0);
	assert_int_equal(store_part_append_text(f->st, mid, 1, NULL, 0), 0);
	assert_int_equal(store_part_append_text(f->st, mid, 1, " w\xc3\xb6rld", 7), 0);
	assert_int_equal(store_part_append_text(f->st, mid, 1, "\0!", 2), 0);

	/* Refused: not UTF-8 (a character cut in half too), no text, no such part. */
	assert_int_equal(store_part_append_text(f->st, mid, 1, "\xff", 1), HEARTH_EINVAL);
	char *want = xasprintf("store: appending text to message %s part 1: the text is not "
			       "valid UTF-8", mid);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	assert_int_equal(store_part_append_text(f->st, mid, 1, "\xc3", 1), HEARTH_EINVAL);
	assert_int_equal(store_part_append_text(f->st, mid, 2, "x", 1), HEARTH_EINVAL);
	want = xasprintf("store: appending text to message %s: part 2 (tool_call) has no text",
			 mid);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	assert_int_equal(store_part_append_text(f->st, mid, 3, "x", 1), HEARTH_ENOENT);
	want = xasprintf("store: appending text to message %s: no part 3", mid);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	assert_int_equal(store_part_append_text(f->st, mid, -1, "x", 1), HEARTH_ENOENT);
	assert_int_equal(store_part_append_text(f->st, "msg_nope", 0, "x", 1), HEARTH_ENOENT);
	assert_int_equal(store_part_append_text(f->st, mid, 1, NULL, 3), HEARTH_EINVAL);
	/* Over the limit: by the delta alone, and by the text it would make. */
	char *big = xmalloc((size_t)STORE_VALUE_MAX + 1);
	memset(big, 'b', (size_t)STORE_VALUE_MAX + 1);
	assert_int_equal(store_part_append_text(f->st, mid, 1, big, (size_t)STORE_VALUE_MAX + 1),
			 HEARTH_ELIMIT);
	assert_int_equal(store_part_append_text(f->st, mid, 1, big, (size_t)STORE_VALUE_MAX - 5),
			 HEARTH_ELIMIT);
	want = xasprintf("store: appending text to message %s part 1: the text would be %d "
			 "bytes, over %d", mid, STORE_VALUE_MAX - 5 + 14, STORE_VALUE_MAX);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	free(big);

	json_t *h = store_history(f->st, f->sid);
	json_t *expected = json_pack("[{s:s, s:[{s:s, s:s}, {s:s, s:s%, s:{s:i}}, O]}]",
				     "role", "assistant", "parts",
				     "type", "reasoning", "text", "Thinking hard.",
				     "type", "text", "text", "Hello w\xc3\xb6rld\0!", (size_t)14,
				     "meta", "k", 1, call);
	assert_non_null(expected);
	assert_true(json_equal(h, expected));
	json_decref(h);
	json_decref(expected);
	json_decref(reasoning);
	json_decref(text);
	json_decref(call);
	free(mid);
}

static void
test_malformed_parts(void **state)
{
	struct fixture *f = *state;
	char *mid;
	assert_int_equal(store_message_add(f->st, f->sid, "assistant", NULL, &mid), 0);
	static const struct {
		const char *json;
		const char *why;
	} cases[] = {
		{ "[\"text\", \"hi\"]", "a part must be a JSON object, not an array" },
		{ "\"text\"", "a part must be a JSON object, not a string" },
		{ "42", "a part must be a JSON object, not a number" },
		{ "{\"text\": \"hi\"}", "a part needs a string \"type\"" },
		{ "{\"type\": 3, \"text\": \"hi\"}", "a part needs a string \"type\"" },
		{ "{\"type\": \"video\", \"data\": \"x\"}",
		  "unknown part type \"video\" (text, reasoning, tool_call, tool_result, image, "
		  "file, diff)" },
		{ "{\"type\": \"text\"}", "a text part needs a string \"text\"" },
		{ "{\"type\": \"text\", \"text\": 5}",
		  "the \"text\" of a text part must be a string, not a number" },
		{ "{\"type\": \"text\", \"text\": \"a\", \"meta\": \"sig\"}",
		  "the \"meta\" of a text part must be an object, not a string" },
		{ "{\"type\": \"reasoning\", \"meta\": {}}",
		  "a reasoning part needs a string \"text\"" },
		{ "{\"type\": \"tool_call\", \"name\": \"read\", \"input\": {}}",
		  "a tool_call part needs a non-empty string \"id\"" },
		{ "{\"type\": \"tool_call\", \"id\": \"\", \"name\": \"read\", \"input\": {}}",
		  "the \"id\" of a tool_call part is empty" },
		{ "{\"type\": \"tool_call\", \"id\": \"c\", \"input\": {}}",
		  "a tool_call part needs a non-empty string \"name\"" },
		{ "{\"type\": \"tool_call\", \"id\": \"c\", \"name\": \"read\"}",
		  "a tool_call part needs an object \"input\"" },
		{ "{\"type\": \"tool_call\", \"id\": \"c\", \"name\": \"n\", \"input\": \"{}\"}",
		  "the \"input\" of a tool_call part must be an object, not a string" },
		{ "{\"type\": \"tool_result\", \"content\": \"x\"}",
		  "a tool_result part needs a non-empty string \"id\"" },
		{ "{\"type\": \"tool_result\", \"id\": \"c\"}",
		  "a tool_result part needs a string \"content\"" },
		{ "{\"type\": \"tool_result\", \"id\": \"c\", \"content\": \"x\", \"is_error\": 1}",
		  "the \"is_error\" of a tool_result part must be a boolean, not a number" },
		{ "{\"type\": \"image\", \"mime\": \"image/png\"}",
		  "a image part needs a string \"data\"" },
		{ "{\"type\": \"file\", \"data\": \"x\"}", "a file part needs a string \"mime\"" },
		{ "{\"type\": \"diff\", \"path\": \"a\"}", "a diff part needs a string \"diff\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *p = parse(cases[i].json);
		assert_int_equal(store_part_add(f->st, mid, p), HEARTH_EINVAL);
		char *want = xasprintf("store: adding part to message %s: %s", mid, cases[i].why);
		assert_string_equal(store_errmsg(f->st), want);
		free(want);
		json_decref(p);
	}
	assert_int_equal(store_part_add(f->st, mid, NULL), HEARTH_EINVAL);
	char *want = xasprintf("store: adding part to message %s: the part is missing", mid);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);

	/* Oversized. */
	char *big = xmalloc(STORE_VALUE_MAX + 1);
	memset(big, 'a', STORE_VALUE_MAX);
	big[STORE_VALUE_MAX] = '\0';
	json_t *p = json_pack("{s:s, s:s}", "type", "text", "text", big);
	free(big);
	assert_int_equal(store_part_add(f->st, mid, p), HEARTH_ELIMIT);
	want = xasprintf("store: adding part to message %s: the part is %d bytes, over %d",
			 mid, STORE_VALUE_MAX + 25, STORE_VALUE_MAX);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	json_decref(p);

	/* An unknown message. */
	p = parse("{\"type\": \"text\", \"text\": \"hi\"}");
	assert_int_equal(store_part_add(f->st, "msg_nope", p), HEARTH_ENOENT);
	assert_string_equal(store_errmsg(f->st),
			    "store: adding part to message msg_nope: no such message");
	json_decref(p);

	/* None of them was stored. */
	json_t *h = store_history(f->st, f->sid);
	json_t *expected = parse("[{\"role\": \"assistant\", \"parts\": []}]");
	assert_true(json_equal(h, expected));
	json_decref(h);
	json_decref(expected);
	free(mid);
}

static void
test_messages(void **state)
{
	struct fixture *f = *state;
	char *m0, *m1, *bad;
	assert_int_equal(store_message_add(f->st, f->sid, "user", NULL, &m0), 0);
	assert_int_equal(store_message_add(f->st, f->sid, "assistant", "p/m", &m1), 0);
	assert_int_equal(strncmp(m0, "msg_", 4), 0);
	assert_int_equal(strlen(m0), 30);
	assert_string_not_equal(m0, m1);

	assert_int_equal(store_message_add(f->st, f->sid, "system", NULL, &bad), HEARTH_EINVAL);
	assert_null(bad);
	char *want = xasprintf("store: adding message to session %s: unknown role \"system\" "
			       "(user, assistant or tool)", f->sid);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	assert_int_equal(store_message_add(f->st, "ses_nope", "user", NULL, &bad), HEARTH_ENOENT);
	assert_null(bad);
	assert_string_equal(store_errmsg(f->st),
			    "store: adding message to session ses_nope: no such session");

	struct store_message m;
	assert_int_equal(store_message_get(f->st, m1, &m), 0);
	assert_string_equal(m.id, m1);
	assert_string_equal(m.session_id, f->sid);
	assert_int_equal(m.idx, 1);
	assert_string_equal(m.role, "assistant");
	assert_string_equal(m.model, "p/m");
	assert_null(m.finish);
	store_message_clear(&m);

	/* Finish with usage; the session's totals follow, also when it is redone. */
	struct hearth_usage u1 = { 100, 20, 5, 1000, 50 };
	assert_int_equal(store_message_finish(f->st, m1, HEARTH_FINISH_END_TURN, &u1, 1234), 0);
	assert_int_equal(store_message_get(f->st, m1, &m), 0);
	assert_string_equal(m.finish, "end_turn");
	assert_int_equal(m.usage.input_tokens, 100);
	assert_int_equal(m.usage.output_tokens, 20);
	assert_int_equal(m.usage.reasoning_tokens, 5);
	assert_int_equal(m.usage.cache_read_tokens, 1000);
	assert_int_equal(m.usage.cache_write_tokens, 50);
	assert_int_equal(m.cost_micros, 1234);
	store_message_clear(&m);
	assert_int_equal(store_message_finish(f->st, m0, HEARTH_FINISH_CANCELLED, NULL, 0), 0);
	struct hearth_usage u2 = { 7, 3, 0, 0, 0 };
	char *m2;
	assert_int_equal(store_message_add(f->st, f->sid, "assistant", NULL, &m2), 0);
	assert_int_equal(store_message_finish(f->st, m2, HEARTH_FINISH_MAX_TOKENS, &u2, 10), 0);
	struct store_usage total;
	assert_int_equal(store_session_usage(f->st, f->sid, &total), 0);
	assert_int_equal(total.tokens.input_tokens, 107);
	assert_int_equal(total.tokens.output_tokens, 23);
	assert_int_equal(total.tokens.reasoning_tokens, 5);
	assert_int_equal(total.tokens.cache_read_tokens, 1000);
	assert_int_equal(total.tokens.cache_write_tokens, 50);
	assert_int_equal(total.cost_micros, 1244);
	struct hearth_usage u3 = { 8, 4, 0, 0, 0 };
	assert_int_equal(store_message_finish(f->st, m2, HEARTH_FINISH_END_TURN, &u3, 11), 0);
	assert_int_equal(store_session_usage(f->st, f->sid, &total), 0);
	assert_int_equal(total.tokens.input_tokens, 108);
	assert_int_equal(total.tokens.output_tokens, 24);
	assert_int_equal(total.cost_micros, 1245);

	assert_int_equal(store_message_finish(f->st, m2, (enum hearth_finish)0, NULL, 0),
			 HEARTH_EINVAL);
	assert_int_equal(store_message_finish(f->st, m2, (enum hearth_finish)99, NULL, 0),
			 HEARTH_EINVAL);
	want = xasprintf("store: finishing message %s: no finish reason 99", m2);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	assert_int_equal(store_message_finish(f->st, "msg_nope", HEARTH_FINISH_END_TURN, NULL,
					      0), HEARTH_ENOENT);
	assert_string_equal(store_errmsg(f->st), "store: finishing message msg_nope: no such "
			    "message");
	assert_int_equal(store_message_get(f->st, "msg_nope", &m), HEARTH_ENOENT);
	assert_null(m.id);
	assert_int_equal(store_session_usage(f->st, "ses_nope", &total), HEARTH_ENOENT);

	assert_string_equal(store_finish_name(HEARTH_FINISH_TOOL_USE), "tool_use");
	assert_string_equal(store_finish_name(HEARTH_FINISH_STOP_SEQUENCE), "stop_sequence");
	assert_null(store_finish_name((enum hearth_finish)0));
	assert_null(store_finish_name((enum hearth_finish)9));
	free(m0);
	free(m1);
	free(m2);
}

/* -------------------------------------------------------------- sessions -- */

static void
test_sessions_list_and_update(void **state)
{
	struct fixture *f = *state;
	store_set_clock(f->st, fake_clock_cb, NULL);
	char *a, *b, *c, *d;
	fake_now = 1000;
	assert_int_equal(store_session_create(f->st, "/a", "A", NULL, &a), 0);
	fake_now = 2000;
	assert_int_equal(store_session_create(f->st, "/b", NULL, "p/m", &b), 0);
	fake_now = 3000;
	assert_int_equal(store_session_create(f->st, "/a", "C", NULL, &c), 0);
	/* Same time as c: the newer one comes first. */
	assert_int_equal(store_session_create(f->st, "/a", "D", NULL, &d), 0);
	fake_now = 4000;
	assert_int_equal(store_session_set_title(f->st, a, "A2"), 0);
	fake_now = 5000;
	char *m;
	assert_int_equal(store_message_add(f->st, c, "user", NULL, &m), 0);
	free(m);
	assert_int_equal(store_message_add(f->st, c, "assistant", NULL, &m), 0);
	free(m);

	struct store_session *list;
	size_t n;
	assert_int_equal(store_session_list(f->st, "/a", 0, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].id, c);
	assert_int_equal(list[0].message_count, 2);
	assert_int_equal(list[0].updated_at, 5000);
	assert_int_equal(list[0].created_at, 3000);
	assert_string_equal(list[1].id, a);
	assert_string_equal(list[1].title, "A2");
	assert_int_equal(list[1].message_count, 0);
	assert_int_equal(list[1].updated_at, 4000);
	assert_string_equal(list[2].id, d);
	assert_string_equal(list[2].cwd, "/a");
	store_session_list_free(list, n);

	assert_int_equal(store_session_list(f->st, NULL, 0, &list, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(list[0].id, f->sid); /* created on the wall clock: the latest */
	assert_string_equal(list[1].id, c);
	assert_string_equal(list[2].id, a);
	assert_string_equal(list[3].id, d);
	assert_string_equal(list[4].id, b);
	assert_null(list[4].title);
	assert_string_equal(list[4].model, "p/m");
	assert_int_equal(list[4].status, STORE_IDLE);
	store_session_list_free(list, n);

	assert_int_equal(store_session_list(f->st, NULL, 2, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].id, c);
	store_session_list_free(list, n);

	assert_int_equal(store_session_list(f->st, "/nowhere", 0, &list, &n), 0);
	assert_int_equal(n, 0);
	assert_null(list);

	/* Updates: model, title to NULL, status; each moves the session up. */
	fake_now = 6000;
	assert_int_equal(store_session_set_model(f->st, b, "q/n"), 0);
	assert_int_equal(store_session_set_title(f->st, b, NULL), 0);
	assert_int_equal(store_session_set_status(f->st, b, STORE_WAITING), 0);
	struct store_session s;
	assert_int_equal(store_session_get(f->st, b, &s), 0);
	assert_string_equal(s.model, "q/n");
	assert_null(s.title);
	assert_int_equal(s.status, STORE_WAITING);
	assert_int_equal(s.updated_at, 6000);
	assert_int_equal(s.created_at, 2000);
	store_session_clear(&s);

	assert_int_equal(store_session_set_title(f->st, "ses_nope", "x"), HEARTH_ENOENT);
	assert_string_equal(store_errmsg(f->st),
			    "store: setting the title of session ses_nope: no such session");
	assert_int_equal(store_session_set_status(f->st, b, (enum store_status)17),
			 HEARTH_EINVAL);
	char *want = xasprintf("store: setting the status of session %s: no status 17", b);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	assert_int_equal(store_session_get(f->st, "ses_nope", &s), HEARTH_ENOENT);
	assert_null(s.id);
	assert_string_equal(store_errmsg(f->st), "store: reading session ses_nope: no such "
			    "session");
	char *id = (char *)"x";
	assert_int_equal(store_session_create(f->st, NULL, "t", NULL, &id), HEARTH_EINVAL);
	assert_null(id);
	assert_string_equal(store_errmsg(f->st), "store: creating session: cwd is missing");
	assert_int_equal(store_session_create(f->st, "", "t", NULL, &id), HEARTH_EINVAL);
	char *huge = xmalloc(STORE_STRING_MAX + 2);
	memset(huge, 't', STORE_STRING_MAX + 1);
	huge[STORE_STRING_MAX + 1] = '\0';
	assert_int_equal(store_session_create(f->st, "/a", huge, NULL, &id), HEARTH_ELIMIT);
	assert_string_equal(store_errmsg(f->st),
			    "store: creating session: title is longer than 65536 bytes");
	huge[STORE_STRING_MAX] = '\0'; /* at the limit exactly: fine */
	assert_int_equal(store_session_create(f->st, "/a", huge, NULL, &id), 0);
	assert_int_equal(strncmp(id, "ses_", 4), 0);
	assert_int_equal(strlen(id), 30);
	assert_int_equal(strspn(id + 4, "abcdefghijklmnopqrstuvwxyz234567"), 26);
	free(id);
	free(huge);

	free(a);
	free(b);
	free(c);
	free(d);
}

static void
test_mark_interrupted(void **state)
{
	struct fixture *f = *state;
	const enum store_status statuses[] = { STORE_RUNNING, STORE_WAITING, STORE_ERROR,
					       STORE_INTERRUPTED, STORE_RUNNING };
	char *ids[5];
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(store_session_create(f->st, "/p", NULL, NULL, &ids[i]), 0);
		assert_int_equal(store_session_set_status(f->st, ids[i], statuses[i]), 0);
	}
	assert_int_equal(store_mark_interrupted(f->st), 3);
	const enum store_status after[] = { STORE_INTERRUPTED, STORE_INTERRUPTED, STORE_ERROR,
					    STORE_INTERRUPTED, STORE_INTERRUPTED };
	for (size_t i = 0; i < 5; i++) {
		struct store_session s;
		assert_int_equal(store_session_get(f->st, ids[i], &s), 0);
		assert_int_equal(s.status, after[i]);
		store_session_clear(&s);
		free(ids[i]);
	}
	struct store_session s;
	assert_int_equal(store_session_get(f->st, f->sid, &s), 0);
	assert_int_equal(s.status, STORE_IDLE);
	store_session_clear(&s);
	assert_int_equal(store_mark_interrupted(f->st), 0);

	/* The names. */
	enum store_status st;
	assert_string_equal(store_status_name(STORE_WAITING), "waiting");
	assert_null(store_status_name((enum store_status)5));
	assert_int_equal(store_status_parse("interrupted", &st), 0);
	assert_int_equal(st, STORE_INTERRUPTED);
	assert_int_equal(store_status_parse("Idle", &st), HEARTH_EINVAL);
	assert_int_equal(store_status_parse(NULL, &st), HEARTH_EINVAL);
}

static void
test_delete_cascades(void **state)
{
	struct fixture *f = *state;
	char *other, *m1, *m2;
	assert_int_equal(store_session_create(f->st, "/p", NULL, NULL, &other), 0);
	json_t *p = parse("{\"type\": \"text\", \"text\": \"x\"}");
	assert_int_equal(store_message_add(f->st, f->sid, "user", NULL, &m1), 0);
	assert_int_equal(store_message_add(f->st, other, "user", NULL, &m2), 0);
	assert_int_equal(store_part_add(f->st, m1, p), 0);
	assert_int_equal(store_part_add(f->st, m1, p), 1);
	assert_int_equal(store_part_add(f->st, m2, p), 0);
	assert_int_equal(store_event_append(f->st, f->sid, "e", p), 1);
	assert_int_equal(store_event_append(f->st, other, "e", p), 1);
	struct hearth_usage u = { 5, 5, 0, 0, 0 };
	assert_int_equal(store_message_finish(f->st, m1, HEARTH_FINISH_END_TURN, &u, 1), 0);

	assert_int_equal(store_session_delete(f->st, f->sid), 0);
	struct store_session s;
	assert_int_equal(store_session_get(f->st, f->sid, &s), HEARTH_ENOENT);
	assert_int_equal(store_session_delete(f->st, f->sid), HEARTH_ENOENT);
	char *want = xasprintf("store: deleting session %s: no such session", f->sid);
	assert_string_equal(store_errmsg(f->st), want);
	free(want);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM messages"), 1);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM parts"), 1);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM events"), 1);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM sessions"), 1);

	/* The other session is whole. */
	json_t *h = store_history(f->st, other);
	assert_int_equal(json_array_size(h), 1);
	json_decref(h);
	struct store_message m;
	assert_int_equal(store_message_get(f->st, m1, &m), HEARTH_ENOENT);
	json_decref(p);
	free(other);
	free(m1);
	free(m2);
}

/* A fork copies messages, parts, events and usage; the two then diverge. */
static void
test_fork(void **state)
{
	struct fixture *f = *state;
	char *m1, *m2, *copy;
	json_t *p = parse("{\"type\": \"text\", \"text\": \"hello\"}");
	assert_int_equal(store_session_set_title(f->st, f->sid, "Original"), 0);
	assert_int_equal(store_message_add(f->st, f->sid, "user", NULL, &m1), 0);
	assert_int_equal(store_part_add(f->st, m1, p), 0);
	assert_int_equal(store_message_add(f->st, f->sid, "assistant", "a/b", &m2), 0);
	assert_int_equal(store_part_add(f->st, m2, p), 0);
	assert_int_equal(store_event_append(f->st, f->sid, "e", p), 1);
	assert_int_equal(store_event_append(f->st, f->sid, "e", p), 2);
	struct hearth_usage u = { 7, 3, 1, 0, 0 };
	assert_int_equal(store_message_finish(f->st, m2, HEARTH_FINISH_END_TURN, &u, 250), 0);
	assert_int_equal(store_session_set_status(f->st, f->sid, STORE_RUNNING), 0);

	assert_int_equal(store_session_fork(f->st, f->sid, &copy), 0);
	assert_non_null(copy);
	assert_string_not_equal(copy, f->sid);
	assert_int_equal(strncmp(copy, "ses_", 4), 0);
	struct store_session a, b;
	assert_int_equal(store_session_get(f->st, f->sid, &a), 0);
	assert_int_equal(store_session_get(f->st, copy, &b), 0);
	assert_string_equal(b.title, "Original");
	assert_string_equal(b.cwd, a.cwd);
	assert_int_equal(b.status, STORE_INTERRUPTED); /* a running source's turn is cut */
	assert_int_equal(b.last_seq, 2);
	assert_int_equal(b.message_count, 2);
	assert_int_equal(b.usage.tokens.input_tokens, 7);
	assert_int_equal(b.usage.cost_micros, 250);
	store_session_clear(&a);
	store_session_clear(&b);
	json_t *ha = store_history(f->st, f->sid), *hb = store_history(f->st, copy);
	assert_true(json_equal(ha, hb));
	json_decref(ha);
	json_decref(hb);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM events"), 4);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(DISTINCT id) FROM messages"), 4);

	/* They diverge: the copy's next event is its own 3, the source's messages stay. */
	assert_int_equal(store_event_append(f->st, copy, "e", p), 3);
	assert_int_equal(store_session_delete(f->st, f->sid), 0);
	hb = store_history(f->st, copy);
	assert_int_equal(json_array_size(hb), 2);
	json_decref(hb);

	/* Bad input. */
	char *none = (char *)"x";
	assert_int_equal(store_session_fork(f->st, "ses_nope", &none), HEARTH_ENOENT);
	assert_null(none);
	assert_string_equal(store_errmsg(f->st), "store: forking session ses_nope: no such session");
	assert_int_equal(store_session_fork(f->st, NULL, &none), HEARTH_EINVAL);
	assert_int_equal(store_session_fork(f->st, "", &none), HEARTH_EINVAL);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM sessions"), 1);
	json_decref(p);
	free(copy);
	free(m1);
	free(m2);
}

/* -------------------------------------------------------- kv, permissions -- */

static void
test_kv(void **state)
{
	struct fixture *f = *state;
	static const char bin[] = { 'a', '\0', 'b', '\xff', '\0', '\n' };
	char *v = (char *)"x";
	size_t len = 99;
	assert_int_equal(store_kv_get(f->st, "mod", "k", &v, &len), HEARTH_ENOENT);
	assert_null(v);
	assert_int_equal(len, 0);
	assert_string_equal(store_errmsg(f->st), "store: reading key k of mod: no such key");

	assert_int_equal(store_kv_put(f->st, "mod", "k", bin, sizeof bin), 0);
	assert_int_equal(store_kv_get(f->st, "mod", "k", &v, &len), 0);
	assert_int_equal(len, sizeof bin);
	assert_memory_equal(v, bin, sizeof bin);
	assert_int_equal(v[len], '\0');
	free(v);

	/* Another module's key of the same name is another key. */
	assert_int_equal(store_kv_get(f->st, "other", "k", &v, &len), HEARTH_ENOENT);
	assert_int_equal(store_kv_put(f->st, "other", "k", "text", 4), 0);
	assert_int_equal(store_kv_get(f->st, "other", "k", &v, NULL), 0);
	assert_string_equal(v, "text");
	free(v);

	/* Replace; empty values. */
	assert_int_equal(store_kv_put(f->st, "mod", "k", "new", 3), 0);
	assert_int_equal(store_kv_get(f->st, "mod", "k", &v, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(v, "new");
	free(v);
	assert_int_equal(store_kv_put(f->st, "mod", "empty", NULL, 0), 0);
	assert_int_equal(store_kv_get(f->st, "mod", "empty", &v, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(store_kv_put(f->st, "mod", "empty2", "", 0), 0);
	assert_int_equal(store_kv_get(f->st, "mod", "empty2", &v, &len), 0);
	assert_int_equal(len, 0);
	free(v);

	/* Survives a reopen. */
	store_close(f->st);
	f->st = store_open(f->path, NULL);
	assert_non_null(f->st);
	assert_int_equal(store_kv_get(f->st, "mod", "k", &v, &len), 0);
	assert_string_equal(v, "new");
	free(v);

	assert_int_equal(store_kv_delete(f->st, "mod", "k"), 0);
	assert_int_equal(store_kv_get(f->st, "mod", "k", &v, &len), HEARTH_ENOENT);
	assert_int_equal(store_kv_delete(f->st, "mod", "k"), HEARTH_ENOENT);
	assert_string_equal(store_errmsg(f->st), "store: deleting key k of mod: no such key");
	assert_int_equal(store_kv_get(f->st, "other", "k", &v, &len), 0);
	free(v);

	/* Bad arguments. */
	assert_int_equal(store_kv_put(f->st, "", "k", "v", 1), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st), "store: writing key: module is empty");
	assert_int_equal(store_kv_put(f->st, "mod", NULL, "v", 1), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st), "store: writing key: key is missing");
	assert_int_equal(store_kv_put(f->st, "mod", "k", NULL, 1), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st), "store: writing key k of mod: the value is "
			    "missing");
	char *big = xcalloc(1, (size_t)STORE_VALUE_MAX + 1);
	assert_int_equal(store_kv_put(f->st, "mod", "big", big, (size_t)STORE_VALUE_MAX + 1),
			 HEARTH_ELIMIT);
	assert_string_equal(store_errmsg(f->st), "store: writing key big of mod: the value is "
			    "33554433 bytes, over 33554432");
	free(big);
	assert_int_equal(store_kv_get(f->st, "mod", "big", &v, &len), HEARTH_ENOENT);
}

static void
test_permissions(void **state)
{
	struct fixture *f = *state;
	char *d = (char *)"x";
	assert_int_equal(store_permission_get(f->st, "/p", "shell", "ls -la", &d), HEARTH_ENOENT);
	assert_null(d);
	assert_string_equal(store_errmsg(f->st),
			    "store: looking up a permission for shell in /p: none remembered");
	assert_int_equal(store_permission_put(f->st, "/p", "shell", "ls -la", "allow"), 0);
	assert_int_equal(store_permission_put(f->st, "/p", "edit", "src/a.c", "deny"), 0);
	assert_int_equal(store_permission_get(f->st, "/p", "shell", "ls -la", &d), 0);
	assert_string_equal(d, "allow");
	free(d);
	assert_int_equal(store_permission_get(f->st, "/p", "edit", "src/a.c", &d), 0);
	assert_string_equal(d, "deny");
	free(d);
	/* Exact matches only: no prefix, no other project, no other tool. */
	assert_int_equal(store_permission_get(f->st, "/p", "shell", "ls", &d), HEARTH_ENOENT);
	assert_int_equal(store_permission_get(f->st, "/p", "shell", "ls -la /", &d),
			 HEARTH_ENOENT);
	assert_int_equal(store_permission_get(f->st, "/q", "shell", "ls -la", &d), HEARTH_ENOENT);
	assert_int_equal(store_permission_get(f->st, "/p", "edit", "ls -la", &d), HEARTH_ENOENT);
	/* A later answer replaces the earlier one. */
	assert_int_equal(store_permission_put(f->st, "/p", "shell", "ls -la", "deny"), 0);
	assert_int_equal(store_permission_get(f->st, "/p", "shell", "ls -la", &d), 0);
	assert_string_equal(d, "deny");
	free(d);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM permissions"), 2);

	assert_int_equal(store_permission_put(f->st, "/p", "shell", "rm", "maybe"), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st), "store: remembering a permission for shell in "
			    "/p: decision \"maybe\" is neither allow nor deny");
	assert_int_equal(store_permission_put(f->st, "/p", "", "rm", "allow"), HEARTH_EINVAL);
	assert_string_equal(store_errmsg(f->st), "store: remembering a permission: tool is "
			    "empty");
	assert_int_equal(store_permission_get(f->st, "/p", "shell", NULL, &d), HEARTH_EINVAL);
}

/* ------------------------------------------------------------ checkpoints -- */

struct checkpoint_job {
	const char *path;
	int rc;
	char *error;
};

static void *
checkpoint_thread(void *arg)
{
	struct checkpoint_job *job = arg;
	job->rc = store_checkpoint(job->path, &job->error);
	return NULL;
}

static void
test_checkpoint(void **state)
{
	struct fixture *f = *state;
	char *wal = xasprintf("%s-wal", f->path);
	json_t *p = parse("{\"delta\": \"some streamed text\"}");
	for (int i = 0; i < 200; i++)
		assert_int_equal(store_event_append(f->st, f->sid, "e", p), i + 1);
	/* wal_autocheckpoint is off: the WAL only grows. */
	off_t before = file_size(wal);
	assert_true(before > 4096);
	int pages = store_wal_pages(f->st);
	assert_true(pages >= 200); /* a commit writes at least one page */
	assert_int_equal(before, 32 + (off_t)pages * (24 + 4096)); /* header, frames */

	/* On another thread, as the daemon runs it, while the store stays open. */
	struct checkpoint_job job = { .path = f->path, .rc = -99 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, checkpoint_thread, &job), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(job.rc, 0);
	assert_null(job.error);
	assert_int_equal(file_size(wal), 0);

	/* The data is in the database file and the store goes on. */
	char *sql = xasprintf("SELECT COUNT(*) FROM events WHERE session_id = '%s'", f->sid);
	assert_int_equal(sql_int(f->path, sql), 200);
	free(sql);
	assert_int_equal(store_event_append(f->st, f->sid, "e", p), 201);
	assert_true(file_size(wal) > 0);
	/* The WAL started over. */
	assert_true(store_wal_pages(f->st) > 0);
	assert_true(store_wal_pages(f->st) < 10);

	/* A missing database. */
	char *missing = xasprintf("%s/missing.db", f->dir);
	char *err = NULL;
	assert_int_equal(store_checkpoint(missing, &err), HEARTH_EIO);
	char *want = xasprintf("store: opening %s: unable to open database file", missing);
	assert_string_equal(err, want);
	assert_int_equal(file_size(missing), -1);
	free(want);
	free(err);
	free(missing);
	json_decref(p);
	free(wal);
}

/* ------------------------------------------------------------------ crash -- */

/* The child: transactions of two events and one message with one part, each
 * commit reported on `fd`, until it is killed. */
static void
crash_child(const char *path, const char *sid, int fd)
{
	alarm(60); /* should the parent never kill it */
	struct store *st = store_open(path, NULL);
	if (st == NULL)
		_exit(2);
	json_t *part = json_pack("{s:s, s:s}", "type", "text", "text",
				 "a part of some length, so that a transaction spans pages "
				 "........................................................");
	for (int64_t i = 0; i < 1000000; i++) {
		char *mid = NULL;
		if (store_begin(st) != 0 ||
		    store_event_append(st, sid, "a", part) <= 0 ||
		    store_message_add(st, sid, "assistant", NULL, &mid) != 0 ||
		    store_part_add(st, mid, part) != 0)
			_exit(3);
		int64_t seq = store_event_append(st, sid, "b", part);
		if (seq <= 0 || store_commit(st) != 0)
			_exit(4);
		free(mid);
		if (write(fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
			_exit(5);
	}
	_exit(0);
}

static void
test_crash_mid_write(void **state)
{
	struct fixture *f = *state;
	store_close(f->st); /* the child is the writer */
	f->st = NULL;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(f->path, f->sid, fds[1]);
	}
	close(fds[1]);
	int64_t last = 0;
	for (int n = 0; n < 300; n++) {
		int64_t seq;
		ssize_t got = read(fds[0], &seq, sizeof seq);
		if (got != (ssize_t)sizeof seq)
			fail_msg("the child stopped early (read returned %zd)", got);
		assert_int_equal(seq, last + 2);
		last = seq;
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	close(fds[0]);

	char *err = NULL;
	f->st = store_open(f->path, &err);
	if (f->st == NULL)
		fail_msg("reopen after the crash: %s", err);
	assert_integrity(f->path);

	/* Every commit the child reported is there; nothing of a half transaction. */
	struct store_session s;
	assert_int_equal(store_session_get(f->st, f->sid, &s), 0);
	assert_true(s.last_seq >= last);
	assert_int_equal(s.last_seq % 2, 0);
	assert_int_equal(s.message_count, s.last_seq / 2);
	int64_t last_seq = s.last_seq;
	store_session_clear(&s);
	char *sql = xasprintf("SELECT COUNT(*) || ' ' || COALESCE(MIN(seq), 0) || ' ' ||"
			      " COALESCE(MAX(seq), 0) || ' ' || SUM(type = 'a') FROM events"
			      " WHERE session_id = '%s'", f->sid);
	char *got = sql_text(f->path, sql);
	char *want = xasprintf("%lld 1 %lld %lld", (long long)last_seq, (long long)last_seq,
			       (long long)last_seq / 2);
	assert_string_equal(got, want);
	free(got);
	free(want);
	free(sql);
	sql = xasprintf("SELECT COUNT(*) FROM parts p JOIN messages m ON m.id = p.message_id"
			" WHERE m.session_id = '%s'", f->sid);
	assert_int_equal(sql_int(f->path, sql), last_seq / 2);
	free(sql);

	/* Numbering goes on where it stopped. */
	assert_int_equal(store_event_append(f->st, f->sid, "after", NULL), last_seq + 1);
	struct seen seen = { 0 };
	assert_int_equal(store_events_since(f->st, f->sid, last_seq - 1, seen_cb, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.types[0], "b");
	assert_string_equal(seen.types[1], "after");
	seen_clear(&seen);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_private_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_v1_to_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_failure_rolls_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_seq_per_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_payload_corrupt_or_oversized, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transaction_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_commit_survives_failed_step,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_aborted_by_sqlite, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_history_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_empty_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_list_and_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_mid_write, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
