/*
 * test_proc.c: child processes (core/proc.c) with real children: /bin/sh scripts,
 * cat, env, head. Grace and drain times are shortened. The test process ignores
 * SIGPIPE, as hearthd does, and is a child subreaper, so orphaned grandchildren
 * become ours and proc.c can reap them: "no process of the group is left" is then
 * exact, not subject to when init gets round to reaping.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "daemon_ops.h"
#include "host.h"
#include "log.h"
#include "proc.h"
#include "registry.h"
#include "testutil.h"
#include "xmalloc.h"

#define TEST_GRACE_MS 150
#define TEST_DRAIN_MS 150

struct buf {
	char *data;
	size_t len;
};

/* One child and what it did. */
struct run {
	struct hearth_proc *p;
	int pid;
	struct buf out, err;
	size_t out_bytes, out_calls, out_max_chunk;
	int count_only;        /* on_stdout counts, keeps nothing */
	int stop_out_after;    /* on_stdout returns 1 from this call on (1-based); 0: never */
	int release_in_exit;   /* proc_release() from on_exit */
	int exits;
	int exit_status, term_signal, timed_out;
	int group_gone;        /* kill(-pid, 0) failed with ESRCH in on_exit */
	int write_in_exit;     /* proc_write() from on_exit */
	int kill_in_exit;      /* proc_kill() from on_exit */
};

static void
buf_add(struct buf *b, const char *data, size_t len)
{
	b->data = xrealloc(b->data, b->len + len + 1);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

static int
on_stdout_cb(void *arg, const char *data, size_t len)
{
	struct run *r = arg;
	assert_true(len > 0);
	r->out_calls++;
	r->out_bytes += len;
	if (len > r->out_max_chunk)
		r->out_max_chunk = len;
	if (!r->count_only)
		buf_add(&r->out, data, len);
	return r->stop_out_after != 0 && r->out_calls >= (size_t)r->stop_out_after;
}

static int
on_stderr_cb(void *arg, const char *data, size_t len)
{
	struct run *r = arg;
	buf_add(&r->err, data, len);
	return 0;
}

static void
on_exit_cb(void *arg, int exit_status, int term_signal, int timed_out)
{
	struct run *r = arg;
	r->exits++;
	r->exit_status = exit_status;
	r->term_signal = term_signal;
	r->timed_out = timed_out;
	assert_int_equal(proc_pid(r->p), r->pid);
	r->group_gone = kill(-r->pid, 0) == -1 && errno == ESRCH;
	r->write_in_exit = proc_write(r->p, "x", 1);
	r->kill_in_exit = proc_kill(r->p, 0);
	if (r->release_in_exit)
		proc_release(r->p);
}

static void
run_free(struct run *r)
{
	free(r->out.data);
	free(r->err.data);
}

static struct hearth_proc *
spawn_argv(uv_loop_t *loop, struct run *r, const char *file, const char *const *argv,
	   const char *const *env, const char *cwd, uint32_t flags, uint32_t timeout_ms)
{
	struct hearth_proc_options o = {
		.struct_size = sizeof o,
		.file = file,
		.argv = argv,
		.env = env,
		.cwd = cwd,
		.flags = flags,
		.timeout_ms = timeout_ms,
		.on_stdout = on_stdout_cb,
		.on_stderr = on_stderr_cb,
		.on_exit = on_exit_cb,
		.arg = r,
	};
	int error = 1;
	char *message = NULL;
	r->p = proc_spawn(loop, &o, &error, &message);
	assert_non_null(r->p);
	assert_int_equal(error, 0);
	assert_null(message);
	r->pid = proc_pid(r->p);
	assert_true(r->pid > 0);
	return r->p;
}

static struct hearth_proc *
spawn_sh(uv_loop_t *loop, struct run *r, const char *script, uint32_t flags,
	 uint32_t timeout_ms)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	return spawn_argv(loop, r, "sh", argv, NULL, NULL, flags, timeout_ms);
}

/* Run the loop until nothing is left, then close it. */
static void
loop_finish(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static int
group_gone(int pid)
{
	return kill(-pid, 0) == -1 && errno == ESRCH;
}

/* Wait (outside the loop) until `path` exists: the child says it is ready. */
static void
wait_for_file(const char *path)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	for (int i = 0; i < 4000; i++) {  /* 20 s: only a broken machine gets there */
		if (access(path, F_OK) == 0)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("%s never appeared", path);
}

/* ---------------------------------------------------------------- tests -- */

static void
test_env_is_secret(void **state)
{
	(void)state;
	assert_true(proc_env_is_secret("ANTHROPIC_API_KEY"));
	assert_true(proc_env_is_secret("OPENAI_API_KEY"));
	assert_true(proc_env_is_secret("GEMINI_API_KEY"));
	assert_true(proc_env_is_secret("GOOGLE_API_KEY"));
	assert_true(proc_env_is_secret("MISTRAL_API_KEY"));
	assert_true(proc_env_is_secret("GITHUB_TOKEN"));
	assert_true(proc_env_is_secret("CLIENT_SECRET"));
	assert_true(proc_env_is_secret("AWS_SECRET_KEY"));
	assert_true(proc_env_is_secret("github_token"));
	assert_true(proc_env_is_secret("_TOKEN"));
	assert_true(proc_env_is_secret("GITHUB_TOKEN=ghp_x"));
	assert_true(proc_env_is_secret("ANTHROPIC_API_KEY="));
	assert_false(proc_env_is_secret(NULL));
	assert_false(proc_env_is_secret(""));
	assert_false(proc_env_is_secret("="));
	assert_false(proc_env_is_secret("PATH"));
	assert_false(proc_env_is_secret("TOKEN"));
	assert_false(proc_env_is_secret("API_KEY"));
	assert_false(proc_env_is_secret("TOKENIZER"));
	assert_false(proc_env_is_secret("GITHUB_TOKENS"));
	assert_false(proc_env_is_secret("API_KEY_FILE"));
	assert_false(proc_env_is_secret("PATH=/x_TOKEN"));
	assert_false(proc_env_is_secret("SECRET"));
	assert_false(proc_env_is_secret("ANTHROPIC_API_KEYS"));
}

static void
test_stdout_stderr(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	spawn_sh(&loop, &r,
		 "printf 'out1\\n'; printf 'err1' >&2; printf 'a\\000b'; printf 'err2\\n' >&2",
		 0, 0);
	loop_finish(&loop);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.exit_status, 0);
	assert_int_equal(r.term_signal, 0);
	assert_int_equal(r.timed_out, 0);
	assert_int_equal(r.out.len, 8);
	assert_memory_equal(r.out.data, "out1\na\0b", 8);
	assert_string_equal(buf_str(&r.err), "err1err2\n");
	/* After on_exit: writing fails (no stdin pipe at all), the group is gone. */
	assert_int_equal(r.write_in_exit, HEARTH_EINVAL);
	assert_int_equal(r.kill_in_exit, HEARTH_ENOENT);
	run_free(&r);
}

static void
test_exit_codes(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run a = { 0 }, b = { 0 }, c = { 0 };
	spawn_sh(&loop, &a, "exit 3", 0, 0);
	spawn_sh(&loop, &b, "exit 0", 0, 0);
	spawn_sh(&loop, &c, "exit 255", 0, 0);
	c.release_in_exit = 1;
	loop_finish(&loop);
	assert_int_equal(a.exits, 1);
	assert_int_equal(a.exit_status, 3);
	assert_int_equal(a.term_signal, 0);
	assert_int_equal(b.exits, 1);
	assert_int_equal(b.exit_status, 0);
	assert_int_equal(c.exits, 1);
	assert_int_equal(c.exit_status, 255);
	assert_int_equal(c.timed_out, 0);
	assert_int_equal(a.out.len + a.err.len + b.out.len + c.err.len, 0);
	run_free(&a);
	run_free(&b);
	run_free(&c);
}

static void
test_killed_by_signal(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 }, k = { 0 };
	spawn_sh(&loop, &r, "echo before; kill -9 $$; echo after", 0, 0);
	/* proc_kill() reaches the whole group: the sh and its sleep. */
	spawn_sh(&loop, &k, "sleep 30; echo never", 0, 0);
	assert_int_equal(getpgid(k.pid), k.pid);  /* its own group ... */
	assert_int_equal(getsid(k.pid), k.pid);   /* ... and session */
	assert_int_equal(proc_kill(k.p, SIGKILL), 0);
	loop_finish(&loop);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.exit_status, 137);
	assert_int_equal(r.term_signal, 9);
	assert_int_equal(r.timed_out, 0);
	assert_string_equal(buf_str(&r.out), "before\n");
	assert_int_equal(k.exits, 1);
	assert_int_equal(k.exit_status, 137);
	assert_int_equal(k.term_signal, SIGKILL);
	assert_int_equal(k.out.len, 0);
	run_free(&r);
	run_free(&k);
}

static void
test_cat_round_trip(void **state)
{
	(void)state;
	enum { SIZE = 1024 * 1024, CHUNK = 10000 };
	uv_loop_t loop;
	uv_loop_init(&loop);
	char *data = xmalloc(SIZE);
	for (size_t i = 0; i < SIZE; i++)
		data[i] = (char)(i * 7 + i / 256);
	struct run r = { 0 };
	const char *argv[] = { "cat", NULL };
	spawn_argv(&loop, &r, "cat", argv, NULL, NULL, HEARTH_PROC_STDIN, 0);
	for (size_t off = 0; off < SIZE; off += CHUNK) {
		size_t n = SIZE - off < CHUNK ? SIZE - off : CHUNK;
		assert_int_equal(proc_write(r.p, data + off, n), 0);
	}
	assert_int_equal(proc_write(r.p, NULL, 0), 0);
	assert_int_equal(proc_write(r.p, NULL, 1), HEARTH_EINVAL);
	proc_close_stdin(r.p);
	proc_close_stdin(r.p);
	assert_int_equal(proc_write(r.p, "late", 4), HEARTH_EINVAL);
	loop_finish(&loop);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.exit_status, 0);
	assert_int_equal(r.out.len, SIZE);
	assert_memory_equal(r.out.data, data, SIZE);
	assert_true(r.out_max_chunk <= PROC_READ_BUF);
	free(data);
	run_free(&r);
}

static void
test_close_stdin_eof(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 }, n = { 0 };
	spawn_sh(&loop, &r, "n=$(wc -c); echo \"got $n\"", HEARTH_PROC_STDIN, 0);
	assert_int_equal(proc_write(r.p, "hello", 5), 0);
	proc_close_stdin(r.p);
	/* Without HEARTH_PROC_STDIN, stdin is /dev/null: immediate EOF. */
	spawn_sh(&loop, &n, "n=$(wc -c); echo \"got $n\"", 0, 0);
	assert_int_equal(proc_write(n.p, "x", 1), HEARTH_EINVAL);
	proc_close_stdin(n.p);
	loop_finish(&loop);
	assert_string_equal(buf_str(&r.out), "got 5\n");
	assert_int_equal(r.exit_status, 0);
	assert_int_equal(r.write_in_exit, HEARTH_EINVAL);  /* stdin closed by us */
	assert_string_equal(buf_str(&n.out), "got 0\n");
	run_free(&r);
	run_free(&n);
}

/* A child that exits without reading: queued bytes fail with EPIPE, quietly. */
static void
test_write_after_exit(void **state)
{
	(void)state;
	enum { SIZE = 4 * 1024 * 1024 };
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	spawn_sh(&loop, &r, "exit 4", HEARTH_PROC_STDIN, 0);
	char *data = xcalloc(1, SIZE);
	assert_int_equal(proc_write(r.p, data, SIZE), 0);
	free(data);
	loop_finish(&loop);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.exit_status, 4);
	assert_int_equal(r.write_in_exit, HEARTH_EIO);
	run_free(&r);
}

static void
test_timeout(void **state)
{
	(void)state;
	char *dir = testutil_mkdtemp("proc");
	char *ready = xasprintf("%s/ready", dir);
	char *script = xasprintf("echo started; : > '%s'; sleep 30; echo never", ready);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	spawn_sh(&loop, &r, script, 0, 20);
	wait_for_file(ready);  /* "started" is written before the timeout can fire */
	loop_finish(&loop);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.term_signal, SIGTERM);
	assert_int_equal(r.exit_status, 128 + SIGTERM);
	assert_string_equal(buf_str(&r.out), "started\n");
	assert_true(r.group_gone);
	assert_true(group_gone(r.pid));
	testutil_rmtree(dir);
	free(script);
	free(ready);
	free(dir);
	run_free(&r);
}

/* A grandchild holding the pipes: on_exit comes after the drain time, group killed. */
static void
test_grandchild_holds_pipes(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	testutil_log_capture();
	spawn_sh(&loop, &r, "sleep 60 & echo hi; echo err >&2", 0, 0);
	loop_finish(&loop);
	char *log = testutil_log_release();
	char *want = xasprintf("proc %d: pipes still open %u ms after exit; killing its group\n",
			       r.pid, TEST_DRAIN_MS);
	assert_non_null(strstr(log, want));
	assert_null(strstr(log, "are left after SIGKILL"));
	free(want);
	free(log);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.exit_status, 0);
	assert_int_equal(r.term_signal, 0);
	assert_int_equal(r.timed_out, 0);
	assert_string_equal(buf_str(&r.out), "hi\n");
	assert_string_equal(buf_str(&r.err), "err\n");
	assert_true(r.group_gone);
	run_free(&r);
}

/* SIGTERM is ignored by the whole group: SIGKILL after the grace. */
static void
test_term_ignored(void **state)
{
	(void)state;
	char *dir = testutil_mkdtemp("proc");
	char *ready = xasprintf("%s/ready", dir);
	char *script = xasprintf("trap '' TERM; : > '%s'; sleep 30 & wait; echo never", ready);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	spawn_sh(&loop, &r, script, 0, 20);
	wait_for_file(ready);  /* the trap is set before the loop can run the timeout */
	loop_finish(&loop);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.term_signal, SIGKILL);
	assert_int_equal(r.exit_status, 137);
	assert_int_equal(r.out.len, 0);
	assert_true(r.group_gone);
	testutil_rmtree(dir);
	free(script);
	free(ready);
	free(dir);
	run_free(&r);
}

static void
test_release_running(void **state)
{
	(void)state;
	char *dir = testutil_mkdtemp("proc");
	char *ready = xasprintf("%s/ready", dir);
	char *script = xasprintf("trap '' TERM; : > '%s'; sleep 30 & wait", ready);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run a = { 0 }, b = { 0 }, c = { 0 };
	spawn_sh(&loop, &a, "sleep 30 & sleep 30; echo never", HEARTH_PROC_STDIN, 0);
	spawn_sh(&loop, &b, script, 0, 0);  /* ignores SIGTERM: needs the SIGKILL */
	spawn_sh(&loop, &c, "echo out; sleep 30", 0, 10000);
	wait_for_file(ready);
	assert_int_equal(proc_write(a.p, "queued", 6), 0);
	proc_release(a.p);
	proc_release(a.p);
	proc_release(b.p);
	proc_release(NULL);
	/* The handle is dead for its owner; c is released once its output is in. */
	c.stop_out_after = 1;
	while (c.out_calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	proc_release(c.p);
	loop_finish(&loop);
	assert_int_equal(a.exits + b.exits + c.exits, 0);
	assert_int_equal(a.out.len + b.out.len, 0);
	assert_string_equal(buf_str(&c.out), "out\n");
	assert_true(group_gone(a.pid));
	assert_true(group_gone(b.pid));
	assert_true(group_gone(c.pid));
	testutil_rmtree(dir);
	free(script);
	free(ready);
	free(dir);
	run_free(&a);
	run_free(&b);
	run_free(&c);
}

static void
test_kill_all(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run a = { 0 }, b = { 0 };
	spawn_sh(&loop, &a, "trap '' TERM; sleep 30", 0, 0);
	spawn_sh(&loop, &b, "sleep 30 & sleep 30", 0, 0);
	proc_release(b.p);  /* in its grace: kill_all does not wait for it */
	proc_kill_all();
	proc_kill_all();
	loop_finish(&loop);
	assert_int_equal(a.exits + b.exits, 0);
	assert_true(group_gone(a.pid));
	assert_true(group_gone(b.pid));
	run_free(&a);
	run_free(&b);
}

static void
test_spawn_errors(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	const char *argv[] = { "nosuchprog-hearth", NULL };
	struct hearth_proc_options o = {
		.struct_size = sizeof o,
		.file = "nosuchprog-hearth",
		.argv = argv,
		.on_exit = on_exit_cb,
		.arg = &r,
		.flags = HEARTH_PROC_STDIN,
	};
	int error = 0;
	char *message = NULL;
	assert_null(proc_spawn(&loop, &o, &error, &message));
	assert_int_equal(error, HEARTH_ENOENT);
	assert_string_equal(message, "cannot run 'nosuchprog-hearth': no such file or directory");
	free(message);

	/* A path that does not exist, and one that is no program. */
	o.file = "/nonexistent/prog";
	assert_null(proc_spawn(&loop, &o, &error, NULL));
	assert_int_equal(error, HEARTH_ENOENT);
	o.file = "/dev/null";
	assert_null(proc_spawn(&loop, &o, &error, &message));
	assert_int_equal(error, HEARTH_EPERM);
	assert_string_equal(message, "cannot run '/dev/null': permission denied");
	free(message);

	/* A working directory that does not exist. */
	const char *sh_argv[] = { "sh", "-c", "exit 0", NULL };
	o.file = "sh";
	o.argv = sh_argv;
	o.cwd = "/nonexistent-hearth-dir";
	assert_null(proc_spawn(&loop, &o, &error, &message));
	assert_int_equal(error, HEARTH_ENOENT);
	assert_string_equal(message, "cannot run 'sh' in '/nonexistent-hearth-dir': "
				     "no such file or directory");
	free(message);
	o.cwd = NULL;

	/* Malformed options. */
	assert_null(proc_spawn(&loop, NULL, &error, &message));
	assert_int_equal(error, HEARTH_EINVAL);
	assert_string_equal(message, "no process options");
	free(message);
	struct hearth_proc_options bad = o;
	bad.struct_size = sizeof bad - 1;
	assert_null(proc_spawn(&loop, &bad, &error, &message));
	assert_int_equal(error, HEARTH_EINVAL);
	assert_non_null(strstr(message, "expected"));
	free(message);
	bad = o;
	bad.on_exit = NULL;
	assert_null(proc_spawn(&loop, &bad, &error, NULL));
	assert_int_equal(error, HEARTH_EINVAL);
	bad = o;
	bad.file = "";
	assert_null(proc_spawn(&loop, &bad, &error, NULL));
	assert_int_equal(error, HEARTH_EINVAL);
	bad = o;
	bad.argv = NULL;
	assert_null(proc_spawn(&loop, &bad, &error, NULL));
	assert_int_equal(error, HEARTH_EINVAL);
	const char *empty_argv[] = { NULL };
	bad.argv = empty_argv;
	assert_null(proc_spawn(&loop, &bad, NULL, NULL));

	/* NULL handles are refused quietly. */
	assert_int_equal(proc_write(NULL, "x", 1), HEARTH_EINVAL);
	assert_int_equal(proc_kill(NULL, SIGTERM), HEARTH_EINVAL);
	assert_int_equal(proc_pid(NULL), -1);
	proc_close_stdin(NULL);
	proc_release(NULL);

	loop_finish(&loop);
	assert_int_equal(r.exits, 0);
}

/* 200 MB through a fixed buffer: the callback sees bounded chunks. */
static void
test_big_output(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { .count_only = 1 };
	spawn_sh(&loop, &r, "head -c 200000000 /dev/zero", 0, 0);
	loop_finish(&loop);
	assert_int_equal(r.exits, 1);
	assert_int_equal(r.exit_status, 0);
	assert_int_equal(r.out_bytes, 200000000);
	assert_true(r.out_max_chunk <= PROC_READ_BUF);
	assert_null(r.out.data);
	run_free(&r);
}

/* on_stdout returning non-zero: no more stdout calls, but stderr and the exit come. */
static void
test_stop_reading(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { .stop_out_after = 1 };
	spawn_sh(&loop, &r, "head -c 5000000 /dev/zero; echo done >&2; exit 7", 0, 0);
	loop_finish(&loop);
	assert_int_equal(r.out_calls, 1);
	assert_string_equal(buf_str(&r.err), "done\n");
	assert_int_equal(r.exit_status, 7);
	run_free(&r);
}

static int
has_line(const struct buf *b, const char *line)
{
	char *hay = xasprintf("\n%s", buf_str(b));
	char *needle = xasprintf("\n%s\n", line);
	int found = strstr(hay, needle) != NULL;
	free(hay);
	free(needle);
	return found;
}

static void
test_secrets(void **state)
{
	(void)state;
	static const char *const secrets[] = {
		"ANTHROPIC_API_KEY=sk-ant", "OPENAI_API_KEY=sk-oai", "GEMINI_API_KEY=g1",
		"GOOGLE_API_KEY=g2", "HEARTH_T_API_KEY=k", "HEARTH_T_TOKEN=t",
		"HEARTH_T_SECRET=s", "HEARTH_T_SECRET_KEY=sk",
	};
	size_t n = sizeof secrets / sizeof secrets[0];
	for (size_t i = 0; i < n; i++)
		assert_int_equal(putenv((char *)secrets[i]), 0);
	setenv("HEARTH_T_PLAIN", "yes", 1);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run plain = { 0 }, keep = { 0 };
	const char *argv[] = { "env", NULL };
	spawn_argv(&loop, &plain, "env", argv, NULL, NULL, 0, 0);
	spawn_argv(&loop, &keep, "env", argv, NULL, NULL, HEARTH_PROC_KEEP_SECRETS, 0);
	loop_finish(&loop);
	assert_true(has_line(&plain.out, "HEARTH_T_PLAIN=yes"));
	assert_true(has_line(&keep.out, "HEARTH_T_PLAIN=yes"));
	for (size_t i = 0; i < n; i++) {
		assert_false(has_line(&plain.out, secrets[i]));
		assert_true(has_line(&keep.out, secrets[i]));
	}
	assert_null(strstr(buf_str(&plain.out), "_API_KEY="));
	assert_null(strstr(buf_str(&plain.out), "_TOKEN="));

	for (size_t i = 0; i < n; i++) {
		char *name = xstrndup(secrets[i], strcspn(secrets[i], "="));
		unsetenv(name);
		free(name);
	}
	unsetenv("HEARTH_T_PLAIN");
	run_free(&plain);
	run_free(&keep);
}

static void
test_explicit_env(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run plain = { 0 }, keep = { 0 }, empty = { 0 };
	const char *env[] = { "A=1", "B_TOKEN=x", "C=three", "OPENAI_API_KEY=k", NULL };
	const char *none[] = { NULL };
	const char *argv[] = { "env", NULL };
	spawn_argv(&loop, &plain, "/usr/bin/env", argv, env, NULL, 0, 0);
	spawn_argv(&loop, &keep, "/usr/bin/env", argv, env, NULL, HEARTH_PROC_KEEP_SECRETS, 0);
	spawn_argv(&loop, &empty, "/usr/bin/env", argv, none, NULL, 0, 0);
	loop_finish(&loop);
	assert_string_equal(buf_str(&plain.out), "A=1\nC=three\n");
	assert_string_equal(buf_str(&keep.out), "A=1\nB_TOKEN=x\nC=three\nOPENAI_API_KEY=k\n");
	assert_int_equal(empty.out.len, 0);
	assert_int_equal(empty.exit_status, 0);
	run_free(&plain);
	run_free(&keep);
	run_free(&empty);
}

static void
test_cwd(void **state)
{
	(void)state;
	char *dir = testutil_mkdtemp("proc");
	char real[PATH_MAX];
	assert_non_null(realpath(dir, real));
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct run r = { 0 };
	const char *argv[] = { "sh", "-c", "pwd -P; ls", NULL };
	char *marker = xasprintf("%s/marker", real);
	assert_int_equal(testutil_write_file(marker, "", 0), 0);
	spawn_argv(&loop, &r, "sh", argv, NULL, real, 0, 0);
	loop_finish(&loop);
	char *want = xasprintf("%s\nmarker\n", real);
	assert_string_equal(buf_str(&r.out), want);
	free(want);
	free(marker);
	testutil_rmtree(dir);
	free(dir);
	run_free(&r);
}

/* ------------------------------------------------------ through the host -- */

static void
host_exit_cb(void *arg, int exit_status, int term_signal, int timed_out)
{
	struct run *r = arg;
	r->exits++;
	r->exit_status = exit_status;
	r->term_signal = term_signal;
	r->timed_out = timed_out;
	proc_release(r->p);
}

static void
test_host_table(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct host_context ctx = { .loop = &loop, .state_dir = "/state", .runtime_dir = "/run" };
	ctx.daemon = &core_host_ops;
	host_context_set(&ctx);
	static char name[] = "fake", who[] = "tool/fake";
	struct module mod = { .kind = HEARTH_KIND_TOOL, .name = name, .who = who };
	struct hearth_host *h = host_new(&mod);
	testutil_log_capture();

	struct run r = { 0 };
	const char *argv[] = { "sh", "-c", "read x; echo \"[$x]\"; exit 2", NULL };
	struct hearth_proc_options o = {
		.struct_size = sizeof o, .file = "sh", .argv = argv,
		.flags = HEARTH_PROC_STDIN, .on_stdout = on_stdout_cb,
		.on_exit = host_exit_cb, .arg = &r,
	};
	int error = 1;
	r.p = h->proc_spawn(h, &o, &error);
	assert_non_null(r.p);
	assert_int_equal(error, 0);
	assert_true(h->proc_pid(r.p) > 0);
	assert_int_equal(h->proc_write(r.p, "line\n", 5), 0);
	h->proc_close_stdin(r.p);
	assert_int_equal(h->proc_kill(r.p, 0), 0);

	const char *bad_argv[] = { "nosuchprog-hearth", NULL };
	o.file = "nosuchprog-hearth";
	o.argv = bad_argv;
	assert_null(h->proc_spawn(h, &o, &error));
	assert_int_equal(error, HEARTH_ENOENT);

	uv_run(&loop, UV_RUN_DEFAULT);
	assert_string_equal(buf_str(&r.out), "[line]\n");
	assert_int_equal(r.exit_status, 2);
	assert_int_equal(r.exits, 1);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "tool/fake: cannot run 'nosuchprog-hearth': no such file or "
				    "directory\n"));
	free(log);

	host_module_dead(h);
	loop_finish(&loop);
	host_free(h);
	host_context_set(NULL);
	run_free(&r);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);  /* as hearthd does: a write to a dead child is EPIPE */
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
#ifdef __linux__
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		perror("PR_SET_CHILD_SUBREAPER");
#endif
	proc_set_test_timeouts(TEST_GRACE_MS, TEST_DRAIN_MS);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_is_secret),
		cmocka_unit_test(test_stdout_stderr),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_cat_round_trip),
		cmocka_unit_test(test_close_stdin_eof),
		cmocka_unit_test(test_write_after_exit),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_grandchild_holds_pipes),
		cmocka_unit_test(test_term_ignored),
		cmocka_unit_test(test_release_running),
		cmocka_unit_test(test_kill_all),
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_big_output),
		cmocka_unit_test(test_stop_reading),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_explicit_env),
		cmocka_unit_test(test_cwd),
		cmocka_unit_test(test_host_table),
	};
	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
