/*
 * grep: the search tools. `grep` runs a regular expression (PCRE2, JIT) or a plain
 * literal (memmem) over a directory tree, `glob` finds files by name, `ls` lists a
 * directory. The tree walk honours .gitignore, .ignore and .git/info/exclude the
 * way git does and always skips .git/. Walking and matching run on the host's
 * thread pool: one work item walks, then `workers` items match files taken from a
 * shared index; a cancel sets a flag every worker checks.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <hearth/tool.h>

#include "names.h"

#define GREP_BINARY_PROBE 8192
#define GREP_MAX_COLUMNS 1000
#define GREP_PAD 64

enum grep_tool { GREP_GREP, GREP_GLOB, GREP_LS };
enum grep_mode { GREP_CONTENT, GREP_FILES, GREP_COUNT };

struct grep_job;

/* The module's state. */
struct grep_mod {
	const struct hearth_host *host;
	long long max_results;
	long long workers;
	struct grep_job *jobs;   /* running calls, for fini() */
};

/* A growing byte string; p is malloc'd and owned by whoever holds the struct. */
struct grep_buf {
	char *p;
	size_t len, cap;
};

/* ------------------------------------------------------------ helpers -- */

static int
grep_buf_add(struct grep_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return HEARTH_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
grep_buf_str(struct grep_buf *b, const char *s)
{
	return grep_buf_add(b, s, strlen(s));
}

static int
grep_buf_fmt(struct grep_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int
grep_buf_fmt(struct grep_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return HEARTH_EINVAL;
	if ((size_t)n < sizeof tmp)
		return grep_buf_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (big == NULL)
		return HEARTH_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = grep_buf_add(b, big, (size_t)n);
	free(big);
	return rc;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t
grep_utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len;
	unsigned min;
	unsigned cp;
	if ((s[0] & 0xe0) == 0xc0) { len = 2; cp = s[0] & 0x1f; min = 0x80; }
	else if ((s[0] & 0xf0) == 0xe0) { len = 3; cp = s[0] & 0x0f; min = 0x800; }
	else if ((s[0] & 0xf8) == 0xf0) { len = 4; cp = s[0] & 0x07; min = 0x10000; }
	else return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A new JSON string of s, with bytes that are not UTF-8 shown as \xNN. */
static json_t *
grep_json_text(const char *s, size_t n)
{
	struct grep_buf b = { 0 };
	size_t i = 0;
	while (i < n) {
		size_t l = grep_utf8_len((const unsigned char *)s + i, n - i);
		if (l == 0 || s[i] == '\0') {
			if (grep_buf_fmt(&b, "\\x%02X", (unsigned char)s[i]) != 0)
				goto fail;
			i++;
			continue;
		}
		size_t j = i + l;
		while (j < n && (unsigned char)s[j] < 0x80 && s[j] != '\0')
			j++;
		if (grep_buf_add(&b, s + i, j - i) != 0)
			goto fail;
		i = j;
	}
	json_t *r = json_stringn(b.p != NULL ? b.p : "", b.len);
	free(b.p);
	return r;
fail:
	free(b.p);
	return NULL;
}

/* A new tool result with one text block. */
static json_t *
grep_result(const char *text, size_t len, int is_error)
{
	json_t *t = grep_json_text(text, len);
	if (t == NULL)
		t = json_string("(out of memory)");
	return json_pack("{s:[{s:s,s:o}],s:b}", "content", "type", "text", "text", t, "isError",
			 is_error);
}

/* ------------------------------------------------------------ wildmatch -- */

/*
 * git's wildmatch with WM_PATHNAME: `*` and `?` stop at '/', `**` between slashes
 * (or at an end) crosses them, "**" + "/" may match no directory at all, `[...]`
 * classes with `!`/`^` and ranges, `\` quotes. Returns 1 on a match, 0 on none.
 * Like git's, it cuts the backtracking short (without that, a .gitignore line of
 * many stars takes exponential time: fuzz_gitignore found it): -1 when the text ran
 * out, so no later start of an enclosing star can match either; -2 when a single
 * star met a '/', so only an enclosing "**" may go on.
 */
static int
grep_wm(const char *pat, const char *p, const char *t)
{
	for (; *p != '\0'; p++, t++) {
		if (*t == '\0' && *p != '*')
			return -1;
		switch (*p) {
		case '\\':
			if (p[1] != '\0')
				p++;
			if (*p != *t)
				return 0;
			break;
		case '?':
			if (*t == '/')
				return 0;
			break;
		case '*': {
			const char *first = p;
			int dbl = 0;
			while (p[1] == '*')
				p++;
			if (p != first && (first == pat || first[-1] == '/') &&
			    (p[1] == '\0' || p[1] == '/'))
				dbl = 1;
			p++;
			if (dbl && *p == '/' && grep_wm(pat, p + 1, t) == 1)
				return 1;   /* "**" + "/" matching no directory */
			if (*p == '\0')
				return dbl || strchr(t, '/') == NULL;
			for (;; t++) {
				int m = grep_wm(pat, p, t);
				if (m != 0) {
					if (!dbl || m != -2)
						return m;
				} else if (!dbl && *t == '/') {
					return -2;
				}
				if (*t == '\0')
					return -1;
			}
		}
		case '[': {
			const char *q = p + 1;
			int negate = 0, found = 0;
			if (*q == '!' || *q == '^') {
				negate = 1;
				q++;
			}
			if (*t == '/')
				return 0;
			unsigned char c = (unsigned char)*t;
			int firstc = 1;
			for (; *q != '\0' && (*q != ']' || firstc); q++, firstc = 0) {
				unsigned char lo = (unsigned char)*q;
				if (lo == '\\' && q[1] != '\0')
					lo = (unsigned char)*++q;
				if (q[1] == '-' && q[2] != ']' && q[2] != '\0') {
					unsigned char hi = (unsigned char)q[2];
					q += 2;
					if (hi == '\\' && q[1] != '\0')
						hi = (unsigned char)*++q;
					if (c >= lo && c <= hi)
						found = 1;
				} else if (c == lo) {
					found = 1;
				}
			}
			if (*q != ']')
				return 0;   /* unterminated: git does not match */
			if (found == negate)
				return 0;
			p = q;
			break;
		}
		default:
			if (*p != *t)
				return 0;
		}
	}
	return *t == '\0';
}

static int
grep_wildmatch(const char *pat, const char *text)
{
	return grep_wm(pat, pat, text) == 1;
}

/* ------------------------------------------------------- ignore rules -- */

struct grep_rule {
	char *pat;     /* owned */
	int negate, dir_only, anchored;
};

/* The rules of one directory (its .gitignore, then .ignore), or of info/exclude. */
struct grep_level {
	size_t dir_len;          /* paths below are matched from path + dir_len + 1 */
	struct grep_rule *rules; /* owned */
	size_t n;
};

/* Parse one ignore file's text into lvl (appending). */
static int
grep_rules_parse(struct grep_level *lvl, char *text)
{
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		/* Trailing spaces go unless quoted with a backslash. */
		while (n > 0 && line[n - 1] == ' ' && !(n > 1 && line[n - 2] == '\\'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		struct grep_rule r = { 0 };
		if (line[0] == '!') {
			r.negate = 1;
			line++;
			n--;
		}
		if (n > 0 && line[n - 1] == '/') {
			r.dir_only = 1;
			line[--n] = '\0';
		}
		if (n == 0)
			continue;
		if (strchr(line, '/') != NULL)
			r.anchored = 1;
		if (line[0] == '/')
			line++;
		r.pat = strdup(line);
		if (r.pat == NULL)
			return HEARTH_ENOMEM;
		struct grep_rule *rules = realloc(lvl->rules, (lvl->n + 1) * sizeof *rules);
		if (rules == NULL) {
			free(r.pat);
			return HEARTH_ENOMEM;
		}
		lvl->rules = rules;
		lvl->rules[lvl->n++] = r;
	}
	return 0;
}

/* Append the rules in file `path` to lvl; a missing file adds nothing. */
static int
grep_rules_load(struct grep_level *lvl, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct grep_buf b = { 0 };
	char chunk[4096];
	ssize_t got;
	int rc = 0;
	while ((got = read(fd, chunk, sizeof chunk)) > 0 && b.len < (1u << 20))
		if ((rc = grep_buf_add(&b, chunk, (size_t)got)) != 0)
			break;
	close(fd);
	if (rc == 0 && b.p != NULL)
		rc = grep_rules_parse(lvl, b.p);
	free(b.p);
	return rc;
}

static void
grep_level_clear(struct grep_level *lvl)
{
	for (size_t i = 0; i < lvl->n; i++)
		free(lvl->rules[i].pat);
	free(lvl->rules);
	lvl->rules = NULL;
	lvl->n = 0;
}

/* ----------------------------------------------------------------- walk -- */

/* One file the walk found; rel is relative to the search root, owned. */
struct grep_file {
	char *rel;
	long long mtime_ns;
	long long size;
};

/* The per-file result of matching: records into text, counts. */
struct grep_rec {
	unsigned long line;
	char kind;          /* ':' match, '-' context, 's' separator */
	size_t off, len;    /* in the file's text */
};

struct grep_hits {
	struct grep_rec *recs;   /* owned */
	size_t n_recs;
	char *text;              /* owned */
	size_t matches;          /* matching lines (all of them, stored or not) */
};

/* One work item of a job; the host's handle is NULL once its done has run. */
struct grep_task {
	struct grep_job *j;
	struct hearth_work *w;
	atomic_int finished;   /* set last thing by the work function */
};

struct grep_job {
	struct grep_job *next, *prev;   /* in the module's list */
	const struct hearth_host *host;
	struct grep_mod *mod;           /* NULL once fini() has run */
	struct hearth_tool_call *call;
	enum grep_tool tool;
	atomic_int cancel;
	int pending;                    /* work items queued and not done */
	char *root;                     /* resolved search root, owned */
	size_t top_len;                 /* the repository top (an ancestor of root) */
	int root_is_file;
	char *display;                  /* prefix for printed paths, owned */
	_Atomic(char *) error;          /* the first worker's error, owned */
	size_t max_results;

	/* the walk */
	struct grep_level *levels;      /* owned stack */
	size_t n_levels;
	char **globs;                   /* owned filters; "!x" excludes */
	size_t n_globs;
	struct grep_file *files;        /* owned */
	size_t n_files, cap_files;

	/* grep */
	enum grep_mode mode;
	pcre2_code *re;
	char *literal;                  /* the fast path when non-NULL */
	size_t literal_len;
	int icase;
	unsigned long before, after;
	struct grep_hits *hits;         /* owned, one per file */
	atomic_size_t next_file;
	/*
	 * Files are taken in path order, so once the files before i that are all done
	 * hold max_results matches, nothing of file i is shown: it is only counted.
	 * This bounds the memory of a call that matches everywhere.
	 */
	pthread_mutex_t prefix_lock;
	unsigned char *done;            /* owned: per file, under prefix_lock */
	size_t prefix;                  /* files [0, prefix) are all done */
	atomic_size_t prefix_matches;   /* their matches */
	size_t n_workers;
	struct grep_task *tasks;        /* owned: [0] the walk, then the matchers */
	size_t n_tasks;
};

static void
grep_job_free(struct grep_job *j)
{
	for (size_t i = 0; i < j->n_levels; i++)
		grep_level_clear(&j->levels[i]);
	free(j->levels);
	for (size_t i = 0; i < j->n_globs; i++)
		free(j->globs[i]);
	free(j->globs);
	for (size_t i = 0; i < j->n_files; i++) {
		free(j->files[i].rel);
		if (j->hits != NULL) {
			free(j->hits[i].recs);
			free(j->hits[i].text);
		}
	}
	free(j->files);
	free(j->hits);
	free(j->tasks);
	if (j->re != NULL)
		pcre2_code_free(j->re);
	free(j->done);
	pthread_mutex_destroy(&j->prefix_lock);
	free(j->literal);
	free(j->root);
	free(j->display);
	free(j->error);
	free(j);
}

static void
grep_job_error(struct grep_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
grep_job_error(struct grep_job *j, const char *fmt, ...)
{
	if (atomic_load(&j->error) != NULL)
		return;
	char *msg, *none = NULL;
	va_list ap;
	va_start(ap, fmt);
	int rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return;
	if (!atomic_compare_exchange_strong(&j->error, &none, msg))
		free(msg);
}

/* Is the entry at path (absolute, length n) ignored? */
static int
grep_ignored(const struct grep_job *j, const char *path, int is_dir)
{
	const char *base = strrchr(path, '/') + 1;
	for (size_t l = j->n_levels; l-- > 0;) {
		const struct grep_level *lvl = &j->levels[l];
		const char *rel = path + lvl->dir_len + 1;
		for (size_t i = lvl->n; i-- > 0;) {
			const struct grep_rule *r = &lvl->rules[i];
			if (r->dir_only && !is_dir)
				continue;
			if (grep_wildmatch(r->pat, r->anchored ? rel : base))
				return !r->negate;
		}
	}
	return 0;
}

/* Does rel (relative to the root) pass the glob filters? */
static int
grep_glob_ok(const struct grep_job *j, const char *rel)
{
	if (j->n_globs == 0)
		return 1;
	const char *base = strrchr(rel, '/');
	base = base != NULL ? base + 1 : rel;
	int have_include = 0, included = 0;
	for (size_t i = 0; i < j->n_globs; i++) {
		const char *g = j->globs[i];
		int exclude = g[0] == '!';
		if (exclude)
			g++;
		int m = grep_wildmatch(g, strchr(g, '/') != NULL ? rel : base);
		if (exclude && m)
			return 0;
		if (!exclude) {
			have_include = 1;
			included |= m;
		}
	}
	return !have_include || included;
}

static int
grep_add_file(struct grep_job *j, const char *rel, const struct stat *st)
{
	if (j->n_files == j->cap_files) {
		size_t cap = j->cap_files ? j->cap_files * 2 : 256;
		struct grep_file *f = realloc(j->files, cap * sizeof *f);
		if (f == NULL)
			return HEARTH_ENOMEM;
		j->files = f;
		j->cap_files = cap;
	}
	char *r = strdup(rel);
	if (r == NULL)
		return HEARTH_ENOMEM;
	j->files[j->n_files++] = (struct grep_file){
		.rel = r,
		.mtime_ns = st != NULL ? (long long)st->st_mtim.tv_sec * 1000000000LL +
			st->st_mtim.tv_nsec : 0,
		.size = st != NULL ? (long long)st->st_size : 0,
	};
	return 0;
}

static int
grep_push_level(struct grep_job *j, const char *dir, size_t dir_len)
{
	struct grep_level lvl = { .dir_len = dir_len };
	char p[PATH_MAX];
	int rc = 0;
	if (snprintf(p, sizeof p, "%.*s/.gitignore", (int)dir_len, dir) < (int)sizeof p)
		rc = grep_rules_load(&lvl, p);
	if (rc == 0 && snprintf(p, sizeof p, "%.*s/.ignore", (int)dir_len, dir) < (int)sizeof p)
		rc = grep_rules_load(&lvl, p);
	if (rc != 0 || lvl.n == 0) {
		grep_level_clear(&lvl);
		return rc < 0 ? rc : 0;
	}
	struct grep_level *ls = realloc(j->levels, (j->n_levels + 1) * sizeof *ls);
	if (ls == NULL) {
		grep_level_clear(&lvl);
		return HEARTH_ENOMEM;
	}
	j->levels = ls;
	j->levels[j->n_levels++] = lvl;
	return 1;
}

/* Walk the directory whose absolute path is in path[0..len). */
static int
grep_walk_dir(struct grep_job *j, char *path, size_t len)
{
	if (atomic_load_explicit(&j->cancel, memory_order_relaxed))
		return HEARTH_ECANCELED;
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;   /* unreadable directories are skipped, as rg does */
	int pushed = grep_push_level(j, path, len);
	if (pushed < 0) {
		closedir(d);
		return pushed;
	}
	/* Collect and sort the names first: deterministic, and fewer fds open. */
	char **names = NULL;
	unsigned char *types = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *nm = e->d_name;
		if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
			continue;
		if (strcmp(nm, ".git") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof *nn);
			unsigned char *nt = nn != NULL ? realloc(types, cap) : NULL;
			if (nn != NULL)
				names = nn;
			if (nt == NULL) {
				rc = HEARTH_ENOMEM;
				break;
			}
			types = nt;
		}
		if ((names[n] = strdup(nm)) == NULL) {
			rc = HEARTH_ENOMEM;
			break;
		}
		types[n++] = e->d_type;
	}
	closedir(d);
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t nl = strlen(names[i]);
		if (len + 1 + nl + 1 > PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, names[i], nl + 1);
		size_t plen = len + 1 + nl;
		unsigned char type = types[i];
		struct stat st;
		int have_st = 0;
		if (type == DT_UNKNOWN) {
			if (lstat(path, &st) != 0)
				continue;
			have_st = 1;
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG :
				S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
		}
		if (type == DT_DIR) {
			if (!grep_ignored(j, path, 1))
				rc = grep_walk_dir(j, path, plen);
			continue;
		}
		if (type == DT_LNK) {
			/* A symlinked file counts only if it resolves inside the root. */
			char *real = realpath(path, NULL);
			size_t rl = strlen(j->root);
			int inside = real != NULL && strncmp(real, j->root, rl) == 0 &&
				real[rl] == '/' && stat(real, &st) == 0 && S_ISREG(st.st_mode);
			free(real);
			if (!inside)
				continue;
			have_st = 1;
		} else if (type != DT_REG) {
			continue;
		}
		if (grep_ignored(j, path, 0))
			continue;
		const char *rel = path + strlen(j->root) + 1;
		if (!grep_glob_ok(j, rel))
			continue;
		if (j->tool == GREP_GLOB && !have_st && stat(path, &st) != 0)
			continue;
		rc = grep_add_file(j, rel, j->tool == GREP_GLOB ? &st : NULL);
	}
	path[len] = '\0';
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(types);
	if (pushed > 0)
		grep_level_clear(&j->levels[--j->n_levels]);
	return rc;
}

static int
grep_file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct grep_file *)a)->rel, ((const struct grep_file *)b)->rel);
}

static int
grep_mtime_cmp(const void *a, const void *b)
{
	const struct grep_file *x = a, *y = b;
	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns > y->mtime_ns ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

/* The walk, on a pool thread: info/exclude, the ignore files above the root, the tree. */
static void grep_walk_run(struct grep_job *j);

static void
grep_walk_work(void *arg)
{
	struct grep_task *task = arg;
	grep_walk_run(task->j);
	atomic_store(&task->finished, 1);
}

static void
grep_walk_run(struct grep_job *j)
{
	if (j->root_is_file) {
		const char *slash = strrchr(j->root, '/');
		/* The root is the file's directory; the one file is its name. */
		char *dir = strndup(j->root, (size_t)(slash - j->root));
		if (dir == NULL || grep_add_file(j, slash + 1, NULL) != 0)
			grep_job_error(j, "out of memory");
		free(j->root);
		j->root = dir;
		return;
	}
	char path[PATH_MAX];
	size_t rl = strlen(j->root);
	if (rl == 1)
		rl = 0;   /* the root is "/": paths are "/x", matched from +1 */
	memcpy(path, j->root, rl);
	path[rl] = '\0';
	/* info/exclude: lowest precedence, rules relative to the repository top. */
	struct grep_level ex = { .dir_len = j->top_len };
	char p[PATH_MAX];
	int rc = 0;
	if (snprintf(p, sizeof p, "%.*s/.git/info/exclude", (int)j->top_len, j->root) <
	    (int)sizeof p)
		rc = grep_rules_load(&ex, p);
	if (ex.n > 0) {
		j->levels = malloc(sizeof *j->levels);
		if (j->levels == NULL) {
			rc = HEARTH_ENOMEM;
			grep_level_clear(&ex);
		} else {
			j->levels[j->n_levels++] = ex;
		}
	} else {
		grep_level_clear(&ex);
	}
	/* The directories from the top down to the root's parent. */
	for (size_t i = j->top_len; rc >= 0 && i < rl; i++)
		if (j->root[i] == '/' && i > 0)
			rc = grep_push_level(j, j->root, i);
	if (rc >= 0)
		rc = grep_walk_dir(j, path, rl);
	if (rc == HEARTH_ECANCELED)
		return;
	if (rc < 0) {
		grep_job_error(j, "walking %s: %s", j->root, rc == HEARTH_ENOMEM ?
			       "out of memory" : "error");
		return;
	}
	if (j->n_files == 0)
		return;
	if (j->tool == GREP_GLOB)
		qsort(j->files, j->n_files, sizeof *j->files, grep_mtime_cmp);
	else
		qsort(j->files, j->n_files, sizeof *j->files, grep_file_cmp);
}

/* ---------------------------------------------------------- matching -- */

/* Find the next match at or after `from`: sets *ms, *me; returns 1, 0, or <0. */
struct grep_matcher {
	struct grep_job *j;
	pcre2_match_data *md;
};

static const char *
grep_memmem_icase(const char *hay, size_t n, const char *needle, size_t m)
{
	if (m == 0)
		return hay;
	unsigned char lo = (unsigned char)tolower((unsigned char)needle[0]);
	unsigned char up = (unsigned char)toupper((unsigned char)needle[0]);
	const char *end = hay + n;
	const char *pl = NULL, *pu = NULL;
	const char *p = hay;
	while (p + m <= end) {
		if (pl == NULL || pl < p)
			pl = memchr(p, lo, (size_t)(end - p));
		if (pu == NULL || pu < p)
			pu = lo == up ? pl : memchr(p, up, (size_t)(end - p));
		if (pl == NULL)
			pl = end;
		if (pu == NULL)
			pu = end;
		const char *c = pl < pu ? pl : pu;
		if (c + m > end)
			return NULL;
		if (strncasecmp(c, needle, m) == 0)
			return c;
		p = c + 1;
	}
	return NULL;
}

static int
grep_find(struct grep_matcher *mt, const char *buf, size_t len, size_t from, size_t *ms,
	  size_t *me)
{
	struct grep_job *j = mt->j;
	if (j->literal != NULL) {
		const char *h = j->icase ?
			grep_memmem_icase(buf + from, len - from, j->literal, j->literal_len) :
			memmem(buf + from, len - from, j->literal, j->literal_len);
		if (h == NULL)
			return 0;
		*ms = (size_t)(h - buf);
		*me = *ms + j->literal_len;
		return 1;
	}
	int rc = pcre2_match(j->re, (PCRE2_SPTR)buf, len, from, 0, mt->md, NULL);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0)
		return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ? 0 : -1;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(mt->md);
	*ms = ov[0];
	*me = ov[1];
	return 1;
}

/* Does the one line [ls, le) match on its own? (for matches that crossed a newline) */
static int
grep_line_matches(struct grep_matcher *mt, const char *line, size_t n)
{
	int rc = pcre2_match(mt->j->re, (PCRE2_SPTR)line, n, 0, 0, mt->md, NULL);
	return rc >= 0;
}

struct grep_emit {
	struct grep_hits *h;
	size_t cap_recs;
	struct grep_buf text;
	unsigned long last_line;   /* the last line recorded, 0 if none */
	int separate;              /* context is on: "--" between groups */
	int failed;
};

static void
grep_emit_line(struct grep_emit *e, char kind, unsigned long line, const char *s, size_t n)
{
	if (e->failed)
		return;
	if (e->separate && e->last_line != 0 && line > e->last_line + 1 && kind != 's') {
		grep_emit_line(e, 's', 0, NULL, 0);
	}
	if (e->h->n_recs == e->cap_recs) {
		size_t cap = e->cap_recs ? e->cap_recs * 2 : 16;
		struct grep_rec *r = realloc(e->h->recs, cap * sizeof *r);
		if (r == NULL) {
			e->failed = 1;
			return;
		}
		e->h->recs = r;
		e->cap_recs = cap;
	}
	if (n > 0 && s[n - 1] == '\r')
		n--;
	struct grep_rec *r = &e->h->recs[e->h->n_recs++];
	r->line = line;
	r->kind = kind;
	r->off = e->text.len;
	size_t shown = n > GREP_MAX_COLUMNS ? GREP_MAX_COLUMNS : n;
	if (grep_buf_add(&e->text, s != NULL ? s : "", shown) != 0)
		e->failed = 1;
	if (shown < n && grep_buf_fmt(&e->text, " [... %zu more bytes]", n - shown) != 0)
		e->failed = 1;
	r->len = e->text.len - r->off;
	if (kind != 's')
		e->last_line = line;
}

/* Emit the context lines (last_line, upto) that begin at pos = start of last_line+1. */
static void
grep_emit_after(struct grep_emit *e, const char *buf, size_t len, size_t pos,
		unsigned long from_line, unsigned long count)
{
	for (unsigned long k = 0; k < count && pos < len; k++) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t le = nl != NULL ? (size_t)(nl - buf) : len;
		grep_emit_line(e, '-', from_line + k, buf + pos, le - pos);
		pos = le + 1;
	}
}

static size_t
grep_count_nl(const char *s, size_t n)
{
	size_t c = 0;
	const char *end = s + n;
	while (s < end && (s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
		c++;
		s++;
	}
	return c;
}

/* Match one file's bytes, filling *h. */
static void
grep_match_buf(struct grep_matcher *mt, const char *buf, size_t len, struct grep_hits *h)
{
	struct grep_job *j = mt->j;
	struct grep_emit e = { .h = h, .separate = j->before > 0 || j->after > 0 };
	unsigned long spins = 0;
	size_t pos = 0;               /* where the search goes on */
	size_t line_pos = 0;          /* start of line `line_no` */
	unsigned long line_no = 1;
	size_t after_pos = 0;         /* start of the line after the last match line */
	unsigned long after_line = 0; /* its number; 0 when no match yet */
	size_t stored = 0;
	size_t limit = atomic_load(&j->prefix_matches) >= j->max_results ? 0 : j->max_results;
	while (pos <= len) {
		if ((++spins & 0x3ff) == 0 && atomic_load_explicit(&j->cancel, memory_order_relaxed))
			break;
		size_t ms, me;
		int rc = grep_find(mt, buf, len, pos, &ms, &me);
		if (rc <= 0)
			break;
		const char *ls_p = ms > 0 ? memrchr(buf, '\n', ms) : NULL;
		size_t ls = ls_p != NULL ? (size_t)(ls_p - buf) + 1 : 0;
		if (ms == len && ls == len && len > 0 && buf[len - 1] == '\n')
			break;   /* an empty match after the last newline is no line */
		const char *le_p = memchr(buf + ms, '\n', len - ms);
		size_t le = le_p != NULL ? (size_t)(le_p - buf) : len;
		if (me > le && !grep_line_matches(mt, buf + ls, le - ls)) {
			pos = le + 1;
			continue;
		}
		line_no += (unsigned long)grep_count_nl(buf + line_pos, ls - line_pos);
		line_pos = ls;
		h->matches++;
		if (j->mode == GREP_FILES)
			break;
		/* after-context of the previous match, up to this line */
		if (after_line != 0 && j->after > 0) {
			unsigned long gap = line_no - after_line;
			grep_emit_after(&e, buf, len, after_pos, after_line,
					gap < j->after ? gap : j->after);
		}
		after_line = 0;
		if (j->mode == GREP_CONTENT && stored < limit) {
			/* before-context */
			unsigned long want = j->before;
			if (want > line_no - 1 - e.last_line)
				want = line_no - 1 - e.last_line;
			if (line_no - 1 < want)
				want = line_no - 1;
			size_t bpos = ls;
			for (unsigned long k = 0; k < want; k++) {
				const char *q = bpos >= 2 ? memrchr(buf, '\n', bpos - 1) : NULL;
				bpos = q != NULL ? (size_t)(q - buf) + 1 : 0;
			}
			grep_emit_after(&e, buf, len, bpos, line_no - want, want);
			grep_emit_line(&e, ':', line_no, buf + ls, le - ls);
			stored++;
			after_line = line_no + 1;
			after_pos = le + 1;
		}
		pos = le + 1;
	}
	if (after_line != 0 && j->after > 0 && after_pos <= len)
		grep_emit_after(&e, buf, len, after_pos, after_line, j->after);
	h->text = e.text.p;
	if (e.failed)
		grep_job_error(j, "out of memory");
}

/* A matching worker: takes files from the shared index until none are left. */
static void grep_match_run(struct grep_job *j);

/* Read file i into *buf (grown as needed, *cap bytes) and match it, unless binary. */
static void
grep_match_file(struct grep_matcher *mt, size_t i, char **buf, size_t *cap)
{
	struct grep_job *j = mt->j;
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", j->root, j->files[i].rel) >= (int)sizeof path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	/* Zeroed padding: PCRE2's JIT reads ahead in 16-byte chunks. */
	size_t want = (size_t)st.st_size + GREP_PAD, len = 0;
	if (want > *cap) {
		char *nb = realloc(*buf, want);
		if (nb == NULL) {
			close(fd);
			return;
		}
		*buf = nb;
		*cap = want;
	}
	char *b = *buf;
	ssize_t got;
	while (len < *cap - GREP_PAD && (got = read(fd, b + len, *cap - GREP_PAD - len)) > 0)
		len += (size_t)got;
	memset(b + len, 0, GREP_PAD);
	close(fd);
	if (memchr(b, '\0', len < GREP_BINARY_PROBE ? len : GREP_BINARY_PROBE) != NULL)
		return;   /* binary */
	grep_match_buf(mt, b, len, &j->hits[i]);
}

/* File i is matched: move the done prefix on. */
static void
grep_file_done(struct grep_job *j, size_t i)
{
	pthread_mutex_lock(&j->prefix_lock);
	j->done[i] = 1;
	size_t add = 0;
	while (j->prefix < j->n_files && j->done[j->prefix])
		add += j->hits[j->prefix++].matches;
	if (add > 0)
		atomic_fetch_add(&j->prefix_matches, add);
	pthread_mutex_unlock(&j->prefix_lock);
}

static void
grep_match_work(void *arg)
{
	struct grep_task *task = arg;
	grep_match_run(task->j);
	atomic_store(&task->finished, 1);
}

static void
grep_match_run(struct grep_job *j)
{
	struct grep_matcher mt = { .j = j };
	if (j->re != NULL && (mt.md = pcre2_match_data_create_from_pattern(j->re, NULL)) == NULL) {
		grep_job_error(j, "out of memory");
		return;
	}
	char *buf = NULL;
	size_t cap = 0;
	for (;;) {
		if (atomic_load_explicit(&j->cancel, memory_order_relaxed))
			break;
		size_t i = atomic_fetch_add(&j->next_file, 1);
		if (i >= j->n_files)
			break;
		grep_match_file(&mt, i, &buf, &cap);
		grep_file_done(j, i);
	}
	free(buf);
	if (mt.md != NULL)
		pcre2_match_data_free(mt.md);
}

/* ------------------------------------------------------------- ls -- */

static int
grep_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ls on a pool thread: the entries go to j->files (rel = name, size; mtime 1 for dirs). */
static void grep_ls_run(struct grep_job *j);

static void
grep_ls_work(void *arg)
{
	struct grep_task *task = arg;
	grep_ls_run(task->j);
	atomic_store(&task->finished, 1);
}

static void
grep_ls_run(struct grep_job *j)
{
	DIR *d = opendir(j->root);
	if (d == NULL) {
		grep_job_error(j, "cannot list %s: %s", j->root, strerror(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (grep_add_file(j, e->d_name, &st) != 0) {
			grep_job_error(j, "out of memory");
			break;
		}
		j->files[j->n_files - 1].mtime_ns = S_ISDIR(st.st_mode) ? 1 :
			S_ISLNK(st.st_mode) ? 2 : 0;
	}
	closedir(d);
}

static int
grep_ls_cmp(const void *a, const void *b)
{
	const struct grep_file *x = a, *y = b;
	int dx = x->mtime_ns == 1, dy = y->mtime_ns == 1;
	if (dx != dy)
		return dy - dx;
	return grep_name_cmp(&x->rel, &y->rel);
}

/* ---------------------------------------------------------- results -- */

static void
grep_cap_note(struct grep_buf *b, size_t shown, size_t total, const char *what)
{
	if (shown < total)
		grep_buf_fmt(b, "[%zu of %zu %s shown; narrow the pattern or path]\n", shown, total,
			     what);
}

/* Append a file name as names.h shows it (control characters escaped). */
static int
grep_buf_name(struct grep_buf *b, const char *name)
{
	char *tofree;
	const char *shown = names_show(name, &tofree);
	int rc = shown != NULL ? grep_buf_str(b, shown) : HEARTH_ENOMEM;
	free(tofree);
	return rc;
}

static json_t *
grep_build_result(struct grep_job *j)
{
	struct grep_buf b = { 0 };
	size_t cap = j->max_results;
	char *display_free;
	const char *display = names_show(j->display, &display_free);
	if (display == NULL)
		return grep_result("out of memory", 13, 1);
	if (j->tool == GREP_LS) {
		if (j->n_files > 0)
			qsort(j->files, j->n_files, sizeof *j->files, grep_ls_cmp);
		size_t n = j->n_files < cap ? j->n_files : cap;
		for (size_t i = 0; i < n; i++) {
			const struct grep_file *f = &j->files[i];
			grep_buf_name(&b, f->rel);
			if (f->mtime_ns == 1)
				grep_buf_str(&b, "/\n");
			else if (f->mtime_ns == 2)
				grep_buf_str(&b, "@\n");
			else
				grep_buf_fmt(&b, " (%lld bytes)\n", f->size);
		}
		if (j->n_files == 0)
			grep_buf_str(&b, "(empty directory)\n");
		grep_cap_note(&b, n, j->n_files, "entries");
	} else if (j->tool == GREP_GLOB) {
		size_t n = j->n_files < cap ? j->n_files : cap;
		for (size_t i = 0; i < n; i++) {
			grep_buf_str(&b, display);
			grep_buf_name(&b, j->files[i].rel);
			grep_buf_str(&b, "\n");
		}
		if (j->n_files == 0)
			grep_buf_str(&b, "No files found\n");
		grep_cap_note(&b, n, j->n_files, "files");
	} else {
		size_t total = 0, shown = 0;
		int any_group = 0;
		for (size_t i = 0; i < j->n_files; i++) {
			struct grep_hits *h = &j->hits[i];
			if (h->matches == 0)
				continue;
			const char *rel = j->files[i].rel;
			total += j->mode == GREP_CONTENT ? h->matches : 1;
			if (j->mode == GREP_FILES || j->mode == GREP_COUNT) {
				if (shown < cap) {
					grep_buf_str(&b, display);
					grep_buf_name(&b, rel);
					if (j->mode == GREP_FILES)
						grep_buf_str(&b, "\n");
					else
						grep_buf_fmt(&b, ":%zu\n", h->matches);
					shown++;
				}
				continue;
			}
			if (shown >= cap)
				continue;
			unsigned long last_shown = 0;
			if (any_group && (j->before > 0 || j->after > 0))
				grep_buf_str(&b, "--\n");
			any_group = 1;
			for (size_t r = 0; r < h->n_recs; r++) {
				const struct grep_rec *rec = &h->recs[r];
				if (rec->kind == ':') {
					if (shown >= cap)
						break;
					shown++;
					last_shown = rec->line;
				} else if (rec->kind == '-' && shown >= cap &&
					   rec->line > last_shown + j->after) {
					break;
				} else if (rec->kind == 's') {
					/* a separator only between two shown groups */
					if (shown >= cap)
						break;
					grep_buf_str(&b, "--\n");
					continue;
				}
				grep_buf_str(&b, display);
				grep_buf_name(&b, rel);
				grep_buf_fmt(&b, "%c%lu%c", rec->kind, rec->line, rec->kind);
				grep_buf_add(&b, h->text + rec->off, rec->len);
				grep_buf_str(&b, "\n");
			}
		}
		if (total == 0)
			grep_buf_str(&b, "No matches found\n");
		grep_cap_note(&b, shown, total, j->mode == GREP_CONTENT ? "matches" : "files");
	}
	/* Without the last newline. */
	if (b.len > 0 && b.p[b.len - 1] == '\n')
		b.p[--b.len] = '\0';
	json_t *r = grep_result(b.p != NULL ? b.p : "", b.len, 0);
	free(b.p);
	free(display_free);
	return r;
}

/* ------------------------------------------------------------ the job -- */

static void
grep_job_unlink(struct grep_job *j)
{
	if (j->mod == NULL)
		return;
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		j->mod->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->mod = NULL;
}

static void
grep_job_finish(struct grep_job *j, json_t *result)
{
	struct hearth_tool_call *call = j->call;
	const struct hearth_host *host = j->host;
	int orphan = j->mod == NULL;
	grep_job_unlink(j);
	grep_job_free(j);
	if (orphan) {
		json_decref(result);
		return;
	}
	call->data = NULL;
	host->tool_finish(call, result);
}

static void grep_match_done_cb(void *arg, int status);

static void
grep_job_end(struct grep_job *j)
{
	json_t *r;
	if (atomic_load(&j->cancel))
		r = grep_result("cancelled", 9, 1);
	else if (j->error != NULL)
		r = grep_result(j->error, strlen(j->error), 1);
	else
		r = grep_build_result(j);
	grep_job_finish(j, r);
}

static void
grep_walk_done_cb(void *arg, int status)
{
	struct grep_task *task = arg;
	struct grep_job *j = task->j;
	task->w = NULL;
	j->pending--;
	if (j->mod == NULL || j->tool != GREP_GREP || atomic_load(&j->cancel) ||
	    j->error != NULL || j->n_files == 0) {
		grep_job_end(j);
		return;
	}
	j->hits = calloc(j->n_files, sizeof *j->hits);
	j->done = calloc(j->n_files, 1);
	if (j->hits == NULL || j->done == NULL) {
		grep_job_error(j, "out of memory");
		grep_job_end(j);
		return;
	}
	size_t n = j->n_workers;
	if (n > j->n_files)
		n = j->n_files;
	for (size_t i = 0; i < n; i++) {
		struct grep_task *tk = &j->tasks[j->n_tasks];
		tk->j = j;
		tk->w = j->host->work_queue(j->host, grep_match_work, grep_match_done_cb, tk);
		if (tk->w == NULL) {
			grep_job_error(j, "out of memory");
			break;
		}
		j->n_tasks++;
		j->pending++;
	}
	if (j->pending == 0)
		grep_job_end(j);
}

static void
grep_match_done_cb(void *arg, int status)
{
	struct grep_task *task = arg;
	struct grep_job *j = task->j;
	task->w = NULL;
	if (--j->pending == 0)
		grep_job_end(j);
}

/* ---------------------------------------------------------- arguments -- */

static int
grep_get_uint(const json_t *in, const char *key, unsigned long def, unsigned long max,
	      unsigned long *out, char **err)
{
	const json_t *v = json_object_get(in, key);
	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		if (asprintf(err, "%s must be a non-negative integer", key) < 0)
			*err = NULL;
		return HEARTH_EINVAL;
	}
	json_int_t x = json_integer_value(v);
	*out = (unsigned long long)x > max ? max : (unsigned long)x;
	return 0;
}

static int
grep_get_bool(const json_t *in, const char *key)
{
	const json_t *v = json_object_get(in, key);
	return json_is_true(v);
}

/* Expand one level of {a,b} alternatives into *out (each owned). */
static int
grep_expand_braces(const char *g, char ***out, size_t *n)
{
	const char *open = strchr(g, '{');
	const char *close = NULL;
	if (open != NULL) {
		int depth = 0;
		for (const char *q = open; *q != '\0'; q++) {
			if (*q == '{')
				depth++;
			else if (*q == '}' && --depth == 0) {
				close = q;
				break;
			}
		}
	}
	if (open == NULL || close == NULL) {
		char **o = realloc(*out, (*n + 1) * sizeof *o);
		if (o == NULL)
			return HEARTH_ENOMEM;
		*out = o;
		if ((o[*n] = strdup(g)) == NULL)
			return HEARTH_ENOMEM;
		(*n)++;
		return 0;
	}
	const char *alt = open + 1;
	int depth = 0;
	for (const char *q = alt; q <= close; q++) {
		if (*q == '{')
			depth++;
		else if (*q == '}' && depth > 0)
			depth--;
		else if ((*q == ',' && depth == 0) || q == close) {
			char *s;
			if (asprintf(&s, "%.*s%.*s%s", (int)(open - g), g, (int)(q - alt), alt,
				     close + 1) < 0)
				return HEARTH_ENOMEM;
			int rc = grep_expand_braces(s, out, n);
			free(s);
			if (rc != 0)
				return rc;
			alt = q + 1;
		}
	}
	return 0;
}

static int
grep_add_glob(struct grep_job *j, const char *g)
{
	int neg = g[0] == '!';
	char **ex = NULL;
	size_t n = 0;
	int rc = grep_expand_braces(g + neg, &ex, &n);
	for (size_t i = 0; i < n; i++) {
		char *s = NULL;
		if (rc == 0) {
			if (asprintf(&s, "%s%s", neg ? "!" : "", ex[i]) < 0)
				rc = HEARTH_ENOMEM;
			else {
				char **gl = realloc(j->globs, (j->n_globs + 1) * sizeof *gl);
				if (gl == NULL) {
					free(s);
					rc = HEARTH_ENOMEM;
				} else {
					j->globs = gl;
					j->globs[j->n_globs++] = s;
				}
			}
		}
		free(ex[i]);
	}
	free(ex);
	return rc;
}

static const struct {
	const char *name;
	const char *globs;
} grep_types[] = {
	{ "c", "*.{c,h}" }, { "cpp", "*.{cc,cpp,cxx,hh,hpp,hxx,h,inl}" },
	{ "py", "*.{py,pyi}" }, { "python", "*.{py,pyi}" }, { "js", "*.{js,jsx,mjs,cjs}" },
	{ "ts", "*.{ts,tsx,mts,cts}" }, { "go", "*.go" }, { "rust", "*.rs" },
	{ "java", "*.java" }, { "rb", "*.rb" }, { "ruby", "*.rb" }, { "sh", "*.{sh,bash,zsh}" },
	{ "md", "*.{md,markdown}" }, { "markdown", "*.{md,markdown}" }, { "json", "*.json" },
	{ "yaml", "*.{yaml,yml}" }, { "toml", "*.toml" }, { "html", "*.{html,htm}" },
	{ "css", "*.{css,scss,sass,less}" }, { "make", "{Makefile,makefile,GNUmakefile,*.mk,*.mak,Makefile.am,Makefile.in}" },
	{ "lua", "*.lua" }, { "php", "*.php" }, { "swift", "*.swift" }, { "kotlin", "*.{kt,kts}" },
	{ "cs", "*.cs" }, { "sql", "*.sql" }, { "txt", "*.txt" }, { "xml", "*.xml" },
};

/* Join `p` to cwd (unless absolute) and resolve it; a new string or NULL (errno). */
static char *
grep_resolve(const char *cwd, const char *p)
{
	char *joined;
	if (p[0] == '/')
		joined = strdup(p);
	else if (asprintf(&joined, "%s/%s", cwd, p) < 0)
		joined = NULL;
	if (joined == NULL)
		return NULL;
	char *r = realpath(joined, NULL);
	int e = errno;
	free(joined);
	errno = e;
	return r;
}

/* The repository top: the nearest ancestor of root (or root) holding .git; else root. */
static size_t
grep_find_top(const char *root)
{
	size_t len = strlen(root);
	char p[PATH_MAX];
	for (size_t l = len; l > 0;) {
		struct stat st;
		if (snprintf(p, sizeof p, "%.*s/.git", (int)l, root) < (int)sizeof p &&
		    lstat(p, &st) == 0)
			return l;
		while (l > 0 && root[l - 1] != '/')
			l--;
		if (l > 0)
			l--;   /* drop the slash */
		if (l == 0)
			break;
	}
	return len;
}

/* Fill the job from the call's input; a message in *err on a bad argument. */
static int
grep_job_setup(struct grep_mod *t, struct grep_job *j, struct hearth_tool_call *call,
	       char **err)
{
	const json_t *in = call->input;
	const char *path = json_string_value(json_object_get(in, "path"));
	if (json_object_get(in, "path") != NULL && !json_is_null(json_object_get(in, "path")) &&
	    path == NULL)
		return asprintf(err, "path must be a string") < 0 ? HEARTH_ENOMEM : HEARTH_EINVAL;
	if (path == NULL || path[0] == '\0')
		path = ".";
	unsigned long mr;
	if (grep_get_uint(in, "max_results", (unsigned long)t->max_results,
			  (unsigned long)t->max_results, &mr, err) != 0)
		return HEARTH_EINVAL;
	j->max_results = mr > 0 ? mr : 1;
	j->root = grep_resolve(call->cwd, path);
	if (j->root == NULL)
		return asprintf(err, "%s: %s", path, strerror(errno)) < 0 ? HEARTH_ENOMEM :
			HEARTH_ENOENT;
	if (j->host->path_allowed(call, j->root, 0) != 0)
		return asprintf(err, "refused: %s resolves to %s, outside the project directory",
				path, j->root) < 0 ? HEARTH_ENOMEM : HEARTH_EPERM;
	struct stat st;
	if (stat(j->root, &st) != 0)
		return asprintf(err, "%s: %s", path, strerror(errno)) < 0 ? HEARTH_ENOMEM :
			HEARTH_ENOENT;
	j->root_is_file = S_ISREG(st.st_mode);
	if (!S_ISDIR(st.st_mode) && !(j->root_is_file && j->tool == GREP_GREP))
		return asprintf(err, "%s is not a directory", path) < 0 ? HEARTH_ENOMEM :
			HEARTH_EINVAL;
	/* Printed paths: relative to cwd when the root lies inside it. */
	const char *base = j->root;
	size_t cl = strlen(call->cwd);
	char *dir = NULL;
	if (j->root_is_file) {
		dir = strdup(j->root);
		if (dir == NULL)
			return HEARTH_ENOMEM;
		*strrchr(dir, '/') = '\0';
		base = dir;
	}
	int rc;
	if (strcmp(base, call->cwd) == 0)
		rc = (j->display = strdup("")) == NULL ? -1 : 0;
	else if (strncmp(base, call->cwd, cl) == 0 && base[cl] == '/')
		rc = asprintf(&j->display, "%s/", base + cl + 1);
	else
		rc = asprintf(&j->display, "%s/", base);
	if (rc < 0) {
		free(dir);
		return HEARTH_ENOMEM;
	}
	j->top_len = grep_find_top(dir != NULL ? dir : j->root);
	free(dir);
	if (j->tool == GREP_LS)
		return 0;

	const char *pattern = json_string_value(json_object_get(in, "pattern"));
	if (pattern == NULL)
		return asprintf(err, "pattern must be a string") < 0 ? HEARTH_ENOMEM : HEARTH_EINVAL;
	if (j->tool == GREP_GLOB)
		return grep_add_glob(j, pattern);

	const json_t *g = json_object_get(in, "glob");
	if (json_is_string(g)) {
		if ((rc = grep_add_glob(j, json_string_value(g))) != 0)
			return rc;
	} else if (json_is_array(g)) {
		size_t i;
		const json_t *v;
		json_array_foreach(g, i, v)
			if (json_is_string(v) && (rc = grep_add_glob(j, json_string_value(v))) != 0)
				return rc;
	} else if (g != NULL && !json_is_null(g)) {
		return asprintf(err, "glob must be a string") < 0 ? HEARTH_ENOMEM : HEARTH_EINVAL;
	}
	const json_t *tv = json_object_get(in, "type");
	const char *type = json_string_value(tv);
	if (tv != NULL && !json_is_null(tv) && type == NULL)
		return asprintf(err, "type must be a string") < 0 ? HEARTH_ENOMEM : HEARTH_EINVAL;
	if (type != NULL) {
		size_t k, nt = sizeof grep_types / sizeof grep_types[0];
		for (k = 0; k < nt && strcmp(grep_types[k].name, type) != 0; k++)
			;
		if (k == nt)
			return asprintf(err, "unknown file type '%s'", type) < 0 ? HEARTH_ENOMEM :
				HEARTH_EINVAL;
		if ((rc = grep_add_glob(j, grep_types[k].globs)) != 0)
			return rc;
	}
	const char *mode = json_string_value(json_object_get(in, "output_mode"));
	if (mode == NULL || strcmp(mode, "content") == 0)
		j->mode = GREP_CONTENT;
	else if (strcmp(mode, "files_with_matches") == 0)
		j->mode = GREP_FILES;
	else if (strcmp(mode, "count") == 0)
		j->mode = GREP_COUNT;
	else
		return asprintf(err, "output_mode must be content, files_with_matches or count") < 0 ?
			HEARTH_ENOMEM : HEARTH_EINVAL;
	unsigned long ctx;
	if (grep_get_uint(in, "context", 0, 1000, &ctx, err) != 0 ||
	    grep_get_uint(in, "before", ctx, 1000, &j->before, err) != 0 ||
	    grep_get_uint(in, "after", ctx, 1000, &j->after, err) != 0)
		return HEARTH_EINVAL;
	if (j->mode != GREP_CONTENT)
		j->before = j->after = 0;
	j->icase = grep_get_bool(in, "case_insensitive");
	if (!j->icase && grep_get_bool(in, "smart_case")) {
		int upper = 0;
		for (const char *q = pattern; *q != '\0'; q++) {
			if (*q == '\\' && q[1] != '\0') {
				q++;
				continue;
			}
			if (isupper((unsigned char)*q))
				upper = 1;
		}
		j->icase = !upper;
	}
	int ascii = 1;
	for (const char *q = pattern; *q != '\0'; q++)
		if ((unsigned char)*q >= 0x80)
			ascii = 0;
	if (pattern[0] != '\0' && strpbrk(pattern, "\\^$.|?*+()[]{}\n") == NULL &&
	    (ascii || !j->icase)) {
		j->literal = strdup(pattern);
		j->literal_len = strlen(pattern);
		return j->literal == NULL ? HEARTH_ENOMEM : 0;
	}
	int ecode;
	PCRE2_SIZE eoff;
	/* CRLF files: `$` matches before "\r\n" too. */
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	if (cc == NULL)
		return HEARTH_ENOMEM;
	pcre2_set_newline(cc, PCRE2_NEWLINE_ANYCRLF);
	j->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
			      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE |
			      (j->icase ? PCRE2_CASELESS : 0), &ecode, &eoff, cc);
	pcre2_compile_context_free(cc);
	if (j->re == NULL) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ecode, msg, sizeof msg);
		return asprintf(err, "invalid regular expression at offset %zu: %s", (size_t)eoff,
				(const char *)msg) < 0 ? HEARTH_ENOMEM : HEARTH_EINVAL;
	}
	pcre2_jit_compile(j->re, PCRE2_JIT_COMPLETE);   /* falls back to the interpreter */
	return 0;
}

/* ------------------------------------------------------------- vtable -- */

#define GREP_PATH_PROP "\"path\":{\"type\":\"string\",\"description\":" \
	"\"Directory (or file) to search, relative to the project; default: the project\"}"

static const struct hearth_tool_def grep_defs[] = {
	{ .name = "grep",
	  .description = "Search file contents with a regular expression (PCRE2 syntax) over a "
		"directory tree, honouring .gitignore. Output modes: content (path:line:text, "
		"context lines as path-line-text, groups separated by --), files_with_matches, "
		"count (path:N). Binary files are skipped; results are sorted by path and capped.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{"
		"\"pattern\":{\"type\":\"string\",\"description\":\"regular expression\"},"
		GREP_PATH_PROP ","
		"\"glob\":{\"type\":\"string\",\"description\":\"only files matching, e.g. *.{c,h}; !x excludes\"},"
		"\"type\":{\"type\":\"string\",\"description\":\"file type: c, cpp, py, js, ts, go, rust, java, ...\"},"
		"\"case_insensitive\":{\"type\":\"boolean\"},"
		"\"smart_case\":{\"type\":\"boolean\",\"description\":\"case-insensitive unless the pattern has capitals\"},"
		"\"context\":{\"type\":\"integer\",\"minimum\":0},"
		"\"before\":{\"type\":\"integer\",\"minimum\":0},"
		"\"after\":{\"type\":\"integer\",\"minimum\":0},"
		"\"output_mode\":{\"type\":\"string\",\"enum\":[\"content\",\"files_with_matches\",\"count\"]},"
		"\"max_results\":{\"type\":\"integer\",\"minimum\":1}},"
		"\"required\":[\"pattern\"]}",
	  .default_permission = HEARTH_PERM_ALLOW, .flags = HEARTH_TOOL_READ_ONLY,
	  .kind = "search" },
	{ .name = "glob",
	  .description = "Find files whose path matches a glob (* ? [..] {a,b}, ** across "
		"directories; a pattern without / matches file names), newest first, honouring "
		".gitignore.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{"
		"\"pattern\":{\"type\":\"string\"}," GREP_PATH_PROP "},\"required\":[\"pattern\"]}",
	  .default_permission = HEARTH_PERM_ALLOW, .flags = HEARTH_TOOL_READ_ONLY,
	  .kind = "search" },
	{ .name = "ls",
	  .description = "List a directory: subdirectories first (with a trailing /), then files "
		"with their sizes.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{" GREP_PATH_PROP "}}",
	  .default_permission = HEARTH_PERM_ALLOW, .flags = HEARTH_TOOL_READ_ONLY,
	  .kind = "read" },
};

static int
grep_init(const struct hearth_host *host, const json_t *config, void **state)
{
	struct grep_mod *t = calloc(1, sizeof *t);
	if (t == NULL)
		return HEARTH_ENOMEM;
	t->host = host;
	if (host->config_int(host, "max_results", 1000, 1, 1000000, &t->max_results) != 0 ||
	    host->config_int(host, "workers", 2, 1, 64, &t->workers) != 0) {
		free(t);
		return HEARTH_EINVAL;
	}
	*state = t;
	return 0;
}

static void
grep_fini(void *state)
{
	struct grep_mod *t = state;
	/*
	 * No done callback reaches the module after fini(): calls still running are
	 * cancelled, queued work is withdrawn, and work already running is waited
	 * for (it checks the flag often, so this is short).
	 */
	while (t->jobs != NULL) {
		struct grep_job *j = t->jobs;
		atomic_store(&j->cancel, 1);
		for (size_t i = 0; i < j->n_tasks; i++) {
			struct grep_task *tk = &j->tasks[i];
			if (tk->w == NULL || t->host->work_cancel(tk->w) == 0)
				continue;
			while (!atomic_load(&tk->finished))
				usleep(1000);
		}
		struct hearth_tool_call *call = j->call;
		grep_job_unlink(j);
		grep_job_free(j);
		call->data = NULL;
		t->host->tool_finish(call, grep_result("cancelled", 9, 1));
	}
	free(t);
}

static size_t
grep_list(void *state, const struct hearth_tool_def **defs)
{
	*defs = grep_defs;
	return sizeof grep_defs / sizeof grep_defs[0];
}

static int
grep_run(void *state, struct hearth_tool_call *call)
{
	struct grep_mod *t = state;
	struct grep_job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return HEARTH_ENOMEM;
	pthread_mutex_init(&j->prefix_lock, NULL);
	j->host = t->host;
	j->call = call;
	j->n_workers = (size_t)t->workers;
	j->tool = strcmp(call->tool, "glob") == 0 ? GREP_GLOB :
		strcmp(call->tool, "ls") == 0 ? GREP_LS : GREP_GREP;
	char *err = NULL;
	int rc = grep_job_setup(t, j, call, &err);
	if (rc != 0) {
		grep_job_free(j);
		if (err == NULL)
			return rc;
		t->host->tool_finish(call, grep_result(err, strlen(err), 1));
		free(err);
		return 0;
	}
	j->tasks = calloc(j->n_workers + 1, sizeof *j->tasks);
	if (j->tasks == NULL) {
		grep_job_free(j);
		return HEARTH_ENOMEM;
	}
	j->mod = t;
	j->next = t->jobs;
	if (t->jobs != NULL)
		t->jobs->prev = j;
	t->jobs = j;
	call->data = j;
	j->tasks[0].j = j;
	j->tasks[0].w = t->host->work_queue(t->host, j->tool == GREP_LS ? grep_ls_work :
					    grep_walk_work, grep_walk_done_cb, &j->tasks[0]);
	j->n_tasks = 1;
	if (j->tasks[0].w == NULL) {
		call->data = NULL;
		grep_job_unlink(j);
		grep_job_free(j);
		return HEARTH_ENOMEM;
	}
	j->pending = 1;
	return 0;
}

static void
grep_cancel(void *state, struct hearth_tool_call *call)
{
	struct grep_job *j = call->data;
	if (j != NULL)
		atomic_store(&j->cancel, 1);
}

static json_t *
grep_describe(void *state, const struct hearth_tool_call *call)
{
	const char *path = json_string_value(json_object_get(call->input, "path"));
	const char *pattern = json_string_value(json_object_get(call->input, "pattern"));
	if (path == NULL || path[0] == '\0')
		path = ".";
	if (pattern == NULL)
		pattern = "";
	char *title, *pattern_free, *path_free;
	const char *pattern_shown = names_show(pattern, &pattern_free);
	const char *path_shown = names_show(path, &path_free);
	int rc = -1;
	if (pattern_shown == NULL || path_shown == NULL)
		rc = -1;
	else if (strcmp(call->tool, "grep") == 0)
		rc = asprintf(&title, "Search for %s in %s", pattern_shown, path_shown);
	else if (strcmp(call->tool, "glob") == 0)
		rc = asprintf(&title, "Find files matching %s in %s", pattern_shown, path_shown);
	else
		rc = asprintf(&title, "List %s", path_shown);
	free(pattern_free);
	free(path_free);
	if (rc < 0)
		return NULL;
	/* The subject permission patterns match: project-relative when inside. */
	const char *subject = path;
	size_t cl = strlen(call->cwd);
	if (strncmp(path, call->cwd, cl) == 0 && path[cl] == '/' && path[cl + 1] != '\0')
		subject = path + cl + 1;
	char *abs = NULL;
	if (path[0] == '/')
		abs = strdup(path);
	else if (strcmp(path, ".") == 0)
		abs = strdup(call->cwd);
	else if (asprintf(&abs, "%s/%s", call->cwd, path) < 0)
		abs = NULL;
	json_t *d = json_pack("{s:s,s:s,s:s,s:[{s:s}]}", "title", title, "kind",
			      strcmp(call->tool, "ls") == 0 ? "read" : "search", "subject", subject,
			      "locations", "path", abs != NULL ? abs : call->cwd);
	free(title);
	free(abs);
	return d;
}

static const struct hearth_tool grep_vtable = {
	.struct_size = sizeof(struct hearth_tool),
	.list = grep_list,
	.run = grep_run,
	.cancel = grep_cancel,
	.describe = grep_describe,
};

static const struct hearth_plugin grep_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "grep", .version = "1.0.0",
	.description = "search tools: grep (PCRE2), glob and ls, honouring .gitignore",
	.init = grep_init, .fini = grep_fini, .tool = &grep_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &grep_plugin;
}
