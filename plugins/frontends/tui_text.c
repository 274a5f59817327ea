/* tui_text.c: safe text, widths and wrapping of styled lines (see tui.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui.h"

static void *
tui_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n != 0 ? n : 1);
	if (q == NULL)
		abort();
	return q;
}

size_t
tui_utf8_decode(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	*cp = 0xFFFD;
	if (n == 0)
		return 0;
	unsigned c = s[0];
	size_t need;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		need = 1, v = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3, v = c & 0x07, min = 0x10000;
	} else {
		return 1;
	}
	if (n < need + 1)
		return 1;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 1;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 1;
	*cp = v;
	return need + 1;
}

static size_t
tui_utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

char *
tui_sanitize(const char *s, size_t len, int keep_nl)
{
	/* worst case: every byte becomes U+FFFD (3 bytes) or a tab 4 spaces */
	char *out = tui_xrealloc(NULL, len * 4 + 1);
	size_t o = 0, col = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = tui_utf8_decode(s + i, len - i, &cp);
		i += n;
		if (cp == '\n') {
			if (keep_nl) {
				out[o++] = '\n';
				col = 0;
			} else {
				out[o++] = ' ';
				col++;
			}
			continue;
		}
		if (cp == '\t') {
			do {
				out[o++] = ' ';
				col++;
			} while (col % 4 != 0);
			continue;
		}
		if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0x2028 ||
		    cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
			cp = 0xFFFD; /* controls and bidi overrides never reach the terminal */
		o += tui_utf8_encode(cp, out + o);
		col += (size_t)tui_cp_width(cp);
	}
	out[o] = '\0';
	return out;
}

int
tui_cp_width(uint32_t cp)
{
	if (cp < 0x20)
		return 1;
	int w = wcwidth((wchar_t)cp);
	if (w < 0)
		return 1;
	return w;
}

int
tui_width(const char *s)
{
	int w = 0;
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		i += tui_utf8_decode(s + i, len - i, &cp);
		w += tui_cp_width(cp);
	}
	return w;
}

void
tui_line_add(struct tui_line *l, enum tui_style style, const char *text, size_t len)
{
	if (len == 0)
		return;
	if (l->n > 0 && l->spans[l->n - 1].style == style) {
		struct tui_span *sp = &l->spans[l->n - 1];
		size_t old = strlen(sp->text);
		sp->text = tui_xrealloc(sp->text, old + len + 1);
		memcpy(sp->text + old, text, len);
		sp->text[old + len] = '\0';
		return;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->spans = tui_xrealloc(l->spans, l->cap * sizeof *l->spans);
	}
	char *t = tui_xrealloc(NULL, len + 1);
	memcpy(t, text, len);
	t[len] = '\0';
	l->spans[l->n].style = style;
	l->spans[l->n].text = t;
	l->n++;
}

void
tui_line_clear(struct tui_line *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->spans[i].text);
	free(l->spans);
	memset(l, 0, sizeof *l);
}

struct tui_line *
tui_lines_push(struct tui_lines *ls)
{
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 8;
		ls->v = tui_xrealloc(ls->v, ls->cap * sizeof *ls->v);
	}
	memset(&ls->v[ls->n], 0, sizeof ls->v[ls->n]);
	return &ls->v[ls->n++];
}

void
tui_lines_clear(struct tui_lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		tui_line_clear(&ls->v[i]);
	free(ls->v);
	memset(ls, 0, sizeof *ls);
}

void
tui_lines_move(struct tui_lines *dst, struct tui_lines *src)
{
	for (size_t i = 0; i < src->n; i++)
		*tui_lines_push(dst) = src->v[i];
	free(src->v);
	memset(src, 0, sizeof *src);
}

char *
tui_line_text(const struct tui_line *l)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		n += strlen(l->spans[i].text);
	char *out = tui_xrealloc(NULL, n + 1);
	size_t o = 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t k = strlen(l->spans[i].text);
		memcpy(out + o, l->spans[i].text, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}

/* One character of a line being wrapped. */
struct tui_cell {
	const char *p;
	size_t n;
	int w;
	enum tui_style style;
	int space;
};

static void
tui_emit(struct tui_lines *out, const struct tui_cell *c, size_t from, size_t to, int indent)
{
	struct tui_line *l = tui_lines_push(out);
	for (int i = 0; i < indent; i++)
		tui_line_add(l, TS_NORMAL, " ", 1);
	for (size_t i = from; i < to; i++)
		tui_line_add(l, c[i].style, c[i].p, c[i].n);
}

void
tui_wrap(const struct tui_line *l, int width, int indent, struct tui_lines *out)
{
	if (width < 1)
		width = 1;
	if (l->indent > indent)
		indent = l->indent;
	if (indent >= width)
		indent = 0;
	size_t n = 0, cap = 0;
	struct tui_cell *c = NULL;
	for (size_t i = 0; i < l->n; i++) {
		const char *t = l->spans[i].text;
		size_t len = strlen(t);
		for (size_t j = 0; j < len;) {
			uint32_t cp;
			size_t k = tui_utf8_decode(t + j, len - j, &cp);
			int w = tui_cp_width(cp);
			if (w == 0 && n > 0 && c[n - 1].p + c[n - 1].n == t + j) {
				c[n - 1].n += k; /* a combining mark stays with its base */
				j += k;
				continue;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				c = tui_xrealloc(c, cap * sizeof *c);
			}
			c[n].p = t + j;
			c[n].n = k;
			c[n].w = w;
			c[n].style = l->spans[i].style;
			c[n].space = cp == ' ';
			n++;
			j += k;
		}
	}
	size_t start = 0;
	int first = 1;
	while (start < n || first) {
		int avail = first ? width : width - indent;
		int col = 0;
		size_t i = start, brk = 0;
		int have_brk = 0;
		while (i < n && col + c[i].w <= avail) {
			col += c[i].w;
			if (c[i].space) {
				brk = i;
				have_brk = 1;
			}
			i++;
		}
		if (i >= n) {
			tui_emit(out, c, start, n, first ? 0 : indent);
			break;
		}
		size_t end;
		if (have_brk && brk > start) {
			end = brk; /* the space itself is dropped */
		} else if (i == start) {
			end = start + 1; /* wider than the line: alone on it */
		} else {
			end = i;
		}
		tui_emit(out, c, start, end, first ? 0 : indent);
		start = end;
		while (start < n && c[start].space)
			start++;
		first = 0;
		if (start >= n)
			break;
	}
	free(c);
}
