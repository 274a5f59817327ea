/*
 * edit: the file tools `read`, `write` and `edit`.
 *
 * A call goes through three steps. run() (loop thread) resolves the path against
 * the session's project directory with realpath and checks confinement; then, on
 * the next loop iteration (a 0 ms timer, so a call never finishes inside run()),
 * the file I/O runs: inline for small files, on host->work_queue for files over
 * `offload_bytes`. The I/O never follows a path string: it opens the resolved
 * path's directories one by one from the root with openat(O_NOFOLLOW), so a
 * directory swapped for a symlink after the check is refused, not followed.
 *
 * Changes are atomic (temporary file in the same directory, fsync, renameat), keep
 * the mode and the line endings, and are refused when the file changed on disk
 * since the model last read it in the session: reads record each file's identity
 * (size and a content hash) per session and path.
 */
#define _GNU_SOURCE /* vasprintf, getrandom */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hearth/tool.h>

#include "names.h"

#define EDIT_DEFAULT_MAX_READ_BYTES (256 * 1024)
#define EDIT_DEFAULT_MAX_READ_LINES 2000
#define EDIT_DEFAULT_OFFLOAD (1024 * 1024)
#define EDIT_DEFAULT_MAX_DIFF (1024 * 1024)
#define EDIT_BINARY_PROBE 8192
#define EDIT_CONTEXT 3
#define EDIT_MAX_D 1000 /* Myers gives up beyond this many differences */
#define EDIT_MAX_LINES_LISTED 10
#define EDIT_MAX_RECORDS 4096 /* files remembered as read, all sessions together */

enum edit_op { EDIT_READ, EDIT_WRITE, EDIT_EDIT };

/* What a read saw of a file: enough to tell a later change. */
struct edit_ident {
	long long size;
	uint64_t hash;
};

/* The last identity read per session and absolute path (a short list). */
struct edit_record {
	struct edit_record *next;
	char *session_id, *abs;
	struct edit_ident id;
};

struct edit_job;

struct edit {
	const struct hearth_host *host;
	long long max_read_bytes, max_read_lines, offload_bytes, max_diff_bytes;
	struct edit_record *records;
	struct edit_job *jobs; /* in flight */
};

struct edit_change {
	char *old_s, *new_s;
	int replace_all;
};

/* A growable byte buffer; an allocation failure sets oom and later appends do nothing. */
struct edit_buf {
	char *p;
	size_t len, cap;
	int oom;
};

struct edit_job {
	struct edit_job *next, *prev;
	struct edit *e; /* not for the I/O step: fini() may free it while that runs */
	struct hearth_tool_call *call;
	enum edit_op op;
	size_t max_read, max_diff; /* the module's settings, for the I/O step */
	char *abs;     /* the resolved absolute path */
	char *display; /* project-relative, or absolute outside the project; as names.h shows it */
	char *root;    /* the directory the I/O starts from */
	char *rel;     /* the resolved path relative to root */
	long long offset, limit;
	int limit_given;
	char *content; /* write */
	size_t content_len;
	struct edit_change *changes; /* edit */
	size_t n_changes;
	int has_rec;
	struct edit_ident rec;
	struct hearth_timer *timer;
	struct hearth_work *work;
	int big;
	int waiting;   /* for another call on the same path to end */
	int work_done; /* it went through the thread pool */
	size_t first_line; /* of the change, or of what read showed; 0: unknown */
	/* Results, filled by the I/O step (plain memory: it may run on a pool thread). */
	char *err;
	struct edit_buf text; /* read output or the unified diff */
	char *old_text, *new_text; /* escaped, for the ACP diff content; NULL: none */
	int created, record;
	struct edit_ident newid;
};

/* ------------------------------------------------------------ buffers -- */

static void
edit_buf_add(struct edit_buf *b, const void *data, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
edit_buf_str(struct edit_buf *b, const char *s)
{
	edit_buf_add(b, s, strlen(s));
}

static void
edit_buf_printf(struct edit_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof small) {
		edit_buf_add(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	edit_buf_add(b, big, (size_t)n);
	free(big);
}

/* The buffer's bytes as a malloc'd string (the caller frees); NULL on oom. */
static char *
edit_buf_take(struct edit_buf *b)
{
	if (b->oom) {
		free(b->p);
		*b = (struct edit_buf){0};
		return NULL;
	}
	char *p = b->p ? b->p : strdup("");
	*b = (struct edit_buf){0};
	return p;
}

/* A malloc'd formatted string, or NULL on out of memory; the caller frees. */
static char *
edit_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* Set the job's error once (the first one wins). */
static void
edit_fail(struct edit_job *j, const char *fmt, ...)
{
	if (j->err != NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&j->err, fmt, ap) < 0)
		j->err = NULL;
	va_end(ap);
	if (j->err == NULL)
		j->err = strdup("out of memory");
}

static uint64_t
edit_hash(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define EDIT_HASH_INIT 0xcbf29ce484222325ULL

/* ---------------------------------------------------------- encodings -- */

/* The length of the valid UTF-8 sequence at p (n bytes left), or 0 if invalid. */
static size_t
edit_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	if (c >= 0x01 && c < 0x80)
		return 1;
	size_t need;
	unsigned lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < need + 1 || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return need + 1;
}

/* Append p[0..n) as valid UTF-8: every byte that is not part of a valid sequence
 * (and NUL) becomes the four characters \xNN, so nothing is dropped. */
static void
edit_escape(struct edit_buf *b, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, run = 0;
	while (i < n) {
		size_t l = edit_utf8_len(u + i, n - i);
		if (l > 0) {
			i += l;
			continue;
		}
		edit_buf_add(b, p + run, i - run);
		edit_buf_printf(b, "\\x%02X", u[i]);
		i++;
		run = i;
	}
	edit_buf_add(b, p + run, n - run);
}

static char *
edit_escape_dup(const char *p, size_t n)
{
	struct edit_buf b = {0};
	edit_escape(&b, p, n);
	return edit_buf_take(&b);
}

/* A new JSON string of s escaped to valid UTF-8 (paths need not be UTF-8). */
static json_t *
edit_json_path(const char *s)
{
	char *e = edit_escape_dup(s, strlen(s));
	json_t *v = json_string(e != NULL ? e : "");
	free(e);
	return v;
}

static int
edit_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The inverse of edit_escape: \xNN back to a byte. A new malloc'd string. */
static char *
edit_unescape(const char *s, size_t *len)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' &&
		    (h = edit_hexval(s[i + 2])) >= 0 && (l = edit_hexval(s[i + 3])) >= 0) {
			out[o++] = (char)(h << 4 | l);
			i += 3;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* Does the text use CRLF line ends? Decided by its first line end. */
static int
edit_uses_crlf(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	return nl != NULL && nl > p && nl[-1] == '\r';
}

/* LF to CRLF (a LF already after a CR stays). A new malloc'd buffer, or NULL. */
static char *
edit_to_crlf(const char *p, size_t n, size_t *out_len)
{
	struct edit_buf b = {0};
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) {
			edit_buf_add(&b, p + run, i - run);
			edit_buf_add(&b, "\r\n", 2);
			run = i + 1;
		}
	}
	edit_buf_add(&b, p + run, n - run);
	*out_len = b.len;
	if (b.p == NULL && !b.oom)
		edit_buf_add(&b, "", 0);
	return edit_buf_take(&b);
}

/* ------------------------------------------------------------- diffs -- */

struct edit_line {
	const char *p;
	size_t len; /* with its '\n' when it has one */
	uint64_t h;
};

struct edit_lines {
	struct edit_line *v;
	size_t n;
};

static int
edit_split(const char *p, size_t n, struct edit_lines *out)
{
	size_t count = 0;
	for (const char *q = p; q < p + n; count++) {
		const char *nl = memchr(q, '\n', (size_t)(p + n - q));
		q = nl ? nl + 1 : p + n;
	}
	out->n = count;
	out->v = calloc(count ? count : 1, sizeof *out->v);
	if (out->v == NULL)
		return -1;
	size_t i = 0;
	for (const char *q = p; q < p + n; i++) {
		const char *nl = memchr(q, '\n', (size_t)(p + n - q));
		const char *e = nl ? nl + 1 : p + n;
		out->v[i].p = q;
		out->v[i].len = (size_t)(e - q);
		out->v[i].h = edit_hash(EDIT_HASH_INIT, q, out->v[i].len);
		q = e;
	}
	return 0;
}

static int
edit_line_eq(const struct edit_line *a, const struct edit_line *b)
{
	return a->h == b->h && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* A run of the edit script: kind ' ' (same), '-' (old only) or '+' (new only). */
struct edit_run {
	char kind;
	size_t a, b, n;
};

struct edit_script {
	struct edit_run *v;
	size_t n, cap;
	int oom;
};

static void
edit_script_add(struct edit_script *s, char kind, size_t a, size_t b, size_t n)
{
	if (n == 0 || s->oom)
		return;
	if (s->n > 0) {
		struct edit_run *last = &s->v[s->n - 1];
		if (last->kind == kind && last->a + (kind != '+' ? last->n : 0) == a &&
		    last->b + (kind != '-' ? last->n : 0) == b) {
			last->n += n;
			return;
		}
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct edit_run *v = realloc(s->v, cap * sizeof *v);
		if (v == NULL) {
			s->oom = 1;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct edit_run){ kind, a, b, n };
}

/*
 * Myers' O(ND) diff of a[a0..a1) and b[b0..b1), appended to s in order. Keeps
 * each round's V to walk back; beyond EDIT_MAX_D rounds it gives the middle as
 * one deletion and one insertion (still a correct, if longer, diff).
 */
static void
edit_myers(const struct edit_line *a, size_t a0, size_t a1, const struct edit_line *b,
	   size_t b0, size_t b1, struct edit_script *s)
{
	long n = (long)(a1 - a0), m = (long)(b1 - b0);
	long max = n + m;
	if (max > EDIT_MAX_D)
		max = EDIT_MAX_D;
	long off = max + 1, width = 2 * max + 3;
	long *trace = NULL;
	long *v = calloc((size_t)width, sizeof *v);
	long d, found = -1;
	if (v == NULL)
		goto fallback;
	for (d = 0; d <= max; d++) {
		long *t = realloc(trace, (size_t)((d + 1) * width) * sizeof *t);
		if (t == NULL)
			goto fallback;
		trace = t;
		for (long k = -d; k <= d; k += 2) {
			long x;
			if (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			long y = x - k;
			while (x < n && y < m && edit_line_eq(&a[a0 + x], &b[b0 + y])) {
				x++;
				y++;
			}
			v[off + k] = x;
			if (x >= n && y >= m) {
				found = d;
				break;
			}
		}
		memcpy(trace + d * width, v, (size_t)width * sizeof *v);
		if (found >= 0)
			break;
	}
	if (found < 0)
		goto fallback;
	/* Walk back from (n, m), collecting runs in reverse. */
	struct edit_run *rev = calloc((size_t)(2 * found + 2), sizeof *rev);
	if (rev == NULL)
		goto fallback;
	size_t nrev = 0;
	long x = n, y = m;
	for (d = found; d > 0; d--) {
		long *pv = trace + (d - 1) * width, k = x - y, pk;
		if (k == -d || (k != d && pv[off + k - 1] < pv[off + k + 1]))
			pk = k + 1;
		else
			pk = k - 1;
		long px = pv[off + pk], py = px - pk;
		long sx = pk == k + 1 ? px : px + 1, sy = sx - k; /* after the one step */
		if (x > sx)
			rev[nrev++] = (struct edit_run){ ' ', a0 + (size_t)sx, b0 + (size_t)sy,
							 (size_t)(x - sx) };
		if (pk == k + 1)
			rev[nrev++] = (struct edit_run){ '+', a0 + (size_t)px, b0 + (size_t)py, 1 };
		else
			rev[nrev++] = (struct edit_run){ '-', a0 + (size_t)px, b0 + (size_t)py, 1 };
		x = px;
		y = py;
	}
	if (x > 0)
		rev[nrev++] = (struct edit_run){ ' ', a0, b0, (size_t)x };
	for (size_t i = nrev; i-- > 0;)
		edit_script_add(s, rev[i].kind, rev[i].a, rev[i].b, rev[i].n);
	free(rev);
	free(trace);
	free(v);
	return;
fallback:
	free(trace);
	free(v);
	edit_script_add(s, '-', a0, b0, (size_t)n);
	edit_script_add(s, '+', a1, b0, (size_t)m);
}

static void
edit_diff_line(struct edit_buf *out, char sign, const struct edit_line *l)
{
	size_t len = l->len;
	int nl = len > 0 && l->p[len - 1] == '\n';
	if (nl)
		len--;
	if (nl && len > 0 && l->p[len - 1] == '\r')
		len--;
	edit_buf_add(out, &sign, 1);
	edit_escape(out, l->p, len);
	edit_buf_str(out, nl ? "\n" : "\n\\ No newline at end of file\n");
}

static void
edit_range(struct edit_buf *out, size_t start, size_t len)
{
	if (len == 1)
		edit_buf_printf(out, "%zu", start + 1);
	else if (len == 0)
		edit_buf_printf(out, "%zu,0", start);
	else
		edit_buf_printf(out, "%zu,%zu", start + 1, len);
}

/*
 * A unified diff (3 lines of context, escaped to valid UTF-8) of old to new,
 * appended to out; nothing when they are equal. The common head and tail are
 * trimmed first, so an edit in a huge file diffs only what changed. *first_line
 * is the first line that differs (1-based), when they differ.
 */
static int
edit_unified(struct edit_buf *out, const char *old, size_t old_len, const char *new,
	     size_t new_len, const char *label, int created, size_t *first_line)
{
	struct edit_lines A = {0}, B = {0};
	struct edit_script s = {0};
	int rc = -1;
	if (edit_split(old, old_len, &A) != 0 || edit_split(new, new_len, &B) != 0)
		goto done;
	size_t pre = 0, suf = 0;
	while (pre < A.n && pre < B.n && edit_line_eq(&A.v[pre], &B.v[pre]))
		pre++;
	while (suf < A.n - pre && suf < B.n - pre &&
	       edit_line_eq(&A.v[A.n - 1 - suf], &B.v[B.n - 1 - suf]))
		suf++;
	if (pre == A.n && pre == B.n) {
		rc = 0;
		goto done;
	}
	*first_line = pre + 1;
	edit_script_add(&s, ' ', 0, 0, pre);
	edit_myers(A.v, pre, A.n - suf, B.v, pre, B.n - suf, &s);
	edit_script_add(&s, ' ', A.n - suf, B.n - suf, suf);
	if (s.oom)
		goto done;
	/* A file name need not be UTF-8 either. */
	edit_buf_str(out, created ? "--- /dev/null\n+++ b/" : "--- a/");
	if (!created) {
		edit_escape(out, label, strlen(label));
		edit_buf_str(out, "\n+++ b/");
	}
	edit_escape(out, label, strlen(label));
	edit_buf_str(out, "\n");
	/* Group the changes into hunks: two changes closer than 2 * context share one. */
	size_t i = 0;
	while (i < s.n) {
		if (s.v[i].kind == ' ') {
			i++;
			continue;
		}
		size_t first = i, last = i; /* runs [first..last] make the hunk */
		for (size_t k = i + 1; k < s.n; k++) {
			if (s.v[k].kind != ' ') {
				last = k;
				continue;
			}
			if (k + 1 < s.n && s.v[k].n <= 2 * EDIT_CONTEXT)
				continue;
			break;
		}
		size_t ctx_before = first > 0 ? s.v[first - 1].n : 0;
		if (ctx_before > EDIT_CONTEXT)
			ctx_before = EDIT_CONTEXT;
		size_t ctx_after = last + 1 < s.n ? s.v[last + 1].n : 0;
		if (ctx_after > EDIT_CONTEXT)
			ctx_after = EDIT_CONTEXT;
		size_t a_start = s.v[first].a - ctx_before, b_start = s.v[first].b - ctx_before;
		size_t a_len = ctx_before + ctx_after, b_len = ctx_before + ctx_after;
		for (size_t k = first; k <= last; k++) {
			if (s.v[k].kind != '+')
				a_len += s.v[k].n;
			if (s.v[k].kind != '-')
				b_len += s.v[k].n;
		}
		edit_buf_str(out, "@@ -");
		edit_range(out, a_start, a_len);
		edit_buf_str(out, " +");
		edit_range(out, b_start, b_len);
		edit_buf_str(out, " @@\n");
		for (size_t c = 0; c < ctx_before; c++)
			edit_diff_line(out, ' ', &A.v[a_start + c]);
		for (size_t k = first; k <= last; k++) {
			const struct edit_run *r = &s.v[k];
			for (size_t c = 0; c < r->n; c++) {
				if (r->kind == '+')
					edit_diff_line(out, '+', &B.v[r->b + c]);
				else
					edit_diff_line(out, r->kind, &A.v[r->a + c]);
			}
		}
		if (ctx_after > 0)
			for (size_t c = 0; c < ctx_after; c++)
				edit_diff_line(out, ' ', &A.v[s.v[last + 1].a + c]);
		i = last + 1;
	}
	rc = out->oom ? -1 : 0;
done:
	free(s.v);
	free(A.v);
	free(B.v);
	return rc;
}

/* ------------------------------------------------------------- paths -- */

/*
 * Resolve `path` for a call: relative to cwd, symlinks followed (realpath of the
 * longest existing prefix; a missing rest may not hold ".."). Fills j->abs, and
 * j->root, j->rel, j->display when confinement allows it. call may be NULL (for
 * describe): the confinement check is then skipped. Returns 0, or sets j->err.
 */
static int
edit_resolve(struct edit *e, const char *cwd, const char *path, struct hearth_tool_call *call,
	     int write, struct edit_job *j)
{
	char *joined = path[0] == '/' ? strdup(path) : edit_fmt("%s/%s", cwd, path);
	char *real = NULL, *root = NULL;
	if (joined == NULL)
		goto oom;
	size_t jl = strlen(joined);
	while (jl > 1 && joined[jl - 1] == '/')
		joined[--jl] = '\0';
	real = realpath(joined, NULL);
	struct stat lst;
	if (real == NULL && errno == ENOENT && lstat(joined, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		edit_fail(j, "%s is a symlink to nothing; refused", path);
		free(joined);
		return -1;
	}
	if (real == NULL && (errno == ENOENT || errno == ENOTDIR)) {
		/* Resolve the longest existing prefix; the rest is created later. */
		size_t k = jl;
		char *tail = NULL;
		while (real == NULL) {
			while (k > 0 && joined[k - 1] != '/')
				k--;
			if (k <= 1) {
				real = strdup("/");
				tail = joined + 1;
				break;
			}
			k--; /* joined[k] is the '/' before the missing rest */
			char *prefix = strndup(joined, k);
			if (prefix == NULL)
				goto oom;
			real = realpath(prefix, NULL);
			free(prefix);
			tail = joined + k + 1;
			if (real == NULL && errno != ENOENT && errno != ENOTDIR)
				break;
		}
		if (real != NULL) {
			struct edit_buf b = {0};
			edit_buf_str(&b, real);
			char *save = NULL;
			for (char *c = strtok_r(tail, "/", &save); c != NULL;
			     c = strtok_r(NULL, "/", &save)) {
				if (strcmp(c, ".") == 0)
					continue;
				if (strcmp(c, "..") == 0) {
					free(b.p);
					free(real);
					free(joined);
					edit_fail(j, "%s: '..' after a directory that does not exist",
						  path);
					return -1;
				}
				if (b.len > 1)
					edit_buf_str(&b, "/");
				edit_buf_str(&b, c);
			}
			free(real);
			real = edit_buf_take(&b);
			if (real == NULL)
				goto oom;
		}
	}
	if (real == NULL) {
		edit_fail(j, "%s: %s", path, strerror(errno));
		free(joined);
		return -1;
	}
	free(joined);
	joined = NULL;
	j->abs = real;
	root = realpath(cwd, NULL);
	if (root == NULL)
		root = strdup(cwd);
	if (root == NULL)
		goto oom;
	size_t rl = strlen(root);
	int inside = strcmp(root, "/") == 0 ||
		     (strncmp(real, root, rl) == 0 && (real[rl] == '\0' || real[rl] == '/'));
	if (inside) {
		const char *r = strcmp(root, "/") == 0 ? real + 1 : real + rl;
		while (*r == '/')
			r++;
		j->rel = strdup(*r ? r : ".");
		j->display = j->rel != NULL ? names_escape(j->rel, strlen(j->rel), NULL) : NULL;
		j->root = root;
	} else {
		free(root);
		if (call != NULL && e->host->path_allowed(call, real, write) != 0) {
			edit_fail(j, "%s resolves to %s, outside the project directory %s; refused",
				  path, real, cwd);
			return -1;
		}
		j->rel = strdup(real[1] ? real + 1 : ".");
		j->display = names_escape(real, strlen(real), NULL);
		j->root = strdup("/");
	}
	if (j->rel == NULL || j->display == NULL || j->root == NULL)
		goto oom;
	return 0;
oom:
	free(joined);
	edit_fail(j, "out of memory");
	return -1;
}

/*
 * Open the directory that holds j->rel, walking from j->root one component at a
 * time with O_NOFOLLOW (creating missing ones when `create`). Returns its fd and
 * the last component in *base (pointing into j->rel), or -1 with j->err set.
 */
static int
edit_open_parent(struct edit_job *j, int create, const char **base)
{
	int fd = open(j->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		edit_fail(j, "%s: cannot open %s: %s", j->display, j->root, strerror(errno));
		return -1;
	}
	char *rel = j->rel, *slash;
	while ((slash = strchr(rel, '/')) != NULL) {
		*slash = '\0';
		int next = openat(fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, rel, 0777) != 0 && errno != EEXIST) {
				edit_fail(j, "%s: cannot create directory %s: %s", j->display,
					  j->rel, strerror(errno));
				*slash = '/';
				close(fd);
				return -1;
			}
			next = openat(fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int err = errno;
			struct stat st;
			if (fstatat(fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				edit_fail(j, "%s: %s%s%s became a symlink after the path was checked; "
					  "refused", j->display, strcmp(j->root, "/") ? j->root : "",
					  "/", j->rel);
			else if (err == ENOENT)
				edit_fail(j, "%s does not exist", j->display);
			else
				edit_fail(j, "%s: %s: %s", j->display, j->rel, strerror(err));
			*slash = '/';
			close(fd);
			return -1;
		}
		*slash = '/';
		close(fd);
		fd = next;
		rel = slash + 1;
	}
	*base = rel;
	return fd;
}

/* Read the whole file at fd into a malloc'd buffer (the caller frees). */
static int
edit_slurp(int fd, char **out, size_t *len)
{
	struct stat st;
	size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	char *p = malloc(cap);
	size_t n = 0;
	if (p == NULL)
		return HEARTH_ENOMEM;
	for (;;) {
		if (n == cap) {
			char *q = realloc(p, cap * 2);
			if (q == NULL) {
				free(p);
				return HEARTH_ENOMEM;
			}
			p = q;
			cap *= 2;
		}
		ssize_t r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return HEARTH_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = p;
	*len = n;
	return 0;
}

/* ------------------------------------------------------------ reading -- */

struct edit_reader {
	struct edit_job *j;
	struct edit_buf line;
	size_t lineno, shown_first, shown_last, max;
	int cut, line_cut;
};

static int
edit_in_range(struct edit_reader *r)
{
	struct edit_job *j = r->j;
	return !r->cut && r->lineno >= (size_t)j->offset &&
	       r->lineno - (size_t)j->offset < (size_t)j->limit;
}

static void
edit_read_line_end(struct edit_reader *r)
{
	if (!edit_in_range(r))
		return;
	struct edit_buf f = {0};
	size_t len = r->line.len;
	if (len > 0 && r->line.p[len - 1] == '\n')
		len--;
	if (len > 0 && r->line.p[len - 1] == '\r')
		len--;
	edit_buf_printf(&f, "%6zu\t", r->lineno);
	edit_escape(&f, r->line.p, len);
	edit_buf_str(&f, "\n");
	struct edit_buf *out = &r->j->text;
	if (out->len + f.len > r->max) {
		r->cut = 1;
		if (r->shown_last == 0) {
			/* One line over the cap: show its head, cut at a character boundary. */
			size_t keep = r->max > out->len ? r->max - out->len : 0;
			/* f.p[keep] is the first byte left out: back off to its lead byte. */
			while (keep > 0 && (f.p[keep] & 0xC0) == 0x80)
				keep--;
			edit_buf_add(out, f.p, keep);
			edit_buf_str(out, "\n");
			r->shown_first = r->shown_last = r->lineno;
			r->line_cut = 1;
		}
	} else {
		edit_buf_add(out, f.p, f.len);
		out->oom |= f.oom;
		if (r->shown_first == 0)
			r->shown_first = r->lineno;
		r->shown_last = r->lineno;
	}
	free(f.p);
}

static void
edit_do_read(struct edit_job *j)
{
	const char *base;
	int dfd = edit_open_parent(j, 0, &base);
	if (dfd < 0)
		return;
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int err = errno;
	close(dfd);
	if (fd < 0) {
		if (err == ENOENT)
			edit_fail(j, "%s does not exist", j->display);
		else if (err == ELOOP)
			edit_fail(j, "%s became a symlink after the path was checked; refused",
				  j->abs);
		else
			edit_fail(j, "%s: %s", j->display, strerror(err));
		return;
	}
	struct stat st = {0};
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		edit_fail(j, S_ISDIR(st.st_mode) ? "%s is a directory" : "%s is not a regular file",
			  j->display);
		close(fd);
		return;
	}
	struct edit_reader r = { .j = j, .lineno = 1, .max = j->max_read };
	uint64_t h = EDIT_HASH_INIT;
	long long pos = 0;
	char last = '\n';
	char *chunk = malloc(65536);
	if (chunk == NULL) {
		edit_fail(j, "out of memory");
		close(fd);
		return;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			edit_fail(j, "%s: %s", j->display, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (pos < EDIT_BINARY_PROBE) {
			size_t probe = (size_t)(EDIT_BINARY_PROBE - pos);
			const char *z = memchr(chunk, '\0', probe < (size_t)n ? probe : (size_t)n);
			if (z != NULL) {
				edit_fail(j, "%s is a binary file (a NUL byte at offset %lld); not shown",
					  j->display, pos + (long long)(z - chunk));
				break;
			}
		}
		h = edit_hash(h, chunk, (size_t)n);
		pos += n;
		last = chunk[n - 1];
		for (char *p = chunk, *end = chunk + n; p < end;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			char *seg = nl ? nl + 1 : end;
			if (edit_in_range(&r) && r.line.len <= r.max) {
				size_t take = (size_t)(seg - p);
				if (r.line.len + take > r.max + 1)
					take = r.max + 1 - r.line.len; /* enough to see it is over */
				edit_buf_add(&r.line, p, take);
			}
			if (nl != NULL) {
				edit_read_line_end(&r);
				r.lineno++;
				r.line.len = 0;
			}
			p = seg;
		}
	}
	free(chunk);
	if (j->err == NULL && last != '\n') {
		edit_read_line_end(&r); /* a last line without newline */
		r.lineno++;
	}
	free(r.line.p);
	close(fd);
	if (j->err != NULL)
		return;
	size_t total = r.lineno - 1;
	if (j->text.oom || r.line.oom) {
		edit_fail(j, "out of memory");
		return;
	}
	j->record = 1;
	j->first_line = r.shown_first;
	j->newid.size = pos;
	j->newid.hash = h;
	if (total == 0) {
		edit_buf_str(&j->text, "(empty file)\n");
		return;
	}
	if ((size_t)j->offset > total) {
		edit_fail(j, "offset %lld is past the end of %s (%zu line%s)", j->offset,
			  j->display, total, total == 1 ? "" : "s");
		return;
	}
	if (r.cut || (!j->limit_given && r.shown_last < total)) {
		edit_buf_printf(&j->text, "[cut: showing lines %zu-%zu of %zu", r.shown_first,
				r.shown_last, total);
		if (r.line_cut)
			edit_buf_printf(&j->text, ", line %zu cut at %lld bytes", r.shown_last,
					(long long)j->max_read);
		edit_buf_str(&j->text, "; use offset/limit]\n");
	}
}

/* ------------------------------------------------------------ changes -- */

/* Occurrences of needle in hay (non-overlapping), with up to `max` line numbers. */
static size_t
edit_count(const char *hay, size_t hn, const char *needle, size_t nn, size_t *lines,
	   size_t max)
{
	size_t count = 0, line = 1;
	const char *scan = hay, *end = hay + hn;
	const char *p = hay;
	while (nn > 0 && p + nn <= end) {
		const char *m = memmem(p, (size_t)(end - p), needle, nn);
		if (m == NULL)
			break;
		for (const char *q = scan; q < m; q++) {
			q = memchr(q, '\n', (size_t)(m - q));
			if (q == NULL)
				break;
			line++;
		}
		scan = m;
		if (count < max)
			lines[count] = line;
		count++;
		p = m + nn;
	}
	return count;
}

/* Replace in *buf: the first (or every) occurrence. Returns 0 or -1 on oom. */
static int
edit_replace(char **buf, size_t *len, const char *o, size_t on, const char *n, size_t nn,
	     int all)
{
	struct edit_buf b = {0};
	const char *p = *buf, *end = *buf + *len;
	while (p <= end) {
		const char *m = on <= (size_t)(end - p) ? memmem(p, (size_t)(end - p), o, on) : NULL;
		if (m == NULL)
			break;
		edit_buf_add(&b, p, (size_t)(m - p));
		edit_buf_add(&b, n, nn);
		p = m + on;
		if (!all)
			break;
	}
	edit_buf_add(&b, p, (size_t)(end - p));
	size_t l = b.len;
	char *out = edit_buf_take(&b);
	if (out == NULL)
		return -1;
	free(*buf);
	*buf = out;
	*len = l;
	return 0;
}

/* Convert to the file's line ends. A new malloc'd copy (the caller frees). */
static char *
edit_conv(const char *s, size_t n, int crlf, size_t *out_len)
{
	if (crlf)
		return edit_to_crlf(s, n, out_len);
	char *c = malloc(n + 1);
	if (c != NULL) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	*out_len = n;
	return c;
}

/* Apply every change to buf (all or none: buf is a copy). Returns 0, or -1 with j->err. */
static int
edit_apply(struct edit_job *j, char **buf, size_t *len, int crlf)
{
	for (size_t i = 0; i < j->n_changes; i++) {
		const struct edit_change *c = &j->changes[i];
		char prefix[64] = "";
		const char *suffix = j->n_changes > 1 ? "; no edit was applied" : "";
		if (j->n_changes > 1)
			snprintf(prefix, sizeof prefix, "edit %zu of %zu: ", i + 1, j->n_changes);
		if (c->old_s[0] == '\0') {
			edit_fail(j, "%sold_string is empty%s", prefix, suffix);
			return -1;
		}
		if (strcmp(c->old_s, c->new_s) == 0) {
			edit_fail(j, "%sold_string and new_string are the same%s", prefix, suffix);
			return -1;
		}
		size_t on, nn, lines[EDIT_MAX_LINES_LISTED];
		char *o = edit_conv(c->old_s, strlen(c->old_s), crlf, &on);
		char *n = edit_conv(c->new_s, strlen(c->new_s), crlf, &nn);
		if (o == NULL || n == NULL) {
			free(o);
			free(n);
			edit_fail(j, "out of memory");
			return -1;
		}
		size_t count = edit_count(*buf, *len, o, on, lines, EDIT_MAX_LINES_LISTED);
		if (count == 0 && strstr(c->old_s, "\\x") != NULL) {
			/* The model copied \xNN escapes from read's output: match the bytes. */
			size_t ul, vl;
			char *u = edit_unescape(o, &ul), *v = edit_unescape(n, &vl);
			if (u != NULL && v != NULL &&
			    (count = edit_count(*buf, *len, u, ul, lines, EDIT_MAX_LINES_LISTED)) > 0) {
				free(o);
				free(n);
				o = u;
				on = ul;
				n = v;
				nn = vl;
			} else {
				free(u);
				free(v);
			}
		}
		if (count == 0) {
			edit_fail(j, "%sold_string not found in %s%s", prefix, j->display, suffix);
		} else if (count > 1 && !c->replace_all) {
			struct edit_buf l = {0};
			for (size_t k = 0; k < count && k < EDIT_MAX_LINES_LISTED; k++)
				edit_buf_printf(&l, "%s%zu", k ? ", " : "", lines[k]);
			if (count > EDIT_MAX_LINES_LISTED)
				edit_buf_str(&l, ", ...");
			edit_fail(j, "%sold_string appears %zu times in %s (lines %s); give more "
				  "context or set replace_all%s", prefix, count, j->display,
				  l.p ? l.p : "", suffix);
			free(l.p);
		} else if (edit_replace(buf, len, o, on, n, nn, c->replace_all) != 0) {
			edit_fail(j, "out of memory");
		}
		free(o);
		free(n);
		if (j->err != NULL)
			return -1;
	}
	return 0;
}

/* Write data to dfd/base through a temporary file and a rename. */
static int
edit_write_atomic(struct edit_job *j, int dfd, const char *base, const char *data, size_t len,
		  int exists, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	unsigned char rnd[6];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0x5a, sizeof rnd);
	int n = snprintf(tmp, sizeof tmp, ".%.200s.hearth-%02x%02x%02x%02x%02x%02x", base,
			 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return edit_fail(j, "%s: name too long", j->display), -1;
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			exists ? 0600 : 0666);
	if (fd < 0) {
		edit_fail(j, "%s: cannot create a temporary file: %s", j->display, strerror(errno));
		return -1;
	}
	const char *what = NULL;
	if (exists && fchmod(fd, mode & 07777) != 0)
		what = "fchmod";
	for (size_t off = 0; what == NULL && off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			what = "write";
		else
			off += (size_t)w;
	}
	if (what == NULL && fsync(fd) != 0)
		what = "fsync";
	struct stat st;
	if (what == NULL && fstat(fd, &st) != 0)
		what = "fstat";
	int saved = errno;
	if (close(fd) != 0 && what == NULL) {
		what = "close";
		saved = errno;
	}
	if (what == NULL && renameat(dfd, tmp, dfd, base) != 0) {
		what = "rename";
		saved = errno;
	}
	if (what != NULL) {
		unlinkat(dfd, tmp, 0);
		edit_fail(j, "%s: %s: %s; the file is unchanged", j->display, what, strerror(saved));
		return -1;
	}
	fsync(dfd); /* the rename itself, best effort */
	j->record = 1;
	j->newid.size = (long long)len;
	j->newid.hash = edit_hash(EDIT_HASH_INIT, data, len);
	return 0;
}

static void
edit_do_change(struct edit_job *j)
{
	const char *base;
	int dfd = edit_open_parent(j, j->op == EDIT_WRITE, &base);
	if (dfd < 0)
		return;
	char *old = NULL, *new = NULL;
	size_t old_len = 0, new_len = 0;
	struct stat st = {0};
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int exists = fd >= 0;
	if (!exists && errno != ENOENT) {
		if (errno == ELOOP)
			edit_fail(j, "%s became a symlink after the path was checked; refused",
				  j->abs);
		else
			edit_fail(j, "%s: %s", j->display, strerror(errno));
		goto out;
	}
	if (exists) {
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			edit_fail(j, S_ISDIR(st.st_mode) ? "%s is a directory"
							 : "%s is not a regular file", j->display);
			goto out;
		}
		if (edit_slurp(fd, &old, &old_len) != 0) {
			edit_fail(j, "%s: cannot read it: %s", j->display, strerror(errno));
			goto out;
		}
		if (!j->has_rec) {
			edit_fail(j, "%s has not been read in this session; read it before %s it",
				  j->display, j->op == EDIT_WRITE ? "replacing" : "editing");
			goto out;
		}
		if ((long long)old_len != j->rec.size) {
			edit_fail(j, "%s changed on disk since it was last read (size %lld -> %zu); "
				  "read it again", j->display, j->rec.size, old_len);
			goto out;
		}
		if (edit_hash(EDIT_HASH_INIT, old, old_len) != j->rec.hash) {
			edit_fail(j, "%s changed on disk since it was last read (same size, other "
				  "content); read it again", j->display);
			goto out;
		}
	} else if (j->op == EDIT_EDIT) {
		edit_fail(j, "%s does not exist", j->display);
		goto out;
	}
	int crlf = exists && edit_uses_crlf(old, old_len);
	if (j->op == EDIT_WRITE) {
		new = edit_conv(j->content, j->content_len, crlf, &new_len);
	} else {
		new = malloc(old_len + 1);
		if (new != NULL) {
			memcpy(new, old, old_len);
			new_len = old_len;
			if (edit_apply(j, &new, &new_len, crlf) != 0)
				goto out;
		}
	}
	if (new == NULL) {
		edit_fail(j, "out of memory");
		goto out;
	}
	if (edit_write_atomic(j, dfd, base, new, new_len, exists, st.st_mode) != 0)
		goto out;
	j->created = !exists;
	if (edit_unified(&j->text, old ? old : "", old_len, new, new_len, j->display,
			 !exists, &j->first_line) != 0) {
		free(j->text.p);
		j->text = (struct edit_buf){0};
		edit_buf_str(&j->text, "(the diff could not be computed: out of memory)\n");
	} else if (j->text.len == 0) {
		edit_buf_str(&j->text, "(no changes)\n");
	} else if (j->text.len > j->max_read && !j->text.oom) {
		/* The model gets no more of a diff than of a read: whole lines, then a note. */
		size_t total = j->text.len, keep = j->max_read;
		while (keep > 0 && j->text.p[keep - 1] != '\n')
			keep--;
		j->text.len = keep;
		edit_buf_printf(&j->text, "[diff cut: showing %zu of %zu bytes]\n", keep, total);
	}
	if (old_len <= j->max_diff && new_len <= j->max_diff) {
		j->old_text = exists ? edit_escape_dup(old, old_len) : NULL;
		j->new_text = edit_escape_dup(new, new_len);
	}
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	free(old);
	free(new);
}

/* ------------------------------------------------------- the call flow -- */

static void
edit_job_free(struct edit_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else if (j->e->jobs == j)
		j->e->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	free(j->abs);
	free(j->display);
	free(j->root);
	free(j->rel);
	free(j->content);
	for (size_t i = 0; i < j->n_changes; i++) {
		free(j->changes[i].old_s);
		free(j->changes[i].new_s);
	}
	free(j->changes);
	free(j->err);
	free(j->text.p);
	free(j->old_text);
	free(j->new_text);
	free(j);
}

static struct edit_record *
edit_record_find(struct edit *e, const char *session_id, const char *abs)
{
	for (struct edit_record *r = e->records; r != NULL; r = r->next)
		if (strcmp(r->session_id, session_id) == 0 && strcmp(r->abs, abs) == 0)
			return r;
	return NULL;
}

static void
edit_record_put(struct edit *e, const char *session_id, const char *abs,
		const struct edit_ident *id)
{
	struct edit_record *r = NULL, **pp;
	size_t n = 0;
	/* Most recent first; past EDIT_MAX_RECORDS the oldest are forgotten (such a
	 * file must then be read again before a change). */
	for (pp = &e->records; *pp != NULL;) {
		struct edit_record *c = *pp;
		if (r == NULL && strcmp(c->session_id, session_id) == 0 &&
		    strcmp(c->abs, abs) == 0) {
			*pp = c->next;
			r = c;
			continue;
		}
		if (++n >= EDIT_MAX_RECORDS) {
			*pp = c->next;
			free(c->session_id);
			free(c->abs);
			free(c);
			continue;
		}
		pp = &c->next;
	}
	if (r != NULL) {
		r->next = e->records;
		e->records = r;
	} else {
		r = calloc(1, sizeof *r);
		if (r == NULL)
			return;
		r->session_id = strdup(session_id);
		r->abs = strdup(abs);
		if (r->session_id == NULL || r->abs == NULL) {
			free(r->session_id);
			free(r->abs);
			free(r);
			return;
		}
		r->next = e->records;
		e->records = r;
	}
	r->id = *id;
}

static void edit_begin(struct edit_job *j);

/* End the call: its result, its error or "cancelled" (frees the job). */
static void
edit_finish(struct edit_job *j, int cancelled)
{
	struct edit *e = j->e;
	json_t *result;
	if (cancelled) {
		result = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
				   "cancelled", "isError", 1);
	} else if (j->err != NULL || j->text.oom) {
		/* Paths in the message may hold bytes that are not UTF-8. */
		char *msg = j->err ? edit_escape_dup(j->err, strlen(j->err)) : NULL;
		result = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
				   msg ? msg : "out of memory", "isError", 1);
		free(msg);
	} else {
		if (j->record)
			edit_record_put(e, j->call->session_id, j->abs, &j->newid);
		/* Where the call read or changed the file, for clients to follow. */
		json_t *loc = json_pack("{s:o}", "path", edit_json_path(j->abs));
		if (j->first_line > 0)
			json_object_set_new(loc, "line", json_integer((json_int_t)j->first_line));
		json_t *update = json_pack("{s:[o]}", "locations", loc);
		if (update != NULL)
			e->host->tool_update(j->call, update);
		json_decref(update);
		json_t *content = json_array();
		if (j->op != EDIT_READ && j->new_text != NULL)
			json_array_append_new(content, json_pack("{s:s,s:o,s:o,s:s}", "type", "diff",
								 "path", edit_json_path(j->abs),
								 "oldText",
								 j->old_text ? json_string(j->old_text)
									     : json_null(),
								 "newText", j->new_text));
		json_array_append_new(content, json_pack("{s:s,s:s%}", "type", "text", "text",
							 j->text.p ? j->text.p : "", j->text.len));
		result = json_pack("{s:o,s:b}", "content", content, "isError", 0);
	}
	struct hearth_tool_call *call = j->call;
	char *abs = j->work_done && j->abs ? strdup(j->abs) : NULL;
	call->data = NULL;
	edit_job_free(j);
	e->host->tool_finish(call, result);
	if (abs == NULL)
		return;
	/* The path is free: the oldest call waiting for it goes next. */
	struct edit_job *next = NULL;
	for (struct edit_job *o = e->jobs; o != NULL; o = o->next)
		if (o->waiting && strcmp(o->abs, abs) == 0)
			next = o; /* the list is newest first */
	free(abs);
	if (next != NULL) {
		next->waiting = 0;
		edit_begin(next);
	}
}

static void
edit_work_cb(void *arg)
{
	struct edit_job *j = arg;
	if (j->op == EDIT_READ)
		edit_do_read(j);
	else
		edit_do_change(j);
}

static void
edit_done_cb(void *arg, int status)
{
	struct edit_job *j = arg;
	j->work = NULL;
	j->work_done = 1;
	edit_finish(j, status == HEARTH_ECANCELED);
}

/* Start the I/O of j now: the previous call on its path has ended. */
static void
edit_begin(struct edit_job *j)
{
	const struct hearth_host *h = j->e->host;
	/* The record as it is now: an earlier call on the path may have changed it. */
	struct edit_record *r = edit_record_find(j->e, j->call->session_id, j->abs);
	j->has_rec = r != NULL;
	if (r != NULL)
		j->rec = r->id;
	if (j->big) {
		j->work = h->work_queue(h, edit_work_cb, edit_done_cb, j);
		if (j->work != NULL)
			return;
		edit_fail(j, "could not queue the work: out of memory");
	} else {
		edit_work_cb(j);
	}
	edit_finish(j, 0);
}

static void
edit_start_cb(void *arg)
{
	struct edit_job *j = arg;
	j->e->host->timer_stop(j->timer);
	j->timer = NULL;
	/* Calls on one path take turns (one may be on the thread pool). */
	for (struct edit_job *o = j->e->jobs; o != NULL; o = o->next) {
		if (o != j && o->work != NULL && strcmp(o->abs, j->abs) == 0) {
			j->waiting = 1;
			return;
		}
	}
	edit_begin(j);
}

/* ------------------------------------------------------------ the vtable -- */

static const struct hearth_tool_def edit_defs[] = {
	{ .name = "read",
	  .description = "Read a text file, with line numbers (number, tab, line). Use offset "
			 "(first line, 1-based) and limit (number of lines) for a part of a "
			 "long file. Bytes that are not valid UTF-8 are shown as \\xNN. Read a "
			 "file before editing or replacing it.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{"
			  "\"path\":{\"type\":\"string\",\"description\":\"the file, relative to "
			  "the project directory or absolute\"},"
			  "\"offset\":{\"type\":\"integer\",\"minimum\":1},"
			  "\"limit\":{\"type\":\"integer\",\"minimum\":1}},"
			  "\"required\":[\"path\"],\"additionalProperties\":false}",
	  .default_permission = HEARTH_PERM_ALLOW, .flags = HEARTH_TOOL_READ_ONLY,
	  .kind = "read" },
	{ .name = "write",
	  .description = "Create a file or replace its whole content (parent directories are "
			 "created). An existing file must have been read first.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{"
			  "\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"}},"
			  "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
	  .default_permission = HEARTH_PERM_ASK, .kind = "edit" },
	{ .name = "edit",
	  .description = "Replace an exact string in a file that was read first. old_string "
			 "must occur exactly once unless replace_all is set. Several edits "
			 "(edits: [{old_string, new_string, replace_all?}]) apply in order, all "
			 "or none.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{"
			  "\"path\":{\"type\":\"string\"},"
			  "\"old_string\":{\"type\":\"string\"},\"new_string\":{\"type\":\"string\"},"
			  "\"replace_all\":{\"type\":\"boolean\"},"
			  "\"edits\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
			  "\"properties\":{\"old_string\":{\"type\":\"string\"},"
			  "\"new_string\":{\"type\":\"string\"},\"replace_all\":{\"type\":\"boolean\"}},"
			  "\"required\":[\"old_string\",\"new_string\"]}}},"
			  "\"required\":[\"path\"]}",
	  .default_permission = HEARTH_PERM_ASK, .kind = "edit" },
};

static size_t
edit_list(void *state, const struct hearth_tool_def **defs)
{
	*defs = edit_defs;
	return sizeof edit_defs / sizeof edit_defs[0];
}

static enum edit_op
edit_op_of(const char *tool)
{
	return strcmp(tool, "read") == 0 ? EDIT_READ
	       : strcmp(tool, "write") == 0 ? EDIT_WRITE : EDIT_EDIT;
}

/* Copy one {old_string, new_string, replace_all?} into c; 0 or -1 with j->err. */
static int
edit_change_parse(struct edit_job *j, const json_t *o, struct edit_change *c, size_t i)
{
	const json_t *os = json_object_get(o, "old_string"), *ns = json_object_get(o, "new_string");
	const json_t *ra = json_object_get(o, "replace_all");
	char where[48] = "";
	if (j->n_changes > 1 || json_object_get(j->call->input, "edits") != NULL)
		snprintf(where, sizeof where, "edits[%zu]: ", i);
	if (!json_is_string(os) || !json_is_string(ns)) {
		edit_fail(j, "%sold_string and new_string must be strings", where);
		return -1;
	}
	if (ra != NULL && !json_is_boolean(ra)) {
		edit_fail(j, "%sreplace_all must be true or false", where);
		return -1;
	}
	c->old_s = strdup(json_string_value(os));
	c->new_s = strdup(json_string_value(ns));
	c->replace_all = json_is_true(ra);
	if (c->old_s == NULL || c->new_s == NULL) {
		edit_fail(j, "out of memory");
		return -1;
	}
	return 0;
}

/* Check the arguments into j; 0 or -1 with j->err set. */
static int
edit_parse(struct edit_job *j, const json_t *in)
{
	const json_t *v;
	switch (j->op) {
	case EDIT_READ:
		j->offset = 1;
		j->limit = j->e->max_read_lines;
		if ((v = json_object_get(in, "offset")) != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 1) {
				edit_fail(j, "offset must be an integer from 1");
				return -1;
			}
			j->offset = json_integer_value(v);
		}
		if ((v = json_object_get(in, "limit")) != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 1) {
				edit_fail(j, "limit must be an integer from 1");
				return -1;
			}
			j->limit = json_integer_value(v);
			j->limit_given = 1;
		}
		return 0;
	case EDIT_WRITE:
		v = json_object_get(in, "content");
		if (!json_is_string(v)) {
			edit_fail(j, "content must be a string");
			return -1;
		}
		j->content_len = json_string_length(v);
		j->content = malloc(j->content_len + 1);
		if (j->content == NULL) {
			edit_fail(j, "out of memory");
			return -1;
		}
		memcpy(j->content, json_string_value(v), j->content_len + 1);
		return 0;
	case EDIT_EDIT:
		v = json_object_get(in, "edits");
		if (v != NULL) {
			if (!json_is_array(v) || json_array_size(v) == 0) {
				edit_fail(j, "edits must be a non-empty array");
				return -1;
			}
			if (json_object_get(in, "old_string") != NULL) {
				edit_fail(j, "give either old_string/new_string or edits, not both");
				return -1;
			}
			j->n_changes = json_array_size(v);
			j->changes = calloc(j->n_changes, sizeof *j->changes);
			if (j->changes == NULL) {
				j->n_changes = 0;
				edit_fail(j, "out of memory");
				return -1;
			}
			for (size_t i = 0; i < j->n_changes; i++) {
				const json_t *o = json_array_get(v, i);
				if (!json_is_object(o)) {
					edit_fail(j, "edits[%zu] must be an object", i);
					return -1;
				}
				if (edit_change_parse(j, o, &j->changes[i], i) != 0)
					return -1;
			}
			return 0;
		}
		j->changes = calloc(1, sizeof *j->changes);
		if (j->changes == NULL) {
			edit_fail(j, "out of memory");
			return -1;
		}
		j->n_changes = 1;
		return edit_change_parse(j, in, &j->changes[0], 0);
	}
	return 0;
}

static int
edit_run(void *state, struct hearth_tool_call *call)
{
	struct edit *e = state;
	struct edit_job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return HEARTH_ENOMEM;
	j->e = e;
	j->call = call;
	j->op = edit_op_of(call->tool);
	j->max_read = (size_t)e->max_read_bytes;
	j->max_diff = (size_t)e->max_diff_bytes;
	j->next = e->jobs;
	if (e->jobs)
		e->jobs->prev = j;
	e->jobs = j;
	call->data = j;
	const json_t *p = json_object_get(call->input, "path");
	if (!json_is_string(p) || json_string_value(p)[0] == '\0') {
		edit_fail(j, "path must be a non-empty string");
	} else if (edit_parse(j, call->input) == 0 &&
		   edit_resolve(e, call->cwd, json_string_value(p), call, j->op != EDIT_READ,
				j) == 0) {
		struct stat st;
		j->big = (stat(j->abs, &st) == 0 && st.st_size > e->offload_bytes) ||
			 (long long)j->content_len > e->offload_bytes;
		/* The I/O starts on the next loop iteration, never inside run(). */
		j->timer = e->host->timer_start(e->host, 0, 0, edit_start_cb, j);
		if (j->timer != NULL)
			return 0;
		edit_fail(j, "out of memory");
	}
	edit_finish(j, 0);
	return 0;
}

static void
edit_cancel(void *state, struct hearth_tool_call *call)
{
	struct edit *e = state;
	struct edit_job *j = call->data;
	if (j == NULL)
		return;
	if (j->timer != NULL) {
		e->host->timer_stop(j->timer);
		j->timer = NULL;
		edit_finish(j, 1);
	} else if (j->waiting) {
		edit_finish(j, 1);
	} else if (j->work != NULL) {
		e->host->work_cancel(j->work); /* done follows either way */
	}
}

static json_t *
edit_describe(void *state, const struct hearth_tool_call *call)
{
	struct edit *e = state;
	const char *path = json_string_value(json_object_get(call->input, "path"));
	enum edit_op op = edit_op_of(call->tool);
	const char *verb = op == EDIT_READ ? "Read" : op == EDIT_WRITE ? "Write" : "Edit";
	if (path == NULL || path[0] == '\0' || call->cwd == NULL)
		return NULL;
	struct edit_job j = { .e = e };
	json_t *d;
	if (edit_resolve(e, call->cwd, path, NULL, 0, &j) == 0) {
		char *title = edit_fmt("%s %s", verb, j.display);
		json_t *loc = json_pack("{s:o}", "path", edit_json_path(j.abs));
		const json_t *off = json_object_get(call->input, "offset");
		if (op == EDIT_READ && json_is_integer(off) && json_integer_value(off) >= 1)
			json_object_set_new(loc, "line", json_integer(json_integer_value(off)));
		d = json_pack("{s:o,s:s,s:[o],s:o}", "title", edit_json_path(title ? title : verb),
			      "kind", op == EDIT_READ ? "read" : "edit", "locations", loc,
			      "subject", edit_json_path(j.display));
		free(title);
	} else {
		char *shown = names_escape(path, strlen(path), NULL);
		char *title = shown != NULL ? edit_fmt("%s %s", verb, shown) : NULL;
		free(shown);
		d = json_pack("{s:s,s:s,s:[],s:s}", "title", title ? title : verb, "kind",
			      op == EDIT_READ ? "read" : "edit", "locations", "subject", path);
		free(title);
	}
	free(j.abs);
	free(j.display);
	free(j.root);
	free(j.rel);
	free(j.err);
	return d;
}

static int
edit_init(const struct hearth_host *host, const json_t *config, void **state)
{
	struct edit *e = calloc(1, sizeof *e);
	if (e == NULL)
		return HEARTH_ENOMEM;
	e->host = host;
	if (host->config_int(host, "max_read_bytes", EDIT_DEFAULT_MAX_READ_BYTES, 1024,
			     64LL << 20, &e->max_read_bytes) != 0 ||
	    host->config_int(host, "max_read_lines", EDIT_DEFAULT_MAX_READ_LINES, 1, 1000000,
			     &e->max_read_lines) != 0 ||
	    host->config_int(host, "offload_bytes", EDIT_DEFAULT_OFFLOAD, 0, 1LL << 40,
			     &e->offload_bytes) != 0 ||
	    host->config_int(host, "max_diff_bytes", EDIT_DEFAULT_MAX_DIFF, 0, 1LL << 30,
			     &e->max_diff_bytes) != 0) {
		free(e);
		return HEARTH_EINVAL;
	}
	const char *key;
	const json_t *value;
	json_object_foreach((json_t *)config, key, value) {
		if (strcmp(key, "max_read_bytes") != 0 && strcmp(key, "max_read_lines") != 0 &&
		    strcmp(key, "offload_bytes") != 0 && strcmp(key, "max_diff_bytes") != 0)
			host->log(host, HEARTH_LOG_WARN, "unknown key '%s' ignored", key);
	}
	*state = e;
	return 0;
}

static void
edit_fini(void *state)
{
	struct edit *e = state;
	/* Calls still waiting for their timer end here; work already queued keeps its
	 * job (a pool thread may be using it), so that one is left, not freed. */
	struct edit_job *j = e->jobs;
	while (j != NULL) {
		struct edit_job *next = j->next;
		if (j->timer != NULL || j->waiting) {
			if (j->timer != NULL)
				e->host->timer_stop(j->timer);
			j->timer = NULL;
			j->waiting = 0;
			edit_finish(j, 1);
		} else if (j->work != NULL && e->host->work_cancel(j->work) == 0) {
			/* It will not run, and its done is dropped once we are dead. */
			struct hearth_tool_call *call = j->call;
			call->data = NULL;
			edit_job_free(j);
		} else if (j->work != NULL) {
			/* Running on a pool thread: it keeps its job (which no longer points
			 * anywhere it could reach after fini); its done is dropped. */
			j->next = j->prev = NULL;
		}
		j = next;
	}
	while (e->records != NULL) {
		struct edit_record *r = e->records;
		e->records = r->next;
		free(r->session_id);
		free(r->abs);
		free(r);
	}
	free(e);
}

static const struct hearth_tool edit_tool = {
	.struct_size = sizeof(struct hearth_tool),
	.list = edit_list,
	.run = edit_run,
	.cancel = edit_cancel,
	.describe = edit_describe,
};

static const struct hearth_plugin edit_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "edit", .version = "1.0",
	.description = "read, write and edit files in the project",
	.init = edit_init, .fini = edit_fini, .tool = &edit_tool);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &edit_plugin;
}
