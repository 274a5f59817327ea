/*
 * test_shell.c: the shell tool module (plugins/tools/shell.c), loaded through the
 * real registry and run with core's tools_start()/tools_cancel() on real /bin/sh
 * children. As in test_proc.c, the test ignores SIGPIPE (as hearthd does) and is a
 * child subreaper, so orphaned grandchildren become ours and "the process group is
 * gone" is exact: we reap them and then kill(-pgid, 0) must fail with ESRCH.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/types.h>
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
#include "proc.h"
#include "registry.h"
#include "testutil.h"
#include "tools.h"
#include "xmalloc.h"

#define TEST_GRACE_MS 150
#define TEST_DRAIN_MS 150

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct conf *conf;
	struct registry *reg;
	char *tmp;
};

static struct fixture *F;

/* One call and what came of it. */
struct res {
	json_t *result;    /* the final result (owned) */
	json_t *updates;   /* every update, in order (owned) */
	int done;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run the loop until cond holds; a hang fails the test instead of the suite. */
#define RUN_UNTIL(cond) \
	do { \
		uint64_t start_ = now_ms(); \
		while (!(cond)) { \
			uv_run(&F->loop, UV_RUN_NOWAIT); \
			if (cond) \
				break; \
			if (now_ms() - start_ > 30000) \
				fail_msg("still waiting for %s", #cond); \
			usleep(500); \
		} \
	} while (0)

static int
setup(void **state)
{
	F = xcalloc(1, sizeof *F);
	assert_int_equal(uv_loop_init(&F->loop), 0);
	F->tmp = testutil_mkdtemp("shell");
	char *real = realpath(F->tmp, NULL);
	assert_non_null(real);
	free(F->tmp);
	F->tmp = real;
	F->ctx.loop = &F->loop;
	F->ctx.state_dir = F->tmp;
	F->ctx.runtime_dir = F->tmp;
	F->ctx.daemon = &core_host_ops;
	host_context_set(&F->ctx);
	defer_init(&F->loop);
	assert_int_equal(loader_init(), 0);
	proc_set_test_timeouts(TEST_GRACE_MS, TEST_DRAIN_MS);
	testutil_log_capture();
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	if (F->reg != NULL)
		registry_fini_all(F->reg);
	proc_kill_all();  /* what a failed test left running */
	defer_close();
	uv_run(&F->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&F->loop), 0);
	registry_free(F->reg);
	tools_set_registry(NULL);
	conf_free(F->conf);
	loader_exit();
	free(testutil_log_release());
	proc_set_test_timeouts(0, 0);
	testutil_rmtree(F->tmp);
	free(F->tmp);
	free(F);
	return 0;
}

/* Load the module with `extra` lines in its section; returns the registry's errors. */
static size_t
load(const char *extra)
{
	char *text = xasprintf("module_dir %s/plugins\nload tool shell\n[tool shell]\n%s",
			       HEARTH_BUILDDIR, extra != NULL ? extra : "");
	F->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	assert_int_equal(F->conf->n_errors, 0);
	F->reg = registry_new(F->conf);
	size_t errors = registry_load_all(F->reg);
	tools_set_registry(F->reg);
	return errors;
}

static void
update_cb(void *arg, const json_t *update)
{
	struct res *r = arg;
	assert_false(r->done);
	json_array_append(r->updates, (json_t *)update);
}

static void
done_cb(void *arg, json_t *result)
{
	struct res *r = arg;
	assert_false(r->done);
	r->done = 1;
	r->result = result;
}

static struct tools_call *
start_in(struct res *r, const char *cwd, json_t *input)
{
	memset(r, 0, sizeof *r);
	r->updates = json_array();
	struct tools_call *c = tools_start("shell", "call-1", input, "session-1", cwd, update_cb,
					   done_cb, r);
	json_decref(input);
	return c;
}

/* Run {command} (and `input` members, if any) to the end. */
static void
run(struct res *r, const char *command, json_t *input)
{
	if (input == NULL)
		input = json_object();
	json_object_set_new(input, "command", json_string(command));
	start_in(r, F->tmp, input);
	RUN_UNTIL(r->done);
}

static void
res_free(struct res *r)
{
	json_decref(r->result);
	json_decref(r->updates);
}

static const char *
res_text(const struct res *r)
{
	json_t *content = json_object_get(r->result, "content");
	assert_int_equal(json_array_size(content), 1);
	json_t *block = json_array_get(content, 0);
	assert_string_equal(json_string_value(json_object_get(block, "type")), "text");
	const char *text = json_string_value(json_object_get(block, "text"));
	assert_non_null(text);
	return text;
}

static int
res_is_error(const struct res *r)
{
	json_t *e = json_object_get(r->result, "isError");
	assert_true(json_is_boolean(e));
	return json_is_true(e);
}

/* rawOutput compared with an expected JSON text. */
static void
assert_raw(const struct res *r, const char *expected)
{
	json_t *want = json_loads(expected, 0, NULL);
	assert_non_null(want);
	json_t *raw = json_object_get(r->result, "rawOutput");
	if (!json_equal(raw, want)) {
		char *got = json_dumps(raw, JSON_SORT_KEYS);
		fail_msg("rawOutput %s, expected %s", got, expected);
		free(got);
	}
	json_decref(want);
}

/* The text of update i. */
static const char *
update_text(const struct res *r, size_t i)
{
	json_t *u = json_array_get(r->updates, i);
	json_t *content = json_object_get(u, "content");
	assert_int_equal(json_array_size(content), 1);
	json_t *block = json_array_get(content, 0);
	assert_string_equal(json_string_value(json_object_get(block, "type")), "content");
	json_t *inner = json_object_get(block, "content");
	assert_string_equal(json_string_value(json_object_get(inner, "type")), "text");
	const char *text = json_string_value(json_object_get(inner, "text"));
	assert_non_null(text);
	return text;
}

/*
 * 1 once no process of group `pgid` is left. After the call's on_exit (the
 * leader is reaped), we reap what of the group became ours; before, proc.c does
 * (reaping the leader here would hide its exit from libuv).
 */
static int
group_gone(int pgid, int reap)
{
	while (reap && waitpid(-pgid, NULL, WNOHANG) > 0)
		;
	return kill(-pgid, 0) == -1 && errno == ESRCH;
}

static long
vm_rss_kb(void)
{
	char *status = testutil_read_file("/proc/self/status", NULL);
	if (status == NULL)
		return -1;
	const char *p = strstr(status, "VmRSS:");
	long kb = p != NULL ? strtol(p + 6, NULL, 10) : -1;
	free(status);
	return kb;
}

/* ------------------------------------------------------------------ tests -- */

static void
test_output_and_status(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	run(&r, "printf 'hello\\nworld\\n'; printf 'oops' >&2", NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\nhello\nworld\n</stdout>\n"
					  "<stderr>\noops\n</stderr>");
	assert_false(res_is_error(&r));
	assert_raw(&r, "{\"exitCode\":0,\"signal\":null,\"timedOut\":false,"
		       "\"stdoutBytes\":12,\"stderrBytes\":4}");
	res_free(&r);

	run(&r, "true", NULL);
	assert_string_equal(res_text(&r), "exit status 0");
	assert_false(res_is_error(&r));
	res_free(&r);

	/* stderr only, and a quoted, multi-line command. */
	run(&r, "echo 'two\nlines' >&2", NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stderr>\ntwo\nlines\n</stderr>");
	assert_raw(&r, "{\"exitCode\":0,\"signal\":null,\"timedOut\":false,"
		       "\"stdoutBytes\":0,\"stderrBytes\":10}");
	res_free(&r);
}

static void
test_nonzero_exit(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	run(&r, "echo x; exit 3", NULL);
	assert_string_equal(res_text(&r), "exit status 3\n<stdout>\nx\n</stdout>");
	assert_true(res_is_error(&r));
	assert_raw(&r, "{\"exitCode\":3,\"signal\":null,\"timedOut\":false,"
		       "\"stdoutBytes\":2,\"stderrBytes\":0}");
	res_free(&r);

	run(&r, "no-such-command-hearth-test", NULL);
	assert_true(res_is_error(&r));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.result,
		"rawOutput"), "exitCode")), 127);
	assert_non_null(strstr(res_text(&r), "exit status 127\n<stderr>\n"));
	assert_non_null(strstr(res_text(&r), "no-such-command-hearth-test"));
	res_free(&r);
}

static void
test_signals(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	run(&r, "echo going; kill -TERM $$", NULL);
	assert_string_equal(res_text(&r), "killed by signal SIGTERM\n<stdout>\ngoing\n</stdout>");
	assert_true(res_is_error(&r));
	assert_raw(&r, "{\"exitCode\":null,\"signal\":\"SIGTERM\",\"timedOut\":false,"
		       "\"stdoutBytes\":6,\"stderrBytes\":0}");
	res_free(&r);

	run(&r, "kill -KILL $$", NULL);
	assert_string_equal(res_text(&r), "killed by signal SIGKILL");
	res_free(&r);

	run(&r, "kill -WINCH $$; kill -USR1 $$", NULL);
	assert_string_equal(res_text(&r), "killed by signal SIGUSR1");
	res_free(&r);
}

static void
test_timeout(void **state)
{
	assert_int_equal(load("max_timeout_ms = 400\n"), 0);
	struct res r;
	/* The call asks for 300 ms: it gets them. */
	run(&r, "echo $$; sleep 30", json_pack("{s:i}", "timeout_ms", 300));
	const char *text = res_text(&r);
	int pgid = atoi(text + strlen("killed by signal SIGTERM (timed out after 300 ms)\n"
				      "<stdout>\n"));
	char *want = xasprintf("killed by signal SIGTERM (timed out after 300 ms)\n<stdout>\n"
			       "%d\n</stdout>", pgid);
	assert_string_equal(text, want);
	free(want);
	assert_true(pgid > 1);
	assert_true(res_is_error(&r));
	want = xasprintf("{\"exitCode\":null,\"signal\":\"SIGTERM\",\"timedOut\":true,"
			 "\"stdoutBytes\":%d,\"stderrBytes\":0}", snprintf(NULL, 0, "%d\n", pgid));
	assert_raw(&r, want);
	free(want);
	RUN_UNTIL(group_gone(pgid, 1));
	res_free(&r);

	/* More than max_timeout_ms is capped; the default (120 s) is too. */
	run(&r, "sleep 30", json_pack("{s:i}", "timeout_ms", 100000));
	assert_string_equal(res_text(&r), "killed by signal SIGTERM (timed out after 400 ms)");
	res_free(&r);
	run(&r, "sleep 30", NULL);
	assert_string_equal(res_text(&r), "killed by signal SIGTERM (timed out after 400 ms)");
	res_free(&r);

	/* A command that ignores SIGTERM is SIGKILLed after the grace. */
	run(&r, "trap '' TERM; sleep 30", json_pack("{s:i}", "timeout_ms", 200));
	assert_string_equal(res_text(&r), "killed by signal SIGKILL (timed out after 200 ms)");
	res_free(&r);
}

static void
test_timeout_whole_seconds(void **state)
{
	assert_int_equal(load("timeout_ms = 1000\n"), 0);
	struct res r;
	run(&r, "sleep 30", NULL);
	assert_string_equal(res_text(&r), "killed by signal SIGTERM (timed out after 1 s)");
	res_free(&r);
}

static void
test_cancel_kills_group(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	struct tools_call *c = start_in(&r, F->tmp, json_pack("{s:s}", "command",
		"echo $$; sleep 100 & sleep 100 & wait"));
	RUN_UNTIL(json_array_size(r.updates) > 0);
	int pgid = atoi(update_text(&r, 0));
	assert_true(pgid > 1);
	assert_int_equal(kill(-pgid, 0), 0);
	tools_cancel(c);
	RUN_UNTIL(r.done);
	/* The module ends the call at once, with the output so far. */
	char *want = xasprintf("cancelled\n<stdout>\n%d\n</stdout>", pgid);
	assert_string_equal(res_text(&r), want);
	free(want);
	assert_true(res_is_error(&r));
	want = xasprintf("{\"exitCode\":null,\"signal\":null,\"timedOut\":false,"
			 "\"stdoutBytes\":%d,\"stderrBytes\":0}", snprintf(NULL, 0, "%d\n", pgid));
	assert_raw(&r, want);
	free(want);
	RUN_UNTIL(group_gone(pgid, 0));
	res_free(&r);
}

static void
test_background_child_no_orphan(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	/* The child keeps stdout open: the call ends once the drain time is up. */
	run(&r, "echo $$; sleep 100 & echo started", NULL);
	const char *text = res_text(&r);
	int pgid = atoi(text + strlen("exit status 0\n<stdout>\n"));
	char *want = xasprintf("exit status 0\n<stdout>\n%d\nstarted\n</stdout>", pgid);
	assert_string_equal(text, want);
	free(want);
	RUN_UNTIL(group_gone(pgid, 1));
	res_free(&r);

	/* The child lets go of the pipes: the call ends at once, the child still goes. */
	run(&r, "echo $$; sleep 100 >/dev/null 2>&1 </dev/null & echo started", NULL);
	text = res_text(&r);
	pgid = atoi(text + strlen("exit status 0\n<stdout>\n"));
	assert_true(pgid > 1);
	RUN_UNTIL(group_gone(pgid, 1));
	res_free(&r);
}

static void
test_huge_output_bounded(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	/* Warm up allocators and the loop so the measurement sees the call only. */
	run(&r, "head -c 1000000 /dev/zero", NULL);
	res_free(&r);
	long before = vm_rss_kb();
	assert_true(before > 0);
	run(&r, "head -c 1000000000 /dev/zero; echo done >&2", NULL);
	long after = vm_rss_kb();
	/* 32 KiB of head and 32 KiB of tail, each byte shown as \x00. */
	size_t half = 32768;
	struct { char *data; size_t len; } want = { xmalloc(half * 8 + 256), 0 };
	want.len = (size_t)sprintf(want.data, "exit status 0\n<stdout>\n");
	for (size_t i = 0; i < half; i++)
		want.len += (size_t)sprintf(want.data + want.len, "\\x00");
	want.len += (size_t)sprintf(want.data + want.len, "\n[... %llu bytes omitted ...]\n",
				    1000000000ULL - 2 * half);
	for (size_t i = 0; i < half; i++)
		want.len += (size_t)sprintf(want.data + want.len, "\\x00");
	sprintf(want.data + want.len, "\n</stdout>\n<stderr>\ndone\n</stderr>");
	assert_string_equal(res_text(&r), want.data);
	free(want.data);
	assert_raw(&r, "{\"exitCode\":0,\"signal\":null,\"timedOut\":false,"
		       "\"stdoutBytes\":1000000000,\"stderrBytes\":5}");
	/* Far less than the output: the module keeps head and tail only. */
	assert_true(after - before < 64 * 1024);
	res_free(&r);
}

static void
test_output_cap(void **state)
{
	assert_int_equal(load("max_output_bytes = 16\n"), 0);
	struct res r;
	run(&r, "printf 0123456789abcdefghij; printf 0123456789abcdef >&2", NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\n01234567\n"
					  "[... 4 bytes omitted ...]\ncdefghij\n</stdout>\n"
					  "<stderr>\n0123456789abcdef\n</stderr>");
	assert_raw(&r, "{\"exitCode\":0,\"signal\":null,\"timedOut\":false,"
		       "\"stdoutBytes\":20,\"stderrBytes\":16}");
	res_free(&r);

	/* Lines: the note goes on a line of its own. */
	run(&r, "printf '1234567\\n0123456789\\nabcdefgh'", NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\n1234567\n"
					  "[... 11 bytes omitted ...]\nabcdefgh\n</stdout>");
	res_free(&r);

	/* A character cut by the head or the tail goes whole into the omitted count. */
	run(&r, "printf 'aaaaaaa\\303\\251XX\\303\\251bbbbbbb'", NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\naaaaaaa\n"
					  "[... 6 bytes omitted ...]\nbbbbbbb\n</stdout>");
	res_free(&r);

	/* Bytes that are not UTF-8 are escaped, never dropped; valid ones kept. */
	run(&r, "printf '\\377ok\\303\\251\\000'", NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\n\\xffok\xc3\xa9\\x00\n"
					  "</stdout>");
	res_free(&r);
}

static void
test_progress_updates(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	/* The command waits for the test to have seen "one" before it goes on. */
	start_in(&r, F->tmp, json_pack("{s:s}", "command", "echo one; "
		"while [ ! -e go ]; do sleep 0.02; done; echo two"));
	RUN_UNTIL(json_array_size(r.updates) > 0);
	assert_false(r.done);
	assert_string_equal(update_text(&r, 0), "one\n");
	char *go = xasprintf("%s/go", F->tmp);
	assert_int_equal(testutil_write_file(go, "", 0), 0);
	free(go);
	RUN_UNTIL(r.done);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\none\ntwo\n</stdout>");
	/* Updates carry new output only, in order, and all of it by the end. */
	char *all = xstrdup("");
	for (size_t i = 0; i < json_array_size(r.updates); i++) {
		char *next = xasprintf("%s%s", all, update_text(&r, i));
		free(all);
		all = next;
	}
	assert_string_equal(all, "one\ntwo\n");
	free(all);
	res_free(&r);
}

static void
test_progress_split_character(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	/* "é" arrives in two pieces: no update shows half of it. */
	start_in(&r, F->tmp, json_pack("{s:s}", "command", "printf 'x\\303'; "
		"while [ ! -e go ]; do sleep 0.02; done; printf '\\251y\\n'"));
	RUN_UNTIL(json_array_size(r.updates) > 0);
	assert_string_equal(update_text(&r, 0), "x");
	char *go = xasprintf("%s/go", F->tmp);
	assert_int_equal(testutil_write_file(go, "", 0), 0);
	free(go);
	RUN_UNTIL(r.done);
	assert_int_equal(json_array_size(r.updates), 2);
	assert_string_equal(update_text(&r, 1), "\xc3\xa9y\n");
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\nx\xc3\xa9y\n</stdout>");
	res_free(&r);
}

static void
test_progress_bounded(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	run(&r, "head -c 3000000 /dev/zero | tr '\\000' a", NULL);
	/* Every update is bounded; what it leaves out it counts. */
	unsigned long long shown = 0, counted = 0;
	for (size_t i = 0; i < json_array_size(r.updates); i++) {
		const char *t = update_text(&r, i);
		assert_true(strlen(t) <= 16384 + 64);
		size_t a = strspn(t, "a");
		shown += a;
		if (t[a] != '\0') {
			unsigned long long n = 0;
			assert_int_equal(sscanf(t + a, "\n[... %llu bytes not shown ...]\n", &n), 1);
			char *note = xasprintf("\n[... %llu bytes not shown ...]\n", n);
			assert_string_equal(t + a, note);
			free(note);
			counted += n;
		}
	}
	assert_true(shown + counted <= 3000000ULL);
	assert_true(shown > 0);
	res_free(&r);
}

static void
test_cwd(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	run(&r, "pwd -P", NULL);
	char *want = xasprintf("exit status 0\n<stdout>\n%s\n</stdout>", F->tmp);
	assert_string_equal(res_text(&r), want);
	free(want);
	res_free(&r);

	/* A directory that does not exist: the command does not start. */
	start_in(&r, "/nonexistent-hearth-dir", json_pack("{s:s}", "command", "true"));
	RUN_UNTIL(r.done);
	assert_string_equal(res_text(&r), "could not start /bin/sh in '/nonexistent-hearth-dir':"
					  " no such file or directory");
	assert_true(res_is_error(&r));
	res_free(&r);
}

static void
test_secrets_removed(void **state)
{
	setenv("ANTHROPIC_API_KEY", "sk-ant-secret", 1);
	setenv("HEARTH_TEST_TOKEN", "tok", 1);
	setenv("HEARTH_TEST_PLAIN", "plain", 1);
	assert_int_equal(load(NULL), 0);
	struct res r;
	run(&r, "echo \"${ANTHROPIC_API_KEY-unset} ${HEARTH_TEST_TOKEN-unset} "
		"${HEARTH_TEST_PLAIN-unset}\"; env | grep -c -e API_KEY -e _TOKEN=", NULL);
	assert_string_equal(res_text(&r), "exit status 1\n<stdout>\nunset unset plain\n0\n"
					  "</stdout>");
	res_free(&r);
	unsetenv("ANTHROPIC_API_KEY");
	unsetenv("HEARTH_TEST_TOKEN");
	unsetenv("HEARTH_TEST_PLAIN");
}

static void
test_keep_secrets(void **state)
{
	setenv("ANTHROPIC_API_KEY", "sk-ant-secret", 1);
	assert_int_equal(load("keep_secrets = yes\n"), 0);
	struct res r;
	run(&r, "echo \"$ANTHROPIC_API_KEY\"", NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\nsk-ant-secret\n</stdout>");
	res_free(&r);
	unsetenv("ANTHROPIC_API_KEY");
}

static void
assert_describe(json_t *input, const char *title, const char *subject)
{
	json_t *d = tools_describe("shell", input, "session-1", F->tmp);
	json_decref(input);
	assert_string_equal(json_string_value(json_object_get(d, "title")), title);
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "execute");
	assert_string_equal(json_string_value(json_object_get(d, "subject")), subject);
	json_decref(d);
}

static void
test_describe_and_list(void **state)
{
	assert_int_equal(load(NULL), 0);
	assert_describe(json_pack("{s:s}", "command", "git status --short"), "git status --short",
			"git status --short");
	assert_describe(json_pack("{s:s,s:s}", "command", "make\nmake check", "description",
				  "build"), "make...", "make\nmake check");
	char longcmd[201];
	memset(longcmd, 'x', 200);
	longcmd[200] = '\0';
	char title[84];
	memset(title, 'x', 80);
	strcpy(title + 80, "...");
	assert_describe(json_pack("{s:s}", "command", longcmd), title, longcmd);
	/* 79 ASCII bytes then "é": the cut does not split the character. */
	char utf[90];
	memset(utf, 'y', 79);
	strcpy(utf + 79, "\xc3\xa9zzz");
	char utf_title[84];
	memset(utf_title, 'y', 79);
	strcpy(utf_title + 79, "...");
	assert_describe(json_pack("{s:s}", "command", utf), utf_title, utf);
	/* Control characters in the title are escaped (names.h); backslashes stay. */
	assert_describe(json_pack("{s:s}", "command", "printf '\x1b[2J'\tgrep 'a\\|b'"),
			"printf '\\x1B[2J'\\x09grep 'a\\|b'", "printf '\x1b[2J'\tgrep 'a\\|b'");
	assert_describe(json_pack("{s:i}", "command", 3), "shell", "");
	assert_describe(json_object(), "shell", "");

	json_t *list = tools_list();
	assert_int_equal(json_array_size(list), 1);
	json_t *def = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(def, "name")), "shell");
	assert_string_equal(json_string_value(json_object_get(def, "permission")), "ask");
	assert_string_equal(json_string_value(json_object_get(def, "kind")), "execute");
	assert_false(json_is_true(json_object_get(def, "read_only")));
	assert_string_equal(json_string_value(json_object_get(def, "module")), "tool/shell");
	json_t *props = json_object_get(json_object_get(def, "input_schema"), "properties");
	assert_non_null(json_object_get(props, "command"));
	assert_non_null(json_object_get(props, "timeout_ms"));
	assert_non_null(json_object_get(props, "description"));
	json_decref(list);
}

static void
assert_refused(json_t *input, const char *message)
{
	struct res r;
	start_in(&r, F->tmp, input);
	RUN_UNTIL(r.done);
	assert_string_equal(res_text(&r), message);
	assert_true(res_is_error(&r));
	assert_int_equal(json_array_size(r.updates), 0);
	res_free(&r);
}

static void
test_bad_input(void **state)
{
	assert_int_equal(load(NULL), 0);
	const char *need = "'command' must be a non-empty string";
	assert_refused(json_object(), need);
	assert_refused(json_pack("{s:s}", "command", ""), need);
	assert_refused(json_pack("{s:i}", "command", 7), need);
	assert_refused(json_pack("{s:n}", "command"), need);
	assert_refused(json_pack("{s:[s]}", "command", "ls"), need);
	assert_refused(json_pack("{s:s#}", "command", "echo a\0b", (int)8),
		       "'command' must not contain a NUL character");
	const char *tmo = "'timeout_ms' must be a positive integer";
	assert_refused(json_pack("{s:s,s:s}", "command", "true", "timeout_ms", "100"), tmo);
	assert_refused(json_pack("{s:s,s:i}", "command", "true", "timeout_ms", 0), tmo);
	assert_refused(json_pack("{s:s,s:i}", "command", "true", "timeout_ms", -5), tmo);
	assert_refused(json_pack("{s:s,s:f}", "command", "true", "timeout_ms", 1.5), tmo);

	/* A long command runs up to the kernel's limit on one argument, and is refused
	 * past it. */
	size_t n = 1 << 20;
	char *big = xmalloc(n + 1);
	memset(big, ' ', n);
	memcpy(big, "echo ok #", 9);
	big[100000] = '\0';
	struct res r;
	run(&r, big, NULL);
	assert_string_equal(res_text(&r), "exit status 0\n<stdout>\nok\n</stdout>");
	res_free(&r);
	big[100000] = ' ';
	big[n] = '\0';
	assert_refused(json_pack("{s:s}", "command", big),
		       "'command' is too long: 1048576 bytes, at most 131071");
	free(big);
}

static void
test_config(void **state)
{
	assert_int_equal(load("max_output_bytes = 3\n"), 1);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "max_output_bytes"));
	free(log);
	testutil_log_capture();
	registry_free(F->reg);
	conf_free(F->conf);

	assert_int_equal(load("timeout_ms = soon\n"), 1);
	registry_free(F->reg);
	conf_free(F->conf);

	assert_int_equal(load("keep_secrets = maybe\n"), 1);
	registry_free(F->reg);
	conf_free(F->conf);

	assert_int_equal(load("max_timeout_ms = 0\n"), 1);
	registry_free(F->reg);
	conf_free(F->conf);

	/* Unknown keys are a warning (the core's permission keys are not unknown); a
	 * default above the cap is lowered to it. */
	assert_int_equal(load("colour = blue\ntimeout_ms = 5000\nmax_timeout_ms = 250\n"
			      "allow.shell = git status*\ndeny.shell = rm *\nask.shell = x*\n"
			      "permission.shell = ask\nallow_paths = /usr/*\n"
			      "allow_write_paths = /tmp/*\n"), 0);
	log = testutil_log_release();
	assert_non_null(strstr(log, "unknown key 'colour' ignored"));
	assert_int_equal(testutil_count(log, "unknown key"), 1);
	assert_non_null(strstr(log, "timeout_ms 5000 is above max_timeout_ms 250; using 250"));
	free(log);
	testutil_log_capture();
	struct res r;
	run(&r, "sleep 30", NULL);
	assert_string_equal(res_text(&r), "killed by signal SIGTERM (timed out after 250 ms)");
	res_free(&r);
}

static void
test_abandon(void **state)
{
	assert_int_equal(load(NULL), 0);
	struct res r;
	struct tools_call *c = start_in(&r, F->tmp, json_pack("{s:s}", "command",
								"echo $$; sleep 100"));
	RUN_UNTIL(json_array_size(r.updates) > 0);
	int pgid = atoi(update_text(&r, 0));
	tools_abandon(c);
	RUN_UNTIL(group_gone(pgid, 0));
	assert_false(r.done);
	res_free(&r);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
#ifdef __linux__
	prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_output_and_status),
		T(test_nonzero_exit),
		T(test_signals),
		T(test_timeout),
		T(test_timeout_whole_seconds),
		T(test_cancel_kills_group),
		T(test_background_child_no_orphan),
		T(test_huge_output_bounded),
		T(test_output_cap),
		T(test_progress_updates),
		T(test_progress_split_character),
		T(test_progress_bounded),
		T(test_cwd),
		T(test_secrets_removed),
		T(test_keep_secrets),
		T(test_describe_and_list),
		T(test_bad_input),
		T(test_config),
		T(test_abandon),
#undef T
	};
	return cmocka_run_group_tests_name("shell", tests, NULL, NULL);
}
