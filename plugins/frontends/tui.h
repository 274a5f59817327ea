/*
 * tui.h: the pieces of the terminal frontend that do not touch the terminal, so they
 * can be unit-tested: styled lines and wrapping (tui_text.c), Markdown to styled
 * lines (tui_md.c), the conversation (tui_view.c), the input editor (tui_edit.c) and
 * the key decoder (tui_keys.c). tui.c is the module: ACP, ncurses, commands, pickers.
 *
 * Memory: every struct here is owned by whoever holds it and released with its
 * _free/_clear function; strings passed in are borrowed and copied.
 */
#ifndef HEARTH_TUI_H
#define HEARTH_TUI_H

#include <stddef.h>
#include <stdint.h>

/* What a span looks like; tui.c maps each to attributes and a colour pair. */
enum tui_style {
	TS_NORMAL = 0,
	TS_BOLD,
	TS_ITALIC,
	TS_CODE,      /* inline code and code blocks */
	TS_HEADING,
	TS_LINK,
	TS_QUOTE,
	TS_DIM,       /* reasoning, notes, elapsed times */
	TS_USER,      /* the user's prompts */
	TS_ERROR,
	TS_ADD,       /* diff: added line */
	TS_DEL,       /* diff: removed line */
	TS_HUNK,      /* diff: @@ line and file headers */
	TS_TOOL,      /* tool block header */
	TS_OK,
	TS_WARN,
	TS_SELECT,    /* the chosen row of a picker */
	TS_COUNT
};

struct tui_span {
	enum tui_style style;
	char *text; /* owned; valid UTF-8 without control characters */
};

/* One line: logical (before wrapping) or on screen (after). */
struct tui_line {
	struct tui_span *spans; /* owned */
	size_t n, cap;
	int indent; /* columns of spaces before each continuation when wrapped */
};

struct tui_lines {
	struct tui_line *v; /* owned */
	size_t n, cap;
};

/* ---------------------------------------------------------- tui_text.c -- */

/*
 * A copy of s (len bytes) that is safe to show: invalid UTF-8 becomes U+FFFD, tabs
 * become spaces to the next multiple of 4 (column from the last newline), other C0
 * and C1 controls and DEL become U+FFFD; newlines are kept when keep_nl. Malloc'd.
 */
char *tui_sanitize(const char *s, size_t len, int keep_nl);
/* Columns s takes on the terminal (wide characters 2, combining 0). s is sanitized. */
int tui_width(const char *s);
/* Decode one UTF-8 character at s (n bytes available); *cp gets it (U+FFFD if bad).
 * Returns the bytes used (at least 1 when n > 0). */
size_t tui_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Columns of one code point: 0 for combining, 2 for wide, 1 otherwise. */
int tui_cp_width(uint32_t cp);

void tui_line_add(struct tui_line *l, enum tui_style style, const char *text, size_t len);
void tui_line_clear(struct tui_line *l);
/* Append a new empty line to ls; the pointer is borrowed, valid until the next push. */
struct tui_line *tui_lines_push(struct tui_lines *ls);
void tui_lines_clear(struct tui_lines *ls);
/* Move every line of src to the end of dst; src is left empty. */
void tui_lines_move(struct tui_lines *dst, struct tui_lines *src);
/* The line's text without styles. Malloc'd. */
char *tui_line_text(const struct tui_line *l);
/*
 * Wrap one logical line to width columns (at least 1), appending screen lines to out:
 * breaks at spaces where it can, inside a word where it must, never inside a
 * character. Every continuation line starts with `indent` columns of spaces
 * (ignored when indent >= width). An empty line gives one empty line.
 */
void tui_wrap(const struct tui_line *l, int width, int indent, struct tui_lines *out);

/* ------------------------------------------------------------ tui_md.c -- */

/* Markdown (CommonMark via libcmark) to logical lines, appended to out. */
void tui_md_render(const char *markdown, struct tui_lines *out);

/* ---------------------------------------------------------- tui_view.c -- */

enum tui_entry_kind {
	TE_USER,
	TE_AGENT,
	TE_THOUGHT,
	TE_TOOL,
	TE_NOTE,   /* a line from the TUI itself */
	TE_ERROR,
	TE_PERMISSION,
};

struct tui_entry {
	enum tui_entry_kind kind;
	char *text;        /* owned: the message text (Markdown for TE_AGENT) */
	size_t len, cap;
	/* TE_TOOL */
	char *tool_id, *title, *tool_kind, *status; /* owned */
	char *body;        /* owned: the call's shown content (text, diff) */
	uint64_t started_ms, ended_ms; /* 0: unknown */
	int expanded;
	/* TE_PERMISSION: the request's JSON-RPC id (serialized), 0 after the answer */
	char *request_id;  /* owned */
	int answered;
	/* cache of the wrapped lines */
	struct tui_lines lines;
	int cache_width;   /* 0: stale */
};

struct tui_view {
	struct tui_entry **v; /* owned */
	size_t n, cap;
	int expand_all;    /* Ctrl+O: every tool block and thought open */
	uint64_t now_ms;   /* for running tools' elapsed time */
};

void tui_view_clear(struct tui_view *v);
/* A new entry at the end; borrowed pointer owned by the view. */
struct tui_entry *tui_view_add(struct tui_view *v, enum tui_entry_kind kind, const char *text);
/* Append text to the last entry when it has this kind, else start a new one. */
struct tui_entry *tui_view_append(struct tui_view *v, enum tui_entry_kind kind,
				  const char *text, size_t len);
/* The tool entry with this id, or NULL. */
struct tui_entry *tui_view_tool(struct tui_view *v, const char *id);
void tui_entry_set(char **field, const char *value);
void tui_entry_touch(struct tui_entry *e);
/* The entry's wrapped lines for this width (cached); borrowed. */
const struct tui_lines *tui_entry_lines(struct tui_view *v, struct tui_entry *e, int width);
/* "1.2s", "3m04s": elapsed milliseconds as shown. Writes into buf (at least 16). */
void tui_elapsed(uint64_t ms, char *buf, size_t size);
/* Unified diff text to logical lines, coloured, appended to out. */
void tui_diff_render(const char *diff, struct tui_lines *out);

/* ---------------------------------------------------------- tui_edit.c -- */

struct tui_edit {
	char *buf;      /* owned, NUL-terminated UTF-8 */
	size_t len, cap;
	size_t cursor;  /* byte offset, on a character boundary */
};

void tui_edit_clear(struct tui_edit *e);
void tui_edit_set(struct tui_edit *e, const char *text);
void tui_edit_insert(struct tui_edit *e, const char *text, size_t len);
void tui_edit_backspace(struct tui_edit *e);
void tui_edit_delete(struct tui_edit *e);
void tui_edit_left(struct tui_edit *e);
void tui_edit_right(struct tui_edit *e);
void tui_edit_home(struct tui_edit *e);  /* start of the cursor's line */
void tui_edit_end(struct tui_edit *e);   /* end of the cursor's line */
void tui_edit_kill_line(struct tui_edit *e);  /* Ctrl+K: to the end of the line */
void tui_edit_kill_back(struct tui_edit *e);  /* Ctrl+U: to the start of the line */
void tui_edit_kill_word(struct tui_edit *e);  /* Ctrl+W: the word before the cursor */
/* Move to the previous/next line keeping the column; 0 when there is none. */
int tui_edit_up(struct tui_edit *e);
int tui_edit_down(struct tui_edit *e);
/*
 * Lay the text out in width columns, hard-wrapped: out gets the rows, and
 * crow, ccol the cursor's row and column.
 */
void tui_edit_layout(const struct tui_edit *e, int width, struct tui_lines *out, int *crow,
		     int *ccol);

/* ---------------------------------------------------------- tui_keys.c -- */

enum tui_key_type {
	TK_NONE = 0,
	TK_CHAR,      /* cp */
	TK_ENTER,
	TK_NEWLINE,   /* Alt+Enter, Ctrl+J */
	TK_TAB,
	TK_BACKSPACE,
	TK_DELETE,
	TK_ESC,
	TK_UP, TK_DOWN, TK_LEFT, TK_RIGHT,
	TK_HOME, TK_END, TK_PGUP, TK_PGDN,
	TK_CTRL,      /* cp is the letter, 'a'..'z' */
	TK_PASTE,     /* text, len */
	TK_WHEEL_UP, TK_WHEEL_DOWN,
	TK_CLICK,     /* x, y (0-based) */
};

struct tui_key {
	enum tui_key_type type;
	uint32_t cp;
	const char *text; /* TK_PASTE: borrowed from the decoder until the next call */
	size_t len;
	int x, y;
};

struct tui_keys {
	char *buf;       /* owned: bytes not yet decoded */
	size_t len, cap;
	char *paste;     /* owned: a bracketed paste being collected */
	size_t plen, pcap;
	int in_paste;
	size_t max_paste; /* bytes kept of one paste (the rest is dropped); 0: 16 MiB */
};

void tui_keys_feed(struct tui_keys *k, const char *data, size_t len);
/*
 * The next key, or 0 when more bytes are needed. A lone ESC at the end of the data
 * fed so far counts as the Esc key only when `flush` is set (the caller's read
 * returned everything there was).
 */
int tui_keys_next(struct tui_keys *k, struct tui_key *key, int flush);
void tui_keys_clear(struct tui_keys *k);

#endif /* HEARTH_TUI_H */
