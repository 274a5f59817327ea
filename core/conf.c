/* conf.c: read and check plugins.conf (see conf.h and doc/plugins.conf.5). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "xmalloc.h"

/* Both come from Makefile.am; the fallbacks let a test compile this file alone. */
#if defined(__has_include)
#if __has_include("default-conf.h")
#include "default-conf.h"
#endif
#endif
#ifndef HEARTH_DEFAULT_CONF
#define HEARTH_DEFAULT_CONF ""
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define CONF_VALUE_MAX (64 * 1024) /* an expanded value or argument */
#define CONF_NAME_MAX 64           /* a module name */
#define CONF_ERRORS_MAX 100        /* past this the input is hardly a config: stop */
#define CONF_NEST_MAX 8            /* ${A:-${B:-...}} nested this deep at most */
#define CONF_SHOW_MAX 64           /* bytes of user text quoted in a message */
#define CONF_SHOW_BUF (CONF_SHOW_MAX * 4 + 8)

/* A [kind name] section, kept apart until the end because its `load` may follow it. */
struct conf_section {
	enum hearth_kind kind;
	char *name;          /* owned */
	int line;
	json_t *section;     /* owned */
	json_t *key_lines;   /* owned */
};

struct conf_parser {
	struct conf *c;
	int *error_lines;    /* owned, parallel to c->errors: keeps them in line order */
	int line;
	bool nul_seen;
	bool stopped;        /* too many errors */
	struct conf_section *sections; /* owned array */
	size_t n_sections;
	long cur;            /* index of the section keys go to, -1 for none */
	bool cur_bad;        /* the last header was wrong: drop its keys quietly */
	char *last_var;      /* owned: the variable expanded last, for messages */
};

struct conf_buf {
	char *d;             /* owned */
	size_t n, cap;
};

static const char conf_kind_expected[] = "expected provider, tool or frontend";

/* ------------------------------------------------------------- helpers -- */

static bool
conf_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool
conf_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool
conf_alnum(char ch)
{
	return conf_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Trim blanks in place; returns a pointer into s. */
static char *
conf_trim(char *s)
{
	while (conf_blank(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && conf_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Length of the UTF-8 sequence that starts with lead byte `ch` (1 if not a lead). */
static size_t
conf_utf8_len(unsigned char ch)
{
	if (ch >= 0xF0 && ch <= 0xF4)
		return 4;
	if (ch >= 0xE0 && ch <= 0xEF)
		return 3;
	if (ch >= 0xC2 && ch <= 0xDF)
		return 2;
	return 1;
}

/*
 * Whether s[0..n) is UTF-8 as RFC 3629 has it: no overlongs, no surrogates,
 * nothing past U+10FFFF. On false, *bad is the offset of the first bad sequence.
 */
static bool
conf_utf8_valid(const char *s, size_t n, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char ch = u[i];
		if (ch < 0x80) {
			i++;
			continue;
		}
		size_t len = conf_utf8_len(ch);
		if (len == 1 || n - i < len)
			goto fail;
		unsigned long cp = ch & (0x7F >> len);
		for (size_t k = 1; k < len; k++) {
			if ((u[i + k] & 0xC0) != 0x80)
				goto fail;
			cp = cp << 6 | (u[i + k] & 0x3F);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			goto fail;
		i += len;
	}
	return true;
fail:
	if (bad != NULL)
		*bad = i;
	return false;
}

/*
 * Copy user text (valid UTF-8) into buf for quoting in a message: control
 * characters become \xHH so a message stays one printable line, and text past
 * CONF_SHOW_MAX bytes is cut at a character boundary and ends in "...".
 */
static const char *
conf_show(char buf[CONF_SHOW_BUF], const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; s[i] != '\0';) {
		if (i >= CONF_SHOW_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7F) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
			i++;
			continue;
		}
		size_t len = conf_utf8_len(ch);
		for (size_t k = 0; k < len && s[i] != '\0'; k++)
			buf[o++] = s[i++];
	}
	buf[o] = '\0';
	return buf;
}

static void
conf_buf_add(struct conf_buf *b, const char *s, size_t n)
{
	if (b->cap - b->n < n + 1) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap - b->n < n + 1)
			cap *= 2;
		b->d = xrealloc(b->d, cap);
		b->cap = cap;
	}
	memcpy(b->d + b->n, s, n);
	b->n += n;
	b->d[b->n] = '\0';
}

/* ------------------------------------------------------------- errors -- */

static void
conf_error_insert(struct conf_parser *p, int line, char *msg)
{
	struct conf *c = p->c;
	c->errors = xreallocarray(c->errors, c->n_errors + 1, sizeof *c->errors);
	p->error_lines = xreallocarray(p->error_lines, c->n_errors + 1, sizeof *p->error_lines);
	/* Most come in line order; a late check (unloaded section) slots in. */
	size_t i = c->n_errors;
	while (i > 0 && p->error_lines[i - 1] > line)
		i--;
	memmove(c->errors + i + 1, c->errors + i, (c->n_errors - i) * sizeof *c->errors);
	memmove(p->error_lines + i + 1, p->error_lines + i,
		(c->n_errors - i) * sizeof *p->error_lines);
	c->errors[i] = msg;
	p->error_lines[i] = line;
	c->n_errors++;
}

/* Record "FILE:LINE: message" ("FILE: message" when line is 0). */
static void __attribute__((format(printf, 3, 4)))
conf_error(struct conf_parser *p, int line, const char *fmt, ...)
{
	if (p->stopped)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	const char *path = p->c->path;
	conf_error_insert(p, line, line > 0 ? xasprintf("%s:%d: %s", path, line, msg)
					  : xasprintf("%s: %s", path, msg));
	free(msg);
	if (p->c->n_errors >= CONF_ERRORS_MAX) {
		conf_error_insert(p, line, xasprintf("%s:%d: too many errors, giving up",
						     path, line));
		p->stopped = true;
	}
}

/* ---------------------------------------------------------- expansion -- */

static int conf_expand_at(struct conf_parser *p, const char *s, size_t *pos, int depth,
			  struct conf_buf *b, const char *what);

/*
 * One ${NAME} or ${NAME:-word}; *pos is just past the "${" and is left past the
 * '}'. Appends to b. Returns 0, or -1 after reporting the error.
 */
static int
conf_expand_var(struct conf_parser *p, const char *s, size_t *pos, int depth,
		struct conf_buf *b, const char *what, char **name)
{
	char show[CONF_SHOW_BUF];
	size_t start = *pos;
	while (conf_alnum(s[*pos]) || s[*pos] == '_')
		(*pos)++;
	if (s[*pos] == '\0') {
		conf_error(p, p->line, "unterminated ${ in %s", what);
		return -1;
	}
	*name = xstrndup(s + start, *pos - start);
	const char *nm = *name;
	if (nm[0] == '\0' && s[*pos] == '}') {
		conf_error(p, p->line, "empty variable name in ${} in %s", what);
		return -1;
	}
	if (conf_digit(nm[0])) {
		conf_error(p, p->line, "invalid variable name '%s' in %s (it starts with a digit)",
			   nm, what);
		return -1;
	}
	bool simple = s[*pos] == '}';
	if (!simple && (nm[0] == '\0' || s[*pos] != ':' || s[*pos + 1] != '-')) {
		char ch[8] = { 0 };
		memcpy(ch, s + *pos, conf_utf8_len((unsigned char)s[*pos]));
		conf_error(p, p->line, "unexpected '%s' after '${%s' in %s (expected %s)",
			   conf_show(show, ch), nm, what,
			   nm[0] == '\0' ? "a variable name" : "'}' or ':-'");
		return -1;
	}

	const char *v = getenv(nm);
	const char *add = v != NULL ? v : "";
	size_t n = strlen(add);
	struct conf_buf def = { 0 };
	int rc = -1;
	if (!simple) {
		/* The word is expanded (and so checked) even when it is not used. */
		if (depth + 1 > CONF_NEST_MAX) {
			conf_error(p, p->line, "${...} nested more than %d deep in %s",
				   CONF_NEST_MAX, what);
			goto out;
		}
		*pos += 2;
		if (conf_expand_at(p, s, pos, depth + 1, &def, what) < 0)
			goto out;
		if (s[*pos] != '}') {
			conf_error(p, p->line, "unterminated ${ in %s", what);
			goto out;
		}
		if (n == 0) {
			add = def.d != NULL ? def.d : "";
			n = def.n;
		}
	}
	(*pos)++; /* the '}' */
	if (add == v && !conf_utf8_valid(add, n, NULL)) {
		conf_error(p, p->line, "environment variable %s is not valid UTF-8", nm);
		goto out;
	}
	if (b->n + n > CONF_VALUE_MAX) {
		conf_error(p, p->line, "expanding ${%s} makes the %s longer than %d bytes",
			   nm, what, CONF_VALUE_MAX);
		goto out;
	}
	conf_buf_add(b, add, n);
	free(p->last_var);
	p->last_var = xstrdup(nm);
	rc = 0;
out:
	free(def.d);
	return rc;
}

/*
 * Expand s from *pos into b, up to the end of s, or when depth > 0 (inside a
 * ${VAR:-word}) up to the '}' that closes it, which is left at *pos for the
 * caller. Returns 0, or -1 after reporting the error. `what` is "value" or
 * "argument", for messages.
 */
static int
conf_expand_at(struct conf_parser *p, const char *s, size_t *pos, int depth,
	       struct conf_buf *b, const char *what)
{
	for (;;) {
		char ch = s[*pos];
		if (ch == '\0' || (ch == '}' && depth > 0))
			return 0;
		bool var = ch == '$' && s[*pos + 1] == '{';
		/* Plain text is short (a line); only text after a long ${VAR} gets here. */
		if (!var && b->n + 1 > CONF_VALUE_MAX) {
			conf_error(p, p->line, "expanding ${%s} makes the %s longer than %d bytes",
				   p->last_var != NULL ? p->last_var : "", what, CONF_VALUE_MAX);
			return -1;
		}
		if (ch == '$' && (s[*pos + 1] == '$' || s[*pos + 1] == '#')) {
			conf_buf_add(b, &s[*pos + 1], 1); /* "$$" is '$', "$#" a '#' */
			*pos += 2;
		} else if (var) {
			*pos += 2;
			char *name = NULL;
			int rc = conf_expand_var(p, s, pos, depth, b, what, &name);
			free(name);
			if (rc < 0)
				return -1;
		} else {
			conf_buf_add(b, &s[*pos], 1); /* a lone '$' is literal */
			(*pos)++;
		}
	}
}

/* Expand s into *out (the caller frees it). Returns 0, or -1 after reporting. */
static int
conf_expand(struct conf_parser *p, const char *s, const char *what, char **out)
{
	struct conf_buf b = { 0 };
	size_t pos = 0;
	if (conf_expand_at(p, s, &pos, 0, &b, what) < 0) {
		free(b.d);
		return -1;
	}
	*out = b.d != NULL ? b.d : xstrdup("");
	return 0;
}

/* ------------------------------------------------------------- checks -- */

static bool
conf_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || conf_digit(ch) || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool
conf_key_valid(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (!(conf_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	}
	return s[0] != '\0';
}

static void
conf_error_name(struct conf_parser *p, const char *name)
{
	char show[CONF_SHOW_BUF];
	conf_error(p, p->line, "invalid module name '%s' (expected 1 to %d of a-z, 0-9, '_' and '-')",
		   conf_show(show, name), CONF_NAME_MAX);
}

static int
conf_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return HEARTH_EINVAL;
}

/* ------------------------------------------------------------ lines -- */

/* "[kind name]": s is the trimmed line, starting with '['. */
static void
conf_header(struct conf_parser *p, char *s)
{
	char show[CONF_SHOW_BUF];
	p->cur = -1;
	p->cur_bad = true;

	char *rb = strchr(s, ']');
	if (rb == NULL) {
		conf_error(p, p->line, "section header has no closing ']'");
		return;
	}
	char *after = conf_trim(rb + 1);
	if (*after != '\0') {
		conf_error(p, p->line, "unexpected text after ']' in section header: '%s'",
			   conf_show(show, after));
		return;
	}
	*rb = '\0';
	char *words[3];
	size_t nw = 0;
	for (char *w = s + 1;;) {
		while (conf_blank(*w))
			w++;
		if (*w == '\0')
			break;
		if (nw < 3)
			words[nw] = w;
		nw++;
		while (*w != '\0' && !conf_blank(*w))
			w++;
		if (*w != '\0')
			*w++ = '\0';
	}
	if (nw != 2) {
		conf_error(p, p->line, "section header needs a kind and a name, as in "
			   "[provider anthropic]");
		return;
	}
	enum hearth_kind kind = conf_kind_parse(words[0]);
	if (kind == 0) {
		conf_error(p, p->line, "unknown module kind '%s' (%s)", conf_show(show, words[0]),
			   conf_kind_expected);
		return;
	}
	if (!conf_name_valid(words[1])) {
		conf_error_name(p, words[1]);
		return;
	}
	for (size_t i = 0; i < p->n_sections; i++) {
		struct conf_section *sec = &p->sections[i];
		if (sec->kind == kind && strcmp(sec->name, words[1]) == 0) {
			conf_error(p, p->line, "duplicate section [%s %s] (first on line %d)",
				   words[0], words[1], sec->line);
			return;
		}
	}
	p->sections = xreallocarray(p->sections, p->n_sections + 1, sizeof *p->sections);
	p->sections[p->n_sections] = (struct conf_section){
		.kind = kind,
		.name = xstrdup(words[1]),
		.line = p->line,
		.section = json_object(),
		.key_lines = json_object(),
	};
	p->cur = (long)p->n_sections++;
	p->cur_bad = false;
}

/* "key = value": s is the trimmed line and has an '='. */
static void
conf_keyval(struct conf_parser *p, char *s)
{
	char show[CONF_SHOW_BUF];
	char *eq = strchr(s, '=');
	*eq = '\0';
	char *key = conf_trim(s);
	char *val = conf_trim(eq + 1);

	if (*key == '\0') {
		conf_error(p, p->line, "missing key before '='");
		return;
	}
	if (!conf_key_valid(key)) {
		conf_error(p, p->line, "invalid key '%s' (expected A-Z, a-z, 0-9, '_', '.' and '-')",
			   conf_show(show, key));
		return;
	}
	if (p->cur < 0) {
		if (!p->cur_bad)
			conf_error(p, p->line, "key '%s' outside a section", key);
		return;
	}
	struct conf_section *sec = &p->sections[p->cur];
	if (*val == '\0') {
		conf_error(p, p->line, "key '%s' has no value", key);
		return;
	}
	json_t *first = json_object_get(sec->key_lines, key);
	if (first != NULL) {
		conf_error(p, p->line, "duplicate key '%s' in [%s %s] (first set on line %d)", key,
			   conf_kind_name(sec->kind), sec->name, (int)json_integer_value(first));
		return;
	}
	char *value;
	if (conf_expand(p, val, "value", &value) < 0)
		return;
	json_t *js = json_string(value); /* valid UTF-8 without NUL: cannot fail */
	free(value);
	if (js == NULL) {
		conf_error(p, p->line, "value of '%s' is not a valid string", key);
		return;
	}
	json_object_set_new(sec->section, key, js);
	json_object_set_new(sec->key_lines, key, json_integer(p->line));
}

static void
conf_do_load(struct conf_parser *p, char **args)
{
	char show[CONF_SHOW_BUF];
	struct conf *c = p->c;
	enum hearth_kind kind = conf_kind_parse(args[0]);
	if (kind == 0) {
		conf_error(p, p->line, "unknown module kind '%s' (%s)", conf_show(show, args[0]),
			   conf_kind_expected);
		return;
	}
	if (!conf_name_valid(args[1])) {
		conf_error_name(p, args[1]);
		return;
	}
	/* A third word names the module file when the instance has a name of its own. */
	if (args[2] != NULL && !conf_name_valid(args[2])) {
		conf_error_name(p, args[2]);
		return;
	}
	for (size_t i = 0; i < c->n_modules; i++) {
		if (c->modules[i].kind == kind && strcmp(c->modules[i].name, args[1]) == 0) {
			conf_error(p, p->line, "module '%s' (%s) is already loaded on line %d",
				   args[1], args[0], c->modules[i].load_line);
			return;
		}
	}
	c->modules = xreallocarray(c->modules, c->n_modules + 1, sizeof *c->modules);
	c->modules[c->n_modules++] = (struct conf_module){
		.kind = kind,
		.name = xstrdup(args[1]),
		.module = xstrdup(args[2] != NULL ? args[2] : args[1]),
		.load_line = p->line,
		.section = json_object(),
		.key_lines = json_object(),
	};
}

struct conf_directive {
	const char *name;
	size_t nargs;
	const char *args; /* for the argument-count message */
	size_t optional;  /* how many more arguments it may take */
};

static const struct conf_directive conf_directives[] = {
	{ "load", 2, "kind, name, and optionally the module", 1 },
	{ "module_dir", 1, "a directory", 0 },
	{ "stop_on_module_error", 1, "yes or no", 0 },
	{ "log_level", 1, "error, warn, info or debug", 0 },
	{ "log_file", 1, "a file name", 0 },
	{ "max_steps", 1, "a number of model requests", 0 },
};

/* A directive: s is the trimmed line, without '='. */
static void
conf_directive(struct conf_parser *p, char *s)
{
	char show[CONF_SHOW_BUF];
	struct conf *c = p->c;

	/* Words split at blanks, except inside ${...} (so ${X:-a b} is one word). */
	char *words[4];
	size_t nw = 0;
	for (char *w = s;;) {
		while (conf_blank(*w))
			w++;
		if (*w == '\0')
			break;
		if (nw < 4)
			words[nw] = w;
		nw++;
		int depth = 0;
		while (*w != '\0' && (depth > 0 || !conf_blank(*w))) {
			if (w[0] == '$' && w[1] == '$') {
				w += 2;
				continue;
			}
			if (w[0] == '$' && w[1] == '{') {
				depth++;
				w += 2;
				continue;
			}
			if (w[0] == '}' && depth > 0)
				depth--;
			w++;
		}
		if (*w != '\0')
			*w++ = '\0';
	}

	const struct conf_directive *d = NULL;
	for (size_t i = 0; i < sizeof conf_directives / sizeof conf_directives[0]; i++) {
		if (strcmp(words[0], conf_directives[i].name) == 0)
			d = &conf_directives[i];
	}
	if (d == NULL) {
		conf_error(p, p->line, "unknown directive '%s'", conf_show(show, words[0]));
		return;
	}
	if (nw - 1 < d->nargs || nw - 1 > d->nargs + d->optional) {
		if (d->optional > 0)
			conf_error(p, p->line, "'%s' takes %zu to %zu arguments (%s), got %zu", d->name,
				   d->nargs, d->nargs + d->optional, d->args, nw - 1);
		else
			conf_error(p, p->line, "'%s' takes %zu argument%s (%s), got %zu", d->name,
				   d->nargs, d->nargs == 1 ? "" : "s", d->args, nw - 1);
		return;
	}

	char *args[3] = { NULL, NULL, NULL };
	for (size_t i = 0; i < nw - 1; i++) {
		if (conf_expand(p, words[i + 1], "argument", &args[i]) < 0)
			goto out;
	}

	if (strcmp(d->name, "load") == 0) {
		conf_do_load(p, args);
	} else if (strcmp(d->name, "module_dir") == 0) {
		/* Empty (an unset ${VAR}) adds nothing. */
		if (args[0][0] != '\0') {
			c->module_dirs = xreallocarray(c->module_dirs, c->n_module_dirs + 1,
						       sizeof *c->module_dirs);
			c->module_dirs[c->n_module_dirs++] = xstrdup(args[0]);
		}
	} else if (strcmp(d->name, "stop_on_module_error") == 0) {
		if (conf_parse_bool(args[0], &c->stop_on_module_error) < 0)
			conf_error(p, p->line, "invalid value '%s' for stop_on_module_error "
				   "(expected yes, no, true, false, on, off, 1 or 0)",
				   conf_show(show, args[0]));
	} else if (strcmp(d->name, "log_level") == 0) {
		if (log_parse_level(args[0], &c->log_level) < 0)
			conf_error(p, p->line, "invalid log level '%s' (expected error, warn, info or debug)",
				   conf_show(show, args[0]));
	} else if (strcmp(d->name, "max_steps") == 0) {
		char *end;
		long n = strtol(args[0], &end, 10);
		if (args[0][0] == '\0' || *end != '\0' || n < 1 || n > CONF_MAX_STEPS_LIMIT)
			conf_error(p, p->line, "invalid value '%s' for max_steps (expected 1 to %d)",
				   conf_show(show, args[0]), CONF_MAX_STEPS_LIMIT);
		else
			c->max_steps = (int)n;
	} else {
		/* log_file; empty (an unset ${VAR}) means stderr. */
		free(c->log_file);
		c->log_file = args[0][0] != '\0' ? xstrdup(args[0]) : NULL;
	}
out:
	free(args[0]);
	free(args[1]);
	free(args[2]);
}

/*
 * Cut a comment off the line in place: '#' at the start of the line or after a
 * blank begins one (so "a#b", "${X:-#}" and "$#" keep theirs, and "x = 1  # why"
 * is 1).
 */
static void
conf_strip_comment(char *s)
{
	int depth = 0;
	for (char *c = s; *c != '\0'; c++) {
		if (c[0] == '$' && (c[1] == '$' || c[1] == '#' || c[1] == '{')) {
			depth += c[1] == '{';
			c++;
		} else if (c[0] == '}' && depth > 0) {
			depth--;
		} else if (c[0] == '#' && depth == 0 && (c == s || conf_blank(c[-1]))) {
			*c = '\0';
			return;
		}
	}
}

static void
conf_line(struct conf_parser *p, const char *s, size_t n)
{
	if (memchr(s, '\0', n) != NULL) {
		if (!p->nul_seen)
			conf_error(p, p->line, "NUL byte in file (binary data?)");
		p->nul_seen = true;
		return;
	}
	if (n > CONF_LINE_MAX) {
		conf_error(p, p->line, "line is longer than %d bytes", CONF_LINE_MAX);
		return;
	}
	size_t bad;
	if (!conf_utf8_valid(s, n, &bad)) {
		conf_error(p, p->line, "invalid UTF-8 at byte %zu", bad + 1);
		return;
	}

	char buf[CONF_LINE_MAX + 1];
	memcpy(buf, s, n);
	buf[n] = '\0';
	conf_strip_comment(buf);
	char *t = conf_trim(buf);
	if (*t == '\0')
		return;
	if (*t == '[')
		conf_header(p, t);
	else if (strchr(t, '=') != NULL)
		conf_keyval(p, t);
	else
		conf_directive(p, t);
}

/* Hand each section to its module; a section nobody loads is an error. */
static void
conf_finish(struct conf_parser *p)
{
	for (size_t i = 0; i < p->n_sections; i++) {
		struct conf_section *sec = &p->sections[i];
		struct conf_module *m = conf_module_find(p->c, sec->kind, sec->name);
		if (m == NULL) {
			const char *k = conf_kind_name(sec->kind);
			conf_error(p, sec->line, "section [%s %s] is for a module that is not loaded "
				   "(add 'load %s %s')", k, sec->name, k, sec->name);
			continue;
		}
		json_decref(m->section);
		json_decref(m->key_lines);
		m->section = sec->section;
		m->key_lines = sec->key_lines;
		m->section_line = sec->line;
		sec->section = NULL;
		sec->key_lines = NULL;
	}
}

static void
conf_parser_free(struct conf_parser *p)
{
	for (size_t i = 0; i < p->n_sections; i++) {
		free(p->sections[i].name);
		json_decref(p->sections[i].section);
		json_decref(p->sections[i].key_lines);
	}
	free(p->sections);
	free(p->error_lines);
	free(p->last_var);
}

static struct conf *
conf_new(const char *path)
{
	struct conf *c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path != NULL ? path : "(unnamed)");
	c->log_level = HEARTH_LOG_INFO;
	c->max_steps = CONF_MAX_STEPS_DEFAULT;
	return c;
}

/* ------------------------------------------------------------- public -- */

struct conf *
conf_parse(const char *path, const char *text, size_t len)
{
	struct conf_parser p = { .c = conf_new(path), .cur = -1 };
	if (len > CONF_FILE_MAX) {
		conf_error(&p, 0, "file is larger than %d bytes", CONF_FILE_MAX);
		goto out;
	}
	size_t pos = 0;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len && !p.stopped) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		p.line++;
		conf_line(&p, text + pos, n);
		pos = nl != NULL ? end + 1 : len;
	}
	if (!p.stopped)
		conf_finish(&p);
out:
	conf_parser_free(&p);
	return p.c;
}

/* A conf whose only content is the error "path: msg" (msg is borrowed). */
static struct conf *
conf_fail(const char *path, const char *msg)
{
	struct conf_parser p = { .c = conf_new(path), .cur = -1 };
	conf_error(&p, 0, "%s", msg);
	conf_parser_free(&p);
	return p.c;
}

/*
 * Read all of path into *buf (the caller frees it) and *len. Returns 0, or -1
 * with *msg set to why (the caller frees it).
 */
static int
conf_read(const char *path, char **buf, size_t *len, char **msg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*msg = xasprintf("cannot read: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > CONF_FILE_MAX) {
		close(fd);
		*msg = xasprintf("file is larger than %d bytes", CONF_FILE_MAX);
		return -1;
	}
	/* Read one byte past the limit: the size may have changed, or be unknown. */
	size_t cap = CONF_FILE_MAX + 1, n = 0;
	char *b = xmalloc(cap);
	while (n < cap) {
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*msg = xasprintf("cannot read: %s", strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (*msg == NULL && n > CONF_FILE_MAX)
		*msg = xasprintf("file is larger than %d bytes", CONF_FILE_MAX);
	if (*msg != NULL) {
		free(b);
		return -1;
	}
	*buf = b;
	*len = n;
	return 0;
}

struct conf *
conf_load(const char *path)
{
	char *buf = NULL, *msg = NULL;
	size_t len = 0;
	if (conf_read(path, &buf, &len, &msg) < 0) {
		struct conf *c = conf_fail(path, msg);
		free(msg);
		return c;
	}
	struct conf *c = conf_parse(path, buf, len);
	free(buf);
	return c;
}

struct conf *
conf_default(void)
{
	static const char text[] = HEARTH_DEFAULT_CONF;
	return conf_parse("(built-in)", text, sizeof text - 1);
}

static bool
conf_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

char *
conf_find(const char *explicit_path)
{
	if (explicit_path != NULL)
		return xstrdup(explicit_path);

	/* The XDG spec says to ignore a relative XDG_CONFIG_HOME. */
	char *path = NULL;
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg != NULL && xdg[0] == '/')
		path = xasprintf("%s/hearth/plugins.conf", xdg);
	else if (home != NULL && home[0] == '/')
		path = xasprintf("%s/.config/hearth/plugins.conf", home);
	if (path != NULL && conf_exists(path))
		return path;
	free(path);

	path = xstrdup(SYSCONFDIR "/hearth/plugins.conf");
	if (conf_exists(path))
		return path;
	free(path);
	return NULL;
}

struct conf_module *
conf_module_find(struct conf *c, enum hearth_kind kind, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_modules; i++) {
		if (c->modules[i].kind == kind && strcmp(c->modules[i].name, name) == 0)
			return &c->modules[i];
	}
	return NULL;
}

const char *
conf_kind_name(enum hearth_kind kind)
{
	switch (kind) {
	case HEARTH_KIND_PROVIDER:
		return "provider";
	case HEARTH_KIND_TOOL:
		return "tool";
	case HEARTH_KIND_FRONTEND:
		return "frontend";
	}
	return NULL;
}

enum hearth_kind
conf_kind_parse(const char *s)
{
	if (s == NULL)
		return 0;
	if (strcmp(s, "provider") == 0)
		return HEARTH_KIND_PROVIDER;
	if (strcmp(s, "tool") == 0)
		return HEARTH_KIND_TOOL;
	if (strcmp(s, "frontend") == 0)
		return HEARTH_KIND_FRONTEND;
	return 0;
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_modules; i++) {
		free(c->modules[i].name);
		free(c->modules[i].module);
		json_decref(c->modules[i].section);
		json_decref(c->modules[i].key_lines);
	}
	free(c->modules);
	for (size_t i = 0; i < c->n_module_dirs; i++)
		free(c->module_dirs[i]);
	free(c->module_dirs);
	free(c->log_file);
	for (size_t i = 0; i < c->n_errors; i++)
		free(c->errors[i]);
	free(c->errors);
	free(c->path);
	free(c);
}
