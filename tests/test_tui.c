/* test_tui.c: the TUI's pure parts: safe text, wrapping with wide and combining
 * characters, Markdown to styled lines, the diff colours, the input editor and the key
 * decoder (bracketed paste, mouse, Alt+Enter, split sequences, oversized pastes). */
#include "config.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tui.h"

/* The lines as text, one per line, each ending in "\n". Malloc'd. */
static char *
lines_text(const struct tui_lines *ls)
{
	size_t n = 1;
	char **parts = calloc(ls->n + 1, sizeof *parts);
	for (size_t i = 0; i < ls->n; i++) {
		parts[i] = tui_line_text(&ls->v[i]);
		n += strlen(parts[i]) + 1;
	}
	char *out = malloc(n);
	out[0] = '\0';
	for (size_t i = 0; i < ls->n; i++) {
		strcat(out, parts[i]);
		strcat(out, "\n");
		free(parts[i]);
	}
	free(parts);
	return out;
}

static char *
wrap_text(const char *text, int width, int indent)
{
	struct tui_line l = { 0 };
	tui_line_add(&l, TS_NORMAL, text, strlen(text));
	struct tui_lines out = { 0 };
	tui_wrap(&l, width, indent, &out);
	char *s = lines_text(&out);
	tui_lines_clear(&out);
	tui_line_clear(&l);
	return s;
}

static void
test_sanitize(void **state)
{
	(void)state;
	char *s = tui_sanitize("a\033[2Jb\007c\x9b", strlen("a\033[2Jb\007c\x9b"), 0);
	assert_string_equal(s, "a\xEF\xBF\xBD[2Jb\xEF\xBF\xBD" "c\xEF\xBF\xBD");
	free(s);
	/* invalid UTF-8: a stray continuation, a truncated sequence, an overlong form, a surrogate */
	const char bad[] = "x\x80y\xE2\x82z\xC0\xAFw\xED\xA0\x80v";
	s = tui_sanitize(bad, sizeof bad - 1, 0);
	assert_string_equal(s, "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBDw"
			       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDv");
	free(s);
	s = tui_sanitize("a\tb\nc", 5, 1);
	assert_string_equal(s, "a   b\nc");
	free(s);
	s = tui_sanitize("a\nb", 3, 0);
	assert_string_equal(s, "a b");
	free(s);
	/* a bidi override cannot reorder what follows it */
	s = tui_sanitize("\xE2\x80\xAE" "abc", 6, 0);
	assert_string_equal(s, "\xEF\xBF\xBD" "abc");
	free(s);
	s = tui_sanitize("", 0, 1);
	assert_string_equal(s, "");
	free(s);
}

static void
test_width(void **state)
{
	(void)state;
	assert_int_equal(tui_width("abc"), 3);
	assert_int_equal(tui_width("日本"), 4);
	assert_int_equal(tui_width("e\xCC\x81"), 1); /* e + combining acute */
	assert_int_equal(tui_width(""), 0);
	assert_int_equal(tui_width("😀"), 2);
}

static void
test_wrap(void **state)
{
	(void)state;
	char *s = wrap_text("the quick brown fox jumps", 10, 0);
	assert_string_equal(s, "the quick\nbrown fox\njumps\n");
	free(s);
	s = wrap_text("the quick brown fox", 10, 2);
	assert_string_equal(s, "the quick\n  brown\n  fox\n");
	free(s);
	/* a word longer than the line is cut by columns */
	s = wrap_text("abcdefghijkl", 5, 0);
	assert_string_equal(s, "abcde\nfghij\nkl\n");
	free(s);
	/* wide characters never straddle the edge */
	s = wrap_text("日本語テキスト", 5, 0);
	assert_string_equal(s, "日本\n語テ\nキス\nト\n");
	free(s);
	/* combining marks stay with their base */
	s = wrap_text("e\xCC\x81" "e\xCC\x81" "e\xCC\x81", 2, 0);
	assert_string_equal(s, "e\xCC\x81" "e\xCC\x81\n" "e\xCC\x81\n");
	free(s);
	/* a wide character wider than the line goes alone on it */
	s = wrap_text("日x", 1, 0);
	assert_string_equal(s, "日\nx\n");
	free(s);
	s = wrap_text("", 10, 0);
	assert_string_equal(s, "\n");
	free(s);
	/* width 0 and an indent as wide as the line are clamped */
	s = wrap_text("ab", 0, 5);
	assert_string_equal(s, "a\nb\n");
	free(s);
}

static void
test_wrap_styles(void **state)
{
	(void)state;
	struct tui_line l = { 0 };
	tui_line_add(&l, TS_NORMAL, "plain ", 6);
	tui_line_add(&l, TS_BOLD, "bold words", 10);
	struct tui_lines out = { 0 };
	tui_wrap(&l, 11, 0, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[0].n, 2);
	assert_int_equal(out.v[0].spans[1].style, TS_BOLD);
	assert_string_equal(out.v[0].spans[1].text, "bold");
	assert_string_equal(out.v[1].spans[0].text, "words");
	assert_int_equal(out.v[1].spans[0].style, TS_BOLD);
	tui_lines_clear(&out);
	tui_line_clear(&l);
}

static char *
md_text(const char *md)
{
	struct tui_lines out = { 0 };
	tui_md_render(md, &out);
	char *s = lines_text(&out);
	tui_lines_clear(&out);
	return s;
}

static void
test_markdown(void **state)
{
	(void)state;
	char *s = md_text("# Title\n\nSome **bold** and `code`.\n\n- a\n- b\n\n1. x\n2. y\n");
	assert_string_equal(s, "# Title\n\nSome bold and code.\n\n• a\n• b\n\n1. x\n2. y\n");
	free(s);
	s = md_text("> quoted\n> more\n\n```\ncode line\n  indented\n```\n\n---\n");
	assert_string_equal(s, "│ quoted more\n\n  code line\n    indented\n\n────────\n");
	free(s);
	s = md_text("[site](https://example.org) and <https://a.b>");
	assert_string_equal(s, "site (https://example.org) and https://a.b\n");
	free(s);
	s = md_text("- outer\n  - inner\n");
	assert_string_equal(s, "• outer\n  • inner\n");
	free(s);
	s = md_text("");
	assert_string_equal(s, "");
	free(s);
	/* control characters inside Markdown are neutralised too */
	s = md_text("a\033[31mb");
	assert_string_equal(s, "a\xEF\xBF\xBD[31mb\n");
	free(s);
	/* styles: heading, bold, code */
	struct tui_lines out = { 0 };
	tui_md_render("## H\n\n**b** `c`", &out);
	assert_int_equal(out.v[0].spans[0].style, TS_HEADING);
	assert_int_equal(out.v[2].spans[0].style, TS_BOLD);
	assert_int_equal(out.v[2].spans[2].style, TS_CODE);
	tui_lines_clear(&out);
	/* a deep nesting and an unclosed fence do not break it */
	char deep[400] = "";
	for (int i = 0; i < 60; i++)
		strcat(deep, ">");
	strcat(deep, " x\n```\nunclosed");
	s = md_text(deep);
	assert_non_null(strstr(s, "unclosed"));
	free(s);
}

static void
test_diff(void **state)
{
	(void)state;
	struct tui_lines out = { 0 };
	tui_diff_render("--- a\n+++ a\n@@ -1 +1 @@\n-old\n+new\n same", &out);
	assert_int_equal(out.n, 6);
	assert_int_equal(out.v[0].spans[1].style, TS_HUNK);
	assert_int_equal(out.v[2].spans[1].style, TS_HUNK);
	assert_int_equal(out.v[3].spans[1].style, TS_DEL);
	assert_int_equal(out.v[4].spans[1].style, TS_ADD);
	assert_int_equal(out.v[5].spans[1].style, TS_NORMAL);
	tui_lines_clear(&out);
}

static void
test_view(void **state)
{
	(void)state;
	struct tui_view v = { 0 };
	tui_view_append(&v, TE_AGENT, "Hello ", 6);
	tui_view_append(&v, TE_AGENT, "**world**", 9);
	assert_int_equal(v.n, 1);
	struct tui_entry *tool = tui_view_add(&v, TE_TOOL, NULL);
	tui_entry_set(&tool->tool_id, "t1");
	tui_entry_set(&tool->title, "run \033[2J it");
	tui_entry_set(&tool->tool_kind, "execute");
	tui_entry_set(&tool->status, "completed");
	tui_entry_set(&tool->body, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10");
	assert_ptr_equal(tui_view_tool(&v, "t1"), tool);
	assert_null(tui_view_tool(&v, "t2"));
	char *s = lines_text(tui_entry_lines(&v, v.v[0], 40));
	assert_string_equal(s, "\nHello world\n");
	free(s);
	s = lines_text(tui_entry_lines(&v, tool, 40));
	assert_string_equal(s, "▾ execute run \xEF\xBF\xBD[2J it  completed\n"
			       "  │ 1\n  │ 2\n  │ 3\n  │ 4\n  │ 5\n  │ 6\n  │ 7\n  │ 8\n"
			       "  … 2 more lines (click or Ctrl+O)\n");
	free(s);
	tool->expanded = -1;
	tui_entry_touch(tool);
	s = lines_text(tui_entry_lines(&v, tool, 40));
	assert_string_equal(s, "▸ execute run \xEF\xBF\xBD[2J it  completed\n");
	free(s);
	v.expand_all = 1;
	tui_entry_touch(tool);
	assert_int_equal(tui_entry_lines(&v, tool, 40)->n, 11);
	char buf[16];
	tui_elapsed(1234, buf, sizeof buf);
	assert_string_equal(buf, "1.2s");
	tui_elapsed(184000, buf, sizeof buf);
	assert_string_equal(buf, "3m04s");
	tui_view_clear(&v);
}

static void
test_edit(void **state)
{
	(void)state;
	struct tui_edit e = { 0 };
	tui_edit_insert(&e, "héllo", strlen("héllo"));
	tui_edit_left(&e);
	tui_edit_left(&e);
	tui_edit_left(&e);
	tui_edit_left(&e);
	tui_edit_backspace(&e); /* removes the 'h' */
	assert_string_equal(e.buf, "éllo");
	tui_edit_right(&e);
	tui_edit_delete(&e);
	assert_string_equal(e.buf, "élo");
	tui_edit_end(&e);
	tui_edit_insert(&e, "\nsecond line", 12);
	assert_int_equal(tui_edit_up(&e), 1);
	assert_int_equal(tui_edit_up(&e), 0);
	tui_edit_home(&e);
	tui_edit_kill_line(&e);
	assert_string_equal(e.buf, "\nsecond line");
	tui_edit_kill_line(&e); /* at the end of a line: joins the next */
	assert_string_equal(e.buf, "second line");
	tui_edit_end(&e);
	tui_edit_kill_word(&e);
	assert_string_equal(e.buf, "second ");
	tui_edit_kill_back(&e);
	assert_string_equal(e.buf, "");
	/* control bytes typed or pasted never enter the buffer */
	tui_edit_insert(&e, "a\033b", 3);
	assert_string_equal(e.buf, "a\xEF\xBF\xBD" "b");
	/* layout: hard wrap by columns, the cursor where it is */
	tui_edit_set(&e, "abcdef\n日本語");
	struct tui_lines out = { 0 };
	int row, col;
	tui_edit_layout(&e, 4, &out, &row, &col);
	char *s = lines_text(&out);
	assert_string_equal(s, "abcd\nef\n日本\n語\n");
	free(s);
	assert_int_equal(row, 3);
	assert_int_equal(col, 2);
	tui_lines_clear(&out);
	/* the cursor after a full row moves to the next */
	tui_edit_set(&e, "abcd");
	tui_edit_layout(&e, 4, &out, &row, &col);
	assert_int_equal(row, 1);
	assert_int_equal(col, 0);
	tui_lines_clear(&out);
	/* backspace and delete at the ends do nothing */
	tui_edit_set(&e, "");
	tui_edit_backspace(&e);
	tui_edit_delete(&e);
	tui_edit_left(&e);
	assert_int_equal(e.len, 0);
	assert_int_equal(tui_edit_down(&e), 0);
	tui_edit_clear(&e);
}

static void
test_keys(void **state)
{
	(void)state;
	struct tui_keys k = { 0 };
	struct tui_key key;
	const char in[] = "a\r\n\033\r\033[A\033[5~\x7f\x03\033[<64;1;1M\033[<65;1;1M\033[<0;5;7M";
	tui_keys_feed(&k, in, sizeof in - 1);
	enum tui_key_type want[] = { TK_CHAR, TK_ENTER, TK_NEWLINE, TK_NEWLINE, TK_UP, TK_PGUP,
				     TK_BACKSPACE, TK_CTRL, TK_WHEEL_UP, TK_WHEEL_DOWN, TK_CLICK };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(tui_keys_next(&k, &key, 1), 1);
		assert_int_equal(key.type, want[i]);
	}
	assert_int_equal(key.x, 4);
	assert_int_equal(key.y, 6);
	assert_int_equal(tui_keys_next(&k, &key, 1), 0);
	/* a UTF-8 character split across reads waits for its other bytes */
	tui_keys_feed(&k, "\xE6\x97", 2);
	assert_int_equal(tui_keys_next(&k, &key, 0), 0);
	tui_keys_feed(&k, "\xA5", 1);
	assert_int_equal(tui_keys_next(&k, &key, 1), 1);
	assert_int_equal(key.cp, 0x65E5);
	/* a lone ESC is Esc only when the read had nothing after it */
	tui_keys_feed(&k, "\033", 1);
	assert_int_equal(tui_keys_next(&k, &key, 0), 0);
	assert_int_equal(tui_keys_next(&k, &key, 1), 1);
	assert_int_equal(key.type, TK_ESC);
	/* an escape sequence split in two */
	tui_keys_feed(&k, "\033[", 2);
	assert_int_equal(tui_keys_next(&k, &key, 1), 0);
	tui_keys_feed(&k, "B", 1);
	assert_int_equal(tui_keys_next(&k, &key, 1), 1);
	assert_int_equal(key.type, TK_DOWN);
	/* a bracketed paste, its end marker split across reads, with escapes inside */
	tui_keys_feed(&k, "\033[200~one\r\033[Atwo\033[20", strlen("\033[200~one\r\033[Atwo\033[20"));
	assert_int_equal(tui_keys_next(&k, &key, 1), 0);
	tui_keys_feed(&k, "1~x", 3);
	assert_int_equal(tui_keys_next(&k, &key, 1), 1);
	assert_int_equal(key.type, TK_PASTE);
	assert_int_equal(key.len, strlen("one\r\033[Atwo"));
	assert_memory_equal(key.text, "one\r\033[Atwo", key.len);
	assert_int_equal(tui_keys_next(&k, &key, 1), 1);
	assert_int_equal(key.cp, 'x');
	/* an oversized paste keeps its first max_paste bytes and drops the rest */
	k.max_paste = 1000;
	tui_keys_feed(&k, "\033[200~", 6);
	char *big = malloc(1 << 20);
	memset(big, 'p', 1 << 20);
	tui_keys_feed(&k, big, 1 << 20);
	free(big);
	tui_keys_feed(&k, "\033[201~", 6);
	assert_int_equal(tui_keys_next(&k, &key, 1), 1);
	assert_int_equal(key.type, TK_PASTE);
	assert_int_equal(key.len, 1000);
	/* garbage: unknown sequences and NUL are skipped, nothing crashes */
	tui_keys_feed(&k, "\033[99;99;99Z\0\033Ox\033[<1;2M", 20);
	while (tui_keys_next(&k, &key, 1))
		assert_int_not_equal(key.type, TK_NONE);
	tui_keys_clear(&k);
}

int
main(void)
{
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
		fprintf(stderr, "SKIP: no C.UTF-8 locale\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_wrap_styles),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_edit),
		cmocka_unit_test(test_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
