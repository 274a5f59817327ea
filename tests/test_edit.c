/*
 * test_edit.c: the edit module (read, write, edit) loaded through the real
 * registry and run through the core's tools_start(), against real files in a
 * temporary project tree: exact outputs and diffs, every error message, line
 * endings, encodings, changes behind the model's back, big and binary files,
 * and paths that try to leave the project.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "defer.h"
#include "daemon_ops.h"
#include "host.h"
#include "loader.h"
#include "registry.h"
#include "testutil.h"
#include "tools.h"
#include "xmalloc.h"

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct conf *conf;
	struct registry *reg;
	char *tmp, *proj, *out;
};

static struct fixture *F;

static size_t
load(const char *extra)
{
	char *text = xasprintf("module_dir %s/plugins\nload tool edit\n[tool edit]\n%s",
			       HEARTH_BUILDDIR, extra != NULL ? extra : "");
	F->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	assert_int_equal(F->conf->n_errors, 0);
	F->reg = registry_new(F->conf);
	size_t errors = registry_load_all(F->reg);
	tools_set_registry(F->reg);
	return errors;
}

static int
setup(void **state)
{
	F = xcalloc(1, sizeof *F);
	assert_int_equal(uv_loop_init(&F->loop), 0);
	char *t = testutil_mkdtemp("edit");
	F->tmp = realpath(t, NULL);
	free(t);
	F->proj = xasprintf("%s/proj", F->tmp);
	F->out = xasprintf("%s/out", F->tmp);
	assert_int_equal(mkdir(F->proj, 0755), 0);
	assert_int_equal(mkdir(F->out, 0755), 0);
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
setup_loaded(void **state)
{
	setup(state);
	assert_int_equal(load(NULL), 0);
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
	tools_set_registry(NULL);
	conf_free(F->conf);
	loader_exit();
	free(testutil_log_release());
	testutil_rmtree(F->tmp);
	free(F->tmp);
	free(F->proj);
	free(F->out);
	free(F);
	return 0;
}

/* ------------------------------------------------------------ helpers -- */

struct res {
	json_t *r;
	int done;
	json_t *updates; /* or NULL */
};

static void
done_cb(void *arg, json_t *result)
{
	struct res *r = arg;
	r->r = result;
	r->done++;
}

static json_t *
wait_done(struct res *res)
{
	while (!res->done)
		uv_run(&F->loop, UV_RUN_ONCE);
	assert_int_equal(res->done, 1);
	return res->r;
}

/* Run a tool in session `sid`; input is stolen; the result is a new reference. */
static json_t *
run_in(const char *sid, const char *tool, json_t *input)
{
	struct res res = {0};
	assert_non_null(input);
	tools_start(tool, "call-1", input, sid, F->proj, NULL, done_cb, &res);
	json_decref(input);
	return wait_done(&res);
}

static json_t *
run(const char *tool, json_t *input)
{
	return run_in("s1", tool, input);
}

/* The text of the last content block (borrowed from r). */
static const char *
text_of(json_t *r)
{
	json_t *c = json_object_get(r, "content");
	return json_string_value(json_object_get(json_array_get(c, json_array_size(c) - 1),
						 "text"));
}

static void
expect_ok(const char *tool, json_t *input, const char *want)
{
	json_t *r = run(tool, input);
	if (json_is_true(json_object_get(r, "isError")))
		fail_msg("%s failed: %s", tool, text_of(r));
	if (want != NULL)
		assert_string_equal(text_of(r), want);
	json_decref(r);
}

static void
expect_err_in(const char *sid, const char *tool, json_t *input, const char *want)
{
	json_t *r = run_in(sid, tool, input);
	assert_true(json_is_true(json_object_get(r, "isError")));
	assert_int_equal(json_array_size(json_object_get(r, "content")), 1);
	assert_string_equal(text_of(r), want);
	json_decref(r);
}

static void
expect_err(const char *tool, json_t *input, const char *want)
{
	expect_err_in("s1", tool, input, want);
}

static char *
ppath(const char *rel)
{
	return xasprintf("%s/%s", F->proj, rel);
}

static void
put(const char *rel, const char *data, size_t len)
{
	char *p = ppath(rel);
	assert_int_equal(testutil_write_file(p, data, len), 0);
	free(p);
}

static void
puts_file(const char *rel, const char *data)
{
	put(rel, data, strlen(data));
}

static void
expect_file(const char *rel, const char *data, size_t len)
{
	char *p = ppath(rel);
	size_t n = 0;
	char *got = testutil_read_file(p, &n);
	assert_non_null(got);
	assert_int_equal(n, len);
	assert_memory_equal(got, data, len);
	free(got);
	free(p);
}

static void
read_ok(const char *rel)
{
	expect_ok("read", json_pack("{s:s}", "path", rel), NULL);
}

/* No temporary files left next to the files of dir (project-relative). */
static void
expect_no_temp(const char *rel)
{
	char *p = ppath(rel);
	DIR *d = opendir(p);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		assert_null(strstr(de->d_name, ".hearth-"));
	closedir(d);
	free(p);
}

/* --------------------------------------------------------------- read -- */

static void
test_read_numbered(void **state)
{
	puts_file("a.txt", "one\ntwo\nthree\n");
	expect_ok("read", json_pack("{s:s}", "path", "a.txt"),
		  "     1\tone\n     2\ttwo\n     3\tthree\n");
	expect_ok("read", json_pack("{s:s,s:i,s:i}", "path", "a.txt", "offset", 2, "limit", 1),
		  "     2\ttwo\n");
	expect_ok("read", json_pack("{s:s,s:i}", "path", "a.txt", "offset", 3),
		  "     3\tthree\n");
	char *abs = ppath("a.txt");
	expect_ok("read", json_pack("{s:s}", "path", abs), "     1\tone\n     2\ttwo\n     3\tthree\n");
	free(abs);
	puts_file("noeol.txt", "x\ny");
	expect_ok("read", json_pack("{s:s}", "path", "./noeol.txt"), "     1\tx\n     2\ty\n");
	puts_file("empty.txt", "");
	expect_ok("read", json_pack("{s:s}", "path", "empty.txt"), "(empty file)\n");
	expect_err("read", json_pack("{s:s,s:i}", "path", "a.txt", "offset", 4),
		   "offset 4 is past the end of a.txt (3 lines)");
	expect_err("read", json_pack("{s:s}", "path", "nope.txt"), "nope.txt does not exist");
	expect_err("read", json_pack("{s:s}", "path", "no/dir/x.txt"), "no/dir/x.txt does not exist");
	char *sub = ppath("sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	free(sub);
	expect_err("read", json_pack("{s:s}", "path", "sub"), "sub is a directory");
	expect_err("read", json_pack("{}"), "path must be a non-empty string");
	expect_err("read", json_pack("{s:s}", "path", ""), "path must be a non-empty string");
	expect_err("read", json_pack("{s:i}", "path", 3), "path must be a non-empty string");
	expect_err("read", json_pack("{s:s,s:i}", "path", "a.txt", "offset", 0),
		   "offset must be an integer from 1");
	expect_err("read", json_pack("{s:s,s:s}", "path", "a.txt", "limit", "5"),
		   "limit must be an integer from 1");
}

static void
test_read_cut_lines(void **state)
{
	char *data = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&data, &len);
	for (int i = 1; i <= 9000; i++)
		fprintf(m, "line %d\n", i);
	fclose(m);
	put("big.txt", data, len);
	free(data);
	json_t *r = run("read", json_pack("{s:s}", "path", "big.txt"));
	const char *t = text_of(r);
	assert_non_null(strstr(t, "     1\tline 1\n"));
	assert_non_null(strstr(t, "  2000\tline 2000\n[cut: showing lines 1-2000 of 9000; "
				  "use offset/limit]\n"));
	assert_null(strstr(t, "line 2001"));
	assert_int_equal(testutil_count(t, "\n"), 2001);
	json_decref(r);
	/* An explicit range says nothing of the rest. */
	expect_ok("read", json_pack("{s:s,s:i,s:i}", "path", "big.txt", "offset", 8999, "limit",
				    5), "  8999\tline 8999\n  9000\tline 9000\n");
}

static void
test_read_cut_bytes(void **state)
{
	assert_int_equal(load("max_read_bytes = 1024\n"), 0);
	char line[64];
	memset(line, 'x', 50);
	line[50] = '\n';
	for (int i = 0; i < 100; i++) {
		char *p = ppath("wide.txt");
		FILE *f = fopen(p, i == 0 ? "w" : "a");
		fwrite(line, 1, 51, f);
		fclose(f);
		free(p);
	}
	json_t *r = run("read", json_pack("{s:s}", "path", "wide.txt"));
	const char *t = text_of(r);
	/* 58 bytes a line: 17 fit in 1024. */
	assert_int_equal(testutil_count(t, "\n"), 18);
	assert_non_null(strstr(t, "    17\txxxx"));
	assert_non_null(strstr(t, "\n[cut: showing lines 1-17 of 100; use offset/limit]\n"));
	json_decref(r);
	/* A diff is cut the same way, at a line end. */
	char *content = xmalloc(100 * 51 + 1);
	for (int i = 0; i < 100; i++)
		memcpy(content + i * 51, line, 51);
	content[100 * 51] = '\0';
	r = run("write", json_pack("{s:s,s:s}", "path", "w2.txt", "content", content));
	free(content);
	const char *head = "--- /dev/null\n+++ b/w2.txt\n@@ -0,0 +1,100 @@\n";
	size_t keep = strlen(head) + 52 * ((1024 - strlen(head)) / 52);
	char *note = xasprintf("\n[diff cut: showing %zu of %zu bytes]\n", keep,
			       strlen(head) + 52 * 100);
	t = text_of(r);
	assert_int_equal(strlen(t), keep + strlen(note) - 1);
	assert_string_equal(t + keep - 1, note);
	free(note);
	json_decref(r);
	char *w2 = ppath("w2.txt");
	struct stat st;
	assert_int_equal(stat(w2, &st), 0);
	assert_int_equal(st.st_size, 100 * 51);
	free(w2);
	/* One line longer than the cap: its head, cut at a character boundary. */
	char *big = xmalloc(3000);
	memset(big, 'a', 1015);
	for (int i = 1015; i < 2999; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[2999] = '\n';
	put("long.txt", big, 3000);
	free(big);
	r = run("read", json_pack("{s:s}", "path", "long.txt"));
	t = text_of(r);
	/* "     1\t" (7) + 1015 'a' + one 2-byte é = 1024 */
	assert_int_equal(strlen(t), 1024 + 1 + strlen("[cut: showing lines 1-1 of 1, line 1 cut at "
						     "1024 bytes; use offset/limit]\n"));
	assert_non_null(strstr(t, "a\xc3\xa9\n[cut: showing lines 1-1 of 1, line 1 cut at 1024 "
				  "bytes; use offset/limit]\n"));
	json_decref(r);
}

static void
test_read_encodings(void **state)
{
	puts_file("latin1.txt", "caf\xe9\r\nna\xc3\xafve\r\n\xff\xfe\r\n\xe2\x82\r\n");
	expect_ok("read", json_pack("{s:s}", "path", "latin1.txt"),
		  "     1\tcaf\\xE9\n     2\tna\xc3\xafve\n     3\t\\xFF\\xFE\n     4\t\\xE2\\x82\n");
	put("bin.dat", "abc\0def\n", 8);
	expect_err("read", json_pack("{s:s}", "path", "bin.dat"),
		   "bin.dat is a binary file (a NUL byte at offset 3); not shown");
	/* A NUL past the first 8 KiB is not a binary marker: shown escaped. */
	char *late = xmalloc(9001);
	memset(late, 'z', 9000);
	late[8999] = '\0';
	late[9000] = '\n';
	put("late.txt", late, 9001);
	free(late);
	json_t *r = run("read", json_pack("{s:s}", "path", "late.txt"));
	assert_false(json_is_true(json_object_get(r, "isError")));
	assert_non_null(strstr(text_of(r), "zz\\x00\n"));
	json_decref(r);
}

/* --------------------------------------------------------------- edit -- */

static void parallel_edits(void);

static const char ten[] = "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n";

static void
test_edit_diff(void **state)
{
	puts_file("a.txt", ten);
	read_ok("a.txt");
	json_t *r = run("edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "l5\n",
					  "new_string", "five\n"));
	assert_false(json_is_true(json_object_get(r, "isError")));
	json_t *c = json_object_get(r, "content");
	assert_int_equal(json_array_size(c), 2);
	json_t *d = json_array_get(c, 0);
	char *abs = ppath("a.txt");
	assert_string_equal(json_string_value(json_object_get(d, "type")), "diff");
	assert_string_equal(json_string_value(json_object_get(d, "path")), abs);
	assert_string_equal(json_string_value(json_object_get(d, "oldText")), ten);
	assert_string_equal(json_string_value(json_object_get(d, "newText")),
			    "l1\nl2\nl3\nl4\nfive\nl6\nl7\nl8\nl9\nl10\n");
	assert_string_equal(text_of(r), "--- a/a.txt\n+++ b/a.txt\n@@ -2,7 +2,7 @@\n l2\n l3\n"
					" l4\n-l5\n+five\n l6\n l7\n l8\n");
	json_decref(r);
	free(abs);
	expect_file("a.txt", "l1\nl2\nl3\nl4\nfive\nl6\nl7\nl8\nl9\nl10\n", 33);
	/* Two changes far apart: two hunks; a change at the end without newline. */
	puts_file("b.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk");
	read_ok("b.txt");
	expect_ok("edit", json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}]}", "path", "b.txt", "edits",
				    "old_string", "a\n", "new_string", "A\n", "old_string", "k",
				    "new_string", "K\n"),
		  "--- a/b.txt\n+++ b/b.txt\n@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n d\n"
		  "@@ -8,4 +8,4 @@\n h\n i\n j\n-k\n\\ No newline at end of file\n+K\n");
	expect_file("b.txt", "A\nb\nc\nd\ne\nf\ng\nh\ni\nj\nK\n", 22);
	/* Changes close together share a hunk; a deletion and an insertion. */
	puts_file("c.txt", ten);
	read_ok("c.txt");
	expect_ok("edit", json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}]}", "path", "c.txt", "edits",
				    "old_string", "l2\n", "new_string", "", "old_string", "l8\n",
				    "new_string", "l8\nnew\n"),
		  "--- a/c.txt\n+++ b/c.txt\n@@ -1,10 +1,10 @@\n l1\n-l2\n l3\n l4\n l5\n l6\n"
		  " l7\n l8\n+new\n l9\n l10\n");
	/* edit keeps working on what it wrote without a new read. */
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "c.txt", "old_string", "new",
				    "new_string", "NEW"), NULL);
	expect_file("c.txt", "l1\nl3\nl4\nl5\nl6\nl7\nl8\nNEW\nl9\nl10\n", 32);
	parallel_edits();
}

static void
test_edit_errors(void **state)
{
	puts_file("a.txt", "x\nfoo\nx\nfoo\nfoo\n");
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "x",
				     "new_string", "y"),
		   "a.txt has not been read in this session; read it before editing it");
	read_ok("a.txt");
	expect_err_in("s2", "edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string",
					      "x", "new_string", "y"),
		      "a.txt has not been read in this session; read it before editing it");
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "bar",
				     "new_string", "y"), "old_string not found in a.txt");
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "foo",
				     "new_string", "y"),
		   "old_string appears 3 times in a.txt (lines 2, 4, 5); give more context or "
		   "set replace_all");
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "foo",
				     "new_string", "foo"), "old_string and new_string are the same");
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "",
				     "new_string", "foo"), "old_string is empty");
	expect_err("edit", json_pack("{s:s,s:s}", "path", "a.txt", "old_string", "foo"),
		   "old_string and new_string must be strings");
	expect_err("edit", json_pack("{s:s,s:s,s:s,s:i}", "path", "a.txt", "old_string", "foo",
				     "new_string", "y", "replace_all", 1),
		   "replace_all must be true or false");
	expect_err("edit", json_pack("{s:s,s:[]}", "path", "a.txt", "edits"),
		   "edits must be a non-empty array");
	expect_err("edit", json_pack("{s:s,s:[i]}", "path", "a.txt", "edits", 1),
		   "edits[0] must be an object");
	expect_err("edit", json_pack("{s:s,s:[{s:s}]}", "path", "a.txt", "edits", "old_string", "x"),
		   "edits[0]: old_string and new_string must be strings");
	expect_err("edit", json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}]}", "path", "a.txt", "old_string",
				     "x", "new_string", "y", "edits", "old_string", "x",
				     "new_string", "y"),
		   "give either old_string/new_string or edits, not both");
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "missing.txt", "old_string", "a",
				     "new_string", "b"), "missing.txt does not exist");
	expect_file("a.txt", "x\nfoo\nx\nfoo\nfoo\n", 16);
	/* replace_all replaces every one. */
	expect_ok("edit", json_pack("{s:s,s:s,s:s,s:b}", "path", "a.txt", "old_string", "foo",
				    "new_string", "bar", "replace_all", 1), NULL);
	expect_file("a.txt", "x\nbar\nx\nbar\nbar\n", 16);
	/* More than ten matches: the first ten lines and "...". */
	char many[64] = "";
	for (int i = 0; i < 12; i++)
		strcat(many, "q\n");
	puts_file("q.txt", many);
	read_ok("q.txt");
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "q.txt", "old_string", "q",
				     "new_string", "r"),
		   "old_string appears 12 times in q.txt (lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
		   "...); give more context or set replace_all");
}

static void
test_edit_all_or_none(void **state)
{
	puts_file("a.txt", ten);
	read_ok("a.txt");
	expect_err("edit", json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}]}", "path", "a.txt", "edits",
				     "old_string", "l1\n", "new_string", "one\n", "old_string",
				     "absent", "new_string", "x"),
		   "edit 2 of 2: old_string not found in a.txt; no edit was applied");
	expect_file("a.txt", ten, strlen(ten));
	expect_err("edit", json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "path", "a.txt",
				     "edits", "old_string", "l2", "new_string", "two", "old_string",
				     "l3", "new_string", "three", "old_string", "l", "new_string",
				     "L"),
		   "edit 3 of 3: old_string appears 8 times in a.txt (lines 1, 4, 5, 6, 7, 8, 9, "
		   "10); give more context or set replace_all; no edit was applied");
	expect_file("a.txt", ten, strlen(ten));
	expect_no_temp(".");
}

static void
test_changed_on_disk(void **state)
{
	char a[121], b[134];
	memset(a, 'a', 119);
	a[119] = '\n';
	a[120] = '\0';
	memset(b, 'b', 132);
	b[132] = '\n';
	b[133] = '\0';
	puts_file("a.c", a);
	read_ok("a.c");
	puts_file("a.c", b);
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "a.c", "old_string", "b",
				     "new_string", "c"),
		   "a.c changed on disk since it was last read (size 120 -> 133); read it again");
	expect_err("write", json_pack("{s:s,s:s}", "path", "a.c", "content", "new"),
		   "a.c changed on disk since it was last read (size 120 -> 133); read it again");
	read_ok("a.c");
	/* Same size, other bytes. */
	b[5] = 'X';
	puts_file("a.c", b);
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "a.c", "old_string", "X",
				     "new_string", "Y"),
		   "a.c changed on disk since it was last read (same size, other content); read "
		   "it again");
	expect_file("a.c", b, 133);
	read_ok("a.c");
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "a.c", "old_string", "X",
				    "new_string", "Y"), NULL);
	b[5] = 'Y';
	expect_file("a.c", b, 133);
}

static void
test_crlf(void **state)
{
	puts_file("w.txt", "a\r\nb\r\nc\r\n");
	expect_ok("read", json_pack("{s:s}", "path", "w.txt"), "     1\ta\n     2\tb\n     3\tc\n");
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "w.txt", "old_string", "a\nb",
				    "new_string", "x\ny\nz"),
		  "--- a/w.txt\n+++ b/w.txt\n@@ -1,3 +1,4 @@\n-a\n-b\n+x\n+y\n+z\n c\n");
	expect_file("w.txt", "x\r\ny\r\nz\r\nc\r\n", 12);
	expect_ok("write", json_pack("{s:s,s:s}", "path", "w.txt", "content", "p\nq\r\n"), NULL);
	expect_file("w.txt", "p\r\nq\r\n", 6);
	/* An LF file stays LF. */
	puts_file("u.txt", "a\nb\n");
	read_ok("u.txt");
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "u.txt", "old_string", "a\n",
				    "new_string", "1\n2\n"), NULL);
	expect_file("u.txt", "1\n2\nb\n", 6);
}

static void
test_non_utf8_edit(void **state)
{
	puts_file("l.txt", "caf\xe9 au lait\nline2\n");
	read_ok("l.txt");
	json_t *r = run("edit", json_pack("{s:s,s:s,s:s}", "path", "l.txt", "old_string", "line2",
					  "new_string", "ligne2"));
	assert_false(json_is_true(json_object_get(r, "isError")));
	assert_string_equal(text_of(r), "--- a/l.txt\n+++ b/l.txt\n@@ -1,2 +1,2 @@\n caf\\xE9 au "
					"lait\n-line2\n+ligne2\n");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r,
		"content"), 0), "oldText")), "caf\\xE9 au lait\nline2\n");
	json_decref(r);
	expect_file("l.txt", "caf\xe9 au lait\nligne2\n", 20);
	/* A file name that is not UTF-8 (reached through a symlink) is escaped too. */
	puts_file("n\xe9.txt", "1\n");
	char *lnk = ppath("lnk");
	assert_int_equal(symlink("n\xe9.txt", lnk), 0);
	free(lnk);
	read_ok("lnk");
	json_t *r2 = run("edit", json_pack("{s:s,s:s,s:s}", "path", "lnk", "old_string", "1",
					   "new_string", "2"));
	assert_string_equal(text_of(r2), "--- a/n\\xE9.txt\n+++ b/n\\xE9.txt\n@@ -1 +1 @@\n"
					 "-1\n+2\n");
	char *want_path = xasprintf("%s/n\\xE9.txt", F->proj);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r2,
		"content"), 0), "path")), want_path);
	free(want_path);
	json_decref(r2);
	json_t *in2 = json_pack("{s:s}", "path", "lnk");
	json_t *d2 = tools_describe("edit", in2, "s1", F->proj);
	assert_string_equal(json_string_value(json_object_get(d2, "subject")), "n\\xE9.txt");
	assert_string_equal(json_string_value(json_object_get(d2, "title")), "Edit n\\xE9.txt");
	json_decref(d2);
	json_decref(in2);
	expect_file("n\xe9.txt", "2\n", 2);
	/* The escape read shows matches the byte it stands for. */
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "l.txt", "old_string", "caf\\xE9",
				    "new_string", "caf\xc3\xa9"), NULL);
	expect_file("l.txt", "caf\xc3\xa9 au lait\nligne2\n", 21);
}

/*
 * Apply a unified diff to old (the way patch(1) does, but strictly: every context
 * and removed line must match, every count must add up). Returns a new string,
 * or NULL when the diff does not fit.
 */
static char *
apply_udiff(const char *old, const char *diff)
{
	struct { const char *p; size_t len; } lines[512];
	size_t n = 0;
	for (const char *q = old; *q != '\0' && n < 512; n++) {
		const char *nl = strchr(q, '\n');
		size_t len = nl ? (size_t)(nl - q) + 1 : strlen(q);
		lines[n].p = q;
		lines[n].len = len;
		q += len;
	}
	char *out = NULL;
	size_t out_len = 0, next = 0; /* the next old line to copy */
	FILE *m = open_memstream(&out, &out_len);
	const char *d = strstr(diff, "\n@@ ");
	if (d == NULL)
		goto bad;
	d++;
	while (*d != '\0') {
		unsigned long a, b = 1, c, e = 1;
		int k = 0;
		if (sscanf(d, "@@ -%lu,%lu +%lu,%lu @@%n", &a, &b, &c, &e, &k) != 4 || k == 0) {
			b = e = 1;
			if (sscanf(d, "@@ -%lu +%lu,%lu @@%n", &a, &c, &e, &k) != 3 || k == 0) {
				e = 1;
				if (sscanf(d, "@@ -%lu,%lu +%lu @@%n", &a, &b, &c, &k) != 3 ||
				    k == 0) {
					b = 1;
					if (sscanf(d, "@@ -%lu +%lu @@%n", &a, &c, &k) != 2 || k == 0)
						goto bad;
				}
			}
		}
		d = strchr(d, '\n') + 1;
		size_t start = b == 0 ? a : a - 1;
		if (start < next)
			goto bad;
		for (; next < start; next++)
			fwrite(lines[next].p, 1, lines[next].len, m);
		while (b > 0 || e > 0) {
			const char *nl = strchr(d, '\n');
			if (nl == NULL)
				goto bad;
			size_t len = (size_t)(nl - d); /* without the sign */
			int noeol = strncmp(nl + 1, "\\ No newline at end of file\n", 28) == 0;
			size_t want = noeol ? len - 1 : len;
			if (d[0] == ' ' || d[0] == '-') {
				if (next >= n || b == 0 || lines[next].len != want ||
				    memcmp(lines[next].p, d + 1, want - (noeol ? 0 : 1)) != 0)
					goto bad;
				b--;
			}
			if (d[0] == ' ' || d[0] == '+') {
				if (e == 0)
					goto bad;
				fwrite(d + 1, 1, noeol ? len - 1 : len, m);
				e--;
			}
			if (d[0] == ' ' || d[0] == '-')
				next++;
			d = nl + 1 + (noeol ? 28 : 0);
		}
	}
	for (; next < n; next++)
		fwrite(lines[next].p, 1, lines[next].len, m);
	fclose(m);
	return out;
bad:
	fclose(m);
	free(out);
	return NULL;
}

/* Many pseudo-random pairs of files over few distinct lines (Myers' hard case):
 * each diff the tool gives turns the old file into the new one exactly. */
static void
test_diff_applies(void **state)
{
	unsigned long long seed = 42;
#define RND(n) ((seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % (n)
	static const char *words[] = { "a", "b", "c", "d", "" };
	for (int round = 0; round < 300; round++) {
		char old[2048] = "", new[2048] = "";
		size_t n = RND(40), lines = 0;
		for (size_t i = 0; i < n; i++)
			strcat(strcat(old, words[RND(5)]), "\n");
		if (n > 0 && RND(4) == 0)
			old[strlen(old) - 1] = '\0'; /* no newline at the end */
		/* Mutate line by line: keep, drop, replace or insert. */
		const char *q = old;
		while (*q != '\0' || RND(8) == 0) {
			int op = (int)RND(6);
			const char *nl = strchr(q, '\n');
			size_t len = nl ? (size_t)(nl - q) + 1 : strlen(q);
			if (op == 0 || op == 1 || *q == '\0')
				strcat(strcat(new, words[RND(5)]), "\n");
			if (op != 1 && op != 2 && *q != '\0')
				strncat(new, q, len);
			if (op != 0)
				q += len;
			if (++lines > 100)
				break;
		}
		if (new[0] != '\0' && RND(4) == 0)
			new[strlen(new) - 1] = '\0';
		char name[32];
		snprintf(name, sizeof name, "r%d.txt", round);
		puts_file(name, old);
		read_ok(name);
		json_t *r = run("write", json_pack("{s:s,s:s}", "path", name, "content", new));
		assert_false(json_is_true(json_object_get(r, "isError")));
		const char *diff = text_of(r);
		if (strcmp(old, new) == 0) {
			assert_string_equal(diff, "(no changes)\n");
		} else {
			char *got = apply_udiff(old, diff);
			if (got == NULL || strcmp(got, new) != 0)
				fail_msg("round %d: the diff does not apply:\n%s", round, diff);
			free(got);
		}
		json_decref(r);
		expect_file(name, new, strlen(new));
	}
#undef RND
}

/* -------------------------------------------------------------- write -- */

static void
test_write(void **state)
{
	json_t *r = run("write", json_pack("{s:s,s:s}", "path", "d1/d2/new.txt", "content",
					   "hi\nthere\n"));
	assert_false(json_is_true(json_object_get(r, "isError")));
	json_t *d = json_array_get(json_object_get(r, "content"), 0);
	assert_true(json_is_null(json_object_get(d, "oldText")));
	assert_string_equal(json_string_value(json_object_get(d, "newText")), "hi\nthere\n");
	assert_string_equal(text_of(r), "--- /dev/null\n+++ b/d1/d2/new.txt\n@@ -0,0 +1,2 @@\n"
					"+hi\n+there\n");
	json_decref(r);
	expect_file("d1/d2/new.txt", "hi\nthere\n", 9);
	char *p = ppath("d1/d2/new.txt");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	mode_t um = umask(0);
	umask(um);
	assert_int_equal(st.st_mode & 0777, 0666 & ~um);
	free(p);
	/* A file it wrote may be written again; one it never read may not. */
	expect_ok("write", json_pack("{s:s,s:s}", "path", "d1/d2/new.txt", "content", "hi\n"),
		  "--- a/d1/d2/new.txt\n+++ b/d1/d2/new.txt\n@@ -1,2 +1 @@\n hi\n-there\n");
	puts_file("b.txt", "old\n");
	expect_err("write", json_pack("{s:s,s:s}", "path", "b.txt", "content", "new\n"),
		   "b.txt has not been read in this session; read it before replacing it");
	expect_file("b.txt", "old\n", 4);
	read_ok("b.txt");
	expect_ok("write", json_pack("{s:s,s:s}", "path", "b.txt", "content", "old\n"),
		  "(no changes)\n");
	expect_ok("write", json_pack("{s:s,s:s}", "path", "e.txt", "content", ""),
		  "(no changes)\n");
	expect_file("e.txt", "", 0);
	expect_err("write", json_pack("{s:s}", "path", "b.txt"), "content must be a string");
	expect_err("write", json_pack("{s:s,s:s}", "path", "d1", "content", "x"), "d1 is a directory");
	expect_err("write", json_pack("{s:s,s:s}", "path", "b.txt/x", "content", "x"),
		   "b.txt/x: b.txt: Not a directory");
	expect_no_temp(".");
	expect_no_temp("d1/d2");
}

static void
test_mode_kept(void **state)
{
	puts_file("run.sh", "#!/bin/sh\necho hi\n");
	char *p = ppath("run.sh");
	assert_int_equal(chmod(p, 0751), 0);
	read_ok("run.sh");
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "run.sh", "old_string", "hi",
				    "new_string", "ho"), NULL);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751);
	expect_ok("write", json_pack("{s:s,s:s}", "path", "run.sh", "content", "#!/bin/sh\n"), NULL);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751);
	expect_file("run.sh", "#!/bin/sh\n", 10);
	free(p);
}

/* ---------------------------------------------------------- big files -- */

static long
maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void
test_big_file(void **state)
{
	/* 100 MB: 1,000,000 lines of 100 bytes, written in small pieces. */
	char *p = ppath("huge.txt");
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	char line[101];
	for (int i = 1; i <= 1000000; i++) {
		snprintf(line, sizeof line, "line %07d %086d\n", i, 0);
		fwrite(line, 1, 100, f);
	}
	fclose(f);
	long before = maxrss_kb();
	json_t *r = run("read", json_pack("{s:s}", "path", "huge.txt"));
	assert_false(json_is_true(json_object_get(r, "isError")));
	const char *t = text_of(r);
	assert_non_null(strstr(t, "     1\tline 0000001 "));
	/* 2000 lines of 107 bytes are under the 256 KiB cap: the line limit cuts. */
	assert_non_null(strstr(t, "\n[cut: showing lines 1-2000 of 1000000; use offset/limit]\n"));
	json_decref(r);
	/* Reading streamed: the peak grew by far less than the file. */
	assert_true(maxrss_kb() - before < 32 * 1024);
	char *want = xasprintf("999999\tline 0999999 %086d\n1000000\tline 1000000 %086d\n", 0, 0);
	expect_ok("read", json_pack("{s:s,s:i}", "path", "huge.txt", "offset", 999999), want);
	free(want);
	r = run("edit", json_pack("{s:s,s:s,s:s}", "path", "huge.txt", "old_string",
				  "line 0500000 ", "new_string", "LINE 0500000 "));
	assert_false(json_is_true(json_object_get(r, "isError")));
	/* No ACP diff content for a file over max_diff_bytes: the unified diff only. */
	assert_int_equal(json_array_size(json_object_get(r, "content")), 1);
	assert_non_null(strstr(text_of(r), "@@ -499997,7 +499997,7 @@\n"));
	assert_non_null(strstr(text_of(r), "\n+LINE 0500000 000"));
	json_decref(r);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 100000000);
	free(p);
	expect_no_temp(".");
}

/* ------------------------------------------------------------ escapes -- */

static void
test_escapes(void **state)
{
	char *secret = xasprintf("%s/secret.txt", F->out);
	assert_int_equal(testutil_write_file(secret, "secret\n", 7), 0);
	char *msg = xasprintf("../out/secret.txt resolves to %s, outside the project directory "
			      "%s; refused", secret, F->proj);
	expect_err("read", json_pack("{s:s}", "path", "../out/secret.txt"), msg);
	free(msg);
	msg = xasprintf("%s resolves to %s, outside the project directory %s; refused", secret,
			secret, F->proj);
	expect_err("read", json_pack("{s:s}", "path", secret), msg);
	free(msg);
	msg = xasprintf("/etc/passwd resolves to /etc/passwd, outside the project directory %s; "
			"refused", F->proj);
	expect_err("read", json_pack("{s:s}", "path", "/etc/passwd"), msg);
	free(msg);
	/* A symlink to /etc. */
	char *l = ppath("etc");
	assert_int_equal(symlink("/etc", l), 0);
	free(l);
	msg = xasprintf("etc/passwd resolves to /etc/passwd, outside the project directory %s; "
			"refused", F->proj);
	expect_err("read", json_pack("{s:s}", "path", "etc/passwd"), msg);
	free(msg);
	msg = xasprintf("etc/hearth-new resolves to /etc/hearth-new, outside the project "
			"directory %s; refused", F->proj);
	expect_err("write", json_pack("{s:s,s:s}", "path", "etc/hearth-new", "content", "x"), msg);
	free(msg);
	/* A symlink inside the tree that points out, to a file and to a directory. */
	l = ppath("link.txt");
	assert_int_equal(symlink(secret, l), 0);
	free(l);
	msg = xasprintf("link.txt resolves to %s, outside the project directory %s; refused",
			secret, F->proj);
	expect_err("read", json_pack("{s:s}", "path", "link.txt"), msg);
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "link.txt", "old_string", "secret",
				     "new_string", "x"), msg);
	free(msg);
	l = ppath("outdir");
	assert_int_equal(symlink(F->out, l), 0);
	free(l);
	msg = xasprintf("outdir/new/x.txt resolves to %s/new/x.txt, outside the project "
			"directory %s; refused", F->out, F->proj);
	expect_err("write", json_pack("{s:s,s:s}", "path", "outdir/new/x.txt", "content", "x"),
		   msg);
	free(msg);
	char *nd = xasprintf("%s/new", F->out);
	struct stat st;
	assert_int_equal(stat(nd, &st), -1);
	free(nd);
	/* A symlink to nothing is not followed into a new file. */
	l = ppath("dangling");
	char *target = xasprintf("%s/made-by-hearth", F->out);
	assert_int_equal(symlink(target, l), 0);
	free(l);
	expect_err("write", json_pack("{s:s,s:s}", "path", "dangling", "content", "x"),
		   "dangling is a symlink to nothing; refused");
	assert_int_equal(stat(target, &st), -1);
	free(target);
	/* '..' through a missing directory. */
	expect_err("write", json_pack("{s:s,s:s}", "path", "nodir/../../x", "content", "x"),
		   "nodir/../../x: '..' after a directory that does not exist");
	/* A symlink inside the tree to a file inside the tree is fine. */
	puts_file("real.txt", "real\n");
	l = ppath("alias.txt");
	assert_int_equal(symlink("real.txt", l), 0);
	free(l);
	expect_ok("read", json_pack("{s:s}", "path", "alias.txt"), "     1\treal\n");
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "alias.txt", "old_string", "real",
				    "new_string", "REAL"), "--- a/real.txt\n+++ b/real.txt\n"
				    "@@ -1 +1 @@\n-real\n+REAL\n");
	expect_file("real.txt", "REAL\n", 5);
	assert_int_equal(testutil_write_file(secret, "secret\n", 7), 0);
	char *got = testutil_read_file(secret, NULL);
	assert_string_equal(got, "secret\n");
	free(got);
	free(secret);
}

/* A directory swapped for a symlink after the path was checked, before the I/O
 * (which starts on the next loop iteration). */
static void
test_swap_between_check_and_use(void **state)
{
	char *sub = ppath("sub"), *moved = ppath("sub.real");
	assert_int_equal(mkdir(sub, 0755), 0);
	puts_file("sub/f.txt", "inside\n");
	char *outf = xasprintf("%s/f.txt", F->out);
	assert_int_equal(testutil_write_file(outf, "outside\n", 8), 0);
	read_ok("sub/f.txt");

	struct res res = {0};
	json_t *in = json_pack("{s:s}", "path", "sub/f.txt");
	tools_start("read", "c1", in, "s1", F->proj, NULL, done_cb, &res);
	json_decref(in);
	assert_int_equal(rename(sub, moved), 0);
	assert_int_equal(symlink(F->out, sub), 0);
	json_t *r = wait_done(&res);
	char *msg = xasprintf("sub/f.txt: %s/sub became a symlink after the path was checked; "
			      "refused", F->proj);
	assert_true(json_is_true(json_object_get(r, "isError")));
	assert_string_equal(text_of(r), msg);
	json_decref(r);

	/* The same for a write: nothing reaches the outside file. */
	assert_int_equal(unlink(sub), 0);
	assert_int_equal(rename(moved, sub), 0);
	res = (struct res){0};
	in = json_pack("{s:s,s:s}", "path", "sub/f.txt", "content", "pwned\n");
	tools_start("write", "c2", in, "s1", F->proj, NULL, done_cb, &res);
	json_decref(in);
	assert_int_equal(rename(sub, moved), 0);
	assert_int_equal(symlink(F->out, sub), 0);
	r = wait_done(&res);
	assert_string_equal(text_of(r), msg);
	json_decref(r);
	free(msg);
	char *got = testutil_read_file(outf, NULL);
	assert_string_equal(got, "outside\n");
	free(got);

	/* The file itself swapped for a symlink. */
	puts_file("g.txt", "g\n");
	read_ok("g.txt");
	res = (struct res){0};
	in = json_pack("{s:s,s:s,s:s}", "path", "g.txt", "old_string", "g", "new_string", "h");
	tools_start("edit", "c3", in, "s1", F->proj, NULL, done_cb, &res);
	json_decref(in);
	char *g = ppath("g.txt");
	assert_int_equal(unlink(g), 0);
	assert_int_equal(symlink(outf, g), 0);
	r = wait_done(&res);
	msg = xasprintf("%s became a symlink after the path was checked; refused", g);
	assert_string_equal(text_of(r), msg);
	json_decref(r);
	free(msg);
	got = testutil_read_file(outf, NULL);
	assert_string_equal(got, "outside\n");
	free(got);
	free(g);
	free(outf);
	free(sub);
	free(moved);
}

/* ------------------------------------------------ describe, list, misc -- */

static void
test_describe_and_list(void **state)
{
	json_t *in = json_pack("{s:s,s:i}", "path", "src/a.c", "offset", 5);
	json_t *d = tools_describe("read", in, "s1", F->proj);
	char *abs = ppath("src/a.c");
	json_t *want = json_pack("{s:s,s:s,s:[{s:s,s:i}],s:s}", "title", "Read src/a.c", "kind",
				 "read", "locations", "path", abs, "line", 5, "subject", "src/a.c");
	assert_true(json_equal(d, want));
	json_decref(d);
	json_decref(want);
	json_decref(in);
	in = json_pack("{s:s}", "path", "./src/a.c");
	d = tools_describe("edit", in, "s1", F->proj);
	want = json_pack("{s:s,s:s,s:[{s:s}],s:s}", "title", "Edit src/a.c", "kind", "edit",
			 "locations", "path", abs, "subject", "src/a.c");
	assert_true(json_equal(d, want));
	json_decref(d);
	json_decref(want);
	d = tools_describe("write", in, "s1", F->proj);
	assert_string_equal(json_string_value(json_object_get(d, "title")), "Write src/a.c");
	json_decref(d);
	json_decref(in);
	/* A name with control characters is shown escaped (names.h), resolved or not. */
	in = json_pack("{s:s}", "path", "src/x\ny\x1b.c");
	d = tools_describe("write", in, "s1", F->proj);
	assert_string_equal(json_string_value(json_object_get(d, "title")),
			    "Write src/x\\x0Ay\\x1B.c");
	json_decref(d);
	json_decref(in);
	in = json_pack("{s:s}", "path", "no/such/dir/a\tb");
	d = tools_describe("read", in, "s1", F->proj);
	assert_string_equal(json_string_value(json_object_get(d, "title")),
			    "Read no/such/dir/a\\x09b");
	json_decref(d);
	json_decref(in);
	free(abs);

	json_t *list = tools_list();
	size_t i;
	json_t *t;
	int seen = 0;
	json_array_foreach(list, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		const char *perm = json_string_value(json_object_get(t, "permission"));
		const char *kind = json_string_value(json_object_get(t, "kind"));
		if (strcmp(name, "read") == 0) {
			assert_string_equal(perm, "allow");
			assert_string_equal(kind, "read");
			assert_true(json_is_true(json_object_get(t, "read_only")));
			seen++;
		} else if (strcmp(name, "write") == 0 || strcmp(name, "edit") == 0) {
			assert_string_equal(perm, "ask");
			assert_string_equal(kind, "edit");
			assert_false(json_is_true(json_object_get(t, "read_only")));
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	json_decref(list);
}

static void
update_cb(void *arg, const json_t *update)
{
	struct res *r = arg;
	json_array_append(r->updates, (json_t *)update);
}

/* Each call that worked sends the file's location, with the line it read from or
 * the first line it changed. */
static void
test_locations_update(void **state)
{
	puts_file("a.txt", ten);
	json_t *ups = json_array();
	struct res res = { .updates = ups };
	json_t *in = json_pack("{s:s,s:i}", "path", "a.txt", "offset", 4);
	tools_start("read", "c1", in, "s1", F->proj, update_cb, done_cb, &res);
	json_decref(in);
	json_decref(wait_done(&res));
	res = (struct res){ .updates = ups };
	in = json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "l7", "new_string", "7");
	tools_start("edit", "c2", in, "s1", F->proj, update_cb, done_cb, &res);
	json_decref(in);
	json_decref(wait_done(&res));
	res = (struct res){ .updates = ups };
	in = json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "nope", "new_string", "7");
	tools_start("edit", "c3", in, "s1", F->proj, update_cb, done_cb, &res);
	json_decref(in);
	json_decref(wait_done(&res));
	char *abs = ppath("a.txt");
	json_t *want = json_pack("[{s:[{s:s,s:i}]},{s:[{s:s,s:i}]}]", "locations", "path", abs,
				 "line", 4, "locations", "path", abs, "line", 7);
	if (!json_equal(ups, want)) {
		char *got = json_dumps(ups, 0);
		fail_msg("updates: %s", got);
		free(got);
	}
	json_decref(want);
	json_decref(ups);
	free(abs);
}

/* The module remembers the last 4096 files read; an older one must be read again. */
static void
test_records_bounded(void **state)
{
	char name[32];
	for (int i = 0; i <= 4096; i++) {
		snprintf(name, sizeof name, "f%d", i);
		puts_file(name, "x\n");
		read_ok(name);
	}
	expect_err("edit", json_pack("{s:s,s:s,s:s}", "path", "f0", "old_string", "x",
				     "new_string", "y"),
		   "f0 has not been read in this session; read it before editing it");
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "f1", "old_string", "x",
				    "new_string", "y"), NULL);
}

static void
test_cancel(void **state)
{
	struct res res = {0};
	json_t *in = json_pack("{s:s,s:s}", "path", "c.txt", "content", "x\n");
	struct tools_call *c = tools_start("write", "c1", in, "s1", F->proj, NULL, done_cb, &res);
	json_decref(in);
	tools_cancel(c);
	json_t *r = wait_done(&res);
	assert_true(json_is_true(json_object_get(r, "isError")));
	json_decref(r);
	char *p = ppath("c.txt");
	struct stat st;
	assert_int_equal(stat(p, &st), -1);
	free(p);
}

static void parallel_edits(void);

/* Every file over offload_bytes goes through the thread pool: the same results. */
static void
test_offloaded(void **state)
{
	assert_int_equal(load("offload_bytes = 0\n"), 0);
	puts_file("a.txt", ten);
	expect_ok("read", json_pack("{s:s,s:i}", "path", "a.txt", "limit", 2),
		  "     1\tl1\n     2\tl2\n");
	expect_ok("edit", json_pack("{s:s,s:s,s:s}", "path", "a.txt", "old_string", "l10",
				    "new_string", "ten"),
		  "--- a/a.txt\n+++ b/a.txt\n@@ -7,4 +7,4 @@\n l7\n l8\n l9\n-l10\n+ten\n");
	expect_err("read", json_pack("{s:s}", "path", "zz"), "zz does not exist");
	parallel_edits();
}

/* Two edits of one file started together (as a model's parallel calls are) both
 * apply: the second waits for the first and sees what it wrote. */
static void
parallel_edits(void)
{
	puts_file("p.txt", "alpha\nbeta\n");
	read_ok("p.txt");
	struct res r1 = {0}, r2 = {0};
	json_t *in = json_pack("{s:s,s:s,s:s}", "path", "p.txt", "old_string", "alpha",
			       "new_string", "ALPHA");
	tools_start("edit", "c1", in, "s1", F->proj, NULL, done_cb, &r1);
	json_decref(in);
	in = json_pack("{s:s,s:s,s:s}", "path", "p.txt", "old_string", "beta", "new_string",
		       "BETA");
	tools_start("edit", "c2", in, "s1", F->proj, NULL, done_cb, &r2);
	json_decref(in);
	json_t *a = wait_done(&r1), *b = wait_done(&r2);
	assert_false(json_is_true(json_object_get(a, "isError")));
	assert_false(json_is_true(json_object_get(b, "isError")));
	assert_string_equal(text_of(b), "--- a/p.txt\n+++ b/p.txt\n@@ -1,2 +1,2 @@\n ALPHA\n"
					"-beta\n+BETA\n");
	json_decref(a);
	json_decref(b);
	expect_file("p.txt", "ALPHA\nBETA\n", 11);
}

static void
test_bad_config(void **state)
{
	assert_int_equal(load("max_read_bytes = 10\n"), 1);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "max_read_bytes"));
	free(log);
	testutil_log_capture();
}

static void
test_unknown_key(void **state)
{
	assert_int_equal(load("max_read_lines = 5\nbogus = 1\n"), 0);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "unknown key 'bogus' ignored"));
	free(log);
	testutil_log_capture();
	char many[64] = "";
	for (int i = 0; i < 9; i++)
		strcat(many, "q\n");
	puts_file("q.txt", many);
	json_t *r = run("read", json_pack("{s:s}", "path", "q.txt"));
	assert_non_null(strstr(text_of(r), "     5\tq\n[cut: showing lines 1-5 of 9; use "
					  "offset/limit]\n"));
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_numbered, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_read_cut_lines, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_read_cut_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_encodings, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_edit_diff, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_edit_errors, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_edit_all_or_none, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_changed_on_disk, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_crlf, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_non_utf8_edit, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_diff_applies, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_mode_kept, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_big_file, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_escapes, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_swap_between_check_and_use, setup_loaded,
						teardown),
		cmocka_unit_test_setup_teardown(test_describe_and_list, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_records_bounded, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_locations_update, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_offloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
	};
	return cmocka_run_group_tests_name("edit", tests, NULL, NULL);
}
