/* shellsplit.c: a command line's simple commands (see shellsplit.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shellsplit.h"
#include "xmalloc.h"

struct ss_buf {
	char *p;
	size_t n, cap;
};

struct ss_word {
	struct ss_buf val; /* after quote removal; expansions kept as written */
	int quoted;        /* some part was quoted or escaped */
	int expands;       /* holds a $name, ${name} or $'...' */
	int subst;         /* holds a substitution */
};

#define SS_MAX_HEREDOCS 16

struct ss_parser {
	const char *s;
	size_t len, pos;
	size_t base;            /* offset of s in the whole line (backticks parse a copy) */
	struct shellsplit *out;
	int depth;
	unsigned flags;         /* SHELLSPLIT_IN_SUBST when parsing a substitution */
	struct {
		char *delim;
		int strip, expand;
	} hd[SS_MAX_HEREDOCS];
	size_t nhd;
};

static void
ss_putc(struct ss_buf *b, char c)
{
	if (b->n + 2 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 32;
		b->p = xrealloc(b->p, b->cap);
	}
	b->p[b->n++] = c;
	b->p[b->n] = '\0';
}

static void
ss_putn(struct ss_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ss_putc(b, s[i]);
}

/* Record the first reason only; always -1. */
static int
ss_fail(struct ss_parser *p, const char *why)
{
	if (p->out->why == NULL) {
		p->out->why = why;
		p->out->where = p->base + p->pos;
	}
	return -1;
}

static int
ss_peek(const struct ss_parser *p, size_t ahead)
{
	return p->pos + ahead < p->len ? (unsigned char)p->s[p->pos + ahead] : -1;
}

static int
ss_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Ends an unquoted word. */
static int
ss_meta(int c)
{
	return c == -1 || ss_blank(c) || c == '\n' || c == ';' || c == '&' || c == '|' ||
	       c == '<' || c == '>' || c == '(' || c == ')';
}

static int
ss_namechar(int c, int first)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (!first && c >= '0' && c <= '9');
}

static int ss_list(struct ss_parser *p, int term);

/* A $( ) or <( ) >( ): p->pos is just after the '('. */
static int
ss_subst_paren(struct ss_parser *p)
{
	if (p->depth + 1 > SHELLSPLIT_MAX_DEPTH)
		return ss_fail(p, "substitutions nested too deep");
	unsigned saved = p->flags;
	p->depth++;
	p->flags |= SHELLSPLIT_IN_SUBST;
	p->out->substitution = 1;
	int rc = ss_list(p, ')');
	p->depth--;
	p->flags = saved;
	if (rc != 0)
		return -1;
	if (ss_peek(p, 0) != ')')
		return ss_fail(p, "an unterminated substitution");
	p->pos++;
	return 0;
}

/* `...`: p->pos is on the opening backquote. The body is unescaped, then parsed. */
static int
ss_backquote(struct ss_parser *p, struct ss_word *w, int in_dq)
{
	size_t start = p->pos++;
	struct ss_buf inner = { 0 };
	for (;;) {
		int c = ss_peek(p, 0);
		if (c == -1) {
			free(inner.p);
			p->pos = start;
			return ss_fail(p, "an unterminated `...` substitution");
		}
		p->pos++;
		if (c == '`')
			break;
		int n = ss_peek(p, 0);
		if (c == '\\' && (n == '$' || n == '`' || n == '\\' || (in_dq && n == '"'))) {
			ss_putc(&inner, (char)n);
			p->pos++;
			continue;
		}
		ss_putc(&inner, (char)c);
	}
	if (p->depth + 1 > SHELLSPLIT_MAX_DEPTH) {
		free(inner.p);
		return ss_fail(p, "substitutions nested too deep");
	}
	p->out->substitution = 1;
	struct ss_parser q = { .s = inner.p ? inner.p : "", .len = inner.n,
			       .base = p->base + start + 1, .out = p->out,
			       .depth = p->depth + 1, .flags = p->flags | SHELLSPLIT_IN_SUBST };
	int rc = ss_list(&q, 0);
	for (size_t i = 0; i < q.nhd; i++)
		free(q.hd[i].delim);
	free(inner.p);
	ss_putn(&w->val, p->s + start, p->pos - start);
	w->subst = 1;
	return rc;
}

/* $...: p->pos is on the '$'. */
static int
ss_dollar(struct ss_parser *p, struct ss_word *w, int in_dq)
{
	size_t start = p->pos;
	int c = ss_peek(p, 1);
	if (c == '(') {
		if (ss_peek(p, 2) == '(')
			return ss_fail(p, "arithmetic $(( )) is not read");
		p->pos += 2;
		if (ss_subst_paren(p) != 0)
			return -1;
		ss_putn(&w->val, p->s + start, p->pos - start);
		w->subst = 1;
		return 0;
	}
	if (c == '{') {
		size_t i = p->pos + 2;
		if (i < p->len && p->s[i] == '#')
			i++;
		size_t name = i;
		if (i < p->len && (p->s[i] == '@' || p->s[i] == '*' || p->s[i] == '?' ||
				   p->s[i] == '$' || p->s[i] == '!' || p->s[i] == '-'))
			i++;
		else
			while (i < p->len && ss_namechar((unsigned char)p->s[i], 0))
				i++;
		if (i == name || i >= p->len || p->s[i] != '}')
			return ss_fail(p, "a ${...} expansion with an operator is not read");
		p->pos = i + 1;
		ss_putn(&w->val, p->s + start, p->pos - start);
		w->expands = 1;
		return 0;
	}
	if (c == '\'' && !in_dq) {
		/* $'...': C escapes; kept as written, and it counts as an expansion so
		 * that a command name spelt this way is not trusted. */
		p->pos += 2;
		for (;;) {
			int d = ss_peek(p, 0);
			if (d == -1) {
				p->pos = start;
				return ss_fail(p, "an unterminated $'...' quote");
			}
			p->pos += d == '\\' && ss_peek(p, 1) != -1 ? 2 : 1;
			if (d == '\'')
				break;
		}
		ss_putn(&w->val, p->s + start, p->pos - start);
		w->expands = w->quoted = 1;
		return 0;
	}
	if (c == '"' && !in_dq) {
		/* $"...": a translated string; read as "..." */
		p->pos++;
		return 1;
	}
	if (c != -1 && (ss_namechar(c, 1) || (c >= '0' && c <= '9') || c == '@' || c == '*' ||
			c == '#' || c == '?' || c == '$' || c == '!' || c == '-')) {
		p->pos += 2;
		if (ss_namechar(c, 1))
			while (ss_namechar(ss_peek(p, 0), 0))
				p->pos++;
		ss_putn(&w->val, p->s + start, p->pos - start);
		w->expands = 1;
		return 0;
	}
	ss_putc(&w->val, '$');
	p->pos++;
	return 0;
}

/* "...": p->pos is on the opening quote. */
static int
ss_dquote(struct ss_parser *p, struct ss_word *w)
{
	size_t start = p->pos++;
	w->quoted = 1;
	for (;;) {
		int c = ss_peek(p, 0);
		if (c == -1) {
			p->pos = start;
			return ss_fail(p, "an unterminated \"...\" quote");
		}
		if (c == '"') {
			p->pos++;
			return 0;
		}
		if (c == '\\') {
			int n = ss_peek(p, 1);
			if (n == '\n') {
				p->pos += 2;
			} else if (n == '$' || n == '`' || n == '"' || n == '\\') {
				ss_putc(&w->val, (char)n);
				p->pos += 2;
			} else {
				ss_putc(&w->val, '\\');
				p->pos++;
			}
		} else if (c == '$') {
			if (ss_dollar(p, w, 1) < 0)
				return -1;
		} else if (c == '`') {
			if (ss_backquote(p, w, 1) != 0)
				return -1;
		} else {
			ss_putc(&w->val, (char)c);
			p->pos++;
		}
	}
}

/* One word. 1: read one, 0: none here (an operator or the end), -1: uncertain. */
static int
ss_word(struct ss_parser *p, struct ss_word *w)
{
	int any = 0;
	for (;;) {
		int c = ss_peek(p, 0);
		if ((c == '<' || c == '>') && ss_peek(p, 1) == '(') {
			size_t start = p->pos;
			p->pos += 2;
			if (ss_subst_paren(p) != 0)
				return -1;
			ss_putn(&w->val, p->s + start, p->pos - start);
			w->subst = 1;
			any = 1;
			continue;
		}
		if (c == '(' && any)
			return ss_fail(p, "a '(' inside a word is not read");
		if (ss_meta(c))
			return any;
		any = 1;
		if (c == '\\') {
			int n = ss_peek(p, 1);
			if (n == -1)
				return ss_fail(p, "a backslash at the end of the line");
			p->pos += 2;
			if (n != '\n') {
				ss_putc(&w->val, (char)n);
				w->quoted = 1;
			}
		} else if (c == '\'') {
			size_t start = p->pos++;
			while (ss_peek(p, 0) != '\'' && ss_peek(p, 0) != -1)
				ss_putc(&w->val, p->s[p->pos++]);
			if (ss_peek(p, 0) == -1) {
				p->pos = start;
				return ss_fail(p, "an unterminated '...' quote");
			}
			p->pos++;
			w->quoted = 1;
		} else if (c == '"') {
			if (ss_dquote(p, w) != 0)
				return -1;
		} else if (c == '$') {
			int rc = ss_dollar(p, w, 0);
			if (rc < 0)
				return -1;
			if (rc == 1 && ss_dquote(p, w) != 0)
				return -1;
		} else if (c == '`') {
			if (ss_backquote(p, w, 0) != 0)
				return -1;
		} else {
			ss_putc(&w->val, (char)c);
			p->pos++;
		}
	}
}

static void
ss_word_free(struct ss_word *w)
{
	free(w->val.p);
	memset(w, 0, sizeof *w);
}

/* Append a word to a command's text, single-quoted when it must be. */
static void
ss_text_add(struct ss_buf *t, const struct ss_word *w)
{
	const char *v = w->val.p ? w->val.p : "";
	int plain = w->val.n > 0;
	for (size_t i = 0; i < w->val.n && plain; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= ' ' || c == 0x7f || strchr("'\"\\;&|<>()`", c) != NULL)
			plain = 0;
	}
	if (t->n > 0)
		ss_putc(t, ' ');
	if (plain) {
		ss_putn(t, v, w->val.n);
		return;
	}
	ss_putc(t, '\'');
	for (size_t i = 0; i < w->val.n; i++) {
		if (v[i] == '\'')
			ss_putn(t, "'\\''", 4);
		else
			ss_putc(t, v[i]);
	}
	ss_putc(t, '\'');
}

/* Is p at a redirection operator (with its optional fd number)? */
static int
ss_at_redirect(const struct ss_parser *p)
{
	size_t i = p->pos;
	while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
		i++;
	if (i >= p->len)
		return 0;
	char c = p->s[i], n = i + 1 < p->len ? p->s[i + 1] : '\0';
	if (c == '&' && i == p->pos)
		return n == '>';
	return (c == '<' || c == '>') && n != '(';
}

/* A redirection at p->pos; sets *flags. */
static int
ss_redirect(struct ss_parser *p, unsigned *flags)
{
	while (ss_peek(p, 0) >= '0' && ss_peek(p, 0) <= '9')
		p->pos++;
	const char *s = p->s + p->pos;
	size_t left = p->len - p->pos;
	int out = 0, dup = 0, heredoc = 0, strip = 0;
	size_t oplen;
#define SS_OP(str) (left >= sizeof(str) - 1 && memcmp(s, str, sizeof(str) - 1) == 0)
	if (SS_OP("<<<"))
		oplen = 3;
	else if (SS_OP("<<-"))
		oplen = 3, heredoc = strip = 1;
	else if (SS_OP("<<"))
		oplen = 2, heredoc = 1;
	else if (SS_OP("&>>"))
		oplen = 3, out = 1;
	else if (SS_OP("<>") || SS_OP(">>") || SS_OP(">|") || SS_OP("&>"))
		oplen = 2, out = 1;
	else if (SS_OP("<&"))
		oplen = 2, dup = 1;
	else if (SS_OP(">&"))
		oplen = 2, out = dup = 1;
	else if (SS_OP(">"))
		oplen = 1, out = 1;
	else
		oplen = 1;
#undef SS_OP
	p->pos += oplen;
	while (ss_blank(ss_peek(p, 0)))
		p->pos++;
	struct ss_word w = { 0 };
	int rc = ss_word(p, &w);
	if (rc <= 0) {
		ss_word_free(&w);
		return rc < 0 ? -1 : ss_fail(p, "a redirection without its target");
	}
	const char *v = w.val.p != NULL ? w.val.p : "";   /* '' reads as no bytes */
	if (w.subst)
		*flags |= SHELLSPLIT_HAS_SUBST;
	if (heredoc) {
		if (w.subst || w.expands) {
			ss_word_free(&w);
			return ss_fail(p, "a here-document delimiter with an expansion");
		}
		if (p->nhd == SS_MAX_HEREDOCS) {
			ss_word_free(&w);
			return ss_fail(p, "too many here-documents");
		}
		p->hd[p->nhd].delim = w.val.p;
		p->hd[p->nhd].strip = strip;
		p->hd[p->nhd].expand = !w.quoted;
		p->nhd++;
		return 0;
	}
	int fd_dup = dup && !w.quoted && !w.expands && !w.subst &&
		     (strcmp(v, "-") == 0 || strspn(v, "0123456789") == w.val.n);
	int devnull = !w.expands && !w.subst && strcmp(v, "/dev/null") == 0;
	if (out && !fd_dup && !devnull)
		*flags |= SHELLSPLIT_WRITES;
	ss_word_free(&w);
	return 0;
}

/* Read the bodies of the here-documents seen on the line just ended. */
static int
ss_heredocs(struct ss_parser *p)
{
	int rc = 0;
	size_t i;
	for (i = 0; i < p->nhd && rc == 0; i++) {
		const char *d = p->hd[i].delim ? p->hd[i].delim : "";
		size_t dn = strlen(d);
		for (;;) {
			if (p->pos >= p->len) {
				rc = ss_fail(p, "a here-document without its end line");
				break;
			}
			size_t b = p->pos, e = b;
			while (e < p->len && p->s[e] != '\n')
				e++;
			p->pos = e < p->len ? e + 1 : e;
			if (p->hd[i].strip)
				while (b < e && p->s[b] == '\t')
					b++;
			if (e - b == dn && memcmp(p->s + b, d, dn) == 0)
				break;
			if (p->hd[i].expand) {
				for (size_t k = b; k < e; k++)
					if (p->s[k] == '`' || (p->s[k] == '$' && k + 1 < e &&
							       p->s[k + 1] == '(')) {
						p->out->substitution = 1;
						p->pos = k;
						rc = ss_fail(p, "a here-document body with a "
							     "substitution is not read");
						break;
					}
				if (rc != 0)
					break;
			}
		}
	}
	for (i = 0; i < p->nhd; i++)
		free(p->hd[i].delim);
	p->nhd = 0;
	return rc;
}

static int
ss_reserved(const struct ss_word *w)
{
	static const char *const words[] = {
		"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done",
		"case", "esac", "function", "select", "time", "coproc", "{", "}", "!", "[[",
		"]]", NULL
	};
	if (w->quoted || w->expands || w->subst || w->val.p == NULL)
		return 0;
	for (size_t i = 0; words[i] != NULL; i++)
		if (strcmp(w->val.p, words[i]) == 0)
			return 1;
	return 0;
}

static int
ss_assignment(const struct ss_word *w)
{
	const char *v = w->val.p;
	if (v == NULL || !ss_namechar((unsigned char)v[0], 1))
		return 0;
	size_t i = 1;
	while (ss_namechar((unsigned char)v[i], 0))
		i++;
	return v[i] == '=' || (v[i] == '+' && v[i + 1] == '=');
}

static int
ss_add(struct ss_parser *p, struct ss_buf *text, unsigned flags)
{
	struct shellsplit *o = p->out;
	if (o->n == SHELLSPLIT_MAX_CMDS) {
		free(text->p);
		return ss_fail(p, "too many commands");
	}
	o->cmds = xrealloc(o->cmds, (o->n + 1) * sizeof *o->cmds);
	o->cmds[o->n].text = text->p ? text->p : xstrdup("");
	o->cmds[o->n].flags = flags | p->flags;
	o->n++;
	return 0;
}

/* One simple command or subshell, up to an operator, a newline or the end. */
static int
ss_command(struct ss_parser *p)
{
	if (ss_peek(p, 0) == '(') {
		if (ss_peek(p, 1) == '(')
			return ss_fail(p, "arithmetic (( )) is not read");
		if (p->depth + 1 > SHELLSPLIT_MAX_DEPTH)
			return ss_fail(p, "subshells nested too deep");
		size_t first = p->out->n;
		p->pos++;
		p->depth++;
		int rc = ss_list(p, ')');
		p->depth--;
		if (rc != 0)
			return -1;
		if (ss_peek(p, 0) != ')')
			return ss_fail(p, "an unterminated subshell");
		p->pos++;
		/* Only redirections may follow; they apply to every command inside,
		 * so a write marks them all. */
		unsigned flags = 0;
		for (;;) {
			while (ss_blank(ss_peek(p, 0)))
				p->pos++;
			if (ss_at_redirect(p)) {
				if (ss_redirect(p, &flags) != 0)
					return -1;
				continue;
			}
			if (!ss_meta(ss_peek(p, 0)) || ss_peek(p, 0) == '(')
				return ss_fail(p, "a word after a subshell");
			break;
		}
		if (flags != 0)
			for (size_t i = first; i < p->out->n; i++)
				p->out->cmds[i].flags |= flags;
		return 0;
	}
	struct ss_buf text = { 0 };
	unsigned flags = 0;
	int named = 0;
	for (;;) {
		while (ss_blank(ss_peek(p, 0)))
			p->pos++;
		int c = ss_peek(p, 0);
		if (c == '#') {
			while (ss_peek(p, 0) != -1 && ss_peek(p, 0) != '\n')
				p->pos++;
			break;
		}
		if (ss_at_redirect(p)) {
			if (ss_redirect(p, &flags) != 0)
				goto fail;
			continue;
		}
		if (c == '(') {
			ss_fail(p, "an unexpected '('");
			goto fail;
		}
		if (ss_meta(c) && !((c == '<' || c == '>') && ss_peek(p, 1) == '('))
			break;
		struct ss_word w = { 0 };
		int rc = ss_word(p, &w);
		if (rc < 0) {
			ss_word_free(&w);
			goto fail;
		}
		if (rc == 0) {
			ss_word_free(&w);
			break;
		}
		if (w.subst)
			flags |= SHELLSPLIT_HAS_SUBST;
		if (!named && !ss_assignment(&w)) {
			named = 1;
			if (ss_reserved(&w)) {
				ss_word_free(&w);
				ss_fail(p, "shell keywords (if, for, while, case, {, ! ...) are "
					"not read");
				goto fail;
			}
			if (w.expands || w.subst) {
				ss_word_free(&w);
				ss_fail(p, "the command name comes from an expansion");
				goto fail;
			}
		}
		ss_text_add(&text, &w);
		ss_word_free(&w);
	}
	if (text.n == 0 && flags == 0) {
		free(text.p);
		return 0;
	}
	return ss_add(p, &text, flags);
fail:
	ss_add(p, &text, flags);
	return -1;
}

/* Commands and operators up to term (')' or 0 for the end). */
static int
ss_list(struct ss_parser *p, int term)
{
	int need = 0;  /* an operator that needs a command after it was read */
	int empty = 1; /* no command since the last separator */
	for (;;) {
		while (ss_blank(ss_peek(p, 0)))
			p->pos++;
		int c = ss_peek(p, 0);
		if (c == -1 || (term != 0 && c == term)) {
			if (term != 0 && c == -1)
				return ss_fail(p, "an unterminated subshell or substitution");
			if (need)
				return ss_fail(p, "the line ends after an operator");
			if (term == 0 && p->nhd > 0)
				return ss_heredocs(p);
			return 0;
		}
		if (c == ')')
			return ss_fail(p, "an unexpected ')'");
		if (c == '\n') {
			p->pos++;
			if (p->nhd > 0 && ss_heredocs(p) != 0)
				return -1;
			empty = 1;
			continue;
		}
		if (c == '#') {
			while (ss_peek(p, 0) != -1 && ss_peek(p, 0) != '\n')
				p->pos++;
			continue;
		}
		int n = ss_peek(p, 1);
		if (c == ';' || c == '|' || (c == '&' && n != '>')) {
			if (empty || need)
				return ss_fail(p, "an operator with no command before it");
			if (c == ';' && n == ';')
				return ss_fail(p, "';;' outside case");
			if ((c == '&' && n == '&') || (c == '|' && (n == '|' || n == '&')))
				p->pos += 2;
			else
				p->pos++;
			need = c == '|' || (c == '&' && n == '&');
			empty = 1;
			continue;
		}
		if (ss_command(p) != 0)
			return -1;
		need = 0;
		empty = 0;
	}
}

int
shellsplit_parse(const char *cmd, size_t len, struct shellsplit *out)
{
	memset(out, 0, sizeof *out);
	struct ss_parser p = { .s = cmd, .len = len, .out = out };
	if (len > SHELLSPLIT_MAX_LEN) {
		out->why = "the command is longer than the splitter reads";
		out->where = SHELLSPLIT_MAX_LEN;
		return -1;
	}
	const char *nul = len > 0 ? memchr(cmd, '\0', len) : NULL;
	if (nul != NULL) {
		out->why = "a NUL byte in the command";
		out->where = (size_t)(nul - cmd);
		return -1;
	}
	int rc = ss_list(&p, 0);
	for (size_t i = 0; i < p.nhd; i++)
		free(p.hd[i].delim);
	return rc == 0 && out->why == NULL ? 0 : -1;
}

void
shellsplit_free(struct shellsplit *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->cmds[i].text);
	free(s->cmds);
	memset(s, 0, sizeof *s);
}
