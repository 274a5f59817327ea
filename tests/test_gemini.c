/*
 * test_gemini.c: the Gemini provider module (plugins/providers/gemini.c), loaded
 * through the real registry and talking through the real host HTTP client to the
 * fake Gemini API (tests/fake_gemini.c) on 127.0.0.1.
 *
 * Each sink call is written to a transcript, one line each, so a test states the
 * exact sequence it expects:
 *
 *   T:text  R:reasoning  E:meta-or-"-" (part_end)  C:id name input [+meta]
 *   U:in,out,reason,cr,cw  D:finish
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "fake_gemini.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "provider_harness.h"
#include "testutil.h"
#include "xmalloc.h"

#define TEST_KEY "AIzaSyTest-0123456789abcdef"

/* The shared harness (tests/provider_harness.h) and this provider's fake. */
struct fixture {
	struct provider_fixture h;
	struct fake_gemini *fg;
	char *url;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	provider_harness_setup(&f->h, "gemini", "gemini-2.5-flash");
	f->h.rec_meta_json = 1;
	f->fg = fake_gemini_start();
	assert_non_null(f->fg);
	f->url = fake_gemini_url(f->fg);
	setenv("GEMINI_API_KEY", TEST_KEY, 1);
	unsetenv("GOOGLE_API_KEY");
	unsetenv("GEMINI_BASE_URL");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	provider_harness_teardown(&f->h, TEST_KEY);
	fake_gemini_free(f->fg);
	free(f->url);
	free(f);
	return 0;
}

/* Load the module with base_url at the fake and `extra` section lines. Returns
 * the number of registry errors. */
static size_t
load(struct fixture *f, const char *extra)
{
	return provider_harness_load_kv(&f->h, "base_url", f->url, extra);
}

static const struct hearth_provider *
prov(struct fixture *f)
{
	return provider_harness_prov(&f->h);
}

/* Start a stream of `request` (NULL: a one-line question) against the queued reply. */
static struct provider_rec *
start(struct fixture *f, const json_t *request)
{
	return provider_rec_start(&f->h, request);
}

static void
push(struct fixture *f, const char *steps)
{
	char *error = NULL;
	if (fake_gemini_push_text(f->fg, steps, &error) != 0)
		fail_msg("bad script: %s", error);
}

/* Queue `steps`, stream, and run until done. */
static struct provider_rec *
run(struct fixture *f, const char *steps)
{
	push(f, steps);
	struct provider_rec *r = start(f, NULL);
	provider_rec_wait(r);
	return r;
}

/* -------------------------------------------------------------- models -- */

struct models_rec {
	int done;
	json_t *models;
	int has_err;
	uint32_t type;
	long status;
	char *message;
};

static void
models_done(void *arg, json_t *models, const struct hearth_provider_error *err)
{
	struct models_rec *m = arg;
	m->done++;
	m->models = models;
	if (err != NULL) {
		assert_null(models);
		m->has_err = 1;
		m->type = err->type;
		m->status = err->http_status;
		m->message = xstrdup(err->message);
	}
}

/* ------------------------------------------------------------- streams -- */

#define SIG(s) "{\"provider\":\"gemini\",\"thoughtSignature\":\"" s "\"}"

static void
test_text_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* Cut into pieces of every size from one byte up, and in one piece. */
	static const size_t writes[] = { 1, 1, 1, 2, 3, 5, 8, 13, 64, 0 };
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		fake_gemini_set_chunking(f->fg, writes[i], (unsigned)i + 1);
		struct provider_rec *r = run(f, "[{\"type\":\"text\",\"text\":[\"Hel\",\"lo, w\\u00f6rld\","
				    "\"!\\n\"],\"signature\":\"c2lnVA==\"},{\"type\":\"finish\"}]");
		assert_string_equal(r->log, "T:Hel\nT:lo, w\xc3\xb6rld\nT:!\n\nE:" SIG("c2lnVA==") "\n"
				    "U:6,4,0,0,0\nD:1\n");
		provider_rec_free(r);
	}

	/* What went out: the streamGenerateContent call the API documents. */
	assert_int_equal(fake_gemini_count(f->fg), 10);
	const struct fakehttp_request *rq = fake_gemini_request(f->fg, 0);
	assert_string_equal(rq->method, "POST");
	assert_string_equal(rq->target, "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
			    "?alt=sse");
	assert_string_equal(fakehttp_header(rq, "x-goog-api-key"), TEST_KEY);
	assert_string_equal(fakehttp_header(rq, "content-type"), "application/json");
	json_t *body = fake_gemini_request_body(f->fg, 0);
	json_t *want = json_loads("{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
				  "\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":true}}}",
				  0, NULL);
	assert_true(json_equal(body, want));
	json_decref(body);
	json_decref(want);
}

static void
test_thoughts(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	fake_gemini_set_chunking(f->fg, 1, 42);
	struct provider_rec *r = run(f, "[{\"type\":\"thought\",\"text\":[\"Let me \",\"think.\"],"
			    "\"signature\":\"sigA\"},"
			    "{\"type\":\"text\",\"text\":\"Answer.\",\"signature\":\"sigB\"},"
			    "{\"type\":\"thought\",\"text\":\"More.\"},"
			    "{\"type\":\"finish\",\"usage\":{\"promptTokenCount\":100,"
			    "\"candidatesTokenCount\":20,\"thoughtsTokenCount\":50,"
			    "\"cachedContentTokenCount\":40,\"toolUsePromptTokenCount\":5,"
			    "\"totalTokenCount\":175}}]");
	assert_string_equal(r->log,
		"R:Let me \nR:think.\nE:" SIG("sigA") "\n"
		"T:Answer.\nE:" SIG("sigB") "\n"
		"R:More.\nE:-\n"
		"U:65,70,50,40,0\nD:1\n");
	provider_rec_free(r);

	/* The signature on an empty last part (as the API sends it) goes to the text
	 * part it ends; one with no part before it opens an empty one. */
	r = run(f, "[{\"type\":\"text\",\"text\":\"Done.\"},"
		"{\"type\":\"chunk\",\"data\":{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\","
		"\"thoughtSignature\":\"sigC\"}],\"role\":\"model\"},\"index\":0}]}},"
		"{\"type\":\"finish\",\"text\":\"\"}]");
	assert_string_equal(r->log, "T:Done.\nE:" SIG("sigC") "\nU:6,2,0,0,0\nD:1\n");
	provider_rec_free(r);
	r = run(f, "[{\"type\":\"text\",\"text\":\"\",\"signature\":\"sigD\"},{\"type\":\"finish\"}]");
	assert_string_equal(r->log, "T:\nE:" SIG("sigD") "\nU:6,2,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_function_calls(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	for (unsigned seed = 1; seed <= 4; seed++) {
		fake_gemini_set_chunking(f->fg, seed % 3 + 1, seed);
		struct provider_rec *r = run(f, "[{\"type\":\"call\",\"name\":\"read\",\"args\":{\"path\":"
				    "\"a.c\",\"lines\":[1,2]},\"signature\":\"sigF\"},"
				    "{\"type\":\"finish\",\"message\":\"Model generated function call(s).\"}]");
		char *want = xasprintf("C:call_resp_fake%u_1 read {\"lines\":[1,2],\"path\":\"a.c\"} "
				       "M:" SIG("sigF") "\nU:6,2,0,0,0\nD:2\n", seed);
		assert_string_equal(r->log, want);
		free(want);
		provider_rec_free(r);
	}
	/* Parallel calls: one chunk, the signature on the first only; text before
	 * them is closed first; ids count the calls of the reply. */
	struct provider_rec *r = run(f, "[{\"type\":\"text\",\"text\":\"Reading both.\"},"
			    "{\"type\":\"calls\",\"calls\":[{\"name\":\"read\",\"args\":{\"path\":\"a.c\"},"
			    "\"signature\":\"s1\"},{\"name\":\"read\",\"args\":{\"path\":\"b.c\"}},"
			    "{\"name\":\"ls\"}]},{\"type\":\"finish\"}]");
	assert_string_equal(r->log, "T:Reading both.\nE:-\n"
			    "C:call_resp_fake5_1 read {\"path\":\"a.c\"} M:" SIG("s1") "\n"
			    "C:call_resp_fake5_2 read {\"path\":\"b.c\"}\n"
			    "C:call_resp_fake5_3 ls {}\nU:6,3,0,0,0\nD:2\n");
	provider_rec_free(r);
	/* An id the API gave is kept; with no responseId the stream's number is used. */
	r = run(f, "[{\"type\":\"call\",\"name\":\"x\",\"id\":\"fc-7\"},"
		"{\"type\":\"chunk\",\"data\":{\"candidates\":[{\"content\":{\"parts\":["
		"{\"functionCall\":{\"name\":\"ls\",\"args\":{}}}],\"role\":\"model\"},"
		"\"finishReason\":\"STOP\",\"index\":0}]}}]");
	assert_string_equal(r->log, "C:fc-7 x {}\nC:call_resp_fake6_2 ls {}\nU:7,0,0,0,0\nD:2\n");
	provider_rec_free(r);
	r = run(f, "[{\"type\":\"chunk\",\"data\":{\"candidates\":[{\"content\":{\"parts\":["
		"{\"functionCall\":{\"name\":\"ls\"}}],\"role\":\"model\"},"
		"\"finishReason\":\"STOP\",\"index\":0}]}}]");
	assert_string_equal(r->log, "C:call_7_1 ls {}\nD:2\n");
	provider_rec_free(r);
}

static void
test_finish_reasons(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *reason;
		int finish;
	} map[] = {
		{ "STOP", HEARTH_FINISH_END_TURN },
		{ "MAX_TOKENS", HEARTH_FINISH_MAX_TOKENS },
		{ "SAFETY", HEARTH_FINISH_REFUSAL },
		{ "RECITATION", HEARTH_FINISH_REFUSAL },
		{ "BLOCKLIST", HEARTH_FINISH_REFUSAL },
		{ "PROHIBITED_CONTENT", HEARTH_FINISH_REFUSAL },
		{ "SPII", HEARTH_FINISH_REFUSAL },
		{ "LANGUAGE", HEARTH_FINISH_REFUSAL },
		{ "IMAGE_SAFETY", HEARTH_FINISH_REFUSAL },
		{ "IMAGE_PROHIBITED_CONTENT", HEARTH_FINISH_REFUSAL },
		{ "IMAGE_RECITATION", HEARTH_FINISH_REFUSAL },
		{ "OTHER", HEARTH_FINISH_END_TURN },
		{ "FINISH_REASON_UNSPECIFIED", HEARTH_FINISH_END_TURN },
		{ "A_REASON_FROM_THE_FUTURE", HEARTH_FINISH_END_TURN },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		char *steps = xasprintf("[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"finish\","
					"\"reason\":\"%s\"}]", map[i].reason);
		struct provider_rec *r = run(f, steps);
		char *want = xasprintf("T:x\nE:-\nU:6,2,0,0,0\nD:%d\n", map[i].finish);
		assert_string_equal(r->log, want);
		free(want);
		free(steps);
		provider_rec_free(r);
	}
	/* MAX_TOKENS after a call is still a cut, not a tool turn. */
	struct provider_rec *r = run(f, "[{\"type\":\"call\",\"name\":\"ls\"},{\"type\":\"finish\","
			    "\"reason\":\"MAX_TOKENS\"}]");
	assert_string_equal(r->log, "C:call_resp_fake15_1 ls {}\nU:6,2,0,0,0\nD:3\n");
	provider_rec_free(r);
	/* The model botched a call: an error a retry may fix. */
	static const char *const botched[] = {
		"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
	};
	for (size_t i = 0; i < 3; i++) {
		char *steps = xasprintf("[{\"type\":\"finish\",\"reason\":\"%s\"}]", botched[i]);
		r = run(f, steps);
		assert_string_equal(r->log, "U:6,1,0,0,0\nD:7\n");
		char *msg = xasprintf("the model ended with %s", botched[i]);
		provider_rec_assert_error(r, HEARTH_PERR_SERVER, 200, 1, 0, msg, botched[i]);
		free(msg);
		free(steps);
		provider_rec_free(r);
	}
	r = run(f, "[{\"type\":\"finish\",\"reason\":\"MALFORMED_FUNCTION_CALL\",\"message\":"
		"\"Malformed function call: print(x\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 200, 1, 0, "MALFORMED_FUNCTION_CALL: Malformed function "
		     "call: print(x", "MALFORMED_FUNCTION_CALL");
	provider_rec_free(r);
	/* A blocked prompt has no candidate: a refusal. */
	r = run(f, "[{\"type\":\"blocked\",\"reason\":\"PROHIBITED_CONTENT\"}]");
	assert_string_equal(r->log, "U:6,0,0,0,0\nD:5\n");
	provider_rec_free(r);
}

static void
test_stream_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	/* data: {"error": ...} and a bare pretty-printed body, after some text: the
	 * text is kept, the error reported. */
	static const char *const kinds[] = { "error", "error_tail" };
	for (size_t i = 0; i < 2; i++) {
		for (unsigned w = 0; w < 4; w++) {
			fake_gemini_set_chunking(f->fg, w, w + 1);
			char *steps = xasprintf("[{\"type\":\"text\",\"text\":\"partial\"},"
						"{\"type\":\"%s\"}]", kinds[i]);
			struct provider_rec *r = run(f, steps);
			assert_string_equal(r->log, "T:partial\nE:-\nU:7,0,0,0,0\nD:7\n");
			provider_rec_assert_error(r, HEARTH_PERR_OVERLOADED, 503, 1, 0,
				     "The model is overloaded. Please try again later.", "UNAVAILABLE");
			free(steps);
			provider_rec_free(r);
		}
	}
	/* A 200 whose whole body is a Google error (429 with its RetryInfo). */
	fake_gemini_set_chunking(f->fg, 3, 9);
	struct provider_rec *r = run(f, "[{\"type\":\"raw\",\"data\":\"{\\n  \\\"error\\\": {\\n    "
			    "\\\"code\\\": 429,\\n    \\\"message\\\": \\\"Quota exceeded\\\",\\n    "
			    "\\\"status\\\": \\\"RESOURCE_EXHAUSTED\\\",\\n    \\\"details\\\": [{"
			    "\\\"@type\\\": \\\"type.googleapis.com/google.rpc.RetryInfo\\\", "
			    "\\\"retryDelay\\\": \\\"36s\\\"}]\\n  }\\n}\\n\"}]");
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_RATE_LIMITED, 429, 1, 36000, "Quota exceeded",
		     "RESOURCE_EXHAUSTED");
	provider_rec_free(r);
	/* The non-SSE form, an array, is read too. */
	r = run(f, "[{\"type\":\"raw\",\"data\":\"[{\\\"error\\\": {\\\"code\\\": 500, "
		"\\\"message\\\": \\\"Internal\\\", \\\"status\\\": \\\"INTERNAL\\\"}}]\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 500, 1, 0, "Internal", "INTERNAL");
	provider_rec_free(r);
	/* A JSON tail that is no error. */
	r = run(f, "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"raw\",\"data\":\"{\\\"x\\\":1}\"}]");
	assert_string_equal(r->log, "T:a\nE:-\nU:7,0,0,0,0\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 200, 0, 0,
		     "HTTP 200 with a body that is not a Google error: {\"x\":1}", NULL);
	provider_rec_free(r);
}

static void
test_http_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int status;
		const char *gstatus;
		const char *message;
		const char *delay;
		const char *ctype;
		uint32_t type;
		int retryable;
		uint64_t after;
		const char *vendor;
	} cases[] = {
		{ 400, NULL, "Request contains an invalid argument.", NULL, NULL,
		  HEARTH_PERR_BAD_REQUEST, 0, 0, "INVALID_ARGUMENT" },
		{ 400, NULL, "API key not valid. Please pass a valid API key.", NULL, NULL,
		  HEARTH_PERR_AUTH, 0, 0, "INVALID_ARGUMENT" },
		{ 400, "FAILED_PRECONDITION", "User location is not supported for the API use.",
		  NULL, NULL, HEARTH_PERR_PERMISSION, 0, 0, "FAILED_PRECONDITION" },
		{ 400, NULL, "The input token count (1200000) exceeds the maximum number of tokens "
		  "allowed (1048576).", NULL, NULL, HEARTH_PERR_CONTEXT, 0, 0, "INVALID_ARGUMENT" },
		{ 400, NULL, "Function call is missing a thought_signature.", NULL,
		  "text/event-stream", HEARTH_PERR_BAD_REQUEST, 0, 0, "INVALID_ARGUMENT" },
		{ 401, NULL, "Request had invalid authentication credentials.", NULL, NULL,
		  HEARTH_PERR_AUTH, 0, 0, "UNAUTHENTICATED" },
		{ 403, NULL, "Your API key was reported as leaked.", NULL, NULL,
		  HEARTH_PERR_PERMISSION, 0, 0, "PERMISSION_DENIED" },
		{ 404, NULL, "models/nope is not found for API version v1beta", NULL, NULL,
		  HEARTH_PERR_NOT_FOUND, 0, 0, "NOT_FOUND" },
		{ 413, NULL, "Request payload size exceeds the limit.", NULL, NULL,
		  HEARTH_PERR_TOO_LARGE, 0, 0, "UNKNOWN" },
		{ 429, NULL, "You exceeded your current quota.", "12s", NULL,
		  HEARTH_PERR_RATE_LIMITED, 1, 12000, "RESOURCE_EXHAUSTED" },
		{ 429, NULL, "Resource exhausted.", "1.5s", "text/event-stream",
		  HEARTH_PERR_RATE_LIMITED, 1, 1500, "RESOURCE_EXHAUSTED" },
		{ 429, NULL, "Resource exhausted.", "0.0001s", NULL,
		  HEARTH_PERR_RATE_LIMITED, 1, 1, "RESOURCE_EXHAUSTED" },
		{ 429, NULL, "Resource exhausted.", "soon", NULL,
		  HEARTH_PERR_RATE_LIMITED, 1, 0, "RESOURCE_EXHAUSTED" },
		{ 429, NULL, "Resource exhausted.", NULL, NULL,
		  HEARTH_PERR_RATE_LIMITED, 1, 0, "RESOURCE_EXHAUSTED" },
		{ 429, NULL, "Quota exceeded for metric x. Please retry in 36.2s.", NULL, NULL,
		  HEARTH_PERR_RATE_LIMITED, 1, 36200, "RESOURCE_EXHAUSTED" },
		{ 429, NULL, "Quota exceeded. Please retry in 2ms.", NULL, NULL,
		  HEARTH_PERR_RATE_LIMITED, 1, 0, "RESOURCE_EXHAUSTED" },
		{ 429, NULL, "Quota exceeded. Please retry in 1s.", "7s", NULL,
		  HEARTH_PERR_RATE_LIMITED, 1, 7000, "RESOURCE_EXHAUSTED" },
		{ 500, NULL, "An internal error has occurred.", NULL, "text/event-stream",
		  HEARTH_PERR_SERVER, 1, 0, "INTERNAL" },
		{ 503, NULL, "The model is overloaded. Please try again later.", NULL, NULL,
		  HEARTH_PERR_OVERLOADED, 1, 0, "UNAVAILABLE" },
		{ 504, NULL, "Deadline expired before operation could complete.", NULL, NULL,
		  HEARTH_PERR_TIMEOUT, 1, 0, "DEADLINE_EXCEEDED" },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *step = json_pack("{s:s,s:i,s:s}", "type", "http_error", "status",
					 cases[i].status, "message", cases[i].message);
		if (cases[i].gstatus != NULL)
			json_object_set_new(step, "google_status", json_string(cases[i].gstatus));
		if (cases[i].delay != NULL)
			json_object_set_new(step, "retry_delay", json_string(cases[i].delay));
		if (cases[i].ctype != NULL)
			json_object_set_new(step, "content_type", json_string(cases[i].ctype));
		json_t *steps = json_pack("[o]", step);
		char *text = json_dumps(steps, 0);
		json_decref(steps);
		fake_gemini_set_chunking(f->fg, i % 4, (unsigned)i + 1);
		struct provider_rec *r = run(f, text);
		free(text);
		assert_string_equal(r->log, "D:7\n");
		provider_rec_assert_error(r, cases[i].type, cases[i].status, cases[i].retryable, cases[i].after,
			     cases[i].message, cases[i].vendor);
		provider_rec_free(r);
	}
	/* Bodies that are no Google error. */
	struct provider_rec *r = run(f, "[{\"type\":\"http_error\",\"status\":502,\"body\":"
			    "\"<html>\\n<b>oops</b></html>\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 502, 1, 0,
		     "HTTP 502 with a body that is not a Google error: <html> <b>oops</b></html>",
		     NULL);
	provider_rec_free(r);
	r = run(f, "[{\"type\":\"http_error\",\"status\":429,\"body\":\"\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_RATE_LIMITED, 429, 1, 0, "HTTP 429 with an empty body", NULL);
	provider_rec_free(r);
	r = run(f, "[{\"type\":\"http_error\",\"status\":418,\"body\":\"{\\\"error\\\": 5}\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_BAD_REQUEST, 418, 0, 0,
		     "HTTP 418 with a body that is not a Google error: {\"error\": 5}", NULL);
	provider_rec_free(r);
	/* An error body past the 1 MiB kept: cut, and reported as what it is. */
	size_t big = 2u * 1024 * 1024;
	char *junk = xmalloc(big + 1);
	memset(junk, 'x', big);
	junk[big] = '\0';
	json_t *steps = json_pack("[{s:s,s:i,s:s}]", "type", "http_error", "status", 500, "body",
				  junk);
	char *text = json_dumps(steps, 0);
	json_decref(steps);
	junk[200] = '\0';
	char *want = xasprintf("HTTP 500 with a body that is not a Google error: %s", junk);
	free(junk);
	fake_gemini_set_chunking(f->fg, 0, 0);
	r = run(f, text);
	free(text);
	provider_rec_assert_error(r, HEARTH_PERR_SERVER, 500, 1, 0, want, NULL);
	free(want);
	provider_rec_free(r);
	/* The real answers to a wrong and a missing key. */
	fake_gemini_set_key(f->fg, "another key");
	r = run(f, "[{\"type\":\"finish\"}]");
	provider_rec_assert_error(r, HEARTH_PERR_AUTH, 400, 0, 0, "API key not valid. Please pass a valid API "
		     "key.", "INVALID_ARGUMENT");
	provider_rec_free(r);
}

static void
test_truncated_stream(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	fake_gemini_set_chunking(f->fg, 0, 0);
	/* A stream that ends cleanly with no finishReason: cut short, retry. */
	struct provider_rec *r = run(f, "[{\"type\":\"text\",\"text\":\"Hel\"}]");
	assert_string_equal(r->log, "T:Hel\nE:-\nU:7,0,0,0,0\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 200, 1, 0, "the stream ended without a finishReason",
		     NULL);
	provider_rec_free(r);
	/* ...inside an event. */
	r = run(f, "[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"raw\",\"data\":"
		"\"data: {\\\"candidates\\\": [\"}]");
	assert_string_equal(r->log, "T:Hel\nE:-\nU:7,0,0,0,0\nD:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 200, 1, 0, "the stream ended inside an event", NULL);
	provider_rec_free(r);
	/* An empty 200. */
	r = run(f, "[{\"type\":\"raw\",\"data\":\"\"}]");
	assert_string_equal(r->log, "D:7\n");
	provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 200, 1, 0, "the stream ended without a finishReason",
		     NULL);
	provider_rec_free(r);
	/* The connection closes in the middle of the chunked body: a network error. */
	r = run(f, "[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"cut\"}]");
	assert_string_equal(r->log, "T:Hel\nE:-\nU:7,0,0,0,0\nD:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_NETWORK);
	assert_int_equal(r->err.retryable, 1);
	provider_rec_free(r);
}

static void
test_malformed_stream(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *data;
		const char *message;
	} cases[] = {
		{ "not json", "event 1: its data is not JSON: '[' or '{' expected near 'not' at byte 3" },
		{ "[1,2]", "event 1: its data is not a JSON object" },
		{ "{\"candidates\": {}}", "event 1: \"candidates\" is not an array" },
		{ "{\"candidates\": [1]}", "event 1: a candidate is not an object" },
		{ "{\"candidates\": [{\"content\": {\"parts\": 3}}]}", "event 1: \"parts\" is not an array" },
		{ "{\"candidates\": [{\"content\": {\"parts\": [5]}}]}", "event 1: a part is not an object" },
		{ "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": 5}]}}]}",
		  "event 1: a part's text is not a string" },
		{ "{\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": 1}]}}]}",
		  "event 1: a functionCall is not an object" },
		{ "{\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"args\": {}}}]}}]}",
		  "event 1: a functionCall has no name" },
		{ "{\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"x\", "
		  "\"args\": [1]}}]}}]}", "event 1: the args of functionCall x are not an object" },
		{ "{\"candidates\": [{\"finishReason\": 1}]}", "event 1: \"finishReason\" is not a string" },
		{ "{\"error\": \"boom\"}", "event 1: its \"error\" is not an object" },
	};
	assert_int_equal(load(f, NULL), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *steps = json_pack("[{s:s,s:s},{s:s}]", "type", "chunk", "data", cases[i].data,
					  "type", "finish");
		char *text = json_dumps(steps, 0);
		json_decref(steps);
		fake_gemini_set_chunking(f->fg, i % 5, (unsigned)i + 1);
		struct provider_rec *r = run(f, text);
		free(text);
		assert_string_equal(r->log, "D:7\n");
		provider_rec_assert_error(r, HEARTH_PERR_PROTOCOL, 200, 0, 0, cases[i].message, NULL);
		provider_rec_free(r);
	}
	/* Comments, named events and unknown parts and fields are skipped. */
	fake_gemini_set_chunking(f->fg, 2, 5);
	struct provider_rec *r = run(f, "[{\"type\":\"raw\",\"data\":\": keep-alive\\r\\n\\r\\n"
			    "event: ping\\r\\ndata: {}\\r\\n\\r\\n\"},"
			    "{\"type\":\"chunk\",\"data\":{\"candidates\":[{\"content\":{\"parts\":["
			    "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"AA==\"}},"
			    "{\"executableCode\":{}},{\"text\":\"ok\",\"novel\":1}]},\"avgLogprobs\":-1}],"
			    "\"novel\":{}}},{\"type\":\"finish\"}]");
	assert_string_equal(r->log, "T:ok\nE:-\nU:6,1,0,0,0\nD:1\n");
	provider_rec_free(r);
	/* An event over the limit. */
	fake_gemini_set_chunking(f->fg, 0, 0);
	size_t big = 8u * 1024 * 1024 + 16;
	char *data = xmalloc(big + 1);
	memset(data, 'a', big);
	data[big] = '\0';
	json_t *steps = json_pack("[{s:s,s:s%}]", "type", "raw", "data", data, big);
	free(data);
	char *text = json_dumps(steps, 0);
	json_decref(steps);
	memcpy(strstr(text, "aaaa"), "data: ", 6);
	r = run(f, text);
	free(text);
	assert_string_equal(r->log, "D:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_PROTOCOL);
	assert_int_equal(r->err.retryable, 0);
	assert_non_null(strstr(r->message, "an event is longer than 8388608 bytes"));
	provider_rec_free(r);
}

static void
test_network_error(void **state)
{
	struct fixture *f = *state;
	/* A port nobody listens on. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	free(f->url);
	f->url = xasprintf("http://127.0.0.1:%d", ntohs(a.sin_port));
	assert_int_equal(load(f, NULL), 0);
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "D:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_NETWORK);
	assert_int_equal(r->err.retryable, 1);
	provider_rec_free(r);
}

static void
test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "timeout_ms = 300\n"), 0);
	fake_gemini_set_chunking(f->fg, 0, 0);
	push(f, "[{\"type\":\"text\",\"text\":\"slow\"},{\"type\":\"hang\"}]");
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "T:slow\nE:-\nU:7,0,0,0,0\nD:7\n");
	assert_int_equal(r->err.type, HEARTH_PERR_TIMEOUT);
	assert_int_equal(r->err.retryable, 1);
	provider_rec_free(r);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	fake_gemini_set_chunking(f->fg, 0, 0);
	push(f, "[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"call\",\"name\":\"ls\"},"
	     "{\"type\":\"hang\"}]");
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->log != NULL && strstr(r->log, "C:") != NULL);
	prov(f)->cancel(f->h.mod->state, r->call);
	RUN_UNTIL(&f->h, fakehttp_open_connections(fake_gemini_http(f->fg)) == 0);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_string_equal(r->log, "T:Hel\nE:-\nC:call_resp_fake1_1 ls {}\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* Cancelled from inside a sink callback, with more of the reply already here. */
	push(f, "[{\"type\":\"text\",\"text\":[\"one\",\"two\"]},{\"type\":\"finish\"}]");
	r = provider_rec_new(&f->h);
	r->cancel_on_text = 1;
	json_t *req = provider_harness_request(&f->h);
	int error = 0;
	r->call = prov(f)->stream(f->h.mod->state, req, &provider_rec_sink, r, &error);
	json_decref(req);
	assert_non_null(r->call);
	RUN_UNTIL(&f->h, r->cancelled);
	for (int i = 0; i < 50; i++) {
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_string_equal(r->log, "T:one\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);

	/* A call still running at shutdown is dropped by fini(), without a callback. */
	push(f, "[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"hang\"}]");
	r = start(f, NULL);
	RUN_UNTIL(&f->h, r->log != NULL);
	registry_fini_all(f->h.reg);
	for (int i = 0; i < 20; i++)
		uv_run(&f->h.loop, UV_RUN_NOWAIT);
	assert_string_equal(r->log, "T:x\n");
	assert_int_equal(r->done, 0);
	provider_rec_free(r);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  provider/gemini: a stream was still running at "
			       "shutdown\n"));
	free(log);
	testutil_log_capture();
}

/* --------------------------------------------------------- translation -- */

static void
test_translate_request(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	push(f, "[{\"type\":\"finish\"}]");
	json_t *req = json_loads(
		"{\"model\":\"models/gemini-2.5-pro\",\"system\":\"Be brief.\",\"max_tokens\":500,"
		"\"tools\":[{\"name\":\"read\",\"description\":\"Read a file\",\"input_schema\":"
		"{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}}}},"
		"{\"name\":\"ls\",\"description\":\"\"},{\"description\":\"nameless\"}],"
		"\"messages\":["
		"{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"Look at a.c and b.c\"},"
		" {\"type\":\"image\",\"mime\":\"image/png\",\"data\":\"iVBORw0=\"},"
		" {\"type\":\"file\",\"mime\":\"text/plain\",\"name\":\"n.txt\",\"data\":\"aGk=\"},"
		" {\"type\":\"image\",\"mime\":\"image/gif\",\"data\":\"\"},"
		" {\"type\":\"text\",\"text\":\"\"},{\"type\":\"mystery\"}]},"
		"{\"role\":\"assistant\",\"parts\":["
		" {\"type\":\"reasoning\",\"text\":\"theirs\",\"meta\":{\"provider\":\"anthropic\","
		"  \"signature\":\"x\"}},"
		" {\"type\":\"reasoning\",\"text\":\"plan\",\"meta\":{\"provider\":\"gemini\","
		"  \"thoughtSignature\":\"sigR\"}},"
		" {\"type\":\"text\",\"text\":\"Reading.\"},"
		" {\"type\":\"tool_call\",\"id\":\"call_r1_1\",\"name\":\"read\",\"input\":"
		"  {\"path\":\"a.c\"},\"meta\":{\"provider\":\"gemini\",\"thoughtSignature\":\"sigF\"}},"
		" {\"type\":\"tool_call\",\"id\":\"call_r1_2\",\"name\":\"read\",\"input\":{\"path\":\"b.c\"}},"
		" {\"type\":\"tool_call\",\"id\":\"toolu_3\",\"name\":\"ls\",\"input\":{},"
		"  \"meta\":{\"provider\":\"anthropic\",\"thoughtSignature\":\"nope\"}}]},"
		"{\"role\":\"tool\",\"parts\":["
		" {\"type\":\"tool_result\",\"id\":\"call_r1_2\",\"name\":\"read\",\"content\":\"B\"},"
		" {\"type\":\"tool_result\",\"id\":\"toolu_3\",\"name\":\"ls\",\"content\":"
		"  [{\"type\":\"text\",\"text\":\"l1\"},{\"type\":\"image\"},{\"type\":\"text\",\"text\":\"l2\"}],"
		"  \"is_error\":true},"
		" {\"type\":\"tool_result\",\"id\":\"call_r1_1\",\"name\":\"read\",\"content\":\"A\"},"
		" {\"type\":\"tool_result\",\"id\":\"stray_9\",\"name\":\"grep\",\"content\":\"orphan\"}]},"
		"{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"thanks\"}]},"
		"{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"text\":\"Sure.\",\"meta\":"
		" {\"provider\":\"gemini\",\"thoughtSignature\":\"sigT\"}},"
		" {\"type\":\"tool_call\",\"id\":\"c9\",\"name\":\"ls\",\"input\":[]}]},"
		"{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"go on\"}]},"
		"{\"role\":\"tool\",\"parts\":[{\"type\":\"tool_result\",\"id\":\"late\",\"content\":\"?\"}]},"
		"{\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"text\":\"ignored\"}]},"
		"{\"parts\":[]}]}", 0, NULL);
	assert_non_null(req);
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	assert_string_equal(r->log, "U:6,1,0,0,0\nD:1\n");
	provider_rec_free(r);

	const struct fakehttp_request *rq = fake_gemini_request(f->fg, 0);
	assert_string_equal(rq->target, "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
			    "?alt=sse");
	json_t *got = fake_gemini_request_body(f->fg, 0);
	json_t *want = json_loads(
		"{\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"}]},"
		"\"contents\":["
		"{\"role\":\"user\",\"parts\":[{\"text\":\"Look at a.c and b.c\"},"
		" {\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0=\"}},"
		" {\"inlineData\":{\"mimeType\":\"text/plain\",\"data\":\"aGk=\"}},"
		" {\"text\":\"[image (image/gif) was empty]\"}]},"
		"{\"role\":\"model\",\"parts\":["
		" {\"text\":\"plan\",\"thought\":true,\"thoughtSignature\":\"sigR\"},"
		" {\"text\":\"Reading.\"},"
		" {\"functionCall\":{\"name\":\"read\",\"args\":{\"path\":\"a.c\"}},"
		"  \"thoughtSignature\":\"sigF\"},"
		" {\"functionCall\":{\"name\":\"read\",\"args\":{\"path\":\"b.c\"}}},"
		" {\"functionCall\":{\"name\":\"ls\",\"args\":{}}}]},"
		"{\"role\":\"user\",\"parts\":["
		" {\"functionResponse\":{\"name\":\"read\",\"response\":{\"output\":\"A\"}}},"
		" {\"functionResponse\":{\"name\":\"read\",\"response\":{\"output\":\"B\"}}},"
		" {\"functionResponse\":{\"name\":\"ls\",\"response\":{\"error\":\"l1\\nl2\"}}},"
		" {\"text\":\"[result of tool grep (call stray_9)]\\norphan\"},"
		" {\"text\":\"thanks\"}]},"
		"{\"role\":\"model\",\"parts\":[{\"text\":\"Sure.\",\"thoughtSignature\":\"sigT\"},"
		" {\"functionCall\":{\"name\":\"ls\",\"args\":{}}}]},"
		"{\"role\":\"user\",\"parts\":["
		" {\"functionResponse\":{\"name\":\"ls\",\"response\":"
		"  {\"error\":\"no result: the call did not run\"}}},"
		" {\"text\":\"go on\"},"
		" {\"text\":\"[result of tool ? (call late)]\\n?\"}]}],"
		"\"tools\":[{\"functionDeclarations\":["
		" {\"name\":\"read\",\"description\":\"Read a file\",\"parametersJsonSchema\":"
		"  {\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}}}},"
		" {\"name\":\"ls\",\"parametersJsonSchema\":{\"type\":\"object\"}}]}],"
		"\"generationConfig\":{\"maxOutputTokens\":500,"
		" \"thinkingConfig\":{\"includeThoughts\":true}}}", 0, NULL);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *s = json_dumps(got, JSON_INDENT(1));
		fprintf(stderr, "got: %s\n", s);
		free(s);
	}
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
}

static void
test_bad_request_refused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	static const char *const bad[] = { "[]", "{}", "{\"messages\":{}}", "{\"messages\":3}" };
	for (size_t i = 0; i < 4; i++) {
		json_t *req = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		int error = 0;
		struct provider_rec rr = { 0 };
		assert_null(prov(f)->stream(f->h.mod->state, req, &provider_rec_sink, &rr, &error));
		assert_int_equal(error, HEARTH_EINVAL);
		assert_null(rr.log);
		json_decref(req);
	}
	assert_int_equal(fake_gemini_count(f->fg), 0);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR provider/gemini: request refused: the request has "
			       "no \"messages\" array\n"));
	free(log);
	testutil_log_capture();
}

/* -------------------------------------------------------------- models -- */

static void
test_list_models(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	json_t *models = json_loads(
		"[{\"name\":\"models/gemini-2.5-flash\",\"displayName\":\"Gemini 2.5 Flash\","
		"  \"inputTokenLimit\":1048576,\"supportedGenerationMethods\":[\"generateContent\","
		"  \"countTokens\"]},"
		" {\"name\":\"models/embedding-001\",\"displayName\":\"Embedding 001\","
		"  \"inputTokenLimit\":2048,\"supportedGenerationMethods\":[\"embedContent\"]},"
		" {\"name\":\"models/gemini-2.5-pro\",\"displayName\":\"Gemini 2.5 Pro\","
		"  \"inputTokenLimit\":1048576},"
		" {\"name\":\"models/gemma-3\",\"supportedGenerationMethods\":[\"streamGenerateContent\"]},"
		" {\"displayName\":\"no name\"},"
		" {\"name\":\"models/gemini-2.0-flash\",\"displayName\":\"\",\"inputTokenLimit\":0}]",
		0, NULL);
	fake_gemini_set_models(f->fg, models, 2);
	fake_gemini_set_key(f->fg, TEST_KEY);
	json_decref(models);
	struct models_rec m = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	assert_int_equal(m.done, 1);
	assert_false(m.has_err);
	json_t *want = json_loads(
		"[{\"id\":\"gemini-2.5-flash\",\"name\":\"Gemini 2.5 Flash\",\"context_window\":1048576},"
		" {\"id\":\"gemini-2.5-pro\",\"name\":\"Gemini 2.5 Pro\",\"context_window\":1048576},"
		" {\"id\":\"gemma-3\",\"name\":\"gemma-3\"},"
		" {\"id\":\"gemini-2.0-flash\",\"name\":\"gemini-2.0-flash\"}]", 0, NULL);
	assert_true(json_equal(m.models, want));
	json_decref(want);
	json_decref(m.models);
	assert_int_equal(fake_gemini_count(f->fg), 3);
	assert_string_equal(fake_gemini_request(f->fg, 0)->target, "/v1beta/models?pageSize=1000");
	assert_string_equal(fake_gemini_request(f->fg, 1)->target,
			    "/v1beta/models?pageSize=1000&pageToken=tok2");
	assert_string_equal(fake_gemini_request(f->fg, 2)->target,
			    "/v1beta/models?pageSize=1000&pageToken=tok4");
	assert_string_equal(fake_gemini_request(f->fg, 0)->method, "GET");
	assert_string_equal(fakehttp_header(fake_gemini_request(f->fg, 2), "x-goog-api-key"),
			    TEST_KEY);
}

static void
test_list_models_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, NULL), 0);
	struct fakehttp *srv = fake_gemini_http(f->fg);
	static const struct {
		int status;
		const char *body;
		uint32_t type;
		const char *message;
	} cases[] = {
		{ 200, "not json", HEARTH_PERR_PROTOCOL,
		  "model list page 1 is not JSON: '[' or '{' expected near 'not' at byte 3" },
		{ 200, "{\"models\": {}}", HEARTH_PERR_PROTOCOL,
		  "model list page 1 has no \"models\" array" },
		{ 200, "[]", HEARTH_PERR_PROTOCOL, "model list page 1 has no \"models\" array" },
		{ 403, "{\"error\": {\"code\": 403, \"message\": \"denied\", \"status\": "
		  "\"PERMISSION_DENIED\"}}", HEARTH_PERR_PERMISSION, "denied" },
		{ 500, "", HEARTH_PERR_SERVER, "HTTP 500 with an empty body" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fakehttp_push(srv, &(struct fakehttp_response){ .status = cases[i].status,
							       .body = cases[i].body });
		struct models_rec m = { 0 };
		assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
		RUN_UNTIL(&f->h, m.done);
		assert_true(m.has_err);
		assert_int_equal(m.type, cases[i].type);
		assert_int_equal(m.status, cases[i].status);
		assert_string_equal(m.message, cases[i].message);
		free(m.message);
	}
	/* An empty list is a list; no models member is none. */
	fakehttp_push(srv, &(struct fakehttp_response){ .body = "{}" });
	struct models_rec m = { 0 };
	assert_int_equal(prov(f)->list_models(f->h.mod->state, models_done, &m), 0);
	RUN_UNTIL(&f->h, m.done);
	assert_false(m.has_err);
	assert_int_equal(json_array_size(m.models), 0);
	json_decref(m.models);
}

/* ------------------------------------------------------ configuration -- */

static void
test_config(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "model = models/gemini-2.5-pro\nmax_tokens = 2000\n"
			      "thinking_budget = 0\ninclude_thoughts = no\nflavour = mint\nprice.some-model = 3, 15\n"), 0);
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "gemini-2.5-pro");
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 1);
	push(f, "[{\"type\":\"finish\"}]");
	json_t *req = json_pack("{s:[{s:s,s:[{s:s,s:s}]}]}", "messages", "role", "user", "parts",
				"type", "text", "text", "Hi");
	struct provider_rec *r = start(f, req);
	json_decref(req);
	RUN_UNTIL(&f->h, r->done);
	provider_rec_free(r);
	assert_string_equal(fake_gemini_request(f->fg, 0)->target,
			    "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
	json_t *got = fake_gemini_request_body(f->fg, 0);
	json_t *want = json_loads("{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
				  "\"generationConfig\":{\"maxOutputTokens\":2000,"
				  "\"thinkingConfig\":{\"thinkingBudget\":0}}}", 0, NULL);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  provider/gemini: unknown key 'flavour' ignored\n"));
	assert_null(strstr(log, "price.")); /* the core's key, not the module's */
	free(log);
	testutil_log_capture();
}

static void
test_config_keys_from_env(void **state)
{
	struct fixture *f = *state;
	/* GOOGLE_API_KEY when GEMINI_API_KEY is unset or blank; GEMINI_BASE_URL wins. */
	setenv("GEMINI_API_KEY", "  \t", 1);
	setenv("GOOGLE_API_KEY", " " TEST_KEY "\n", 1);
	setenv("GEMINI_BASE_URL", f->url, 1);
	char *url = f->url;
	f->url = xstrdup("https://nowhere.invalid/");
	assert_int_equal(load(f, NULL), 0);
	free(f->url);
	f->url = url;
	unsetenv("GEMINI_BASE_URL");
	unsetenv("GOOGLE_API_KEY");
	assert_string_equal(prov(f)->default_model(f->h.mod->state), "gemini-2.5-flash");
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 1);
	fake_gemini_set_key(f->fg, TEST_KEY);
	struct provider_rec *r = run(f, "[{\"type\":\"finish\"}]");
	assert_string_equal(r->log, "U:6,1,0,0,0\nD:1\n");
	provider_rec_free(r);
}

static void
test_config_no_key(void **state)
{
	struct fixture *f = *state;
	unsetenv("GEMINI_API_KEY");
	fake_gemini_set_key(f->fg, TEST_KEY);
	assert_int_equal(load(f, NULL), 0);
	assert_int_equal(prov(f)->has_credentials(f->h.mod->state), 0);
	/* Without a key no x-goog-api-key goes out, and the server's 403 says why. */
	struct provider_rec *r = start(f, NULL);
	RUN_UNTIL(&f->h, r->done);
	assert_int_equal(r->err.type, HEARTH_PERR_PERMISSION);
	assert_int_equal(r->err.http_status, 403);
	assert_null(fakehttp_header(fake_gemini_request(f->fg, 0), "x-goog-api-key"));
	provider_rec_free(r);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "INFO  provider/gemini: neither GEMINI_API_KEY nor "
			       "GOOGLE_API_KEY is set\n"));
	free(log);
	testutil_log_capture();
	setenv("GEMINI_API_KEY", TEST_KEY, 1);
}

static void
test_config_bad(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "thinking_budget = -2\n"), 1);
	assert_null(f->h.mod);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "test.conf:5: [provider gemini] thinking_budget: '-2' is not "
			       "an integer from -1 to 10000000\n"));
	free(log);
	testutil_log_capture();
}

static void
test_config_bad_url(void **state)
{
	struct fixture *f = *state;
	free(f->url);
	f->url = xstrdup("ftp://example.com");
	assert_int_equal(load(f, NULL), 1);
	assert_null(f->h.mod);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR provider/gemini: the base URL (base_url) is not an "
			       "http:// or https:// URL\n"));
	free(log);
	testutil_log_capture();
}

/* ---------------------------------------------------------- the fake -- */

static void
test_fake_render(void **state)
{
	(void)state;
	/* The exact bytes: headers, chunk framing, CRLF events, Google's JSON style. */
	json_t *steps = json_loads("[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"finish\","
				   "\"usage\":{\"promptTokenCount\":6}}]", 0, NULL);
	char *out, *error = NULL;
	size_t len;
	int close, hang;
	assert_int_equal(fake_gemini_render(steps, 0, 1, &out, &len, &close, &hang, &error), 0);
	json_decref(steps);
	assert_int_equal(close, 0);
	assert_int_equal(hang, 0);
	const char *ev1 = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],"
		"\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 7,"
		"\"totalTokenCount\": 7,\"promptTokensDetails\": [{\"modality\": \"TEXT\","
		"\"tokenCount\": 7}]},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": "
		"\"resp_fake1\"}\r\n\r\n";
	const char *ev2 = "data: {\"candidates\": [{\"finishReason\": \"STOP\",\"index\": 0}],"
		"\"usageMetadata\": {\"promptTokenCount\": 6},\"modelVersion\": \"gemini-2.5-flash\","
		"\"responseId\": \"resp_fake1\"}\r\n\r\n";
	char *body = xasprintf("%zx\r\n%s%s\r\n0\r\n\r\n", strlen(ev1) + strlen(ev2), ev1, ev2);
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", 49) == 0);
	assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
	char *head_end = strstr(out, "\r\n\r\n");
	assert_non_null(head_end);
	assert_string_equal(head_end + 4, body);
	free(body);
	free(out);

	/* A Google error, pretty-printed, with its RetryInfo. */
	steps = json_loads("[{\"type\":\"http_error\",\"status\":429,\"message\":\"slow down\","
			   "\"retry_delay\":\"2s\"}]", 0, NULL);
	assert_int_equal(fake_gemini_render(steps, 0, 1, &out, &len, &close, &hang, &error), 0);
	json_decref(steps);
	assert_true(strncmp(out, "HTTP/1.1 429 Too Many Requests\r\n", 32) == 0);
	assert_non_null(strstr(out, "Content-Type: application/json; charset=UTF-8\r\n"));
	assert_non_null(strstr(out, "\r\n\r\n{\n  \"error\": {\n    \"code\": 429,\n    \"message\": "
			       "\"slow down\",\n    \"status\": \"RESOURCE_EXHAUSTED\",\n"));
	assert_non_null(strstr(out, "\"@type\": \"type.googleapis.com/google.rpc.RetryInfo\",\n"
			       "        \"retryDelay\": \"2s\"\n"));
	assert_int_equal(out[len - 1], '\n');
	assert_int_equal(out[len - 2], '}');
	free(out);

	/* Bad scripts are refused with the step named. */
	static const struct {
		const char *steps, *error;
	} bad[] = {
		{ "[]", "a reply must be a non-empty array of steps" },
		{ "[{}]", "step 0 has no \"type\"" },
		{ "[{\"type\":\"nope\"}]", "step 0: unknown type 'nope'" },
		{ "[{\"type\":\"text\"}]", "step 0 (text): missing or malformed members" },
		{ "[{\"type\":\"call\"}]", "step 0 (call): missing or malformed members" },
		{ "[{\"type\":\"calls\",\"calls\":[{\"name\":1}]}]",
		  "step 0 (calls): missing or malformed members" },
		{ "[{\"type\":\"cut\"},{\"type\":\"finish\"}]",
		  "step 1 comes after a cut or hang, which must be last" },
		{ "[{\"type\":\"finish\"},{\"type\":\"http_error\",\"status\":500}]",
		  "an http_error step must be the reply's only step" },
		{ "[{\"type\":\"http_error\"}]", "step 0 (http_error): missing or malformed members" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		steps = json_loads(bad[i].steps, 0, NULL);
		assert_int_equal(fake_gemini_render(steps, 0, 1, &out, &len, &close, &hang, &error),
				 -1);
		assert_string_equal(error, bad[i].error);
		free(error);
		json_decref(steps);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thoughts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_function_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_request_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_models, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_models_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_keys_from_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_no_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad_url, setup, teardown),
		cmocka_unit_test(test_fake_render),
	};
	return cmocka_run_group_tests_name("gemini", tests, NULL, NULL);
}
