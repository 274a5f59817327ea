/*
 * test_shellsplit.c: the shell splitter's commands, texts and flags, and its
 * refusals of what it cannot read (malformed, truncated, oversized input).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shellsplit.h"
#include "xmalloc.h"

/* Split cmd, expect rc, and the commands' texts joined by " | " into *texts (owned). */
static char *
split(const char *cmd, int want_rc, struct shellsplit *sp)
{
	int rc = shellsplit_parse(cmd, strlen(cmd), sp);
	if (rc != want_rc)
		print_error("[%s]: rc %d (%s)\n", cmd, rc, sp->why ? sp->why : "-");
	assert_int_equal(rc, want_rc);
	size_t n = 1;
	for (size_t i = 0; i < sp->n; i++)
		n += strlen(sp->cmds[i].text) + 3;
	char *out = xmalloc(n);
	out[0] = '\0';
	for (size_t i = 0; i < sp->n; i++) {
		if (i > 0)
			strcat(out, " | ");
		strcat(out, sp->cmds[i].text);
	}
	return out;
}

static void
test_texts(void **state)
{
	(void)state;
	static const struct {
		const char *cmd, *texts;
	} rows[] = {
		{ "git status", "git status" },
		{ "  git   status  ", "git status" },
		{ "git status; touch X", "git status | touch X" },
		{ "a && b || c | d |& e & f", "a | b | c | d | e | f" },
		{ "a\nb\n", "a | b" },
		{ "\"git\" 'status'", "git status" },
		{ "r\\m -rf /", "rm -rf /" },
		{ "echo 'a b' \"c;d\" ''", "echo 'a b' 'c;d' ''" },
		{ "echo \"it's\"", "echo 'it'\\''s'" },
		{ "git status 2>&1 >/dev/null < in", "git status" },
		/* an empty redirection target (fuzz_shellsplit: read as NULL before) */
		{ "ls '' <'' >''", "ls ''" },
		{ "(a; (b))", "a | b" },
		{ "echo $(a; b) `c`", "a | b | c | echo '$(a; b)' '`c`'" },
		{ "cat <(x) >(y)", "x | y | cat '<(x)' '>(y)'" },
		{ "X=1 make", "X=1 make" },
		{ "cat <<EOF\nbody; rm\nEOF\nls", "cat | ls" },
		{ "cat <<-\"E\"\n\tx\n\tE\nls", "cat | ls" },
		{ "ls # comment; rm", "ls" },
		{ "echo a#b", "echo a#b" },
		{ "echo \\\nx", "echo x" },
		{ "echo $HOME ${USER} $1 $?", "echo $HOME ${USER} $1 $?" },
		{ "", "" },
		{ "   \n\n ", "" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct shellsplit sp;
		char *t = split(rows[i].cmd, 0, &sp);
		if (strcmp(t, rows[i].texts) != 0)
			print_error("[%s]: got [%s]\n", rows[i].cmd, t);
		assert_string_equal(t, rows[i].texts);
		free(t);
		shellsplit_free(&sp);
	}
}

static void
test_flags(void **state)
{
	(void)state;
	struct shellsplit sp;
	char *t = split("ls > out; ls 2>&1; ls >/dev/null; echo $(x)", 0, &sp);
	free(t);
	assert_int_equal(sp.n, 5);
	assert_int_equal(sp.cmds[0].flags, SHELLSPLIT_WRITES);
	assert_int_equal(sp.cmds[1].flags, 0);
	assert_int_equal(sp.cmds[2].flags, 0);
	assert_int_equal(sp.cmds[3].flags, SHELLSPLIT_IN_SUBST);
	assert_int_equal(sp.cmds[4].flags, SHELLSPLIT_HAS_SUBST);
	assert_int_equal(sp.substitution, 1);
	shellsplit_free(&sp);
	t = split("(a; b) >> log", 0, &sp);
	free(t);
	assert_int_equal(sp.cmds[0].flags & SHELLSPLIT_WRITES, SHELLSPLIT_WRITES);
	assert_int_equal(sp.cmds[1].flags & SHELLSPLIT_WRITES, SHELLSPLIT_WRITES);
	assert_int_equal(sp.substitution, 0);
	shellsplit_free(&sp);
}

static void
test_uncertain(void **state)
{
	(void)state;
	static const struct {
		const char *cmd, *why;
		size_t where;
	} rows[] = {
		{ "echo 'abc", "an unterminated '...' quote", 5 },
		{ "echo \"abc", "an unterminated \"...\" quote", 5 },
		{ "echo $(abc", "an unterminated subshell or substitution", 10 },
		{ "echo `abc", "an unterminated `...` substitution", 5 },
		{ "echo abc\\", "a backslash at the end of the line", 8 },
		{ "if x; then y; fi", "shell keywords (if, for, while, case, {, ! ...) are not read",
		  2 },
		{ "$cmd arg", "the command name comes from an expansion", 4 },
		{ "echo $((1))", "arithmetic $(( )) is not read", 5 },
		{ "((x++))", "arithmetic (( )) is not read", 0 },
		{ "echo ${x:-y}", "a ${...} expansion with an operator is not read", 5 },
		{ "a ;; b", "';;' outside case", 2 },
		{ "; a", "an operator with no command before it", 0 },
		{ "a |", "the line ends after an operator", 3 },
		{ "a )", "an unexpected ')'", 2 },
		{ "a > ", "a redirection without its target", 4 },
		{ "cat <<E\nx", "a here-document without its end line", 9 },
		{ "cat <<E", "a here-document without its end line", 7 },
		{ "cat <<E\n$(x)\nE", "a here-document body with a substitution is not read", 8 },
		{ "a (b)", "an unexpected '('", 2 },
		{ "(a) b", "a word after a subshell", 4 },
		{ "f(x)", "a '(' inside a word is not read", 1 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct shellsplit sp;
		char *t = split(rows[i].cmd, -1, &sp);
		free(t);
		if (strcmp(sp.why, rows[i].why) != 0 || sp.where != rows[i].where)
			print_error("[%s]: %s at %zu\n", rows[i].cmd, sp.why, sp.where);
		assert_string_equal(sp.why, rows[i].why);
		assert_int_equal(sp.where, rows[i].where);
		shellsplit_free(&sp);
	}
}

/* A NUL byte, every truncation of a tricky line, the size and nesting limits. */
static void
test_limits(void **state)
{
	(void)state;
	struct shellsplit sp;
	assert_int_equal(shellsplit_parse("ls\0; rm", 7, &sp), -1);
	assert_string_equal(sp.why, "a NUL byte in the command");
	assert_int_equal(sp.where, 2);
	shellsplit_free(&sp);

	static const char line[] = "a 'b' \"c$(d `e` <(f))\" ${g} <<E; (h) >x\n\tbody\nE\n";
	for (size_t n = 0; n <= sizeof line - 1; n++) {
		shellsplit_parse(line, n, &sp);  /* must not read past n */
		shellsplit_free(&sp);
	}
	assert_int_equal(shellsplit_parse(line, sizeof line - 1, &sp), 0);
	shellsplit_free(&sp);

	size_t big = SHELLSPLIT_MAX_LEN + 1;
	char *s = xmalloc(big);
	memset(s, 'a', big);
	assert_int_equal(shellsplit_parse(s, big, &sp), -1);
	assert_string_equal(sp.why, "the command is longer than the splitter reads");
	shellsplit_free(&sp);
	for (size_t i = 0; i + 1 < big; i += 2)
		s[i] = 'a', s[i + 1] = ';';
	assert_int_equal(shellsplit_parse(s, SHELLSPLIT_MAX_LEN, &sp), -1);
	assert_string_equal(sp.why, "too many commands");
	assert_int_equal(sp.n, SHELLSPLIT_MAX_CMDS);
	shellsplit_free(&sp);
	size_t k = 0;
	for (int d = 0; d < SHELLSPLIT_MAX_DEPTH + 2; d++)
		s[k++] = '(', s[k++] = ' ';
	s[k++] = 'a';
	for (int d = 0; d < SHELLSPLIT_MAX_DEPTH + 2; d++)
		s[k++] = ')';
	assert_int_equal(shellsplit_parse(s, k, &sp), -1);
	assert_string_equal(sp.why, "subshells nested too deep");
	shellsplit_free(&sp);
	k = 0;
	for (int d = 0; d < SHELLSPLIT_MAX_DEPTH + 2; d++)
		s[k++] = '$', s[k++] = '(';
	assert_int_equal(shellsplit_parse(s, k, &sp), -1);
	assert_string_equal(sp.why, "substitutions nested too deep");
	shellsplit_free(&sp);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_texts),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_uncertain),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests_name("shellsplit", tests, NULL, NULL);
}
