/*
 * test_grep.c: the grep tool module (grep, glob, ls) loaded through the real
 * registry and run with the core's tools_start() against real temporary trees;
 * .gitignore semantics are checked against `git check-ignore` on the same tree.
 * Confinement is the core's: host->path_allowed() allows the call's project (the
 * temporary tree, or a directory in it) and what [tool grep] allow_paths names.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "defer.h"
#include "daemon_ops.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "testutil.h"
#include "tools.h"
#include "xmalloc.h"

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct conf *conf;
	struct registry *reg;
	char *tmp;    /* resolved */
};

static struct fixture *F;

static void
load(const char *extra)
{
	char *text = xasprintf("module_dir %s/plugins\nload tool grep\n[tool grep]\n%s",
			       HEARTH_BUILDDIR, extra != NULL ? extra : "");
	F->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	assert_int_equal(F->conf->n_errors, 0);
	F->reg = registry_new(F->conf);
	assert_int_equal(registry_load_all(F->reg), 0);
	tools_set_registry(F->reg);
	assert_non_null(registry_find(F->reg, HEARTH_KIND_TOOL, "grep"));
}

static int
setup(void **state)
{
	F = xcalloc(1, sizeof *F);
	uv_loop_init(&F->loop);
	char *t = testutil_mkdtemp("grep");
	F->tmp = realpath(t, NULL);
	free(t);
	F->ctx.loop = &F->loop;
	F->ctx.state_dir = F->tmp;
	F->ctx.runtime_dir = F->tmp;
	F->ctx.daemon = &core_host_ops;
	host_context_set(&F->ctx);
	defer_init(&F->loop);
	assert_int_equal(loader_init(), 0);
	testutil_log_capture();
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	if (F->reg != NULL)
		registry_fini_all(F->reg);
	defer_close();
	uv_run(&F->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&F->loop), 0);
	registry_free(F->reg);
	conf_free(F->conf);
	loader_exit();
	free(testutil_log_release());
	testutil_rmtree(F->tmp);
	free(F->tmp);
	free(F);
	return 0;
}

/* ------------------------------------------------------------ helpers -- */

/* Write `text` to tmp/rel, creating parent directories. */
static void
put(const char *rel, const char *text)
{
	char *path = xasprintf("%s/%s", F->tmp, rel);
	for (char *s = path + strlen(F->tmp) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	assert_int_equal(testutil_write_file(path, text, strlen(text)), 0);
	free(path);
}

static void
putn(const char *rel, const char *data, size_t n)
{
	char *path = xasprintf("%s/%s", F->tmp, rel);
	assert_int_equal(testutil_write_file(path, data, n), 0);
	free(path);
}

struct outcome {
	json_t *result;
	int done;
};

static void
on_done(void *arg, json_t *result)
{
	struct outcome *o = arg;
	o->result = result;
	o->done = 1;
}

/* Run `tool` with input (stolen) in cwd; the text (malloc'd) and *is_error. */
static char *
run_in(const char *cwd, const char *tool, json_t *input, int *is_error)
{
	struct outcome o = { 0 };
	tools_start(tool, "call-1", input, "s1", cwd, NULL, on_done, &o);
	json_decref(input);
	for (int spins = 0; !o.done && spins < 1000000; spins++)
		uv_run(&F->loop, UV_RUN_ONCE);
	assert_true(o.done);
	const char *text = json_string_value(json_object_get(
		json_array_get(json_object_get(o.result, "content"), 0), "text"));
	assert_non_null(text);
	char *r = xstrdup(text);
	if (is_error != NULL)
		*is_error = json_is_true(json_object_get(o.result, "isError"));
	json_decref(o.result);
	return r;
}

static char *
run(const char *tool, json_t *input, int *is_error)
{
	return run_in(F->tmp, tool, input, is_error);
}

/* Run and compare with the exact expected text, not an error. */
static void
expect(const char *tool, json_t *input, const char *want)
{
	int err = -1;
	char *got = run(tool, input, &err);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "--- want\n%s\n--- got\n%s\n---\n", want, got);
	assert_string_equal(got, want);
	assert_int_equal(err, 0);
	free(got);
}

static void
expect_error(const char *tool, json_t *input, const char *want)
{
	int err = -1;
	char *got = run(tool, input, &err);
	assert_string_equal(got, want);
	assert_int_equal(err, 1);
	free(got);
}

static void
basic_tree(void)
{
	put("a.c", "int main\nfoo bar\nbaz\nfoo\n");
	put("sub/b.txt", "nothing\nFOO foo\n");
	put("sub/c.txt", "no match here\n");
	putn("bin.dat", "foo\0bar\n", 8);
	put("z.txt", "Foo at the end");
}

/* -------------------------------------------------------------- tests -- */

static void
test_modes(void **state)
{
	load(NULL);
	basic_tree();
	expect("grep", json_pack("{s:s}", "pattern", "foo"),
	       "a.c:2:foo bar\na.c:4:foo\nsub/b.txt:2:FOO foo");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "output_mode",
				 "files_with_matches"), "a.c\nsub/b.txt");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "output_mode", "count"),
	       "a.c:2\nsub/b.txt:1");
	expect("grep", json_pack("{s:s}", "pattern", "absent"), "No matches found");
	/* A path below the cwd prints paths from the cwd; a single file works too. */
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "path", "sub"),
	       "sub/b.txt:2:FOO foo");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "path", "a.c"),
	       "a.c:2:foo bar\na.c:4:foo");
	char *sub = xasprintf("%s/sub", F->tmp);
	int err;
	char *got = run_in(sub, "grep", json_pack("{s:s}", "pattern", "foo"), &err);
	assert_string_equal(got, "b.txt:2:FOO foo");
	free(got);
	/* Above the project: refused. */
	got = run_in(sub, "grep", json_pack("{s:s,s:s}", "pattern", "main", "path", ".."), &err);
	char *want = xasprintf("refused: .. resolves to %s, outside the project directory",
			       F->tmp);
	assert_string_equal(got, want);
	assert_int_equal(err, 1);
	free(want);
	free(got);
	free(sub);
}

/* allow_paths lets a call read outside its project; paths print absolute then. */
static void
test_allow_paths(void **state)
{
	char *extra = xasprintf("allow_paths = %s*\n", F->tmp);
	load(extra);
	free(extra);
	basic_tree();
	char *sub = xasprintf("%s/sub", F->tmp);
	int err;
	char *got = run_in(sub, "grep", json_pack("{s:s,s:s}", "pattern", "main", "path", ".."),
			   &err);
	char *want = xasprintf("%s/a.c:1:int main", F->tmp);
	assert_string_equal(got, want);
	assert_int_equal(err, 0);
	free(want);
	free(got);
	free(sub);
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "root", "path", "/etc"),
		     "refused: /etc resolves to /etc, outside the project directory");
}

static void
test_context(void **state)
{
	load(NULL);
	put("ctx.txt", "l1\nhit2\nl3\nl4\nl5\nl6\nl7\nhit8\nl9\nl10\nhit11\n");
	put("d.txt", "x\nhit\n");
	expect("grep", json_pack("{s:s,s:i}", "pattern", "hit", "context", 1),
	       "ctx.txt-1-l1\nctx.txt:2:hit2\nctx.txt-3-l3\n--\n"
	       "ctx.txt-7-l7\nctx.txt:8:hit8\nctx.txt-9-l9\nctx.txt-10-l10\nctx.txt:11:hit11\n--\n"
	       "d.txt-1-x\nd.txt:2:hit");
	expect("grep", json_pack("{s:s,s:s,s:i}", "pattern", "hit", "path", "ctx.txt",
				 "after", 2),
	       "ctx.txt:2:hit2\nctx.txt-3-l3\nctx.txt-4-l4\n--\n"
	       "ctx.txt:8:hit8\nctx.txt-9-l9\nctx.txt-10-l10\nctx.txt:11:hit11");
	expect("grep", json_pack("{s:s,s:s,s:i}", "pattern", "hit", "path", "ctx.txt",
				 "before", 3),
	       "ctx.txt-1-l1\nctx.txt:2:hit2\n--\nctx.txt-5-l5\nctx.txt-6-l6\nctx.txt-7-l7\n"
	       "ctx.txt:8:hit8\nctx.txt-9-l9\nctx.txt-10-l10\nctx.txt:11:hit11");
	/* Context is ignored outside content mode. */
	expect("grep", json_pack("{s:s,s:i,s:s}", "pattern", "hit", "context", 3, "output_mode",
				 "count"), "ctx.txt:3\nd.txt:1");
}

static void
test_case(void **state)
{
	load(NULL);
	basic_tree();
	expect("grep", json_pack("{s:s,s:b}", "pattern", "foo", "case_insensitive", 1),
	       "a.c:2:foo bar\na.c:4:foo\nsub/b.txt:2:FOO foo\nz.txt:1:Foo at the end");
	expect("grep", json_pack("{s:s,s:b}", "pattern", "fOo", "smart_case", 1),
	       "No matches found");
	expect("grep", json_pack("{s:s,s:b,s:s}", "pattern", "foo", "smart_case", 1, "output_mode",
				 "count"), "a.c:2\nsub/b.txt:1\nz.txt:1");
	expect("grep", json_pack("{s:s,s:b,s:s}", "pattern", "Fo+", "smart_case", 1, "output_mode",
				 "count"), "z.txt:1");
}

/* The literal fast path and the regex engine agree, with and without case. */
static void
test_literal_vs_regex(void **state)
{
	load(NULL);
	put("one.txt", "alpha beta\nBETA gamma\nbetabeta\n\nend beta");
	put("two.txt", "xbetax\nnothing\r\nbeta\r\n");
	const char *pairs[][2] = { { "beta", "bet[a]" }, { "BETA", "B(E)TA" }, { "a g", "a\\sg" } };
	for (size_t i = 0; i < 3; i++) {
		for (int icase = 0; icase < 2; icase++) {
			for (int mode = 0; mode < 3; mode++) {
				const char *m = mode == 0 ? "content" : mode == 1 ? "count" :
					"files_with_matches";
				char *a = run("grep", json_pack("{s:s,s:b,s:s}", "pattern", pairs[i][0],
								 "case_insensitive", icase,
								 "output_mode", m), NULL);
				char *b = run("grep", json_pack("{s:s,s:b,s:s}", "pattern", pairs[i][1],
								 "case_insensitive", icase,
								 "output_mode", m), NULL);
				assert_string_equal(a, b);
				free(a);
				free(b);
			}
		}
	}
	expect("grep", json_pack("{s:s,s:b}", "pattern", "BETA", "case_insensitive", 1),
	       "one.txt:1:alpha beta\none.txt:2:BETA gamma\none.txt:3:betabeta\n"
	       "one.txt:5:end beta\ntwo.txt:1:xbetax\ntwo.txt:3:beta");
	/* A regex anchored to line ends, and one that could only match across lines. */
	expect("grep", json_pack("{s:s}", "pattern", "^beta$"), "two.txt:3:beta");
	expect("grep", json_pack("{s:s}", "pattern", "beta\\s+BETA"), "No matches found");
	expect("grep", json_pack("{s:s}", "pattern", "gamma|^xb"),
	       "one.txt:2:BETA gamma\ntwo.txt:1:xbetax");
}

static void
test_globs_and_types(void **state)
{
	load(NULL);
	basic_tree();
	put("inc/x.h", "foo in a header\n");
	expect("grep", json_pack("{s:s,s:s,s:s}", "pattern", "foo", "glob", "*.c", "output_mode",
				 "files_with_matches"), "a.c");
	expect("grep", json_pack("{s:s,s:s,s:s}", "pattern", "foo", "glob", "*.{c,h}",
				 "output_mode", "files_with_matches"), "a.c\ninc/x.h");
	expect("grep", json_pack("{s:s,s:s,s:s}", "pattern", "foo", "glob", "!*.c", "output_mode",
				 "files_with_matches"), "inc/x.h\nsub/b.txt");
	expect("grep", json_pack("{s:s,s:s,s:s}", "pattern", "foo", "glob", "sub/**",
				 "output_mode", "files_with_matches"), "sub/b.txt");
	expect("grep", json_pack("{s:s,s:[s,s],s:s}", "pattern", "foo", "glob", "*.txt", "*.h",
				 "output_mode", "files_with_matches"), "inc/x.h\nsub/b.txt");
	expect("grep", json_pack("{s:s,s:s,s:s}", "pattern", "foo", "type", "c", "output_mode",
				 "files_with_matches"), "a.c\ninc/x.h");
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "foo", "type", "cobol"),
		     "unknown file type 'cobol'");
}

static void
test_binary_and_encoding(void **state)
{
	load(NULL);
	/* NUL within the first 8 KiB: skipped; NUL only after it: searched. */
	char *late = xcalloc(1, 9000);
	memset(late, 'x', 9000);
	memcpy(late, "foo\n", 4);
	late[8500] = '\0';
	putn("late.bin", late, 9000);
	free(late);
	putn("early.bin", "foo\n\0", 5);
	putn("latin1.txt", "caf\xe9 foo\n", 9);
	expect("grep", json_pack("{s:s}", "pattern", "foo"),
	       "late.bin:1:foo\nlatin1.txt:1:caf\\xE9 foo");
	/* A line longer than 1000 bytes is cut, saying how much. */
	char *line = xcalloc(1, 3002);
	memset(line, 'y', 3000);
	memcpy(line + 1500, "needle", 6);
	line[3000] = '\n';
	put("long.txt", line);
	free(line);
	char *got = run("grep", json_pack("{s:s,s:s}", "pattern", "needle", "path", "long.txt"),
			NULL);
	assert_int_equal(strlen(got), strlen("long.txt:1:") + 1000 +
			 strlen(" [... 2000 more bytes]"));
	assert_non_null(strstr(got, " [... 2000 more bytes]"));
	free(got);
}

static void
test_caps_and_sorting(void **state)
{
	load("max_results = 50\n");
	/* Created in reverse order: the output is sorted by path all the same. */
	for (int i = 9; i >= 0; i--) {
		char name[32], text[256] = "";
		snprintf(name, sizeof name, "d%d/f%d.txt", i % 3, i);
		for (int k = 0; k < 5; k++)
			strcat(text, "match line\n");
		put(name, text);
	}
	char *all = run("grep", json_pack("{s:s,s:s}", "pattern", "match", "output_mode",
					  "files_with_matches"), NULL);
	assert_string_equal(all, "d0/f0.txt\nd0/f3.txt\nd0/f6.txt\nd0/f9.txt\nd1/f1.txt\n"
			    "d1/f4.txt\nd1/f7.txt\nd2/f2.txt\nd2/f5.txt\nd2/f8.txt");
	free(all);
	expect("grep", json_pack("{s:s,s:i}", "pattern", "match", "max_results", 7),
	       "d0/f0.txt:1:match line\nd0/f0.txt:2:match line\nd0/f0.txt:3:match line\n"
	       "d0/f0.txt:4:match line\nd0/f0.txt:5:match line\nd0/f3.txt:1:match line\n"
	       "d0/f3.txt:2:match line\n[7 of 50 matches shown; narrow the pattern or path]");
	expect("grep", json_pack("{s:s,s:i,s:s}", "pattern", "match", "max_results", 2,
				 "output_mode", "count"),
	       "d0/f0.txt:5\nd0/f3.txt:5\n[2 of 10 files shown; narrow the pattern or path]");
	/* The configured cap is also the ceiling. */
	put("big.txt", "");
	char *text = xcalloc(1, 100 * 4 + 1);
	for (int i = 0; i < 100; i++)
		strcat(text, "zz\n");
	put("big.txt", text);
	free(text);
	char *got = run("grep", json_pack("{s:s,s:i}", "pattern", "zz", "max_results", 100000),
			NULL);
	assert_int_equal(testutil_count(got, "big.txt:"), 50);
	assert_non_null(strstr(got, "\n[50 of 100 matches shown; narrow the pattern or path]"));
	free(got);
	/* With context, the last shown match keeps its after-context only. */
	put("big.txt", "a\nzz\nb\nzz\nc\n");
	expect("grep", json_pack("{s:s,s:i,s:i,s:s}", "pattern", "zz", "context", 1, "max_results",
				 1, "path", "big.txt"),
	       "big.txt-1-a\nbig.txt:2:zz\nbig.txt-3-b\n"
	       "[1 of 2 matches shown; narrow the pattern or path]");
}

static void
test_errors(void **state)
{
	load(NULL);
	basic_tree();
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "foo", "path", "missing"),
		     "missing: No such file or directory");
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "(unclosed", "path", "."),
		     "invalid regular expression at offset 9: missing closing parenthesis");
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "x", "output_mode", "lines"),
		     "output_mode must be content, files_with_matches or count");
	expect_error("grep", json_pack("{s:i}", "pattern", 3), "pattern must be a string");
	expect_error("grep", json_pack("{s:s,s:i}", "pattern", "x", "context", -1),
		     "context must be a non-negative integer");
	expect_error("grep", json_pack("{s:s,s:i}", "pattern", "x", "path", 7),
		     "path must be a string");
	expect_error("glob", json_pack("{s:s,s:s}", "pattern", "*", "path", "a.c"),
		     "a.c is not a directory");
	/* Outside the project: refused by path_allowed, with the resolved path. */
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "root", "path", "/etc"),
		     "refused: /etc resolves to /etc, outside the project directory");
	char *link = xasprintf("%s/etclink", F->tmp);
	assert_int_equal(symlink("/etc", link), 0);
	free(link);
	expect_error("ls", json_pack("{s:s}", "path", "etclink"),
		     "refused: etclink resolves to /etc, outside the project directory");
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "x", "path", "../../../../etc"),
		     "refused: ../../../../etc resolves to /etc, outside the project directory");
}

/* Malformed, odd and oversized arguments. */
static void
test_malformed(void **state)
{
	load(NULL);
	basic_tree();
	char *huge = xcalloc(1, 100001);
	memset(huge, 'q', 100000);
	expect("grep", json_pack("{s:s}", "pattern", huge), "No matches found");
	huge[0] = '(';
	huge[1] = 'q';
	huge[2] = ')';
	expect_error("grep", json_pack("{s:s}", "pattern", huge),
		     "invalid regular expression at offset 100000: regular expression is too large");
	free(huge);
	expect("grep", json_pack("{s:s,s:i,s:s}", "pattern", "baz", "context", 1000000000,
				 "path", "a.c"),
	       "a.c-1-int main\na.c-2-foo bar\na.c:3:baz\na.c-4-foo");
	expect("grep", json_pack("{s:s,s:i}", "pattern", "foo", "max_results", 0),
	       "a.c:2:foo bar\n[1 of 3 matches shown; narrow the pattern or path]");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "glob", "*.{c"),
	       "No matches found");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "glob", "[a-"), "No matches found");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "baz", "path", ""), "a.c:3:baz");
	expect("grep", json_pack("{s:s,s:n}", "pattern", "baz", "path"), "a.c:3:baz");
	expect_error("grep", json_pack("{s:s,s:i}", "pattern", "foo", "glob", 5),
		     "glob must be a string");
	expect_error("grep", json_pack("{s:s,s:i}", "pattern", "foo", "type", 5),
		     "type must be a string");
	expect_error("grep", json_pack("{s:s,s:s}", "pattern", "foo", "max_results", "10"),
		     "max_results must be a non-negative integer");
	expect_error("grep", json_pack("{}"), "pattern must be a string");
	expect_error("glob", json_pack("{}"), "pattern must be a string");
	expect_error("grep", json_pack("{s:s}", "pattern", "a{2,1}"),
		     "invalid regular expression at offset 5: numbers out of order in {} quantifier");
	/* Not an object: the core refuses before the module sees it. */
	int err;
	char *got = run("grep", json_string("foo"), &err);
	assert_string_equal(got, "the arguments of 'grep' must be a JSON object");
	assert_int_equal(err, 1);
	free(got);
	/* An empty file and a file that is one line without newline. */
	put("empty.txt", "");
	put("one.txt", "foo");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "glob", "{empty,one}.txt"),
	       "one.txt:1:foo");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "^", "glob", "{empty,one}.txt"),
	       "empty.txt:1:\none.txt:1:foo");
}

static void
test_symlinks(void **state)
{
	load(NULL);
	put("real/f.txt", "foo\n");
	char *p = xasprintf("%s/dirlink", F->tmp);
	assert_int_equal(symlink("real", p), 0);   /* directory symlinks are not followed */
	free(p);
	p = xasprintf("%s/filelink.txt", F->tmp);
	assert_int_equal(symlink("real/f.txt", p), 0);   /* inside: reported */
	free(p);
	char *outside = xasprintf("%s-outside.txt", F->tmp);
	assert_int_equal(testutil_write_file(outside, "foo\n", 4), 0);
	p = xasprintf("%s/outlink.txt", F->tmp);
	assert_int_equal(symlink(outside, p), 0);   /* outside: not */
	free(p);
	expect("grep", json_pack("{s:s}", "pattern", "foo"), "filelink.txt:1:foo\nreal/f.txt:1:foo");
	unlink(outside);
	free(outside);
}

/* The walk skips .git/ and honours .ignore (over .gitignore at the same level). */
static void
test_ignore_files(void **state)
{
	load(NULL);
	put(".git/HEAD", "foo\n");
	put(".gitignore", "*.gen\n");
	put(".ignore", "!keep.gen\nsecret/\n");
	put("a.gen", "foo\n");
	put("keep.gen", "foo\n");
	put("secret/s.txt", "foo\n");
	put("plain.txt", "foo\n");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "output_mode",
				 "files_with_matches"), "keep.gen\nplain.txt");
	/* Searching from a subdirectory still applies the ignore files above it. */
	put("sub/x.gen", "foo\n");
	put("sub/y.txt", "foo\n");
	expect("grep", json_pack("{s:s,s:s,s:s}", "pattern", "foo", "path", "sub", "output_mode",
				 "files_with_matches"), "sub/y.txt");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file under dir (relative paths, .git excluded), recursively. */
static void
list_files(const char *root, const char *rel, char ***out, size_t *n)
{
	char *dir = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	uv_fs_t req;
	int rc = uv_fs_scandir(NULL, &req, dir, 0, NULL);
	assert_true(rc >= 0);
	uv_dirent_t ent;
	while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
		if (strcmp(ent.name, ".git") == 0)
			continue;
		char *r = rel[0] ? xasprintf("%s/%s", rel, ent.name) : xstrdup(ent.name);
		if (ent.type == UV_DIRENT_DIR) {
			list_files(root, r, out, n);
			free(r);
		} else {
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			(*out)[(*n)++] = r;
		}
	}
	uv_fs_req_cleanup(&req);
	free(dir);
}

static int
sh(const char *cmd)
{
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_gitignore_vs_git(void **state)
{
	if (system("git --version >/dev/null 2>&1") != 0)
		skip();   /* git is needed to compare with */
	load(NULL);
	put(".gitignore",
	    "# a comment\n"
	    "*.log\n"
	    "!keep.log\n"
	    "build/\n"
	    "/rootonly.txt\n"
	    "doc/*.tmp\n"
	    "**/deep/x.txt\n"
	    "mid/**/end.txt\n"
	    "all/**\n"
	    "\\#hash\n"
	    "\\!bang\n"
	    "trail.txt   \n"
	    "q[0-9].dat\n"
	    "neg[!a]*.c\n"
	    "ign\n"
	    "\n"
	    "*.o\n"
	    "!important.o\n"
	    "[unterminated\n"
	    "!\n"
	    "/\n"
	    "   \n"
	    "sp\\ ace.txt\n"
	    "a?c.md\n"
	    "x[a-c]y.md\n"
	    "no-newline-at-end.txt");
	const char *files[] = {
		"a.log", "keep.log", "sub/b.log", "sub/keep.log", "build/out.txt",
		"sub/build/o2.txt", "build.txt", "rootonly.txt", "sub/rootonly.txt", "doc/a.tmp",
		"doc/sub/b.tmp", "x/deep/x.txt", "deep/x.txt", "deep/y.txt", "mid/end.txt",
		"mid/a/b/end.txt", "other/mid/end.txt", "all/one.txt", "all/two/three.txt",
		"#hash", "!bang", "hash", "trail.txt", "q1.dat", "qa.dat", "nega1.c", "negb1.c",
		"ign/inner.txt", "ign2/ok.txt", "excluded.txt", "sub/excluded.txt", "x.o",
		"important.o", "sub/important.o",
		"src/a.c", "src/main.c", "src/local.h", "src/inner/local.h", "src/inner/z.c",
		"src/inner/main.c", "src/inner/deeper/q.c", "src/keep/a.log", "plain.txt",
		"[unterminated", "sp ace.txt", "sp.txt", "abc.md", "a/c.md", "xby.md", "xdy.md",
		"no-newline-at-end.txt", "sub/no-newline-at-end.txt",
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		put(files[i], "content\n");
	put("src/.gitignore", "*.c\n!main.c\n/local.h\n");
	put("src/inner/.gitignore", "!z.c\ndeeper/\n");
	put("src/keep/.gitignore", "!*.log\n");
	put("ign/.gitignore", "!inner.txt\n");   /* cannot re-include under an ignored dir */
	char *cmd = xasprintf("cd '%s' && git init -q . 2>/dev/null", F->tmp);
	assert_int_equal(sh(cmd), 0);
	free(cmd);
	put(".git/info/exclude", "excluded.txt\n");

	char **all = NULL;
	size_t n = 0;
	list_files(F->tmp, "", &all, &n);
	qsort(all, n, sizeof *all, cmp_str);
	struct grep_buf { char *p; size_t len; } want = { xstrdup(""), 0 };
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		char *q = xasprintf("cd '%s' && git -c core.excludesFile=/dev/null check-ignore -q "
				    "--no-index -- '%s'", F->tmp, all[i]);
		int rc = sh(q);
		free(q);
		assert_true(rc == 0 || rc == 1);
		if (rc == 1) {
			char *w = xasprintf("%s%s%s", want.p, kept ? "\n" : "", all[i]);
			free(want.p);
			want.p = w;
			kept++;
		}
		free(all[i]);
	}
	free(all);
	/* Sanity: git ignored some and kept some. */
	assert_true(kept > 10 && kept < n - 10);
	char *got = run("grep", json_pack("{s:s,s:s}", "pattern", "", "output_mode",
					  "files_with_matches"), NULL);
	if (strcmp(got, want.p) != 0)
		fprintf(stderr, "--- git keeps\n%s\n--- grep walks\n%s\n", want.p, got);
	assert_string_equal(got, want.p);
	free(got);
	/* From a subdirectory: the rules above it (and info/exclude) still hold. */
	got = run("grep", json_pack("{s:s,s:s,s:s}", "pattern", "", "path", "sub", "output_mode",
				    "files_with_matches"), NULL);
	char *sub_want = xstrdup("");
	char *copy = xstrdup(want.p);
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "sub/", 4) != 0)
			continue;
		char *w = xasprintf("%s%s%s", sub_want, sub_want[0] ? "\n" : "", l);
		free(sub_want);
		sub_want = w;
	}
	free(copy);
	assert_true(sub_want[0] != '\0');
	assert_string_equal(got, sub_want);
	free(sub_want);
	free(got);
	/* glob walks the same files (sorted here, it sorts by time). */
	got = run("glob", json_pack("{s:s}", "pattern", "**"), NULL);
	char **lines = NULL;
	size_t nl = 0;
	for (char *save = NULL, *l = strtok_r(got, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		lines = xrealloc(lines, (nl + 1) * sizeof *lines);
		lines[nl++] = l;
	}
	qsort(lines, nl, sizeof *lines, cmp_str);
	assert_int_equal(nl, kept);
	char *joined = xstrdup("");
	for (size_t i = 0; i < nl; i++) {
		char *w = xasprintf("%s%s%s", joined, i ? "\n" : "", lines[i]);
		free(joined);
		joined = w;
	}
	assert_string_equal(joined, want.p);
	free(joined);
	free(lines);
	free(got);
	free(want.p);
}

static void
set_mtime(const char *rel, time_t t)
{
	char *p = xasprintf("%s/%s", F->tmp, rel);
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

static void
test_glob(void **state)
{
	load("max_results = 3\n");
	put("src/a.c", "");
	put("src/deep/b.c", "");
	put("c.c", "");
	put("src/d.h", "");
	put("e.c.txt", "");
	set_mtime("src/a.c", 1000);
	set_mtime("src/deep/b.c", 3000);
	set_mtime("c.c", 2000);
	expect("glob", json_pack("{s:s}", "pattern", "*.c"), "src/deep/b.c\nc.c\nsrc/a.c");
	expect("glob", json_pack("{s:s}", "pattern", "src/**/*.c"), "src/deep/b.c\nsrc/a.c");
	expect("glob", json_pack("{s:s,s:s}", "pattern", "*.c", "path", "src"),
	       "src/deep/b.c\nsrc/a.c");
	expect("glob", json_pack("{s:s}", "pattern", "*.{c,h}"),
	       "src/d.h\nsrc/deep/b.c\nc.c\n[3 of 4 files shown; narrow the pattern or path]");
	expect("glob", json_pack("{s:s}", "pattern", "*.py"), "No files found");
}

static void
test_ls(void **state)
{
	load(NULL);
	put("zeta.txt", "12345");
	put("alpha.c", "");
	put("b/x", "");
	put("a/y", "");
	char *p = xasprintf("%s/link", F->tmp);
	assert_int_equal(symlink("zeta.txt", p), 0);
	free(p);
	expect("ls", json_pack("{}"),
	       "a/\nb/\nalpha.c (0 bytes)\nlink@\nzeta.txt (5 bytes)");
	expect("ls", json_pack("{s:s}", "path", "a"), "y (0 bytes)");
	put("empty/.keep", "");
	char *keep = xasprintf("%s/empty/.keep", F->tmp);
	unlink(keep);
	free(keep);
	expect("ls", json_pack("{s:s}", "path", "empty"), "(empty directory)");
}

/* Names with control characters are shown escaped (plugins/tools/names.h), one line
 * per name, in every tool's output and title. */
static void
test_control_names(void **state)
{
	load(NULL);
	put("a\nb.txt", "foo\n");
	put("d\x1b[2J/e.txt", "foo\n");
	put("ok.txt", "foo\n");
	expect("ls", json_pack("{}"), "d\\x1B[2J/\na\\x0Ab.txt (4 bytes)\nok.txt (4 bytes)");
	/* (glob sorts by mtime: one name per call keeps this exact) */
	expect("glob", json_pack("{s:s}", "pattern", "a*"), "a\\x0Ab.txt");
	expect("glob", json_pack("{s:s}", "pattern", "d*/*.txt"), "d\\x1B[2J/e.txt");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "output_mode",
				 "files_with_matches"), "a\\x0Ab.txt\nd\\x1B[2J/e.txt\nok.txt");
	expect("grep", json_pack("{s:s}", "pattern", "foo"),
	       "a\\x0Ab.txt:1:foo\nd\\x1B[2J/e.txt:1:foo\nok.txt:1:foo");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "output_mode", "count"),
	       "a\\x0Ab.txt:1\nd\\x1B[2J/e.txt:1\nok.txt:1");
	/* A path argument with a control character: the prefix is escaped too. */
	expect("grep", json_pack("{s:s,s:s}", "pattern", "foo", "path", "d\x1b[2J"),
	       "d\\x1B[2J/e.txt:1:foo");
	json_t *in = json_pack("{s:s,s:s}", "pattern", "x\ny", "path", "d\x1b[2J");
	json_t *d = tools_describe("grep", in, "s1", F->tmp);
	assert_string_equal(json_string_value(json_object_get(d, "title")),
			    "Search for x\\x0Ay in d\\x1B[2J");
	json_decref(d);
	json_decref(in);
}

/* A .gitignore line of many stars against a long name: git's wildmatch cuts the
 * backtracking short, and so does ours (before, this took exponential time; found
 * by fuzz/fuzz_gitignore). The answers are git's. */
static void
test_many_stars(void **state)
{
	load(NULL);
	put(".gitignore", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n**/*x*x*x*x*x*x*x*x*x*x*x*x*y/\n"
	    "*c*c*c*c*c*c*c*c*c*c*c*c*d\n");
	put("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.txt", "z");
	put("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/f", "z");
	put("ccccccccccccccccccccccccccccccd", "z");
	expect("grep", json_pack("{s:s,s:s}", "pattern", "z", "output_mode", "files_with_matches"),
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.txt\n"
	       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/f");
}

static void
test_describe(void **state)
{
	load(NULL);
	json_t *in = json_pack("{s:s,s:s}", "pattern", "foo", "path", "src");
	json_t *d = tools_describe("grep", in, "s1", F->tmp);
	assert_string_equal(json_string_value(json_object_get(d, "title")), "Search for foo in src");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "search");
	assert_string_equal(json_string_value(json_object_get(d, "subject")), "src");
	char *abs = xasprintf("%s/src", F->tmp);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(d, "locations"), 0), "path")), abs);
	free(abs);
	json_decref(d);
	json_t *abs_in = json_pack("{s:s,s:s%}", "pattern", "x", "path", F->tmp, strlen(F->tmp));
	json_object_set_new(abs_in, "path", json_sprintf("%s/src", F->tmp));
	d = tools_describe("grep", abs_in, "s1", F->tmp);
	assert_string_equal(json_string_value(json_object_get(d, "subject")), "src");
	json_decref(d);
	json_decref(abs_in);
	d = tools_describe("glob", in, "s1", F->tmp);
	assert_string_equal(json_string_value(json_object_get(d, "title")),
			    "Find files matching foo in src");
	json_decref(d);
	json_decref(in);
	in = json_object();
	d = tools_describe("ls", in, "s1", F->tmp);
	assert_string_equal(json_string_value(json_object_get(d, "title")), "List .");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "read");
	json_decref(d);
	json_decref(in);
	/* The tool list: all three, allowed and read-only. */
	json_t *list = tools_list();
	size_t i;
	json_t *t;
	int seen = 0;
	json_array_foreach(list, i, t) {
		assert_string_equal(json_string_value(json_object_get(t, "permission")), "allow");
		assert_true(json_is_true(json_object_get(t, "read_only")));
		seen++;
	}
	assert_int_equal(seen, 3);
	json_decref(list);
}

/* A tree big enough that the walk is still running when the cancel comes. */
static void
big_tree(void)
{
	char *text = xcalloc(1, 64 * 1024 + 1);
	for (size_t i = 0; i < 64 * 1024; i++)
		text[i] = i % 64 == 63 ? '\n' : 'a' + (char)(i % 26);
	for (int d = 0; d < 20; d++)
		for (int f = 0; f < 20; f++) {
			char name[64];
			snprintf(name, sizeof name, "d%02d/f%02d.txt", d, f);
			put(name, text);
		}
	free(text);
}

static void
test_cancel(void **state)
{
	load(NULL);
	big_tree();
	struct outcome o = { 0 };
	json_t *in = json_pack("{s:s}", "pattern", "(a|b)+z");
	struct tools_call *c = tools_start("grep", "call-1", in, "s1", F->tmp, NULL, on_done, &o);
	json_decref(in);
	uv_run(&F->loop, UV_RUN_NOWAIT);
	tools_cancel(c);
	for (int spins = 0; !o.done && spins < 1000000; spins++)
		uv_run(&F->loop, UV_RUN_ONCE);
	const char *text = json_string_value(json_object_get(
		json_array_get(json_object_get(o.result, "content"), 0), "text"));
	assert_string_equal(text, "cancelled");
	assert_true(json_is_true(json_object_get(o.result, "isError")));
	json_decref(o.result);
	/* The module's own end comes later and is dropped; the next call works. */
	expect("grep", json_pack("{s:s,s:s}", "pattern", "zzz", "output_mode", "count"),
	       "No matches found");
}

/* fini() while a call is running: it waits for its workers, nothing leaks. */
static void
test_fini_while_running(void **state)
{
	load(NULL);
	big_tree();
	static struct outcome o;   /* on_done comes during teardown */
	json_t *in = json_pack("{s:s}", "pattern", "a.*z.*q");
	tools_start("grep", "call-1", in, "s1", F->tmp, NULL, on_done, &o);
	json_decref(in);
	/* teardown runs registry_fini_all() now; the call ends "cancelled" */
	teardown(state);
	assert_true(o.done);
	json_decref(o.result);
	setup(state);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_modes), T(test_allow_paths), T(test_context), T(test_case), T(test_literal_vs_regex),
		T(test_globs_and_types), T(test_binary_and_encoding), T(test_caps_and_sorting),
		T(test_errors), T(test_malformed), T(test_symlinks), T(test_ignore_files), T(test_gitignore_vs_git),
		T(test_glob), T(test_ls), T(test_describe), T(test_cancel),
		T(test_fini_while_running),
		T(test_control_names),
		T(test_many_stars),
	};
	return cmocka_run_group_tests_name("grep", tests, NULL, NULL);
}
