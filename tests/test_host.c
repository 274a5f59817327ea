/*
 * test_host.c: the host services a module gets: logging with its name, timers, the
 * thread pool, config getters, and the clean-up of what a module's fini() forgot.
 */
#include "config.h"

#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "daemon_ops.h"
#include "host.h"
#include "log.h"
#include "registry.h"
#include "testutil.h"
#include "xmalloc.h"

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct conf *conf;
	struct module mod;
	struct hearth_host *host;
};

static const char conf_text[] =
	"load tool fake\n"
	"[tool fake]\n"
	"count = 12\n"
	"negative = -5\n"
	"big = 99999999999999999999\n"
	"word = twelve\n"
	"flag_on = Yes\n"
	"flag_off = off\n"
	"flag_bad = maybe\n"
	"name = hello world\n"
	"empty = ${HEARTH_TEST_NO_SUCH_VAR:-}\n";

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	uv_loop_init(&f->loop);
	f->ctx.loop = &f->loop;
	f->ctx.state_dir = "/state";
	f->ctx.runtime_dir = "/run";
	f->ctx.daemon = &core_host_ops;
	host_context_set(&f->ctx);
	f->conf = conf_parse("plugins.conf", conf_text, strlen(conf_text));
	assert_int_equal(f->conf->n_errors, 0);
	f->mod.kind = HEARTH_KIND_TOOL;
	static char name[] = "fake", who[] = "tool/fake";
	f->mod.name = name;
	f->mod.who = who;
	f->mod.conf = &f->conf->modules[0];
	f->mod.conf_path = f->conf->path;
	f->host = host_new(&f->mod);
	testutil_log_capture();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	host_module_dead(f->host);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	host_free(f->host);
	free(testutil_log_release());
	conf_free(f->conf);
	free(f);
	return 0;
}

static void
test_table(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	assert_int_equal(h->abi_version, HEARTH_ABI);
	assert_int_equal(h->struct_size, sizeof(struct hearth_host));
	assert_ptr_equal(h->module, &f->mod);
	assert_true(HEARTH_HOST_HAS(h, runtime_dir));
	assert_string_equal(h->state_dir(h), "/state");
	assert_string_equal(h->runtime_dir(h), "/run");
	assert_ptr_equal(h->uv_loop(h), &f->loop);
}

static void
test_log_names_module(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	h->log(h, HEARTH_LOG_WARN, "disk %d%% full", 93);
	h->log(h, HEARTH_LOG_INFO, "two\nlines");
	log_set_level(HEARTH_LOG_INFO);
	h->log(h, HEARTH_LOG_DEBUG, "not shown");
	char *log = testutil_log_release();
	assert_int_equal(testutil_count(log, "\n"), 2);
	assert_non_null(strstr(log, "Z WARN  tool/fake: disk 93% full\n"));
	assert_non_null(strstr(log, "Z INFO  tool/fake: two\\nlines\n"));
	assert_null(strstr(log, "not shown"));
	/* ISO 8601 UTC stamp with milliseconds at the start of each line. */
	assert_int_equal(log[4], '-');
	assert_int_equal(log[10], 'T');
	assert_int_equal(log[19], '.');
	assert_int_equal(log[23], 'Z');
	free(log);
	testutil_log_capture();
}

static void
test_log_long_message_is_cut(void **state)
{
	struct fixture *f = *state;
	char *big = xmalloc(LOG_LINE_MAX * 3);
	memset(big, 'x', LOG_LINE_MAX * 3 - 1);
	big[LOG_LINE_MAX * 3 - 1] = '\0';
	f->host->log(f->host, HEARTH_LOG_ERROR, "%s", big);
	free(big);
	char *log = testutil_log_release();
	assert_int_equal(testutil_count(log, "\n"), 1);
	assert_non_null(strstr(log, "xxx...\n"));
	assert_true(strlen(log) < LOG_LINE_MAX + 64);
	free(log);
	testutil_log_capture();
}

struct timer_rec {
	const struct hearth_host *h;
	struct hearth_timer *t;
	int fired;
	int stop_after;
};

static void
timer_cb(void *arg)
{
	struct timer_rec *r = arg;
	if (++r->fired == r->stop_after)
		r->h->timer_stop(r->t);
}

static void
test_timers(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	struct timer_rec once = { .h = h, .stop_after = 1 };
	struct timer_rec rep = { .h = h, .stop_after = 5 };
	struct timer_rec never = { .h = h };
	once.t = h->timer_start(h, 1, 0, timer_cb, &once);
	rep.t = h->timer_start(h, 1, 1, timer_cb, &rep);
	never.t = h->timer_start(h, 100000, 0, timer_cb, &never);
	assert_non_null(once.t);
	assert_non_null(rep.t);
	h->timer_stop(never.t);
	assert_null(h->timer_start(h, 1, 0, NULL, NULL));
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(once.fired, 1);
	assert_int_equal(rep.fired, 5);
	assert_int_equal(never.fired, 0);
	assert_true(h->now_ms(h) > 0);
}

static void
test_forgotten_timers_closed(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	struct timer_rec r = { .h = h };
	h->timer_start(h, 100000, 100000, timer_cb, &r);
	h->timer_start(h, 100000, 0, timer_cb, &r);
	host_module_dead(f->host);
	/* No timer may start on a dead module. */
	assert_null(h->timer_start(h, 1, 0, timer_cb, &r));
	uv_run(&f->loop, UV_RUN_DEFAULT);   /* returns only because both were closed */
	assert_int_equal(r.fired, 0);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  tool/fake: fini() left 2 timers running; closed them\n"));
	free(log);
	testutil_log_capture();
}

struct work_rec {
	pthread_t loop_thread, work_thread, done_thread;
	int ran, done, status;
	sem_t *gate;   /* the work waits on it when set */
};

static void
work_fn(void *arg)
{
	struct work_rec *w = arg;
	w->work_thread = pthread_self();
	if (w->gate != NULL)
		sem_wait(w->gate);
	w->ran++;
}

static void
work_done(void *arg, int status)
{
	struct work_rec *w = arg;
	w->done_thread = pthread_self();
	w->done++;
	w->status = status;
}

static void
test_work_runs_off_loop(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	struct work_rec w = { .loop_thread = pthread_self() };
	assert_non_null(h->work_queue(h, work_fn, work_done, &w));
	assert_null(h->work_queue(h, NULL, work_done, &w));
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(w.ran, 1);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
	assert_false(pthread_equal(w.work_thread, w.loop_thread));
	assert_true(pthread_equal(w.done_thread, w.loop_thread));
}

/* With one pool thread (main sets UV_THREADPOOL_SIZE=1), a queued item can be cancelled. */
static void
test_work_cancel(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	sem_t gate;
	sem_init(&gate, 0, 0);
	struct work_rec busy = { .gate = &gate }, queued = { 0 };
	struct hearth_work *wb = h->work_queue(h, work_fn, work_done, &busy);
	struct hearth_work *wq = h->work_queue(h, work_fn, work_done, &queued);
	assert_int_equal(h->work_cancel(wq), 0);
	/* The first one may or may not have started yet; either way it completes. */
	int rc = h->work_cancel(wb);
	sem_post(&gate);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(queued.ran, 0);
	assert_int_equal(queued.done, 1);
	assert_int_equal(queued.status, HEARTH_ECANCELED);
	assert_int_equal(busy.done, 1);
	if (rc == 0) {
		assert_int_equal(busy.ran, 0);
		assert_int_equal(busy.status, HEARTH_ECANCELED);
	} else {
		assert_int_equal(rc, HEARTH_EBUSY);
		assert_int_equal(busy.ran, 1);
		assert_int_equal(busy.status, 0);
	}
	sem_destroy(&gate);
}

/* Work that finishes after the module's fini(): its done must not be called. */
static void
test_work_after_dead(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	struct work_rec w = { 0 };
	assert_non_null(h->work_queue(h, work_fn, work_done, &w));
	assert_int_equal(host_pending_work(f->host), 1);
	host_module_dead(f->host);
	assert_null(h->work_queue(h, work_fn, work_done, &w));
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(w.done, 0);
	assert_int_equal(host_pending_work(f->host), 0);
}

static void
test_config_getters(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	long long n = 0;
	int b = -1;

	assert_true(json_is_object(h->config(h)));
	assert_string_equal(h->config_string(h, "name", "x"), "hello world");
	assert_string_equal(h->config_string(h, "empty", "x"), "");
	assert_string_equal(h->config_string(h, "absent", "dflt"), "dflt");
	assert_null(h->config_string(h, "absent", NULL));

	assert_int_equal(h->config_int(h, "count", 0, 0, 100, &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(h->config_int(h, "negative", 0, -10, 10, &n), 0);
	assert_int_equal(n, -5);
	assert_int_equal(h->config_int(h, "absent", 7, 0, 10, &n), 0);
	assert_int_equal(n, 7);
	n = 1234;
	assert_int_equal(h->config_int(h, "count", 0, 0, 10, &n), HEARTH_EINVAL);
	assert_int_equal(n, 1234);
	assert_int_equal(h->config_int(h, "word", 0, 0, 10, &n), HEARTH_EINVAL);
	assert_int_equal(h->config_int(h, "big", 0, 0, 10, &n), HEARTH_EINVAL);
	assert_int_equal(h->config_int(h, "empty", 0, 0, 10, &n), HEARTH_EINVAL);

	assert_int_equal(h->config_bool(h, "flag_on", 0, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(h->config_bool(h, "flag_off", 1, &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(h->config_bool(h, "absent", 1, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(h->config_bool(h, "flag_bad", 0, &b), HEARTH_EINVAL);

	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR tool/fake: plugins.conf:3: [tool fake] count: '12' is "
			       "not an integer from 0 to 10\n"));
	assert_non_null(strstr(log, "ERROR tool/fake: plugins.conf:6: [tool fake] word: 'twelve' "
			       "is not an integer from 0 to 10\n"));
	assert_non_null(strstr(log, "ERROR tool/fake: plugins.conf:5: [tool fake] big: "
			       "'99999999999999999999' is not an integer from 0 to 10\n"));
	assert_non_null(strstr(log, "ERROR tool/fake: plugins.conf:11: [tool fake] empty: '' is "
			       "not an integer from 0 to 10\n"));
	assert_non_null(strstr(log, "ERROR tool/fake: plugins.conf:9: [tool fake] flag_bad: "
			       "'maybe' is not a boolean (yes/no, true/false, on/off, 1/0)\n"));
	free(log);
	testutil_log_capture();
}

/* Services the core does not provide yet say so instead of crashing. */
static void
test_unavailable_services(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	int err = 0;
	/* proc_spawn is there (tests/test_proc.c); options without argv are refused. */
	struct hearth_proc_options opt = { .struct_size = sizeof opt, .file = "true" };
	assert_null(h->proc_spawn(h, &opt, &err));
	assert_int_equal(err, HEARTH_EINVAL);
	char *v = NULL;
	size_t len = 0;
	assert_int_equal(h->kv_get(h, "k", &v, &len), HEARTH_ENOTSUP);  /* no store in this test */
	assert_null(v);
}

static int
stream_event_cb(void *arg, const char *event, const char *data, size_t len, const char *id)
{
	*(int *)arg += (int)len;
	return strcmp(event, "ping") == 0 ? 0 : 5;
}

static int
stream_line_cb(void *arg, json_t *value, size_t line_no)
{
	*(int *)arg += (int)json_integer_value(value);
	return 0;
}

/* The stream parsers reach modules through the table (tested in full by
 * test_sse and test_ndjson). */
static void
test_stream_parsers(void **state)
{
	struct fixture *f = *state;
	const struct hearth_host *h = f->host;
	assert_true(HEARTH_HOST_HAS(h, sse_free));
	assert_true(HEARTH_HOST_HAS(h, ndjson_free));
	int got = 0;
	struct hearth_sse *s = h->sse_new(h, 64, stream_event_cb, &got);
	assert_int_equal(h->sse_feed(s, "event: ping\ndata: abc\n\ndata: x\n\n", 32), 5);
	assert_int_equal(got, 4);
	assert_string_equal(h->sse_error(s), "SSE: stopped by the event callback (5) at byte 32");
	assert_int_equal(h->sse_finish(s), 5);
	h->sse_free(s);

	got = 0;
	struct hearth_ndjson *n = h->ndjson_new(h, 8, stream_line_cb, &got);
	assert_int_equal(h->ndjson_feed(n, "1\n2\r\n3", 6), 0);
	assert_int_equal(h->ndjson_finish(n), 0);
	assert_int_equal(got, 6);
	assert_string_equal(h->ndjson_error(n), "");
	h->ndjson_free(n);
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(hearth_strerror(0), "ok");
	assert_string_equal(hearth_strerror(HEARTH_EINVAL), "invalid argument");
	assert_string_equal(hearth_strerror(HEARTH_EPERM), "not permitted");
	assert_string_equal(hearth_strerror(-1000), "unknown error");
	assert_string_equal(hearth_strerror(5), "unknown error");
	enum hearth_log_level l;
	assert_int_equal(log_parse_level("DEBUG", &l), 0);
	assert_int_equal(l, HEARTH_LOG_DEBUG);
	assert_int_equal(log_parse_level("verbose", &l), HEARTH_EINVAL);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	setenv("UV_THREADPOOL_SIZE", "1", 1);
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_table),
		T(test_log_names_module),
		T(test_log_long_message_is_cut),
		T(test_timers),
		T(test_forgotten_timers_closed),
		T(test_work_runs_off_loop),
		T(test_work_cancel),
		T(test_work_after_dead),
		T(test_config_getters),
		T(test_unavailable_services),
		T(test_stream_parsers),
		cmocka_unit_test(test_strerror),
#undef T
	};
	return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
