/*
 * provider_harness.c: the fixture and recording sink the provider module
 * tests share (see provider_harness.h).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daemon_ops.h"
#include "loader.h"
#include "provider_harness.h"
#include "testutil.h"
#include "xmalloc.h"

uint64_t
provider_harness_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
provider_harness_setup(struct provider_fixture *pf, const char *name, const char *model)
{
	memset(pf, 0, sizeof *pf);
	pf->name = name;
	pf->model = model;
	assert_int_equal(uv_loop_init(&pf->loop), 0);
	pf->tmp = testutil_mkdtemp(name);
	pf->http = http_client_new(&pf->loop);
	assert_non_null(pf->http);
	pf->ctx.loop = &pf->loop;
	pf->ctx.http = pf->http;
	pf->ctx.state_dir = pf->tmp;
	pf->ctx.runtime_dir = pf->tmp;
	pf->ctx.daemon = &core_host_ops;
	host_context_set(&pf->ctx);
	assert_int_equal(loader_init(), 0);
	testutil_log_capture();
}

static void
provider_harness_http_closed_cb(void *arg)
{
	struct provider_fixture *pf = arg;
	pf->http_closed++;
}

void
provider_harness_teardown(struct provider_fixture *pf, const char *secret)
{
	if (pf->reg != NULL) {
		registry_stop_frontends(pf->reg);
		registry_fini_all(pf->reg);
	}
	http_client_close(pf->http, provider_harness_http_closed_cb, pf);
	uv_run(&pf->loop, UV_RUN_DEFAULT);
	assert_int_equal(pf->http_closed, 1);
	assert_int_equal(uv_loop_close(&pf->loop), 0);
	registry_free(pf->reg);
	char *log = testutil_log_release();
	/* Whatever happened, the key never reached the log. */
	if (secret != NULL)
		assert_null(strstr(log, secret));
	free(log);
	loader_exit();
	conf_free(pf->conf);
	testutil_rmtree(pf->tmp);
	free(pf->tmp);
	pf->reg = NULL;
	pf->conf = NULL;
	pf->mod = NULL;
	pf->tmp = NULL;
}

size_t
provider_harness_load(struct provider_fixture *pf, const char *section)
{
	char *text = xasprintf("module_dir %s/plugins\nload provider %s\n[provider %s]\n%s",
			       HEARTH_BUILDDIR, pf->name, pf->name, section);
	pf->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	for (size_t i = 0; i < pf->conf->n_errors; i++)
		fprintf(stderr, "unexpected conf error: %s\n", pf->conf->errors[i]);
	assert_int_equal(pf->conf->n_errors, 0);
	pf->reg = registry_new(pf->conf);
	size_t errors = registry_load_all(pf->reg);
	pf->mod = registry_find(pf->reg, HEARTH_KIND_PROVIDER, pf->name);
	return errors;
}

size_t
provider_harness_load_kv(struct provider_fixture *pf, const char *key, const char *value,
			 const char *extra)
{
	char *s = xasprintf("%s = %s\n%s", key, value, extra != NULL ? extra : "");
	size_t n = provider_harness_load(pf, s);
	free(s);
	return n;
}

json_t *
provider_harness_request(const struct provider_fixture *pf)
{
	return json_pack("{s:s,s:[{s:s,s:[{s:s,s:s}]}]}", "model", pf->model, "messages", "role",
			 "user", "parts", "type", "text", "text", "Hi");
}

void
provider_harness_unload(struct provider_fixture *pf)
{
	if (pf->reg != NULL) {
		registry_stop_frontends(pf->reg);
		registry_fini_all(pf->reg);
		for (int i = 0; i < 10; i++)
			uv_run(&pf->loop, UV_RUN_NOWAIT);
		registry_free(pf->reg);
	}
	conf_free(pf->conf);
	pf->reg = NULL;
	pf->conf = NULL;
	pf->mod = NULL;
}

const struct hearth_provider *
provider_harness_prov(struct provider_fixture *pf)
{
	assert_non_null(pf->mod);
	return pf->mod->desc->provider;
}

char *
provider_harness_log_text(void)
{
	char *log = testutil_log_release();
	testutil_log_capture();
	return log;
}

char *
provider_harness_dump_sorted(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(s);
	return s;
}

/* ------------------------------------------------------------ the sink -- */

static void provider_rec_add(struct provider_rec *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
provider_rec_add(struct provider_rec *r, const char *fmt, ...)
{
	if (r->done)
		r->after_done++;
	va_list ap;
	va_start(ap, fmt);
	char *line = xvasprintf(fmt, ap);
	va_end(ap);
	size_t n = strlen(line);
	r->log = xrealloc(r->log, r->len + n + 2);
	memcpy(r->log + r->len, line, n);
	r->len += n;
	r->log[r->len++] = '\n';
	r->log[r->len] = '\0';
	free(line);
}

static void
provider_rec_text_cb(void *arg, const char *text, size_t len)
{
	struct provider_rec *r = arg;
	provider_rec_add(r, "T:%.*s", (int)len, text);
	if (r->cancel_on_text && !r->cancelled) {
		r->cancelled = 1;
		provider_harness_prov(r->pf)->cancel(r->pf->mod->state, r->call);
	}
}

static void
provider_rec_reasoning_cb(void *arg, const char *text, size_t len)
{
	provider_rec_add(arg, "R:%.*s", (int)len, text);
}

static void
provider_rec_part_end_cb(void *arg, const json_t *meta)
{
	char *s = meta != NULL ? provider_harness_dump_sorted(meta) : xstrdup("-");
	provider_rec_add(arg, "E:%s", s);
	free(s);
}

static void
provider_rec_tool_call_cb(void *arg, const char *id, const char *name, const json_t *input,
			  const json_t *meta)
{
	struct provider_rec *r = arg;
	char *s = provider_harness_dump_sorted(input);
	if (r->meta_json) {
		char *m = meta != NULL ? provider_harness_dump_sorted(meta) : NULL;
		provider_rec_add(r, "C:%s %s %s%s%s", id, name, s, m != NULL ? " M:" : "",
				 m != NULL ? m : "");
		free(m);
	} else {
		provider_rec_add(r, "C:%s %s %s%s", id, name, s, meta != NULL ? " +meta" : "");
	}
	free(s);
}

static void
provider_rec_usage_cb(void *arg, const struct hearth_usage *u)
{
	provider_rec_add(arg, "U:%llu,%llu,%llu,%llu,%llu", (unsigned long long)u->input_tokens,
			 (unsigned long long)u->output_tokens,
			 (unsigned long long)u->reasoning_tokens,
			 (unsigned long long)u->cache_read_tokens,
			 (unsigned long long)u->cache_write_tokens);
}

static void
provider_rec_done_cb(void *arg, enum hearth_finish finish, const struct hearth_provider_error *err)
{
	struct provider_rec *r = arg;
	provider_rec_add(r, "D:%d", (int)finish);
	r->done++;
	r->finish = finish;
	if (err != NULL) {
		assert_int_equal(finish, HEARTH_FINISH_ERROR);
		assert_int_equal(err->struct_size, sizeof(struct hearth_provider_error));
		if (r->no_vendor)
			assert_null(err->vendor_code);
		r->has_err = 1;
		r->err = *err;
		r->message = err->message != NULL ? xstrdup(err->message) : NULL;
		r->vendor = err->vendor_code != NULL ? xstrdup(err->vendor_code) : NULL;
		r->err.message = r->message;
		r->err.vendor_code = r->vendor;
	} else {
		assert_int_not_equal(finish, HEARTH_FINISH_ERROR);
	}
}

const struct hearth_stream_sink provider_rec_sink = {
	.struct_size = sizeof(struct hearth_stream_sink),
	.text = provider_rec_text_cb,
	.reasoning = provider_rec_reasoning_cb,
	.part_end = provider_rec_part_end_cb,
	.tool_call = provider_rec_tool_call_cb,
	.usage = provider_rec_usage_cb,
	.done = provider_rec_done_cb,
};

struct provider_rec *
provider_rec_new(struct provider_fixture *pf)
{
	struct provider_rec *r = xcalloc(1, sizeof *r);
	r->pf = pf;
	r->meta_json = pf->rec_meta_json;
	r->no_vendor = pf->rec_no_vendor;
	return r;
}

struct provider_rec *
provider_rec_start(struct provider_fixture *pf, const json_t *request)
{
	struct provider_rec *r = provider_rec_new(pf);
	json_t *own = request == NULL ? provider_harness_request(pf) : NULL;
	int error = 0;
	r->call = provider_harness_prov(pf)->stream(pf->mod->state, own != NULL ? own : request,
						    &provider_rec_sink, r, &error);
	json_decref(own);
	assert_non_null(r->call);
	assert_int_equal(error, 0);
	return r;
}

void
provider_rec_wait(struct provider_rec *r)
{
	RUN_UNTIL(r->pf, r->done);
	assert_int_equal(r->done, 1);
	assert_int_equal(r->after_done, 0);
}

void
provider_rec_assert_error(const struct provider_rec *r, uint32_t type, long status,
			  int retryable, uint64_t retry_after_ms, const char *message,
			  const char *vendor)
{
	assert_true(r->has_err);
	if (r->err.type != type || strcmp(r->message, message) != 0)
		fprintf(stderr, "got type %u message '%s'\n", r->err.type, r->message);
	assert_int_equal(r->err.type, type);
	assert_int_equal(r->err.http_status, status);
	assert_int_equal(r->err.retryable, retryable);
	assert_int_equal(r->err.retry_after_ms, retry_after_ms);
	assert_string_equal(r->message, message);
	if (vendor == NULL)
		assert_null(r->vendor);
	else
		assert_string_equal(r->vendor, vendor);
}

void
provider_rec_free(struct provider_rec *r)
{
	free(r->log);
	free(r->message);
	free(r->vendor);
	free(r);
}
