/*
 * fuzz_provider.c: a provider module's stream decoder, fed the fuzzer's bytes as the
 * HTTP response body. Built once per provider: -DFUZZ_PROVIDER="anthropic" (and
 * -DFUZZ_SECTION for lines of its plugins.conf section, e.g. openai's "api =
 * responses"). The real module is loaded by the real registry with a real host
 * table, whose http_start and http_cancel are replaced by a fake that records the
 * request's callbacks; after stream() returns, the harness delivers a status (from
 * the first byte: mostly 200, sometimes 400, 429 or 500, so the error-body parsers
 * are fuzzed too), the headers, the rest of the bytes in fuzzer-chosen chunks, and
 * the end, as the real HTTP client would.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/provider.h>
#include <uv.h>

#include "conf.h"
#include "fuzz.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "xmalloc.h"

#ifndef FUZZ_PROVIDER
#error "build with -DFUZZ_PROVIDER=\"name\""
#endif
#ifndef FUZZ_SECTION
#define FUZZ_SECTION ""
#endif

static uv_loop_t fuzz_loop;
static struct host_context fuzz_ctx;
static struct conf *fuzz_conf;
static struct registry *fuzz_reg;
static struct module *fuzz_mod;

/* The one request in flight: what the module asked the fake HTTP client for. */
static struct {
	int active, cancelled;
	struct hearth_http_request req;
} fuzz_http;

static struct hearth_http *
fuzz_http_start(const struct hearth_host *h, const struct hearth_http_request *req)
{
	if (fuzz_http.active)
		return NULL;   /* one at a time: a second (a retry) fails to start */
	fuzz_http.active = 1;
	fuzz_http.cancelled = 0;
	fuzz_http.req = *req;
	return (struct hearth_http *)&fuzz_http;
}

static void
fuzz_http_cancel(struct hearth_http *r)
{
	fuzz_http.cancelled = 1;
	fuzz_http.active = 0;
}

/* The sink: count what comes, touch the bytes. */
static int fuzz_done;

static void
fuzz_text_cb(void *arg, const char *text, size_t len)
{
	volatile unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += (unsigned char)text[i];
	(void)sum;
}

static void
fuzz_part_end_cb(void *arg, const json_t *meta)
{
	free(json_dumps(meta, JSON_ENCODE_ANY));
}

static void
fuzz_tool_call_cb(void *arg, const char *id, const char *name, const json_t *input,
		  const json_t *meta)
{
	(void)strlen(id);
	(void)strlen(name);
	free(json_dumps(input, JSON_ENCODE_ANY));
}

static void
fuzz_usage_cb(void *arg, const struct hearth_usage *u)
{
}

static void
fuzz_done_cb(void *arg, enum hearth_finish finish, const struct hearth_provider_error *err)
{
	if (err != NULL && err->message != NULL)
		(void)strlen(err->message);
	fuzz_done++;
}

static const struct hearth_stream_sink fuzz_sink = {
	.struct_size = sizeof(struct hearth_stream_sink),
	.text = fuzz_text_cb,
	.reasoning = fuzz_text_cb,
	.part_end = fuzz_part_end_cb,
	.tool_call = fuzz_tool_call_cb,
	.usage = fuzz_usage_cb,
	.done = fuzz_done_cb,
};

/* Replace a const member of the module's host table (malloc'd by host_new). */
static void
fuzz_patch(struct hearth_host *h, size_t offset, const void *fn, size_t size)
{
	memcpy((char *)h + offset, fn, size);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("ANTHROPIC_API_KEY", "fuzz-key", 1);
	setenv("OPENAI_API_KEY", "fuzz-key", 1);
	setenv("GEMINI_API_KEY", "fuzz-key", 1);
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("OPENAI_BASE_URL");
	log_set_level(HEARTH_LOG_ERROR);
	uv_loop_init(&fuzz_loop);
	fuzz_ctx.loop = &fuzz_loop;
	fuzz_ctx.state_dir = "/nonexistent";
	fuzz_ctx.runtime_dir = "/nonexistent";
	host_context_set(&fuzz_ctx);
	if (loader_init() != 0)
		abort();
	char *text = xasprintf("module_dir %s/plugins\nload provider %s\n[provider %s]\n%s\n",
			       HEARTH_BUILDDIR, FUZZ_PROVIDER, FUZZ_PROVIDER, FUZZ_SECTION);
	fuzz_conf = conf_parse("fuzz.conf", text, strlen(text));
	free(text);
	fuzz_reg = registry_new(fuzz_conf);
	if (fuzz_conf->n_errors != 0 || registry_load_all(fuzz_reg) != 0)
		abort();
	fuzz_mod = registry_find(fuzz_reg, HEARTH_KIND_PROVIDER, FUZZ_PROVIDER);
	if (fuzz_mod == NULL)
		abort();
	struct hearth_http *(*start)(const struct hearth_host *,
				     const struct hearth_http_request *) = fuzz_http_start;
	void (*cancel)(struct hearth_http *) = fuzz_http_cancel;
	fuzz_patch(fuzz_mod->host, offsetof(struct hearth_host, http_start), &start,
		   sizeof start);
	fuzz_patch(fuzz_mod->host, offsetof(struct hearth_host, http_cancel), &cancel,
		   sizeof cancel);
	return 0;
}

static int
fuzz_feed(void *arg, const char *p, size_t n)
{
	if (!fuzz_http.active || fuzz_http.req.on_data == NULL)
		return 1;
	return fuzz_http.req.on_data(fuzz_http.req.arg, p, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 20)
		return 0;
	static const long statuses[8] = { 200, 200, 200, 200, 200, 400, 429, 500 };
	long status = statuses[data[0] & 7];
	const struct hearth_provider *prov = fuzz_mod->desc->provider;
	json_t *request = json_pack(
		"{s:s,s:[{s:s,s:[{s:s,s:s}]}],s:[{s:s,s:s,s:{s:s}}]}", "model", "m", "messages",
		"role", "user", "parts", "type", "text", "text", "Hi", "tools", "name", "read",
		"description", "read a file", "input_schema", "type", "object");
	int error = 0;
	fuzz_done = 0;
	memset(&fuzz_http, 0, sizeof fuzz_http);
	struct hearth_provider_call *call = prov->stream(fuzz_mod->state, request, &fuzz_sink,
							 NULL, &error);
	json_decref(request);
	if (call == NULL)
		abort();   /* a well-formed request always starts */
	int rc = 0;
	if (fuzz_http.active && fuzz_http.req.on_response != NULL) {
		const char *names[] = { "content-type", "retry-after", "request-id" };
		const char *values[] = { strcmp(FUZZ_PROVIDER, "ollama") == 0 ?
					 "application/x-ndjson" : "text/event-stream", "1", "r1" };
		rc = fuzz_http.req.on_response(fuzz_http.req.arg, status, names, values, 3);
	}
	if (rc == 0)
		rc = fuzz_chunks(data + 1, size - 1, fuzz_feed, NULL);
	if (fuzz_http.active) {
		fuzz_http.active = 0;
		fuzz_http.req.on_done(fuzz_http.req.arg, rc != 0 ? HEARTH_ECANCELED : 0, status,
				      rc != 0 ? "aborted" : NULL);
	}
	/* Timers (a retry's backoff) and deferred work: let them run, then cancel. */
	for (int i = 0; i < 4 && fuzz_done == 0; i++)
		uv_run(&fuzz_loop, UV_RUN_NOWAIT);
	if (fuzz_done == 0)
		prov->cancel(fuzz_mod->state, call);
	if (fuzz_done > 1)
		abort();   /* done() comes exactly once */
	return 0;
}
