/* store.c: the session store in SQLite (see store.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "xmalloc.h"

/* ------------------------------------------------------------------ schema -- */

/*
 * The migrations: store_migrations[v] takes a database from version v - 1 to v.
 * A released step is never edited; a change is a new step. Foreign keys are on
 * while they run, so a step that rebuilds a table must not drop a parent table.
 */
static const char store_schema_v1[] =
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  title TEXT,"
	"  cwd TEXT NOT NULL,"
	"  model TEXT,"
	"  status TEXT NOT NULL DEFAULT 'idle'"
	"    CHECK (status IN ('idle', 'running', 'waiting', 'error', 'interrupted')),"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  last_seq INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX sessions_by_update ON sessions (updated_at);"
	"CREATE INDEX sessions_by_cwd ON sessions (cwd, updated_at);"
	"CREATE TABLE messages ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),"
	"  model TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  finish TEXT,"
	"  UNIQUE (session_id, idx)"
	");"
	"CREATE TABLE parts ("
	"  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  type TEXT NOT NULL CHECK (type IN ('text', 'reasoning', 'tool_call',"
	"    'tool_result', 'image', 'file', 'diff')),"
	"  data TEXT NOT NULL,"
	"  PRIMARY KEY (message_id, idx)"
	");"
	"CREATE TABLE events ("
	"  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (session_id, seq)"
	");";

/* Usage per message; the per-session totals follow the messages through triggers,
 * so no code path can forget them. */
static const char store_schema_v2[] =
	"ALTER TABLE messages ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;"
	"CREATE TRIGGER messages_usage_update AFTER UPDATE OF input_tokens, output_tokens,"
	"  reasoning_tokens, cache_read_tokens, cache_write_tokens, cost_micros ON messages"
	" BEGIN UPDATE sessions SET"
	"  input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,"
	"  output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,"
	"  reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens - OLD.reasoning_tokens,"
	"  cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens - OLD.cache_read_tokens,"
	"  cache_write_tokens = cache_write_tokens + NEW.cache_write_tokens"
	"    - OLD.cache_write_tokens,"
	"  cost_micros = cost_micros + NEW.cost_micros - OLD.cost_micros"
	"  WHERE id = NEW.session_id; END;"
	"CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages"
	" BEGIN UPDATE sessions SET"
	"  input_tokens = input_tokens - OLD.input_tokens,"
	"  output_tokens = output_tokens - OLD.output_tokens,"
	"  reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens,"
	"  cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens,"
	"  cache_write_tokens = cache_write_tokens - OLD.cache_write_tokens,"
	"  cost_micros = cost_micros - OLD.cost_micros"
	"  WHERE id = OLD.session_id; END;"
	"CREATE TABLE kv ("
	"  module TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  PRIMARY KEY (module, key)"
	");"
	"CREATE TABLE permissions ("
	"  project TEXT NOT NULL,"
	"  tool TEXT NOT NULL,"
	"  pattern TEXT NOT NULL,"
	"  decision TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (project, tool, pattern)"
	");";

static const char *const store_migrations[STORE_SCHEMA_VERSION + 1] = {
	[1] = store_schema_v1,
	[2] = store_schema_v2,
};

/* -------------------------------------------------------------- statements -- */

enum store_stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_SESSION_INSERT,
	ST_SESSION_GET,
	ST_SESSION_LIST,
	ST_SESSION_EXISTS,
	ST_SESSION_SET_TITLE,
	ST_SESSION_SET_MODEL,
	ST_SESSION_SET_STATUS,
	ST_SESSION_TOUCH,
	ST_SESSION_DELETE,
	ST_SESSION_USAGE,
	ST_MARK_INTERRUPTED,
	ST_SEQ_NEXT,
	ST_EVENT_INSERT,
	ST_MESSAGE_INSERT,
	ST_MESSAGE_GET,
	ST_MESSAGE_FINISH,
	ST_PART_INSERT,
	ST_PART_GET,
	ST_PART_UPDATE,
	ST_HISTORY,
	ST_KV_GET,
	ST_KV_PUT,
	ST_KV_DELETE,
	ST_PERM_GET,
	ST_PERM_PUT,
	ST_FORK_SESSION,
	ST_FORK_MESSAGE_IDS,
	ST_FORK_MESSAGE,
	ST_FORK_PARTS,
	ST_FORK_EVENTS,
	ST_COUNT
};

#define STORE_SESSION_COLS \
	"id, title, cwd, model, status, created_at, updated_at, last_seq, " \
	"(SELECT COUNT(*) FROM messages m WHERE m.session_id = sessions.id), " \
	"input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, " \
	"cache_write_tokens, cost_micros"

static const char *const store_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT store_op",
	[ST_RELEASE] = "RELEASE store_op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO store_op",
	/* Forks: ?1 the source, ?2 the copy; a turn cut short stays marked so. */
	[ST_FORK_SESSION] =
		"INSERT INTO sessions (id, title, cwd, model, status, created_at, updated_at,"
		" last_seq, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens,"
		" cache_write_tokens, cost_micros)"
		" SELECT ?2, title, cwd, model, CASE WHEN status IN ('running', 'waiting')"
		" THEN 'interrupted' ELSE status END, ?3, ?3, last_seq, input_tokens,"
		" output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens,"
		" cost_micros FROM sessions WHERE id = ?1",
	[ST_FORK_MESSAGE_IDS] = "SELECT id FROM messages WHERE session_id = ?1 ORDER BY idx",
	[ST_FORK_MESSAGE] =
		"INSERT INTO messages (id, session_id, idx, role, model, created_at, finish,"
		" input_tokens, output_tokens, reasoning_tokens, cache_read_tokens,"
		" cache_write_tokens, cost_micros)"
		" SELECT ?3, ?2, idx, role, model, created_at, finish, input_tokens,"
		" output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens,"
		" cost_micros FROM messages WHERE id = ?1",
	[ST_FORK_PARTS] =
		"INSERT INTO parts (message_id, idx, type, data)"
		" SELECT ?2, idx, type, data FROM parts WHERE message_id = ?1",
	[ST_FORK_EVENTS] =
		"INSERT INTO events (session_id, seq, type, payload, created_at)"
		" SELECT ?2, seq, type, payload, created_at FROM events WHERE session_id = ?1",
	[ST_SESSION_INSERT] =
		"INSERT INTO sessions (id, title, cwd, model, status, created_at, updated_at)"
		" VALUES (?1, ?2, ?3, ?4, 'idle', ?5, ?5)",
	[ST_SESSION_GET] = "SELECT " STORE_SESSION_COLS " FROM sessions WHERE id = ?1",
	[ST_SESSION_LIST] =
		"SELECT " STORE_SESSION_COLS " FROM sessions WHERE ?1 IS NULL OR cwd = ?1"
		" ORDER BY updated_at DESC, created_at DESC, rowid DESC LIMIT ?2",
	[ST_SESSION_EXISTS] = "SELECT 1 FROM sessions WHERE id = ?1",
	[ST_SESSION_SET_TITLE] = "UPDATE sessions SET title = ?2, updated_at = ?3 WHERE id = ?1",
	[ST_SESSION_SET_MODEL] = "UPDATE sessions SET model = ?2, updated_at = ?3 WHERE id = ?1",
	[ST_SESSION_SET_STATUS] =
		"UPDATE sessions SET status = ?2, updated_at = ?3 WHERE id = ?1",
	[ST_SESSION_TOUCH] = "UPDATE sessions SET updated_at = ?2 WHERE id = ?1",
	[ST_SESSION_DELETE] = "DELETE FROM sessions WHERE id = ?1",
	[ST_SESSION_USAGE] =
		"SELECT input_tokens, output_tokens, reasoning_tokens, cache_read_tokens,"
		" cache_write_tokens, cost_micros FROM sessions WHERE id = ?1",
	[ST_MARK_INTERRUPTED] =
		"UPDATE sessions SET status = 'interrupted'"
		" WHERE status IN ('running', 'waiting')",
	[ST_SEQ_NEXT] =
		"UPDATE sessions SET last_seq = last_seq + 1, updated_at = ?2 WHERE id = ?1"
		" RETURNING last_seq",
	[ST_EVENT_INSERT] =
		"INSERT INTO events (session_id, seq, type, payload, created_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_MESSAGE_INSERT] =
		"INSERT INTO messages (id, session_id, idx, role, model, created_at)"
		" SELECT ?1, id, (SELECT COALESCE(MAX(idx) + 1, 0) FROM messages"
		"   WHERE session_id = ?2), ?3, ?4, ?5"
		" FROM sessions WHERE id = ?2",
	[ST_MESSAGE_GET] =
		"SELECT id, session_id, idx, role, model, finish, created_at, input_tokens,"
		" output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens,"
		" cost_micros FROM messages WHERE id = ?1",
	[ST_MESSAGE_FINISH] =
		"UPDATE messages SET finish = ?2, input_tokens = ?3, output_tokens = ?4,"
		" reasoning_tokens = ?5, cache_read_tokens = ?6, cache_write_tokens = ?7,"
		" cost_micros = ?8 WHERE id = ?1",
	[ST_PART_INSERT] =
		"INSERT INTO parts (message_id, idx, type, data)"
		" SELECT id, (SELECT COALESCE(MAX(idx) + 1, 0) FROM parts WHERE message_id = ?1),"
		"   ?2, ?3"
		" FROM messages WHERE id = ?1 RETURNING idx",
	[ST_PART_GET] = "SELECT data FROM parts WHERE message_id = ?1 AND idx = ?2",
	[ST_PART_UPDATE] = "UPDATE parts SET data = ?3 WHERE message_id = ?1 AND idx = ?2",
	[ST_HISTORY] =
		"SELECT m.idx, m.id, m.role, p.idx, p.data FROM messages m"
		" LEFT JOIN parts p ON p.message_id = m.id"
		" WHERE m.session_id = ?1 ORDER BY m.idx, p.idx",
	[ST_KV_GET] = "SELECT value FROM kv WHERE module = ?1 AND key = ?2",
	[ST_KV_PUT] =
		"INSERT INTO kv (module, key, value) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (module, key) DO UPDATE SET value = excluded.value",
	[ST_KV_DELETE] = "DELETE FROM kv WHERE module = ?1 AND key = ?2",
	[ST_PERM_GET] =
		"SELECT decision FROM permissions WHERE project = ?1 AND tool = ?2"
		" AND pattern = ?3",
	[ST_PERM_PUT] =
		"INSERT INTO permissions (project, tool, pattern, decision, created_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (project, tool, pattern)"
		" DO UPDATE SET decision = excluded.decision, created_at = excluded.created_at",
};

struct store {
	sqlite3 *db;
	char *path;
	int version;
	int in_tx;         /* a store_begin() transaction is open */
	int tx_aborted;    /* SQLite rolled it back after an error; see store_tx_check() */
	int tx_abort_code;
	char *tx_abort_msg;
	char *errmsg;      /* the last failure, "" before any */
	int wal_pages;     /* frames in the WAL after the last commit (sqlite3_wal_hook) */
	int64_t (*now_ms)(void *arg);
	void *now_arg;
	sqlite3_stmt *stmts[ST_COUNT]; /* prepared on first use, finalized on close */
};

/* ------------------------------------------------------------------ errors -- */

static int
store_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return HEARTH_EBUSY;
	case SQLITE_NOMEM:
		return HEARTH_ENOMEM;
	case SQLITE_TOOBIG:
		return HEARTH_ELIMIT;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return HEARTH_EINVAL;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return HEARTH_EPERM;
	case SQLITE_INTERRUPT:
		return HEARTH_ECANCELED;
	default:
		return HEARTH_EIO;
	}
}

/* SQLite's words for rc: the connection's own message when it is about rc. */
static const char *
store_sqlite_words(sqlite3 *db, int rc)
{
	if (db != NULL && (sqlite3_errcode(db) & 0xff) == (rc & 0xff))
		return sqlite3_errmsg(db);
	return sqlite3_errstr(rc);
}

static void
store_set_errmsg(struct store *st, char *msg)
{
	free(st->errmsg);
	st->errmsg = msg;
}

/* A SQLite error inside a store_begin() transaction can make SQLite roll the whole
 * transaction back. Notice it, so that later writes do not run outside it. */
static void
store_tx_check(struct store *st, int code)
{
	if (!st->in_tx || !sqlite3_get_autocommit(st->db))
		return;
	st->in_tx = 0;
	st->tx_aborted = 1;
	st->tx_abort_code = code;
	free(st->tx_abort_msg);
	const char *msg = st->errmsg != NULL ? st->errmsg : "";
	st->tx_abort_msg = xstrdup(strncmp(msg, "store: ", 7) == 0 ? msg + 7 : msg);
}

/* Record a failure that is not SQLite's: "store: " + the formatted text. */
static int store_fail(struct store *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int
store_fail(struct store *st, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	store_set_errmsg(st, xasprintf("store: %s", what));
	free(what);
	return code;
}

/* Record SQLite's error rc during the formatted operation; returns its HEARTH_E*. */
static int store_sqlfail(struct store *st, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int
store_sqlfail(struct store *st, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	int code;
	if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) {
		code = HEARTH_EIO;
		store_set_errmsg(st, xasprintf("store: %s: unexpected result %d", what, rc));
	} else {
		code = store_code(rc);
		store_set_errmsg(st, xasprintf("store: %s: %s", what,
					       store_sqlite_words(st->db, rc)));
	}
	free(what);
	store_tx_check(st, code);
	return code;
}

/* Writes are refused while SQLite's abort of the caller's transaction is unseen. */
static int
store_writable(struct store *st)
{
	if (!st->tx_aborted)
		return 0;
	return store_fail(st, HEARTH_EIO,
			  "the transaction was rolled back after an earlier error (%s); "
			  "end it with store_rollback()", st->tx_abort_msg);
}

/* 0 when s is usable: non-NULL (unless optional), non-empty, not too long. */
static int
store_check_str(struct store *st, const char *op, const char *what, const char *s,
		int optional)
{
	if (s == NULL)
		return optional ? 0 : store_fail(st, HEARTH_EINVAL, "%s: %s is missing", op, what);
	size_t n = strnlen(s, (size_t)STORE_STRING_MAX + 1);
	if (n > STORE_STRING_MAX)
		return store_fail(st, HEARTH_ELIMIT, "%s: %s is longer than %d bytes", op, what,
				  STORE_STRING_MAX);
	if (n == 0 && !optional)
		return store_fail(st, HEARTH_EINVAL, "%s: %s is empty", op, what);
	return 0;
}

const char *
store_errmsg(const struct store *st)
{
	return st->errmsg != NULL ? st->errmsg : "";
}

int
store_schema_version(const struct store *st)
{
	return st->version;
}

int
store_wal_pages(const struct store *st)
{
	return st->wal_pages;
}

/* --------------------------------------------------------------- utilities -- */

static const char *const store_status_names[] = {
	[STORE_IDLE] = "idle",
	[STORE_RUNNING] = "running",
	[STORE_WAITING] = "waiting",
	[STORE_ERROR] = "error",
	[STORE_INTERRUPTED] = "interrupted",
};
#define STORE_N_STATUS (sizeof store_status_names / sizeof store_status_names[0])

const char *
store_status_name(enum store_status status)
{
	if ((unsigned)status >= STORE_N_STATUS)
		return NULL;
	return store_status_names[status];
}

int
store_status_parse(const char *name, enum store_status *out)
{
	for (size_t i = 0; name != NULL && i < STORE_N_STATUS; i++) {
		if (strcmp(name, store_status_names[i]) == 0) {
			*out = (enum store_status)i;
			return 0;
		}
	}
	return HEARTH_EINVAL;
}

static const char *const store_finish_names[] = {
	[HEARTH_FINISH_END_TURN] = "end_turn",
	[HEARTH_FINISH_TOOL_USE] = "tool_use",
	[HEARTH_FINISH_MAX_TOKENS] = "max_tokens",
	[HEARTH_FINISH_STOP_SEQUENCE] = "stop_sequence",
	[HEARTH_FINISH_REFUSAL] = "refusal",
	[HEARTH_FINISH_PAUSE] = "pause",
	[HEARTH_FINISH_ERROR] = "error",
	[HEARTH_FINISH_CANCELLED] = "cancelled",
};

const char *
store_finish_name(enum hearth_finish finish)
{
	if ((unsigned)finish >= sizeof store_finish_names / sizeof store_finish_names[0])
		return NULL;
	return store_finish_names[finish];
}

static int64_t
store_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
store_now(struct store *st)
{
	return st->now_ms != NULL ? st->now_ms(st->now_arg) : store_wall_ms();
}

void
store_set_clock(struct store *st, int64_t (*now_ms)(void *arg), void *arg)
{
	st->now_ms = now_ms;
	st->now_arg = arg;
}

/* prefix + 26 lowercase base32 characters of 128 random bits, malloc'd; NULL when
 * the kernel gives no randomness. */
static char *
store_new_id(const char *prefix)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char rnd[16];
	size_t got = 0;
	while (got < sizeof rnd) {
		ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		got += (size_t)n;
	}
	size_t plen = strlen(prefix);
	char *id = xmalloc(plen + 27);
	memcpy(id, prefix, plen);
	unsigned bits = 0, nbits = 0;
	size_t o = plen;
	for (size_t i = 0; i < sizeof rnd; i++) {
		bits = (bits << 8) | rnd[i];
		nbits += 8;
		while (nbits >= 5) {
			id[o++] = alphabet[(bits >> (nbits - 5)) & 31];
			nbits -= 5;
		}
	}
	id[o++] = alphabet[(bits << (5 - nbits)) & 31]; /* the last 3 bits */
	id[o] = '\0';
	return id;
}

static char *
store_col_dup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	return t != NULL ? xstrdup((const char *)t) : NULL;
}

static uint64_t
store_col_u64(sqlite3_stmt *s, int col)
{
	int64_t v = sqlite3_column_int64(s, col);
	return v > 0 ? (uint64_t)v : 0;
}

static int64_t
store_clamp_i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* The cached statement `id`, prepared on first use; NULL with *rc set on failure. */
static sqlite3_stmt *
store_stmt(struct store *st, enum store_stmt_id id, int *rc)
{
	if (st->stmts[id] == NULL) {
		*rc = sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					 &st->stmts[id], NULL);
		if (*rc != SQLITE_OK)
			return NULL;
	}
	*rc = SQLITE_OK;
	return st->stmts[id];
}

/* Done with a cached statement: release its locks and bound pointers. */
static void
store_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Run a statement without parameters or rows; SQLITE_OK or the error. */
static int
store_exec(struct store *st, enum store_stmt_id id)
{
	int rc;
	sqlite3_stmt *s = store_stmt(st, id, &rc);
	if (s == NULL)
		return rc;
	rc = sqlite3_step(s);
	store_done(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * The transaction of one operation: its own when the caller has none open, else a
 * savepoint inside the caller's, so a failed operation undoes only itself.
 */
static int
store_op_begin(struct store *st)
{
	return store_exec(st, st->in_tx ? ST_SAVEPOINT : ST_BEGIN);
}

static int
store_op_commit(struct store *st)
{
	return store_exec(st, st->in_tx ? ST_RELEASE : ST_COMMIT);
}

/* Undo the operation after a failure (its message is already recorded). */
static void
store_op_abort(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db)) {
		if (st->in_tx) {
			store_exec(st, ST_ROLLBACK_TO);
			store_exec(st, ST_RELEASE);
		} else {
			store_exec(st, ST_ROLLBACK);
		}
	}
	store_tx_check(st, HEARTH_EIO);
}

/* ------------------------------------------------------------ open, close -- */

/* Create the missing parent directories of `path` with mode 0700. */
static int
store_mkdirs(const char *path, char **why)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int rc = 0;
	if (slash == NULL || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			*why = xasprintf("store: creating directory %s: %s", dir, strerror(errno));
			rc = HEARTH_EIO;
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(dir);
	return rc;
}

/* Create the database file with mode 0600 when it does not exist yet; SQLite would
 * create it 0644. */
static int
store_create_file(const char *path, char **why)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		*why = xasprintf("store: creating %s: %s", path, strerror(errno));
		return HEARTH_EIO;
	}
	int rc = 0;
	if (fchmod(fd, 0600) != 0) { /* whatever the umask */
		*why = xasprintf("store: setting the mode of %s: %s", path, strerror(errno));
		rc = HEARTH_EIO;
	}
	close(fd);
	return rc;
}

static int
store_user_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* The text the one-row PRAGMA `sql` returns, into buf. */
static int
store_pragma_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(buf, size, "%s", t != NULL ? (const char *)t : "");
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* Apply migration `to` in its own transaction; the version is re-read inside it, so
 * two processes opening at once do not both apply it. */
static int
store_migrate(struct store *st, int to, char **why)
{
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	int have = 0;
	if (rc == SQLITE_OK)
		rc = store_user_version(st->db, &have);
	if (rc == SQLITE_OK && have < to) {
		rc = sqlite3_exec(st->db, store_migrations[to], NULL, NULL, NULL);
		if (rc == SQLITE_OK) {
			char sql[64];
			snprintf(sql, sizeof sql, "PRAGMA user_version = %d", to);
			rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		*why = xasprintf("store: migrating %s to schema version %d: %s", st->path, to,
				 store_sqlite_words(st->db, rc));
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return store_code(rc);
	}
	st->version = to;
	return 0;
}

/* After each commit: how long the WAL is, so the loop knows when to checkpoint.
 * This replaces SQLite's own hook, the autocheckpoint, which is off anyway. */
static int
store_wal_hook_cb(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)db;
	(void)name;
	((struct store *)arg)->wal_pages = pages;
	return SQLITE_OK;
}

static int
store_setup(struct store *st, int target, char **why)
{
	int rc = sqlite3_open_v2(st->path, &st->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);

	/* Read the version before anything writes: a newer database stays untouched
	 * (switching to WAL would already change its header). This read is also where
	 * a file that is not a database shows. */
	int have = 0;
	if ((rc = store_user_version(st->db, &have)) != SQLITE_OK)
		goto sqlfail;
	if (have > target) {
		if (target == STORE_SCHEMA_VERSION)
			*why = xasprintf("store: %s has schema version %d, newer than the %d this "
					 "hearth knows; not opening it", st->path, have, target);
		else
			*why = xasprintf("store: %s has schema version %d, past the %d asked for; "
					 "not opening it", st->path, have, target);
		return HEARTH_ENOTSUP;
	}
	if (have < 0) {
		*why = xasprintf("store: %s has a negative schema version %d", st->path, have);
		return HEARTH_EIO;
	}
	st->version = have;

	char mode[32];
	if ((rc = store_pragma_text(st->db, "PRAGMA journal_mode = WAL", mode, sizeof mode))
	    != SQLITE_OK)
		goto sqlfail;
	if (strcmp(mode, "wal") != 0) {
		*why = xasprintf("store: opening %s: cannot use WAL mode (journal mode is %s)",
				 st->path, mode);
		return HEARTH_EIO;
	}
	/* NORMAL: in WAL mode a commit survives a crash of the process, and only an OS
	 * crash or power loss can lose the last commits; checkpoints sync. */
	rc = sqlite3_exec(st->db,
			  "PRAGMA synchronous = NORMAL;"
			  "PRAGMA foreign_keys = ON;"
			  "PRAGMA wal_autocheckpoint = 0;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_wal_hook(st->db, store_wal_hook_cb, st);

	for (int v = have + 1; v <= target; v++) {
		int err = store_migrate(st, v, why);
		if (err != 0)
			return err;
	}
	return 0;

sqlfail:
	*why = xasprintf("store: opening %s: %s", st->path, store_sqlite_words(st->db, rc));
	return store_code(rc);
}

struct store *
store_open_at_version(const char *path, int version, char **error)
{
	char *why = NULL;
	struct store *st = NULL;
	if (error != NULL)
		*error = NULL;
	if (path == NULL || *path == '\0') {
		why = xstrdup("store: opening: the database path is empty");
		goto fail;
	}
	if (version < 1 || version > STORE_SCHEMA_VERSION) {
		why = xasprintf("store: opening %s: no schema version %d (1 to %d)", path,
				version, STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (store_mkdirs(path, &why) != 0 || store_create_file(path, &why) != 0)
		goto fail;

	st = xcalloc(1, sizeof *st);
	st->path = xstrdup(path);
	if (store_setup(st, version, &why) != 0)
		goto fail;
	return st;

fail:
	if (st != NULL) {
		sqlite3_close(st->db);
		free(st->path);
		free(st);
	}
	if (error != NULL)
		*error = why;
	else
		free(why);
	return NULL;
}

struct store *
store_open(const char *path, char **error)
{
	return store_open_at_version(path, STORE_SCHEMA_VERSION, error);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	sqlite3_close(st->db);
	free(st->path);
	free(st->errmsg);
	free(st->tx_abort_msg);
	free(st);
}

int
store_checkpoint(const char *path, char **error)
{
	sqlite3 *db = NULL;
	const char *step = "opening";
	int code = 0;
	if (error != NULL)
		*error = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
		/* A connection finds the WAL on its first read; before that, a checkpoint
		 * does nothing and says all is well. */
		rc = sqlite3_exec(db, "PRAGMA user_version", NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK) {
		/* PASSIVE copies what it can without taking the writer lock, so TRUNCATE,
		 * which holds it, only has the remainder to copy. */
		step = "checkpointing";
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY)
			rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
						       NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		code = store_code(rc);
		if (error != NULL)
			*error = xasprintf("store: %s %s: %s", step, path,
					   store_sqlite_words(db, rc));
	}
	sqlite3_close(db);
	return code;
}

/* ------------------------------------------------------------ transactions -- */

int
store_begin(struct store *st)
{
	if (st->in_tx || st->tx_aborted)
		return store_fail(st, HEARTH_EBUSY,
				  "beginning a transaction: one is already open");
	int rc = store_exec(st, ST_BEGIN);
	if (rc != SQLITE_OK)
		return store_sqlfail(st, rc, "beginning a transaction");
	st->in_tx = 1;
	return 0;
}

int
store_commit(struct store *st)
{
	if (st->tx_aborted) {
		st->tx_aborted = 0;
		int code = store_fail(st, st->tx_abort_code,
				      "committing: the transaction was rolled back after an "
				      "earlier error (%s)", st->tx_abort_msg);
		free(st->tx_abort_msg);
		st->tx_abort_msg = NULL;
		return code;
	}
	if (!st->in_tx)
		return store_fail(st, HEARTH_EINVAL, "committing: no transaction is open");
	int rc = store_exec(st, ST_COMMIT);
	if (rc != SQLITE_OK) {
		/* After SQLITE_BUSY the transaction is still open, and may be retried. */
		int code = store_sqlfail(st, rc, "committing");
		if (sqlite3_get_autocommit(st->db)) {
			st->in_tx = 0;
			st->tx_aborted = 0;
		}
		return code;
	}
	st->in_tx = 0;
	return 0;
}

int
store_rollback(struct store *st)
{
	if (st->tx_aborted) {
		st->tx_aborted = 0;
		free(st->tx_abort_msg);
		st->tx_abort_msg = NULL;
		return 0;
	}
	if (!st->in_tx)
		return store_fail(st, HEARTH_EINVAL, "rolling back: no transaction is open");
	int rc = store_exec(st, ST_ROLLBACK);
	st->in_tx = 0;
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(st->db))
		return store_sqlfail(st, rc, "rolling back");
	return 0;
}

int
store_in_transaction(const struct store *st)
{
	return st->in_tx;
}

/* ---------------------------------------------------------------- sessions -- */

void
store_session_clear(struct store_session *s)
{
	if (s == NULL)
		return;
	free(s->id);
	free(s->title);
	free(s->cwd);
	free(s->model);
	memset(s, 0, sizeof *s);
}

void
store_session_list_free(struct store_session *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_session_clear(&list[i]);
	free(list);
}

/* A row of STORE_SESSION_COLS. */
static void
store_session_from_row(sqlite3_stmt *s, struct store_session *out)
{
	out->id = store_col_dup(s, 0);
	out->title = store_col_dup(s, 1);
	out->cwd = store_col_dup(s, 2);
	out->model = store_col_dup(s, 3);
	if (store_status_parse((const char *)sqlite3_column_text(s, 4), &out->status) != 0)
		out->status = STORE_ERROR; /* the CHECK constraint makes this unreachable */
	out->created_at = sqlite3_column_int64(s, 5);
	out->updated_at = sqlite3_column_int64(s, 6);
	out->last_seq = sqlite3_column_int64(s, 7);
	out->message_count = sqlite3_column_int64(s, 8);
	out->usage.tokens.input_tokens = store_col_u64(s, 9);
	out->usage.tokens.output_tokens = store_col_u64(s, 10);
	out->usage.tokens.reasoning_tokens = store_col_u64(s, 11);
	out->usage.tokens.cache_read_tokens = store_col_u64(s, 12);
	out->usage.tokens.cache_write_tokens = store_col_u64(s, 13);
	out->usage.cost_micros = sqlite3_column_int64(s, 14);
}

int
store_session_create(struct store *st, const char *cwd, const char *title,
		     const char *model, char **id_out)
{
	static const char op[] = "creating session";
	int err;
	*id_out = NULL;
	if ((err = store_check_str(st, op, "cwd", cwd, 0)) != 0 ||
	    (err = store_check_str(st, op, "title", title, 1)) != 0 ||
	    (err = store_check_str(st, op, "model", model, 1)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	char *id = store_new_id("ses_");
	if (id == NULL)
		return store_fail(st, HEARTH_EIO, "%s: getrandom: %s", op, strerror(errno));

	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_SESSION_INSERT, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, title, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 3, cwd, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 4, model, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 5, store_now(st));
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc != SQLITE_DONE) {
		free(id);
		return store_sqlfail(st, rc, "%s in %s", op, cwd);
	}
	*id_out = id;
	return 0;
}

int
store_session_get(struct store *st, const char *id, struct store_session *out)
{
	static const char op[] = "reading session";
	int err;
	memset(out, 0, sizeof *out);
	if ((err = store_check_str(st, op, "session id", id, 0)) != 0)
		return err;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_SESSION_GET, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			store_session_from_row(s, out);
		store_done(s);
	}
	if (rc == SQLITE_DONE)
		return store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, id);
	if (rc != SQLITE_ROW)
		return store_sqlfail(st, rc, "%s %s", op, id);
	return 0;
}

int
store_session_list(struct store *st, const char *cwd, size_t limit,
		   struct store_session **out, size_t *n)
{
	static const char op[] = "listing sessions";
	int err;
	*out = NULL;
	*n = 0;
	if ((err = store_check_str(st, op, "cwd", cwd, 1)) != 0)
		return err;
	int rc;
	struct store_session *list = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *s = store_stmt(st, ST_SESSION_LIST, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, cwd, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 2, limit == 0 ? -1
						: limit > (size_t)INT64_MAX ? INT64_MAX
						: (int64_t)limit);
		while (rc == SQLITE_OK || rc == SQLITE_ROW) {
			rc = sqlite3_step(s);
			if (rc != SQLITE_ROW)
				break;
			if (count == cap) {
				cap = cap ? cap * 2 : 16;
				list = xreallocarray(list, cap, sizeof *list);
			}
			memset(&list[count], 0, sizeof list[count]);
			store_session_from_row(s, &list[count++]);
		}
		store_done(s);
	}
	if (rc != SQLITE_DONE) {
		store_session_list_free(list, count);
		return store_sqlfail(st, rc, "%s", op);
	}
	*out = list;
	*n = count;
	return 0;
}

/* Run UPDATE statement `id` with ?1 the session id, ?2 the value, ?3 now;
 * HEARTH_ENOENT when no row changed. */
static int
store_session_update(struct store *st, enum store_stmt_id id, const char *op,
		     const char *session_id, const char *value)
{
	int rc;
	sqlite3_stmt *s = store_stmt(st, id, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 3, store_now(st));
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc != SQLITE_DONE)
		return store_sqlfail(st, rc, "%s of session %s", op, session_id);
	if (sqlite3_changes(st->db) == 0)
		return store_fail(st, HEARTH_ENOENT, "%s of session %s: no such session", op,
				  session_id);
	return 0;
}

int
store_session_set_title(struct store *st, const char *id, const char *title)
{
	static const char op[] = "setting the title";
	int err;
	if ((err = store_check_str(st, op, "session id", id, 0)) != 0 ||
	    (err = store_check_str(st, op, "title", title, 1)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	return store_session_update(st, ST_SESSION_SET_TITLE, op, id, title);
}

int
store_session_set_model(struct store *st, const char *id, const char *model)
{
	static const char op[] = "setting the model";
	int err;
	if ((err = store_check_str(st, op, "session id", id, 0)) != 0 ||
	    (err = store_check_str(st, op, "model", model, 1)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	return store_session_update(st, ST_SESSION_SET_MODEL, op, id, model);
}

int
store_session_set_status(struct store *st, const char *id, enum store_status status)
{
	static const char op[] = "setting the status";
	int err;
	if ((err = store_check_str(st, op, "session id", id, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	const char *name = store_status_name(status);
	if (name == NULL)
		return store_fail(st, HEARTH_EINVAL, "%s of session %s: no status %d", op, id,
				  (int)status);
	return store_session_update(st, ST_SESSION_SET_STATUS, op, id, name);
}

int
store_session_delete(struct store *st, const char *id)
{
	static const char op[] = "deleting session";
	int err;
	if ((err = store_check_str(st, op, "session id", id, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_SESSION_DELETE, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc != SQLITE_DONE)
		return store_sqlfail(st, rc, "%s %s", op, id);
	if (sqlite3_changes(st->db) == 0)
		return store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, id);
	return 0;
}

/* Run statement id with text parameters a, b and c (NULL: unbound); SQLITE_DONE or the error. */
static int
store_fork_step(struct store *st, enum store_stmt_id id, const char *a, const char *b,
		const char *c, int64_t now)
{
	int rc;
	sqlite3_stmt *s = store_stmt(st, id, &rc);
	if (s == NULL)
		return rc;
	rc = sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && id == ST_FORK_SESSION)
		rc = sqlite3_bind_int64(s, 3, now);
	else if (rc == SQLITE_OK && c != NULL)
		rc = sqlite3_bind_text(s, 3, c, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	store_done(s);
	return rc;
}

int
store_session_fork(struct store *st, const char *id, char **id_out)
{
	static const char op[] = "forking session";
	int err;
	*id_out = NULL;
	if ((err = store_check_str(st, op, "session id", id, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	char *nid = store_new_id("ses_");
	if (nid == NULL)
		return store_fail(st, HEARTH_EIO, "%s %s: getrandom: %s", op, id, strerror(errno));
	char **mids = NULL;
	size_t n = 0;
	int code;
	int rc = store_op_begin(st);
	if (rc != SQLITE_OK)
		goto sqlfail;
	if ((rc = store_fork_step(st, ST_FORK_SESSION, id, nid, NULL, store_now(st))) !=
	    SQLITE_DONE)
		goto sqlfail;
	if (sqlite3_changes(st->db) == 0) {
		code = store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, id);
		goto abort;
	}
	/* The message ids first: the copies are inserted while nothing reads. */
	sqlite3_stmt *s = store_stmt(st, ST_FORK_MESSAGE_IDS, &rc);
	if (s == NULL)
		goto sqlfail;
	rc = sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		mids = xreallocarray(mids, n + 1, sizeof *mids);
		mids[n++] = store_col_dup(s, 0);
		rc = SQLITE_OK;
	}
	store_done(s);
	if (rc != SQLITE_DONE)
		goto sqlfail;
	for (size_t i = 0; i < n; i++) {
		char *mid = store_new_id("msg_");
		if (mid == NULL) {
			code = store_fail(st, HEARTH_EIO, "%s %s: getrandom: %s", op, id,
					  strerror(errno));
			goto abort;
		}
		rc = store_fork_step(st, ST_FORK_MESSAGE, mids[i], nid, mid, 0);
		if (rc == SQLITE_DONE)
			rc = store_fork_step(st, ST_FORK_PARTS, mids[i], mid, NULL, 0);
		free(mid);
		if (rc != SQLITE_DONE)
			goto sqlfail;
	}
	if ((rc = store_fork_step(st, ST_FORK_EVENTS, id, nid, NULL, 0)) != SQLITE_DONE)
		goto sqlfail;
	if ((rc = store_op_commit(st)) != SQLITE_OK)
		goto sqlfail;
	for (size_t i = 0; i < n; i++)
		free(mids[i]);
	free(mids);
	*id_out = nid;
	return 0;

sqlfail:
	code = store_sqlfail(st, rc, "%s %s", op, id);
abort:
	store_op_abort(st);
	for (size_t i = 0; i < n; i++)
		free(mids[i]);
	free(mids);
	free(nid);
	return code;
}

int
store_mark_interrupted(struct store *st)
{
	int err = store_writable(st);
	if (err != 0)
		return err;
	int rc = store_exec(st, ST_MARK_INTERRUPTED);
	if (rc != SQLITE_OK)
		return store_sqlfail(st, rc, "marking interrupted sessions");
	return sqlite3_changes(st->db);
}

/* 1 when the session exists, 0 when not, or a negative HEARTH_E* (recorded). */
static int
store_session_exists(struct store *st, const char *id, const char *op)
{
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_SESSION_EXISTS, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_sqlfail(st, rc, "%s %s", op, id);
}

int
store_session_usage(struct store *st, const char *session_id, struct store_usage *out)
{
	static const char op[] = "reading the usage of session";
	int err;
	memset(out, 0, sizeof *out);
	if ((err = store_check_str(st, op, "session id", session_id, 0)) != 0)
		return err;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_SESSION_USAGE, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			out->tokens.input_tokens = store_col_u64(s, 0);
			out->tokens.output_tokens = store_col_u64(s, 1);
			out->tokens.reasoning_tokens = store_col_u64(s, 2);
			out->tokens.cache_read_tokens = store_col_u64(s, 3);
			out->tokens.cache_write_tokens = store_col_u64(s, 4);
			out->cost_micros = sqlite3_column_int64(s, 5);
		}
		store_done(s);
	}
	if (rc == SQLITE_DONE)
		return store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, session_id);
	if (rc != SQLITE_ROW)
		return store_sqlfail(st, rc, "%s %s", op, session_id);
	return 0;
}

/* ----------------------------------------------------------------- events -- */

int64_t
store_event_append(struct store *st, const char *session_id, const char *type,
		   const json_t *payload)
{
	static const char op[] = "appending event to session";
	int err;
	if ((err = store_check_str(st, op, "session id", session_id, 0)) != 0 ||
	    (err = store_check_str(st, op, "event type", type, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	char *text = json_dumps(payload != NULL ? payload : json_null(),
				JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL)
		return store_fail(st, HEARTH_EINVAL, "%s %s: the payload cannot be serialized",
				  op, session_id);
	size_t len = strlen(text);
	if (len > STORE_VALUE_MAX) {
		free(text);
		return store_fail(st, HEARTH_ELIMIT, "%s %s: the payload is %zu bytes, over %d",
				  op, session_id, len, STORE_VALUE_MAX);
	}

	int64_t now = store_now(st), seq = 0;
	int code;
	sqlite3_stmt *s;
	int rc = store_op_begin(st);
	if (rc != SQLITE_OK)
		goto sqlfail;
	if ((s = store_stmt(st, ST_SEQ_NEXT, &rc)) == NULL)
		goto sqlfail;
	rc = sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(s, 0);
		rc = sqlite3_step(s); /* RETURNING: run to the end */
	}
	store_done(s);
	if (rc != SQLITE_DONE)
		goto sqlfail;
	if (seq == 0) {
		code = store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, session_id);
		goto abort;
	}

	if ((s = store_stmt(st, ST_EVENT_INSERT, &rc)) == NULL)
		goto sqlfail;
	rc = sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 3, type, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 4, text, (int)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 5, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	store_done(s);
	if (rc != SQLITE_DONE)
		goto sqlfail;
	if ((rc = store_op_commit(st)) != SQLITE_OK)
		goto sqlfail;
	free(text);
	return seq;

sqlfail:
	code = store_sqlfail(st, rc, "%s %s", op, session_id);
abort:
	store_op_abort(st);
	free(text);
	return code;
}

int
store_events_since(struct store *st, const char *session_id, int64_t after_seq,
		   int (*cb)(void *arg, int64_t seq, const char *type, const json_t *payload),
		   void *arg)
{
	static const char op[] = "reading events of session";
	int err;
	if ((err = store_check_str(st, op, "session id", session_id, 0)) != 0)
		return err;
	int exists = store_session_exists(st, session_id, op);
	if (exists < 0)
		return exists;
	if (exists == 0)
		return store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, session_id);

	/* Not a cached statement: cb may call into the store, even this function. */
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db,
				    "SELECT seq, type, payload FROM events WHERE session_id = ?1"
				    " AND seq > ?2 ORDER BY seq",
				    -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_sqlfail(st, rc, "%s %s", op, session_id);
	rc = sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, after_seq);
	int ret = 0;
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(s);
		if (rc != SQLITE_ROW)
			break;
		int64_t seq = sqlite3_column_int64(s, 0);
		const char *type = (const char *)sqlite3_column_text(s, 1);
		const char *data = (const char *)sqlite3_column_blob(s, 2);
		size_t len = (size_t)sqlite3_column_bytes(s, 2);
		json_error_t jerr;
		json_t *payload = json_loadb(data != NULL ? data : "", len,
					     JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (payload == NULL) {
			ret = store_fail(st, HEARTH_EIO, "%s %s: event %lld has a corrupt "
					 "payload: %s", op, session_id, (long long)seq, jerr.text);
			break;
		}
		ret = cb(arg, seq, type != NULL ? type : "", payload);
		json_decref(payload);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_sqlfail(st, rc, "%s %s", op, session_id);
	sqlite3_finalize(s);
	return ret;
}

/* --------------------------------------------------------- messages, parts -- */

void
store_message_clear(struct store_message *m)
{
	if (m == NULL)
		return;
	free(m->id);
	free(m->session_id);
	free(m->role);
	free(m->model);
	free(m->finish);
	memset(m, 0, sizeof *m);
}

int
store_message_add(struct store *st, const char *session_id, const char *role,
		  const char *model, char **id_out)
{
	static const char op[] = "adding message to session";
	int err;
	*id_out = NULL;
	if ((err = store_check_str(st, op, "session id", session_id, 0)) != 0 ||
	    (err = store_check_str(st, op, "role", role, 0)) != 0 ||
	    (err = store_check_str(st, op, "model", model, 1)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 &&
	    strcmp(role, "tool") != 0)
		return store_fail(st, HEARTH_EINVAL, "%s %s: unknown role \"%.64s\" (user, "
				  "assistant or tool)", op, session_id, role);
	char *id = store_new_id("msg_");
	if (id == NULL)
		return store_fail(st, HEARTH_EIO, "%s %s: getrandom: %s", op, session_id,
				  strerror(errno));

	int64_t now = store_now(st);
	int code;
	sqlite3_stmt *s;
	int rc = store_op_begin(st);
	if (rc != SQLITE_OK)
		goto sqlfail;
	if ((s = store_stmt(st, ST_MESSAGE_INSERT, &rc)) == NULL)
		goto sqlfail;
	rc = sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 2, session_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 3, role, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 4, model, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 5, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	store_done(s);
	if (rc != SQLITE_DONE)
		goto sqlfail;
	if (sqlite3_changes(st->db) == 0) {
		code = store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, session_id);
		goto abort;
	}
	if ((s = store_stmt(st, ST_SESSION_TOUCH, &rc)) == NULL)
		goto sqlfail;
	rc = sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	store_done(s);
	if (rc != SQLITE_DONE)
		goto sqlfail;
	if ((rc = store_op_commit(st)) != SQLITE_OK)
		goto sqlfail;
	*id_out = id;
	return 0;

sqlfail:
	code = store_sqlfail(st, rc, "%s %s", op, session_id);
abort:
	store_op_abort(st);
	free(id);
	return code;
}

int
store_message_get(struct store *st, const char *message_id, struct store_message *out)
{
	static const char op[] = "reading message";
	int err;
	memset(out, 0, sizeof *out);
	if ((err = store_check_str(st, op, "message id", message_id, 0)) != 0)
		return err;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_MESSAGE_GET, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			out->id = store_col_dup(s, 0);
			out->session_id = store_col_dup(s, 1);
			out->idx = sqlite3_column_int64(s, 2);
			out->role = store_col_dup(s, 3);
			out->model = store_col_dup(s, 4);
			out->finish = store_col_dup(s, 5);
			out->created_at = sqlite3_column_int64(s, 6);
			out->usage.input_tokens = store_col_u64(s, 7);
			out->usage.output_tokens = store_col_u64(s, 8);
			out->usage.reasoning_tokens = store_col_u64(s, 9);
			out->usage.cache_read_tokens = store_col_u64(s, 10);
			out->usage.cache_write_tokens = store_col_u64(s, 11);
			out->cost_micros = sqlite3_column_int64(s, 12);
		}
		store_done(s);
	}
	if (rc == SQLITE_DONE)
		return store_fail(st, HEARTH_ENOENT, "%s %s: no such message", op, message_id);
	if (rc != SQLITE_ROW)
		return store_sqlfail(st, rc, "%s %s", op, message_id);
	return 0;
}

enum store_field_kind { F_STRING, F_NONEMPTY, F_OBJECT, F_BOOLEAN };

struct store_part_rule {
	const char *type;
	struct {
		const char *key;
		enum store_field_kind kind;
		int optional;
	} fields[4];
};

/* The part types and their members (store.h, after provider.h). */
static const struct store_part_rule store_part_rules[] = {
	{ "text", { { "text", F_STRING, 0 }, { "meta", F_OBJECT, 1 } } },
	{ "reasoning", { { "text", F_STRING, 0 }, { "meta", F_OBJECT, 1 } } },
	{ "tool_call", { { "id", F_NONEMPTY, 0 }, { "name", F_NONEMPTY, 0 },
			 { "input", F_OBJECT, 0 }, { "meta", F_OBJECT, 1 } } },
	{ "tool_result", { { "id", F_NONEMPTY, 0 }, { "content", F_STRING, 0 },
			   { "name", F_STRING, 1 }, { "is_error", F_BOOLEAN, 1 } } },
	{ "image", { { "mime", F_STRING, 0 }, { "data", F_STRING, 0 } } },
	{ "file", { { "mime", F_STRING, 0 }, { "data", F_STRING, 0 }, { "name", F_STRING, 1 } } },
	{ "diff", { { "diff", F_STRING, 0 }, { "path", F_STRING, 1 } } },
};

static int
store_field_ok(const json_t *v, enum store_field_kind kind)
{
	switch (kind) {
	case F_STRING:
		return json_is_string(v);
	case F_NONEMPTY:
		return json_is_string(v) && json_string_length(v) > 0;
	case F_OBJECT:
		return json_is_object(v);
	case F_BOOLEAN:
		return json_is_boolean(v);
	}
	return 0;
}

static const char *
store_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* What is wrong with `part` (malloc'd), or NULL when it is valid. */
static char *
store_part_problem(const json_t *part)
{
	static const char *const kind_words[] = {
		[F_STRING] = "a string", [F_NONEMPTY] = "a non-empty string",
		[F_OBJECT] = "an object", [F_BOOLEAN] = "a boolean",
	};
	if (part == NULL)
		return xstrdup("the part is missing");
	if (!json_is_object(part))
		return xasprintf("a part must be a JSON object, not %s",
				 store_json_type_name(part));
	const json_t *type = json_object_get(part, "type");
	if (!json_is_string(type))
		return xstrdup("a part needs a string \"type\"");
	const struct store_part_rule *rule = NULL;
	for (size_t i = 0; i < sizeof store_part_rules / sizeof store_part_rules[0]; i++) {
		if (strcmp(json_string_value(type), store_part_rules[i].type) == 0)
			rule = &store_part_rules[i];
	}
	if (rule == NULL)
		return xasprintf("unknown part type \"%.64s\" (text, reasoning, tool_call, "
				 "tool_result, image, file, diff)", json_string_value(type));
	for (size_t i = 0; i < 4 && rule->fields[i].key != NULL; i++) {
		const json_t *v = json_object_get(part, rule->fields[i].key);
		if (v == NULL && rule->fields[i].optional)
			continue;
		if (store_field_ok(v, rule->fields[i].kind))
			continue;
		if (rule->fields[i].kind == F_NONEMPTY && json_is_string(v))
			return xasprintf("the \"%s\" of a %s part is empty",
					 rule->fields[i].key, rule->type);
		if (v == NULL)
			return xasprintf("a %s part needs %s \"%s\"", rule->type,
					 kind_words[rule->fields[i].kind], rule->fields[i].key);
		return xasprintf("the \"%s\" of a %s part must be %s, not %s",
				 rule->fields[i].key, rule->type,
				 kind_words[rule->fields[i].kind], store_json_type_name(v));
	}
	return NULL;
}

int
store_part_add(struct store *st, const char *message_id, const json_t *part)
{
	static const char op[] = "adding part to message";
	int err;
	if ((err = store_check_str(st, op, "message id", message_id, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	char *why = store_part_problem(part);
	if (why != NULL) {
		err = store_fail(st, HEARTH_EINVAL, "%s %s: %s", op, message_id, why);
		free(why);
		return err;
	}
	char *text = json_dumps(part, JSON_COMPACT);
	if (text == NULL)
		return store_fail(st, HEARTH_EINVAL, "%s %s: the part cannot be serialized", op,
				  message_id);
	size_t len = strlen(text);
	if (len > STORE_VALUE_MAX) {
		free(text);
		return store_fail(st, HEARTH_ELIMIT, "%s %s: the part is %zu bytes, over %d",
				  op, message_id, len, STORE_VALUE_MAX);
	}
	/* One statement: the index and the insert are atomic without a transaction. */
	int rc, idx = -1;
	sqlite3_stmt *s = store_stmt(st, ST_PART_INSERT, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, json_string_value(json_object_get(part, "type")),
					       -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 3, text, (int)len, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			idx = sqlite3_column_int(s, 0);
			rc = sqlite3_step(s);
		}
		store_done(s);
	}
	free(text);
	if (rc != SQLITE_DONE)
		return store_sqlfail(st, rc, "%s %s", op, message_id);
	if (idx < 0)
		return store_fail(st, HEARTH_ENOENT, "%s %s: no such message", op, message_id);
	return idx;
}

/*
 * Rewrite part `part_idx` of a message: load it, let `change` edit the JSON (it
 * returns 0, or a code after store_fail()), check the size, store it back; all in
 * one operation, so a failure changes nothing.
 */
static int
store_part_rewrite(struct store *st, const char *op, const char *message_id, int part_idx,
		   int (*change)(struct store *st, const char *op, const char *message_id,
				 int part_idx, json_t *part, void *arg),
		   void *arg)
{
	json_t *part = NULL;
	char *dump = NULL;
	int code;
	sqlite3_stmt *s;
	int rc = store_op_begin(st);
	if (rc != SQLITE_OK)
		goto sqlfail;
	if ((s = store_stmt(st, ST_PART_GET, &rc)) == NULL)
		goto sqlfail;
	rc = sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 2, part_idx);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	json_error_t jerr = { .text = "" };
	if (rc == SQLITE_ROW) {
		const char *data = (const char *)sqlite3_column_blob(s, 0);
		part = json_loadb(data != NULL ? data : "", (size_t)sqlite3_column_bytes(s, 0),
				  JSON_ALLOW_NUL, &jerr);
	}
	store_done(s);
	if (rc == SQLITE_DONE) {
		code = store_fail(st, HEARTH_ENOENT, "%s %s: no part %d", op, message_id,
				  part_idx);
		goto abort;
	}
	if (rc != SQLITE_ROW)
		goto sqlfail;
	if (part == NULL) {
		code = store_fail(st, HEARTH_EIO, "%s %s: part %d is corrupt: %s", op,
				  message_id, part_idx, jerr.text);
		goto abort;
	}
	if ((code = change(st, op, message_id, part_idx, part, arg)) != 0)
		goto abort;
	dump = json_dumps(part, JSON_COMPACT);
	size_t dlen = dump != NULL ? strlen(dump) : 0;
	if (dump == NULL || dlen > STORE_VALUE_MAX) {
		code = store_fail(st, HEARTH_ELIMIT, "%s %s part %d: the part would be over "
				  "%d bytes", op, message_id, part_idx, STORE_VALUE_MAX);
		goto abort;
	}
	if ((s = store_stmt(st, ST_PART_UPDATE, &rc)) == NULL)
		goto sqlfail;
	rc = sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 2, part_idx);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 3, dump, (int)dlen, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	store_done(s);
	if (rc != SQLITE_DONE)
		goto sqlfail;
	if ((rc = store_op_commit(st)) != SQLITE_OK)
		goto sqlfail;
	json_decref(part);
	free(dump);
	return 0;

sqlfail:
	code = store_sqlfail(st, rc, "%s %s part %d", op, message_id, part_idx);
abort:
	store_op_abort(st);
	json_decref(part);
	free(dump);
	return code;
}

struct store_append {
	const char *text;
	size_t len;
};

static int
store_append_change(struct store *st, const char *op, const char *message_id, int part_idx,
		    json_t *part, void *arg)
{
	const struct store_append *a = arg;
	json_t *old = json_object_get(part, "text");
	if (!json_is_string(old))
		return store_fail(st, HEARTH_EINVAL, "%s %s: part %d (%.32s) has no text", op,
				  message_id, part_idx,
				  json_string_value(json_object_get(part, "type")) != NULL
				  ? json_string_value(json_object_get(part, "type")) : "?");
	size_t olen = json_string_length(old);
	if (olen + a->len > STORE_VALUE_MAX)
		return store_fail(st, HEARTH_ELIMIT, "%s %s part %d: the text would be %zu "
				  "bytes, over %d", op, message_id, part_idx, olen + a->len,
				  STORE_VALUE_MAX);
	char *joined = xmalloc(olen + a->len + 1);
	memcpy(joined, json_string_value(old), olen);
	if (a->len > 0)
		memcpy(joined + olen, a->text, a->len);
	/* Two valid UTF-8 strings make a valid one: no need to check again. */
	json_object_set_new(part, "text", json_stringn_nocheck(joined, olen + a->len));
	free(joined);
	return 0;
}

int
store_part_append_text(struct store *st, const char *message_id, int part_idx,
		       const char *text, size_t len)
{
	static const char op[] = "appending text to message";
	int err;
	if ((err = store_check_str(st, op, "message id", message_id, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	if (text == NULL && len > 0)
		return store_fail(st, HEARTH_EINVAL, "%s %s: the text is missing", op,
				  message_id);
	if (len > STORE_VALUE_MAX)
		return store_fail(st, HEARTH_ELIMIT, "%s %s part %d: %zu bytes is over %d", op,
				  message_id, part_idx, len, STORE_VALUE_MAX);
	/* The delta on its own must be UTF-8 (deltas are whole characters). */
	json_t *delta = json_stringn(len > 0 ? text : "", len);
	if (delta == NULL)
		return store_fail(st, HEARTH_EINVAL, "%s %s part %d: the text is not valid "
				  "UTF-8", op, message_id, part_idx);
	json_decref(delta);
	struct store_append a = { .text = text, .len = len };
	return store_part_rewrite(st, op, message_id, part_idx, store_append_change, &a);
}

static int
store_meta_change(struct store *st, const char *op, const char *message_id, int part_idx,
		  json_t *part, void *arg)
{
	json_object_set(part, "meta", (json_t *)arg);
	return 0;
}

int
store_part_set_meta(struct store *st, const char *message_id, int part_idx, const json_t *meta)
{
	static const char op[] = "setting the meta of message";
	int err;
	if ((err = store_check_str(st, op, "message id", message_id, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	if (!json_is_object(meta))
		return store_fail(st, HEARTH_EINVAL, "%s %s part %d: meta must be an object", op,
				  message_id, part_idx);
	return store_part_rewrite(st, op, message_id, part_idx, store_meta_change,
				  (void *)(uintptr_t)meta);
}

int
store_message_finish(struct store *st, const char *message_id, enum hearth_finish finish,
		     const struct hearth_usage *usage, int64_t cost_micros)
{
	static const char op[] = "finishing message";
	int err;
	if ((err = store_check_str(st, op, "message id", message_id, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	const char *name = store_finish_name(finish);
	if (name == NULL)
		return store_fail(st, HEARTH_EINVAL, "%s %s: no finish reason %d", op,
				  message_id, (int)finish);
	static const struct hearth_usage none;
	if (usage == NULL)
		usage = &none;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_MESSAGE_FINISH, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 3, store_clamp_i64(usage->input_tokens));
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 4, store_clamp_i64(usage->output_tokens));
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 5, store_clamp_i64(usage->reasoning_tokens));
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 6, store_clamp_i64(usage->cache_read_tokens));
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 7, store_clamp_i64(usage->cache_write_tokens));
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 8, cost_micros);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc != SQLITE_DONE)
		return store_sqlfail(st, rc, "%s %s", op, message_id);
	if (sqlite3_changes(st->db) == 0)
		return store_fail(st, HEARTH_ENOENT, "%s %s: no such message", op, message_id);
	return 0;
}

json_t *
store_history(struct store *st, const char *session_id)
{
	return store_history_ids(st, session_id, NULL);
}

json_t *
store_history_ids(struct store *st, const char *session_id, json_t **ids_out)
{
	static const char op[] = "reading the history of session";
	if (ids_out != NULL)
		*ids_out = NULL;
	if (store_check_str(st, op, "session id", session_id, 0) != 0)
		return NULL;
	int exists = store_session_exists(st, session_id, op);
	if (exists < 0)
		return NULL;
	if (exists == 0) {
		store_fail(st, HEARTH_ENOENT, "%s %s: no such session", op, session_id);
		return NULL;
	}
	json_t *messages = json_array();
	json_t *ids = ids_out != NULL ? json_array() : NULL;
	json_t *parts = NULL;   /* the current message's, borrowed from it */
	int64_t cur = -1;
	int failed = 0;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_HISTORY, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, session_id, -1, SQLITE_STATIC);
		while (rc == SQLITE_OK || rc == SQLITE_ROW) {
			rc = sqlite3_step(s);
			if (rc != SQLITE_ROW)
				break;
			int64_t midx = sqlite3_column_int64(s, 0);
			if (parts == NULL || midx != cur) {
				const char *role = (const char *)sqlite3_column_text(s, 2);
				parts = json_array();
				json_array_append_new(messages,
						      json_pack("{s:s, s:o}", "role",
								role != NULL ? role : "",
								"parts", parts));
				if (ids != NULL)
					json_array_append_new(ids, json_string(
						(const char *)sqlite3_column_text(s, 1)));
				cur = midx;
			}
			if (sqlite3_column_type(s, 4) == SQLITE_NULL)
				continue; /* a message without parts */
			const char *data = (const char *)sqlite3_column_blob(s, 4);
			json_error_t jerr;
			json_t *part = json_loadb(data != NULL ? data : "",
						  (size_t)sqlite3_column_bytes(s, 4),
						  JSON_ALLOW_NUL, &jerr);
			if (part == NULL) {
				store_fail(st, HEARTH_EIO, "%s %s: part %d of message %s is "
					   "corrupt: %s", op, session_id, sqlite3_column_int(s, 3),
					   (const char *)sqlite3_column_text(s, 1), jerr.text);
				failed = 1;
				break;
			}
			json_array_append_new(parts, part);
		}
		store_done(s);
	}
	if (!failed && rc != SQLITE_DONE) {
		store_sqlfail(st, rc, "%s %s", op, session_id);
		failed = 1;
	}
	if (failed) {
		json_decref(messages);
		json_decref(ids);
		return NULL;
	}
	if (ids_out != NULL)
		*ids_out = ids;
	return messages;
}

/* -------------------------------------------------------------------- kv -- */

int
store_kv_get(struct store *st, const char *module, const char *key, char **value,
	     size_t *len)
{
	static const char op[] = "reading key";
	int err;
	*value = NULL;
	if (len != NULL)
		*len = 0;
	if ((err = store_check_str(st, op, "module", module, 0)) != 0 ||
	    (err = store_check_str(st, op, "key", key, 0)) != 0)
		return err;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_KV_GET, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, module, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const void *data = sqlite3_column_blob(s, 0);
			size_t n = (size_t)sqlite3_column_bytes(s, 0);
			*value = xmalloc(n + 1);
			if (n > 0)
				memcpy(*value, data, n);
			(*value)[n] = '\0';
			if (len != NULL)
				*len = n;
		}
		store_done(s);
	}
	if (rc == SQLITE_DONE)
		return store_fail(st, HEARTH_ENOENT, "%s %s of %s: no such key", op, key, module);
	if (rc != SQLITE_ROW)
		return store_sqlfail(st, rc, "%s %s of %s", op, key, module);
	return 0;
}

int
store_kv_put(struct store *st, const char *module, const char *key, const void *value,
	     size_t len)
{
	static const char op[] = "writing key";
	int err;
	if ((err = store_check_str(st, op, "module", module, 0)) != 0 ||
	    (err = store_check_str(st, op, "key", key, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	if (value == NULL && len > 0)
		return store_fail(st, HEARTH_EINVAL, "%s %s of %s: the value is missing", op,
				  key, module);
	if (len > STORE_VALUE_MAX)
		return store_fail(st, HEARTH_ELIMIT, "%s %s of %s: the value is %zu bytes, "
				  "over %d", op, key, module, len, STORE_VALUE_MAX);
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_KV_PUT, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, module, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
		/* A NULL pointer would bind SQL NULL: an empty value is a zero blob. */
		if (rc == SQLITE_OK)
			rc = len > 0 ? sqlite3_bind_blob(s, 3, value, (int)len, SQLITE_STATIC)
				     : sqlite3_bind_zeroblob(s, 3, 0);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc != SQLITE_DONE)
		return store_sqlfail(st, rc, "%s %s of %s", op, key, module);
	return 0;
}

int
store_kv_delete(struct store *st, const char *module, const char *key)
{
	static const char op[] = "deleting key";
	int err;
	if ((err = store_check_str(st, op, "module", module, 0)) != 0 ||
	    (err = store_check_str(st, op, "key", key, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_KV_DELETE, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, module, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc != SQLITE_DONE)
		return store_sqlfail(st, rc, "%s %s of %s", op, key, module);
	if (sqlite3_changes(st->db) == 0)
		return store_fail(st, HEARTH_ENOENT, "%s %s of %s: no such key", op, key, module);
	return 0;
}

/* ------------------------------------------------------------ permissions -- */

int
store_permission_put(struct store *st, const char *project, const char *tool,
		     const char *pattern, const char *decision)
{
	static const char op[] = "remembering a permission";
	int err;
	if ((err = store_check_str(st, op, "project", project, 0)) != 0 ||
	    (err = store_check_str(st, op, "tool", tool, 0)) != 0 ||
	    (err = store_check_str(st, op, "pattern", pattern, 0)) != 0 ||
	    (err = store_check_str(st, op, "decision", decision, 0)) != 0 ||
	    (err = store_writable(st)) != 0)
		return err;
	if (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0)
		return store_fail(st, HEARTH_EINVAL, "%s for %s in %s: decision \"%.32s\" is "
				  "neither allow nor deny", op, tool, project, decision);
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_PERM_PUT, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, project, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, tool, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 3, pattern, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 4, decision, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 5, store_now(st));
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		store_done(s);
	}
	if (rc != SQLITE_DONE)
		return store_sqlfail(st, rc, "%s for %s in %s", op, tool, project);
	return 0;
}

int
store_permission_get(struct store *st, const char *project, const char *tool,
		     const char *subject, char **decision)
{
	static const char op[] = "looking up a permission";
	int err;
	*decision = NULL;
	if ((err = store_check_str(st, op, "project", project, 0)) != 0 ||
	    (err = store_check_str(st, op, "tool", tool, 0)) != 0 ||
	    (err = store_check_str(st, op, "subject", subject, 0)) != 0)
		return err;
	int rc;
	sqlite3_stmt *s = store_stmt(st, ST_PERM_GET, &rc);
	if (s != NULL) {
		rc = sqlite3_bind_text(s, 1, project, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, tool, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 3, subject, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*decision = store_col_dup(s, 0);
		store_done(s);
	}
	if (rc == SQLITE_DONE)
		return store_fail(st, HEARTH_ENOENT, "%s for %s in %s: none remembered", op,
				  tool, project);
	if (rc != SQLITE_ROW)
		return store_sqlfail(st, rc, "%s for %s in %s", op, tool, project);
	if (*decision == NULL)
		return store_fail(st, HEARTH_EIO, "%s for %s in %s: the decision is NULL", op,
				  tool, project);
	return 0;
}
