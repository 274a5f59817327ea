/* tui_view.c: the conversation as entries, each laid out to lines on demand (see tui.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"

#define TUI_PREVIEW_LINES 8 /* body lines a tool block shows before it is expanded */

static void *
tui_view_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n != 0 ? n : 1);
	if (q == NULL)
		abort();
	return q;
}

static void
tui_entry_free(struct tui_entry *e)
{
	free(e->text);
	free(e->tool_id);
	free(e->title);
	free(e->tool_kind);
	free(e->status);
	free(e->body);
	free(e->request_id);
	tui_lines_clear(&e->lines);
	free(e);
}

void
tui_view_clear(struct tui_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		tui_entry_free(v->v[i]);
	free(v->v);
	memset(v, 0, sizeof *v);
}

void
tui_entry_set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? tui_sanitize(value, strlen(value), 1) : NULL;
}

void
tui_entry_touch(struct tui_entry *e)
{
	e->cache_width = 0;
}

static void
tui_entry_append(struct tui_entry *e, const char *text, size_t len)
{
	if (e->len + len + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 64;
		while (cap < e->len + len + 1)
			cap *= 2;
		e->text = tui_view_xrealloc(e->text, cap);
		e->cap = cap;
	}
	memcpy(e->text + e->len, text, len);
	e->len += len;
	e->text[e->len] = '\0';
	e->cache_width = 0;
}

struct tui_entry *
tui_view_add(struct tui_view *v, enum tui_entry_kind kind, const char *text)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->v = tui_view_xrealloc(v->v, v->cap * sizeof *v->v);
	}
	struct tui_entry *e = calloc(1, sizeof *e);
	if (e == NULL)
		abort();
	e->kind = kind;
	v->v[v->n++] = e;
	tui_entry_append(e, "", 0);
	if (text != NULL)
		tui_entry_append(e, text, strlen(text));
	return e;
}

struct tui_entry *
tui_view_append(struct tui_view *v, enum tui_entry_kind kind, const char *text, size_t len)
{
	struct tui_entry *e = v->n > 0 ? v->v[v->n - 1] : NULL;
	if (e == NULL || e->kind != kind)
		e = tui_view_add(v, kind, NULL);
	tui_entry_append(e, text, len);
	return e;
}

struct tui_entry *
tui_view_tool(struct tui_view *v, const char *id)
{
	/* recent calls are the ones updated: search from the end */
	for (size_t i = v->n; i > 0; i--) {
		struct tui_entry *e = v->v[i - 1];
		if (e->kind == TE_TOOL && e->tool_id != NULL && strcmp(e->tool_id, id) == 0)
			return e;
	}
	return NULL;
}

void
tui_elapsed(uint64_t ms, char *buf, size_t size)
{
	if (ms < 60000)
		snprintf(buf, size, "%llu.%llus", (unsigned long long)(ms / 1000),
			 (unsigned long long)(ms % 1000 / 100));
	else
		snprintf(buf, size, "%llum%02llus", (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms % 60000 / 1000));
}

/* Each line of text (already sanitized, newlines kept) as a logical line. */
static void
tui_view_plain(const char *text, enum tui_style style, const char *first, const char *rest,
	       enum tui_style pstyle, struct tui_lines *out)
{
	const char *p = text;
	int n = 0;
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t k = nl != NULL ? (size_t)(nl - p) : strlen(p);
		struct tui_line *l = tui_lines_push(out);
		const char *pre = n++ == 0 ? first : rest;
		tui_line_add(l, pstyle, pre, strlen(pre));
		l->indent = tui_width(pre);
		tui_line_add(l, style, p, k);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

void
tui_diff_render(const char *diff, struct tui_lines *out)
{
	const char *p = diff;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t k = nl != NULL ? (size_t)(nl - p) : strlen(p);
		enum tui_style st = TS_NORMAL;
		if (k >= 3 && (strncmp(p, "+++", 3) == 0 || strncmp(p, "---", 3) == 0))
			st = TS_HUNK;
		else if (k >= 2 && strncmp(p, "@@", 2) == 0)
			st = TS_HUNK;
		else if (k >= 1 && p[0] == '+')
			st = TS_ADD;
		else if (k >= 1 && p[0] == '-')
			st = TS_DEL;
		struct tui_line *l = tui_lines_push(out);
		tui_line_add(l, TS_DIM, "  ", 2);
		l->indent = 3;
		tui_line_add(l, st, p, k);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static int
tui_view_is_diff(const char *body)
{
	return strncmp(body, "--- ", 4) == 0 || strncmp(body, "@@", 2) == 0 ||
	       strstr(body, "\n@@ ") != NULL;
}

static int
tui_tool_running(const struct tui_entry *e)
{
	return e->status == NULL || strcmp(e->status, "pending") == 0 ||
	       strcmp(e->status, "in_progress") == 0;
}

static void
tui_view_tool_lines(struct tui_view *v, struct tui_entry *e, struct tui_lines *out)
{
	struct tui_line *h = tui_lines_push(out);
	const char *status = e->status != NULL ? e->status : "pending";
	enum tui_style st = strcmp(status, "completed") == 0 ? TS_OK :
			    strcmp(status, "failed") == 0 ? TS_ERROR : TS_WARN;
	int open = v->expand_all || e->expanded > 0;
	const char *mark = e->expanded < 0 && !v->expand_all ? "▸ " : "▾ ";
	tui_line_add(h, st, mark, strlen(mark));
	if (e->tool_kind != NULL && e->tool_kind[0] != '\0') {
		tui_line_add(h, TS_TOOL, e->tool_kind, strlen(e->tool_kind));
		tui_line_add(h, TS_NORMAL, " ", 1);
	}
	const char *title = e->title != NULL ? e->title : e->tool_id != NULL ? e->tool_id : "";
	tui_line_add(h, TS_BOLD, title, strlen(title));
	char buf[64];
	uint64_t el = 0;
	if (e->started_ms != 0)
		el = (e->ended_ms != 0 ? e->ended_ms : v->now_ms) - e->started_ms;
	if (e->started_ms != 0 && (e->ended_ms >= e->started_ms || e->ended_ms == 0) &&
	    v->now_ms >= e->started_ms) {
		char t[24];
		tui_elapsed(el, t, sizeof t);
		snprintf(buf, sizeof buf, "  %s %s", status, t);
	} else {
		snprintf(buf, sizeof buf, "  %s", status);
	}
	tui_line_add(h, st == TS_OK ? TS_DIM : st, buf, strlen(buf));
	h->indent = 2;
	if (e->body == NULL || e->body[0] == '\0' || (e->expanded < 0 && !v->expand_all))
		return;
	struct tui_lines body = { 0 };
	if (tui_view_is_diff(e->body))
		tui_diff_render(e->body, &body);
	else
		tui_view_plain(e->body, TS_DIM, "  │ ", "  │ ", TS_DIM, &body);
	size_t show = body.n;
	if (!open && show > TUI_PREVIEW_LINES)
		show = TUI_PREVIEW_LINES;
	for (size_t i = 0; i < show; i++) {
		*tui_lines_push(out) = body.v[i];
		memset(&body.v[i], 0, sizeof body.v[i]);
	}
	if (show < body.n) {
		struct tui_line *l = tui_lines_push(out);
		snprintf(buf, sizeof buf, "  … %zu more lines (click or Ctrl+O)", body.n - show);
		tui_line_add(l, TS_DIM, buf, strlen(buf));
	}
	tui_lines_clear(&body);
}

static void
tui_view_logical(struct tui_view *v, struct tui_entry *e, struct tui_lines *out)
{
	switch (e->kind) {
	case TE_USER:
		tui_lines_push(out);
		tui_view_plain(e->text, TS_USER, "❯ ", "  ", TS_USER, out);
		break;
	case TE_AGENT: {
		tui_lines_push(out);
		struct tui_lines md = { 0 };
		char *safe = tui_sanitize(e->text, e->len, 1);
		tui_md_render(safe, &md);
		free(safe);
		tui_lines_move(out, &md);
		break;
	}
	case TE_THOUGHT: {
		tui_lines_push(out);
		char *safe = tui_sanitize(e->text, e->len, 1);
		if (v->expand_all || e->expanded > 0) {
			tui_view_plain(safe, TS_DIM, "∴ ", "  ", TS_DIM, out);
		} else {
			char *nl = strchr(safe, '\n');
			int more = nl != NULL && nl[1] != '\0';
			if (nl != NULL)
				*nl = '\0';
			struct tui_line *l = tui_lines_push(out);
			tui_line_add(l, TS_DIM, "∴ ", strlen("∴ "));
			tui_line_add(l, TS_ITALIC, safe, strlen(safe));
			if (more)
				tui_line_add(l, TS_DIM, " …", strlen(" …"));
		}
		free(safe);
		break;
	}
	case TE_TOOL:
		tui_view_tool_lines(v, e, out);
		break;
	case TE_NOTE: {
		char *safe = tui_sanitize(e->text, e->len, 1);
		tui_view_plain(safe, TS_DIM, "· ", "  ", TS_DIM, out);
		free(safe);
		break;
	}
	case TE_ERROR: {
		char *safe = tui_sanitize(e->text, e->len, 1);
		tui_view_plain(safe, TS_ERROR, "✗ ", "  ", TS_ERROR, out);
		free(safe);
		break;
	}
	case TE_PERMISSION: {
		tui_lines_push(out);
		const char *title = e->title != NULL ? e->title : "a tool";
		struct tui_line *l = tui_lines_push(out);
		tui_line_add(l, TS_WARN, "? ", 2);
		tui_line_add(l, TS_BOLD, "Permission: ", strlen("Permission: "));
		if (e->tool_kind != NULL) {
			tui_line_add(l, TS_TOOL, e->tool_kind, strlen(e->tool_kind));
			tui_line_add(l, TS_NORMAL, " ", 1);
		}
		tui_line_add(l, TS_NORMAL, title, strlen(title));
		l->indent = 2;
		if (e->body != NULL && e->body[0] != '\0') {
			if (tui_view_is_diff(e->body))
				tui_diff_render(e->body, out);
			else
				tui_view_plain(e->body, TS_CODE, "  ", "  ", TS_NORMAL, out);
		}
		l = tui_lines_push(out);
		if (!e->answered) {
			static const char *const keys[] = { "y", " allow once  ", "a", " always allow  ",
							    "n", " reject  ", "r", " always reject" };
			tui_line_add(l, TS_NORMAL, "  ", 2);
			for (size_t i = 0; i < 8; i += 2) {
				tui_line_add(l, TS_SELECT, keys[i], strlen(keys[i]));
				tui_line_add(l, TS_NORMAL, keys[i + 1], strlen(keys[i + 1]));
			}
		} else {
			tui_line_add(l, TS_DIM, "  ", 2);
			tui_line_add(l, TS_DIM, e->text, e->len);
		}
		break;
	}
	}
}

const struct tui_lines *
tui_entry_lines(struct tui_view *v, struct tui_entry *e, int width)
{
	if (e->kind == TE_TOOL && e->started_ms != 0 && tui_tool_running(e))
		e->cache_width = 0; /* its elapsed time moves */
	if (e->cache_width == width)
		return &e->lines;
	tui_lines_clear(&e->lines);
	struct tui_lines logical = { 0 };
	tui_view_logical(v, e, &logical);
	for (size_t i = 0; i < logical.n; i++)
		tui_wrap(&logical.v[i], width, 0, &e->lines);
	tui_lines_clear(&logical);
	e->cache_width = width;
	return &e->lines;
}
