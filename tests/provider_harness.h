/*
 * provider_harness.h: what the provider module tests (test_anthropic.c,
 * test_openai.c, test_gemini.c, test_ollama.c) share: a fixture with a loop,
 * the real host HTTP client, host context, loader and log capture, loading one
 * provider module through the real registry, and a sink that writes each
 * callback to a transcript, one line each:
 *
 *   T:text  R:reasoning  E:meta-or-"-" (part_end)
 *   C:id name input [+meta | M:meta]  U:in,out,reason,cr,cw  D:finish
 */
#ifndef HEARTH_TESTS_PROVIDER_HARNESS_H
#define HEARTH_TESTS_PROVIDER_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "conf.h"
#include "host.h"
#include "http.h"
#include "registry.h"

/* Embedded in each test's own fixture (which adds its fake server). */
struct provider_fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct http_client *http;
	struct conf *conf;      /* owned; NULL until loaded */
	struct registry *reg;   /* owned; NULL until loaded */
	struct module *mod;     /* borrowed from reg */
	const char *name;       /* the provider module's name; borrowed (static) */
	const char *model;      /* model of provider_harness_request; borrowed (static) */
	int rec_meta_json;      /* copied into each new recorder's meta_json */
	int rec_no_vendor;      /* copied into each new recorder's no_vendor */
	char *tmp;              /* owned temp dir, removed at teardown */
	int http_closed;
};

uint64_t provider_harness_now_ms(void);

/* Run pf's loop until cond holds; a hang fails the test instead of the suite. */
#define RUN_UNTIL(pf, cond) \
	do { \
		uint64_t start_ = provider_harness_now_ms(); \
		while (!(cond)) { \
			uv_run(&(pf)->loop, UV_RUN_NOWAIT); \
			if (cond) \
				break; \
			if (provider_harness_now_ms() - start_ > 20000) \
				fail_msg("still waiting for %s", #cond); \
			usleep(200); \
		} \
	} while (0)

/* Set up *pf (caller-owned memory, zeroed here) for the module `name` and its
 * `model` (both borrowed, must outlive pf): loop, temp dir, HTTP client, host
 * context, loader, log capture. */
void provider_harness_setup(struct provider_fixture *pf, const char *name, const char *model);

/* Undo provider_harness_setup and any load: frees everything pf owns, not pf
 * itself. If `secret` is not NULL, asserts it never reached the log. */
void provider_harness_teardown(struct provider_fixture *pf, const char *secret);

/* Parse a conf loading the module with `section` (borrowed) as the lines of its
 * section, and load it through a new registry (pf owns conf and registry).
 * Asserts the conf parsed cleanly. Returns the number of registry errors;
 * pf->mod is the module or NULL. */
size_t provider_harness_load(struct provider_fixture *pf, const char *section);

/* provider_harness_load with the section `key = value` then `extra` (NULL: none). */
size_t provider_harness_load_kv(struct provider_fixture *pf, const char *key, const char *value,
				const char *extra);

/* A one-line question ("Hi") to pf->model; a new reference. */
json_t *provider_harness_request(const struct provider_fixture *pf);

/* Unload the module and free conf and registry, so another can be loaded. */
void provider_harness_unload(struct provider_fixture *pf);

/* The loaded module's provider interface (asserts it is loaded). Borrowed. */
const struct hearth_provider *provider_harness_prov(struct provider_fixture *pf);

/* The log so far (caller frees); capturing goes on. */
char *provider_harness_log_text(void);

/* JSON as compact text with sorted keys; caller frees. */
char *provider_harness_dump_sorted(const json_t *v);

/* ------------------------------------------------------------ the sink -- */

struct provider_rec {
	struct provider_fixture *pf;    /* borrowed */
	struct hearth_provider_call *call;
	char *log;              /* the transcript, owned */
	size_t len;
	int done;
	int after_done;         /* sink calls after done(): must stay 0 */
	enum hearth_finish finish;
	int has_err;
	struct hearth_provider_error err;       /* strings point at message, vendor */
	char *message, *vendor;                 /* owned copies */
	int cancel_on_text;     /* cancel the call from inside its first text callback */
	int cancelled;
	int meta_json;          /* C: lines show the meta as " M:json", not " +meta" */
	int no_vendor;          /* assert errors carry no vendor_code */
};

/* The sink; its arg is a struct provider_rec. */
extern const struct hearth_stream_sink provider_rec_sink;

/* A new, empty recorder on pf (borrowed), with pf's rec_* options. Free with
 * provider_rec_free. */
struct provider_rec *provider_rec_new(struct provider_fixture *pf);

/* Start a stream of `request` (borrowed; NULL: provider_harness_request) on the
 * loaded module with a new recorder, asserting the call started. The recorder
 * is the caller's. */
struct provider_rec *provider_rec_start(struct provider_fixture *pf, const json_t *request);

/* Run until r is done, asserting it finished exactly once. */
void provider_rec_wait(struct provider_rec *r);

/* Assert r finished with exactly this error (vendor NULL: none). */
void provider_rec_assert_error(const struct provider_rec *r, uint32_t type, long status,
			       int retryable, uint64_t retry_after_ms, const char *message,
			       const char *vendor);

void provider_rec_free(struct provider_rec *r);

#endif
