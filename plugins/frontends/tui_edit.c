/* tui_edit.c: the multi-line input editor, a UTF-8 buffer with a cursor (see tui.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tui.h"

static void
tui_edit_reserve(struct tui_edit *e, size_t extra)
{
	if (e->len + extra + 1 <= e->cap)
		return;
	size_t cap = e->cap ? e->cap : 64;
	while (cap < e->len + extra + 1)
		cap *= 2;
	char *b = realloc(e->buf, cap);
	if (b == NULL)
		abort();
	e->buf = b;
	e->cap = cap;
	if (e->len == 0)
		e->buf[0] = '\0';
}

void
tui_edit_clear(struct tui_edit *e)
{
	free(e->buf);
	memset(e, 0, sizeof *e);
}

void
tui_edit_set(struct tui_edit *e, const char *text)
{
	e->len = e->cursor = 0;
	tui_edit_reserve(e, 0);
	e->buf[0] = '\0';
	tui_edit_insert(e, text, strlen(text));
}

void
tui_edit_insert(struct tui_edit *e, const char *text, size_t len)
{
	char *safe = tui_sanitize(text, len, 1); /* no control bytes in a prompt */
	size_t n = strlen(safe);
	tui_edit_reserve(e, n);
	memmove(e->buf + e->cursor + n, e->buf + e->cursor, e->len - e->cursor + 1);
	memcpy(e->buf + e->cursor, safe, n);
	e->len += n;
	e->cursor += n;
	free(safe);
}

static size_t
tui_edit_prev(const struct tui_edit *e, size_t at)
{
	if (at == 0)
		return 0;
	at--;
	while (at > 0 && ((unsigned char)e->buf[at] & 0xC0) == 0x80)
		at--;
	return at;
}

static size_t
tui_edit_next(const struct tui_edit *e, size_t at)
{
	if (at >= e->len)
		return e->len;
	at++;
	while (at < e->len && ((unsigned char)e->buf[at] & 0xC0) == 0x80)
		at++;
	return at;
}

static void
tui_edit_cut(struct tui_edit *e, size_t from, size_t to)
{
	if (to <= from)
		return;
	memmove(e->buf + from, e->buf + to, e->len - to + 1);
	e->len -= to - from;
	if (e->cursor >= to)
		e->cursor -= to - from;
	else if (e->cursor > from)
		e->cursor = from;
}

void
tui_edit_backspace(struct tui_edit *e)
{
	tui_edit_cut(e, tui_edit_prev(e, e->cursor), e->cursor);
}

void
tui_edit_delete(struct tui_edit *e)
{
	tui_edit_cut(e, e->cursor, tui_edit_next(e, e->cursor));
}

void
tui_edit_left(struct tui_edit *e)
{
	e->cursor = tui_edit_prev(e, e->cursor);
}

void
tui_edit_right(struct tui_edit *e)
{
	e->cursor = tui_edit_next(e, e->cursor);
}

static size_t
tui_edit_bol(const struct tui_edit *e, size_t at)
{
	while (at > 0 && e->buf[at - 1] != '\n')
		at--;
	return at;
}

static size_t
tui_edit_eol(const struct tui_edit *e, size_t at)
{
	while (at < e->len && e->buf[at] != '\n')
		at++;
	return at;
}

void
tui_edit_home(struct tui_edit *e)
{
	e->cursor = tui_edit_bol(e, e->cursor);
}

void
tui_edit_end(struct tui_edit *e)
{
	e->cursor = tui_edit_eol(e, e->cursor);
}

void
tui_edit_kill_line(struct tui_edit *e)
{
	size_t end = tui_edit_eol(e, e->cursor);
	if (end == e->cursor && end < e->len)
		end++; /* at the end of a line: join the next */
	tui_edit_cut(e, e->cursor, end);
}

void
tui_edit_kill_back(struct tui_edit *e)
{
	tui_edit_cut(e, tui_edit_bol(e, e->cursor), e->cursor);
}

void
tui_edit_kill_word(struct tui_edit *e)
{
	size_t at = e->cursor;
	while (at > 0 && (e->buf[at - 1] == ' ' || e->buf[at - 1] == '\n'))
		at--;
	while (at > 0 && e->buf[at - 1] != ' ' && e->buf[at - 1] != '\n')
		at--;
	tui_edit_cut(e, at, e->cursor);
}

/* Columns from the line start to at. */
static int
tui_edit_col(const struct tui_edit *e, size_t bol, size_t at)
{
	int col = 0;
	for (size_t i = bol; i < at;) {
		uint32_t cp;
		i += tui_utf8_decode(e->buf + i, at - i, &cp);
		col += tui_cp_width(cp);
	}
	return col;
}

/* The offset in the line starting at bol closest to column col. */
static size_t
tui_edit_at_col(const struct tui_edit *e, size_t bol, int col)
{
	size_t eol = tui_edit_eol(e, bol), i = bol;
	int c = 0;
	while (i < eol) {
		uint32_t cp;
		size_t k = tui_utf8_decode(e->buf + i, eol - i, &cp);
		int w = tui_cp_width(cp);
		if (c + w > col)
			break;
		c += w;
		i += k;
	}
	return i;
}

int
tui_edit_up(struct tui_edit *e)
{
	size_t bol = tui_edit_bol(e, e->cursor);
	if (bol == 0)
		return 0;
	int col = tui_edit_col(e, bol, e->cursor);
	e->cursor = tui_edit_at_col(e, tui_edit_bol(e, bol - 1), col);
	return 1;
}

int
tui_edit_down(struct tui_edit *e)
{
	size_t eol = tui_edit_eol(e, e->cursor);
	if (eol >= e->len)
		return 0;
	int col = tui_edit_col(e, tui_edit_bol(e, e->cursor), e->cursor);
	e->cursor = tui_edit_at_col(e, eol + 1, col);
	return 1;
}

void
tui_edit_layout(const struct tui_edit *e, int width, struct tui_lines *out, int *crow,
		int *ccol)
{
	if (width < 1)
		width = 1;
	*crow = 0;
	*ccol = 0;
	const char *b = e->buf != NULL ? e->buf : "";
	size_t len = e->len;
	size_t line = 0;
	int row = 0;
	for (;;) {
		size_t eol = line;
		while (eol < len && b[eol] != '\n')
			eol++;
		/* hard wrap by columns: the editor shows every character where it is */
		size_t seg = line;
		int col = 0;
		struct tui_line *l = tui_lines_push(out);
		for (size_t i = line; i <= eol;) {
			if (i == e->cursor) {
				*crow = row;
				*ccol = col;
			}
			if (i == eol)
				break;
			uint32_t cp;
			size_t k = tui_utf8_decode(b + i, eol - i, &cp);
			int w = tui_cp_width(cp);
			if (col + w > width) {
				tui_line_add(l, TS_NORMAL, b + seg, i - seg);
				l = tui_lines_push(out);
				row++;
				seg = i;
				col = 0;
				if (i == e->cursor) {
					*crow = row;
					*ccol = 0;
				}
			}
			col += w;
			i += k;
		}
		tui_line_add(l, TS_NORMAL, b + seg, eol - seg);
		if (col >= width && e->cursor == eol) {
			/* the cursor after a full row goes to the next one */
			tui_lines_push(out);
			row++;
			*crow = row;
			*ccol = 0;
		}
		if (eol >= len)
			break;
		line = eol + 1;
		row++;
	}
}
