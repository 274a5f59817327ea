/* tui_md.c: Markdown to styled logical lines, through libcmark's tree (see tui.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark.h>

#include "tui.h"

#define TUI_MD_DEPTH 32 /* nesting shown; deeper blocks use the last prefix */

struct tui_md {
	struct tui_lines *out;
	struct tui_line *cur;       /* the line being filled, or NULL */
	const char *first[TUI_MD_DEPTH]; /* prefix of a level's first line */
	const char *rest[TUI_MD_DEPTH];  /* prefix of its other lines */
	enum tui_style pstyle[TUI_MD_DEPTH];
	char num[TUI_MD_DEPTH][16];
	int pending[TUI_MD_DEPTH];  /* the first line of this level is still to come */
	int depth;
	int blocks;                 /* blocks emitted so far, for blank separators */
};

static void
tui_md_newline(struct tui_md *m)
{
	m->cur = tui_lines_push(m->out);
	int w = 0;
	for (int i = 0; i < m->depth && i < TUI_MD_DEPTH; i++) {
		const char *p = m->pending[i] ? m->first[i] : m->rest[i];
		m->pending[i] = 0;
		tui_line_add(m->cur, m->pstyle[i], p, strlen(p));
		w += tui_width(p);
	}
	m->cur->indent = w;
}

static void
tui_md_text(struct tui_md *m, enum tui_style style, const char *text)
{
	if (text == NULL)
		return;
	if (m->cur == NULL)
		tui_md_newline(m);
	char *safe = tui_sanitize(text, strlen(text), 0);
	tui_line_add(m->cur, style, safe, strlen(safe));
	free(safe);
}

/* A blank line between blocks, keeping quote bars. */
static void
tui_md_separate(struct tui_md *m)
{
	if (m->blocks++ == 0)
		return;
	m->cur = tui_lines_push(m->out);
	for (int i = 0; i < m->depth && i < TUI_MD_DEPTH; i++) {
		if (m->pstyle[i] == TS_QUOTE)
			tui_line_add(m->cur, TS_QUOTE, "│", strlen("│"));
		else if (!m->pending[i])
			tui_line_add(m->cur, TS_NORMAL, m->rest[i], strlen(m->rest[i]));
	}
	m->cur = NULL;
}

static void
tui_md_push(struct tui_md *m, const char *first, const char *rest, enum tui_style style)
{
	if (m->depth < TUI_MD_DEPTH) {
		m->first[m->depth] = first;
		m->rest[m->depth] = rest;
		m->pstyle[m->depth] = style;
		m->pending[m->depth] = 1;
	}
	m->depth++;
}

static void tui_md_block(struct tui_md *m, cmark_node *n);

static enum tui_style
tui_md_inline_style(cmark_node *n, enum tui_style inherited)
{
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_EMPH: return inherited == TS_HEADING ? TS_HEADING : TS_ITALIC;
	case CMARK_NODE_STRONG: return inherited == TS_HEADING ? TS_HEADING : TS_BOLD;
	case CMARK_NODE_LINK: return TS_LINK;
	default: return inherited;
	}
}

static void
tui_md_inlines(struct tui_md *m, cmark_node *parent, enum tui_style style)
{
	for (cmark_node *n = cmark_node_first_child(parent); n != NULL; n = cmark_node_next(n)) {
		switch (cmark_node_get_type(n)) {
		case CMARK_NODE_TEXT:
		case CMARK_NODE_HTML_INLINE:
			tui_md_text(m, style, cmark_node_get_literal(n));
			break;
		case CMARK_NODE_CODE:
			tui_md_text(m, TS_CODE, cmark_node_get_literal(n));
			break;
		case CMARK_NODE_SOFTBREAK:
			tui_md_text(m, style, " ");
			break;
		case CMARK_NODE_LINEBREAK:
			tui_md_newline(m);
			break;
		case CMARK_NODE_IMAGE:
			tui_md_text(m, TS_LINK, "[image: ");
			tui_md_inlines(m, n, TS_LINK);
			tui_md_text(m, TS_LINK, "]");
			break;
		case CMARK_NODE_LINK: {
			tui_md_inlines(m, n, TS_LINK);
			const char *url = cmark_node_get_url(n);
			if (url != NULL && url[0] != '\0') {
				cmark_node *only = cmark_node_first_child(n);
				const char *lit = only != NULL ? cmark_node_get_literal(only) : NULL;
				if (lit == NULL || strcmp(lit, url) != 0) {
					tui_md_text(m, TS_DIM, " (");
					tui_md_text(m, TS_DIM, url);
					tui_md_text(m, TS_DIM, ")");
				}
			}
			break;
		}
		default:
			tui_md_inlines(m, n, tui_md_inline_style(n, style));
			break;
		}
	}
}

static void
tui_md_code(struct tui_md *m, const char *code)
{
	if (code == NULL)
		code = "";
	size_t len = strlen(code);
	if (len > 0 && code[len - 1] == '\n')
		len--;
	const char *p = code, *end = code + len;
	do {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t k = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		tui_md_newline(m);
		tui_line_add(m->cur, TS_CODE, "  ", 2);
		char *safe = tui_sanitize(p, k, 0);
		tui_line_add(m->cur, TS_CODE, safe, strlen(safe));
		free(safe);
		m->cur->indent += 2;
		p = nl != NULL ? nl + 1 : end;
	} while (p < end);
	m->cur = NULL;
}

static void
tui_md_children(struct tui_md *m, cmark_node *n)
{
	for (cmark_node *c = cmark_node_first_child(n); c != NULL; c = cmark_node_next(c))
		tui_md_block(m, c);
}

static void
tui_md_block(struct tui_md *m, cmark_node *n)
{
	switch (cmark_node_get_type(n)) {
	case CMARK_NODE_PARAGRAPH:
		tui_md_separate(m);
		tui_md_newline(m);
		tui_md_inlines(m, n, TS_NORMAL);
		m->cur = NULL;
		break;
	case CMARK_NODE_HEADING: {
		tui_md_separate(m);
		tui_md_newline(m);
		static const char hashes[] = "###### ";
		int level = cmark_node_get_heading_level(n);
		if (level < 1 || level > 6)
			level = 1;
		tui_line_add(m->cur, TS_HEADING, hashes + 6 - level, (size_t)level + 1);
		tui_md_inlines(m, n, TS_HEADING);
		m->cur = NULL;
		break;
	}
	case CMARK_NODE_CODE_BLOCK:
	case CMARK_NODE_HTML_BLOCK:
		tui_md_separate(m);
		tui_md_code(m, cmark_node_get_literal(n));
		break;
	case CMARK_NODE_THEMATIC_BREAK:
		tui_md_separate(m);
		tui_md_newline(m);
		tui_line_add(m->cur, TS_DIM, "────────", strlen("────────"));
		m->cur = NULL;
		break;
	case CMARK_NODE_BLOCK_QUOTE:
		tui_md_separate(m);
		tui_md_push(m, "│ ", "│ ", TS_QUOTE);
		m->blocks = 0;
		tui_md_children(m, n);
		m->depth--;
		break;
	case CMARK_NODE_LIST: {
		tui_md_separate(m);
		int ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
		int i = cmark_node_get_list_start(n);
		int tight = cmark_node_get_list_tight(n);
		int first_item = 1;
		for (cmark_node *it = cmark_node_first_child(n); it != NULL; it = cmark_node_next(it), i++) {
			int d = m->depth < TUI_MD_DEPTH ? m->depth : TUI_MD_DEPTH - 1;
			const char *first = "• ", *rest = "  ";
			if (ordered) {
				snprintf(m->num[d], sizeof m->num[d], "%d. ", i);
				first = m->num[d];
				rest = i >= 10 ? "    " : "   ";
			}
			if (!tight && !first_item) {
				m->blocks = 1;
				tui_md_separate(m);
			}
			first_item = 0;
			tui_md_push(m, first, rest, ordered ? TS_NORMAL : TS_DIM);
			m->blocks = 0;
			for (cmark_node *c = cmark_node_first_child(it); c != NULL; c = cmark_node_next(c)) {
				if (tight && cmark_node_get_type(c) == CMARK_NODE_PARAGRAPH) {
					m->blocks = 0;
					tui_md_newline(m);
					tui_md_inlines(m, c, TS_NORMAL);
					m->cur = NULL;
					m->blocks = 1;
				} else {
					if (tight)
						m->blocks = 0;
					tui_md_block(m, c);
				}
			}
			m->depth--;
		}
		m->blocks = 1;
		break;
	}
	default:
		tui_md_children(m, n);
		break;
	}
}

void
tui_md_render(const char *markdown, struct tui_lines *out)
{
	cmark_node *doc = cmark_parse_document(markdown, strlen(markdown), CMARK_OPT_DEFAULT);
	if (doc == NULL) {
		struct tui_line *l = tui_lines_push(out);
		char *safe = tui_sanitize(markdown, strlen(markdown), 0);
		tui_line_add(l, TS_NORMAL, safe, strlen(safe));
		free(safe);
		return;
	}
	struct tui_md m = { .out = out };
	tui_md_children(&m, doc);
	cmark_node_free(doc);
}
