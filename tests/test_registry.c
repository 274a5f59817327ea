/*
 * test_registry.c: the loader and registry against real, uninstalled modules built
 * in tests/modules: a good module of each kind, and one for each way a module can
 * be refused. Every refusal is checked word for word.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conf.h"
#include "daemon_ops.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "testutil.h"
#include "xmalloc.h"

#define MODDIR TEST_BUILDDIR "/modules"

struct fixture {
	uv_loop_t loop;
	struct host_context ctx;
	struct conf *conf;
	struct registry *reg;
	char *tmp;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	uv_loop_init(&f->loop);
	f->tmp = testutil_mkdtemp("registry");
	f->ctx.loop = &f->loop;
	f->ctx.state_dir = f->tmp;
	f->ctx.runtime_dir = f->tmp;
	f->ctx.daemon = &core_host_ops;
	host_context_set(&f->ctx);
	assert_int_equal(loader_init(), 0);
	testutil_log_capture();
	*state = f;
	return 0;
}

/* Parse `body` (with the test module directory prepended) and load it. */
static size_t
load(struct fixture *f, const char *body)
{
	char *text = xasprintf("module_dir %s\n%s", MODDIR, body);
	f->conf = conf_parse("test.conf", text, strlen(text));
	free(text);
	for (size_t i = 0; i < f->conf->n_errors; i++)
		fprintf(stderr, "unexpected conf error: %s\n", f->conf->errors[i]);
	assert_int_equal(f->conf->n_errors, 0);
	f->reg = registry_new(f->conf);
	return registry_load_all(f->reg);
}

/* The orderly shutdown: fini, drain the loop, unload; the loop must close cleanly. */
static void
shutdown_all(struct fixture *f)
{
	if (f->reg != NULL) {
		registry_stop_frontends(f->reg);
		registry_fini_all(f->reg);
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	registry_free(f->reg);
	f->reg = NULL;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	if (f->reg != NULL)
		shutdown_all(f);
	free(testutil_log_release());
	loader_exit();
	conf_free(f->conf);
	testutil_rmtree(f->tmp);
	free(f->tmp);
	free(f);
	return 0;
}

static void
assert_one_error(struct fixture *f, const char *expected)
{
	if (f->reg->n_errors != 1 || strcmp(f->reg->errors[0], expected) != 0) {
		for (size_t i = 0; i < f->reg->n_errors; i++)
			fprintf(stderr, "got:      %s\n", f->reg->errors[i]);
		fprintf(stderr, "expected: %s\n", expected);
	}
	assert_int_equal(f->reg->n_errors, 1);
	assert_string_equal(f->reg->errors[0], expected);
}

static void
test_good_modules(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load provider good_provider\nload tool good_tool\n"
			      "load frontend good_frontend\n"), 0);
	assert_int_equal(f->reg->n_modules, 3);

	struct module *p = registry_find(f->reg, HEARTH_KIND_PROVIDER, "good_provider");
	struct module *t = registry_find(f->reg, HEARTH_KIND_TOOL, "good_tool");
	struct module *fe = registry_find(f->reg, HEARTH_KIND_FRONTEND, "good_frontend");
	assert_non_null(p);
	assert_non_null(t);
	assert_non_null(fe);
	assert_null(registry_find(f->reg, HEARTH_KIND_TOOL, "good_provider"));
	assert_string_equal(p->desc->version, "2.3.4");
	assert_int_equal(p->desc->abi_version, HEARTH_ABI);
	assert_string_equal(p->path, MODDIR "/good_provider.la");
	assert_string_equal(t->who, "tool/good_tool");
	assert_ptr_equal(f->reg->modules[0], p);
	assert_ptr_equal(f->reg->modules[2], fe);

	const struct hearth_tool_def *defs;
	assert_int_equal(t->desc->tool->list(t->state, &defs), 4);
	assert_string_equal(defs[0].name, "echo");
}

/* The loaded provider works through its host table: its reply comes from a timer. */
struct sink_record {
	char text[64];
	int done;
	enum hearth_finish finish;
};

static void
rec_text(void *arg, const char *text, size_t len)
{
	struct sink_record *r = arg;
	strncat(r->text, text, len);
}

static void
rec_part_end(void *arg, const json_t *meta)
{
}

static void
rec_done(void *arg, enum hearth_finish finish, const struct hearth_provider_error *err)
{
	struct sink_record *r = arg;
	r->done++;
	r->finish = finish;
	assert_null(err);
}

static void
test_provider_runs_through_host(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load provider good_provider\n"), 0);
	struct module *p = registry_find(f->reg, HEARTH_KIND_PROVIDER, "good_provider");
	static const struct hearth_stream_sink sink = {
		.struct_size = sizeof sink, .text = rec_text, .part_end = rec_part_end,
		.done = rec_done };
	struct sink_record rec = { .text = "" };
	int error = 0;
	json_t *req = json_pack("{s:s,s:[]}", "model", "pong-1", "messages");
	assert_non_null(p->desc->provider->stream(p->state, req, &sink, &rec, &error));
	json_decref(req);
	assert_int_equal(rec.done, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(rec.done, 1);
	assert_int_equal(rec.finish, HEARTH_FINISH_END_TURN);
	assert_string_equal(rec.text, "pong");
}

static void
test_config_section_reaches_init(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool good_tool\n[tool good_tool]\nrepeat = 99\n"), 1);
	assert_one_error(f, MODDIR "/good_tool.la: module tool/good_tool: init failed: "
			 "invalid argument");
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR tool/good_tool: test.conf:4: [tool good_tool] repeat: "
			       "'99' is not an integer from 1 to 10\n"));
	free(log);
	testutil_log_capture();
}

static void
test_wrong_abi(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool bad_abi\n"), 1);
	assert_one_error(f, MODDIR "/bad_abi.la: module tool/bad_abi: built for plugin ABI 99, "
			 "this hearthd accepts ABI 1 to 2");
	assert_int_equal(f->reg->n_modules, 0);
}

static void
test_wrong_struct_size(void **state)
{
	struct fixture *f = *state;
	char *want = xasprintf(MODDIR "/bad_size.la: module tool/bad_size: descriptor "
			       "struct_size is %zu, ABI 2 defines %zu",
			       sizeof(struct hearth_plugin) + 16, sizeof(struct hearth_plugin));
	assert_int_equal(load(f, "load tool bad_size\n"), 1);
	assert_one_error(f, want);
	free(want);
}

static void
test_wrong_vtable_size(void **state)
{
	struct fixture *f = *state;
	char *want = xasprintf(MODDIR "/bad_vtable_size.la: module tool/bad_vtable_size: tool "
			       "vtable struct_size is 8, ABI 2 defines %zu", sizeof(struct hearth_tool));
	assert_int_equal(load(f, "load tool bad_vtable_size\n"), 1);
	assert_one_error(f, want);
	free(want);
}

static void
test_missing_callback(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool no_callback\n"), 1);
	assert_one_error(f, MODDIR "/no_callback.la: module tool/no_callback: missing mandatory "
			 "callback 'run'");
}

static void
test_failing_init(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool failing_init\nload tool good_tool\n"), 1);
	assert_one_error(f, MODDIR "/failing_init.la: module tool/failing_init: init failed: "
			 "invalid argument");
	/* The daemon goes on: the next module loaded. */
	assert_int_equal(f->reg->n_modules, 1);
	assert_non_null(registry_find(f->reg, HEARTH_KIND_TOOL, "good_tool"));
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "ERROR tool/failing_init: cannot start: the moon is in the "
			       "wrong phase\n"));
	assert_non_null(strstr(log, "WARN  tool/failing_init: fini() left 1 timer running; "
			       "closed them\n"));
	free(log);
	testutil_log_capture();
	/* The timer it left was closed: shutdown_all asserts the loop closes. */
}

static void
test_stop_on_module_error(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "stop_on_module_error yes\nload tool failing_init\n"
			      "load tool good_tool\n"), 1);
	assert_int_equal(f->reg->stopped, 1);
	assert_int_equal(f->reg->n_modules, 0);
}

static void
test_duplicate_name(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool good_tool\nload tool dup_name\n"), 1);
	assert_one_error(f, MODDIR "/dup_name.la: module tool/dup_name: duplicate name: tool "
			 "'good_tool' is already loaded from " MODDIR "/good_tool.la");
	assert_int_equal(f->reg->n_modules, 1);
}

static void
test_duplicate_tool(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool good_tool\nload tool dup_tool\n"), 1);
	assert_one_error(f, MODDIR "/dup_tool.la: module tool/dup_tool: duplicate tool name "
			 "'echo', already offered by tool/good_tool");
	assert_int_equal(f->reg->n_modules, 1);
}

static void
test_no_entry_symbol(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool no_entry\n"), 1);
	assert_one_error(f, MODDIR "/no_entry.la: module tool/no_entry: not a hearth module "
			 "(no hearth_plugin_entry symbol)");
}

static void
test_kind_mismatch(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load frontend good_tool\n"), 1);
	assert_one_error(f, MODDIR "/good_tool.la: module frontend/good_tool: is a tool module, "
			 "but plugins.conf loads it as a frontend");
}

static void
test_not_found(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool nonexistent\n"), 1);
	char *prefix = xasprintf("test.conf:2: module tool/nonexistent not found (searched "
				 MODDIR "/tools, " MODDIR ", ");
	assert_memory_equal(f->reg->errors[0], prefix, strlen(prefix));
	assert_non_null(strstr(f->reg->errors[0], "/hearth/tools)"));
	free(prefix);
}

/* A file with the right name that is not a shared object at all. */
static void
test_not_an_object(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/tools/garbage.so", f->tmp);
	char *dir = xasprintf("%s/tools", f->tmp);
	mkdir(dir, 0700);
	assert_int_equal(testutil_write_file(path, "\x7f" "ELF garbage\n", 13), 0);
	char *text = xasprintf("module_dir %s\nload tool garbage\n", f->tmp);
	f->conf = conf_parse("test.conf", text, strlen(text));
	f->reg = registry_new(f->conf);
	assert_int_equal(registry_load_all(f->reg), 1);
	char *prefix = xasprintf("%s: module tool/garbage: cannot load: ", path);
	assert_memory_equal(f->reg->errors[0], prefix, strlen(prefix));
	free(prefix);
	free(text);
	free(path);
	free(dir);
}

static void
test_lifecycle_order(void **state)
{
	struct fixture *f = *state;
	char *trace = xasprintf("%s/trace", f->tmp);
	char *body = xasprintf("load frontend good_frontend\n[frontend good_frontend]\n"
			       "trace = %s\n", trace);
	assert_int_equal(load(f, body), 0);
	assert_int_equal(registry_start_frontends(f->reg), 0);
	struct module *fe = registry_find(f->reg, HEARTH_KIND_FRONTEND, "good_frontend");
	assert_int_equal(fe->started, 1);
	shutdown_all(f);
	char *got = testutil_read_file(trace, NULL);
	assert_string_equal(got, "init\nstart\nstop\nfini\n");
	free(got);
	free(body);
	free(trace);
}

/* A tool module sees its section without the permission keys the core reads there. */
static void
test_core_keys_hidden(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool good_tool\n[tool good_tool]\nrepeat = 2\n"
			      "allow.echo = hi*\npermission.ask_echo = allow\nallow_paths = /usr/*\n"
			      "deny.sleep = *\n"), 0);
	struct module *t = registry_find(f->reg, HEARTH_KIND_TOOL, "good_tool");
	const json_t *seen = t->host->config(t->host);
	assert_int_equal(json_object_size(seen), 1);
	assert_string_equal(json_string_value(json_object_get(seen, "repeat")), "2");
	/* The core still reads them from the whole section. */
	assert_int_equal(json_object_size(t->conf->section), 5);
}

/* One module file loaded twice under two instance names, each with its section. */
static void
test_instances(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load provider good_provider\nload provider pong2 good_provider\n"
			      "load provider pong3 good_provider\n"), 0);
	assert_int_equal(f->reg->n_modules, 3);
	struct module *a = registry_find(f->reg, HEARTH_KIND_PROVIDER, "good_provider");
	struct module *b = registry_find(f->reg, HEARTH_KIND_PROVIDER, "pong2");
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_string_equal(b->who, "provider/pong2");
	assert_string_equal(b->desc->name, "good_provider");
	assert_string_equal(b->path, MODDIR "/good_provider.la");
	assert_ptr_equal(registry_find_module(f->reg, HEARTH_KIND_PROVIDER, "good_provider"), a);
	assert_null(registry_find(f->reg, HEARTH_KIND_PROVIDER, "pong4"));
}

/* An instance naming a module whose file declares another name is refused. */
static void
test_instance_of_wrong_file(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(load(f, "load tool mine dup_name\n"), 1);
	assert_one_error(f, MODDIR "/dup_name.la: module tool/mine: the file declares the name "
			 "'good_tool'");
}

static void
test_search_dirs(void **state)
{
	(void)state;
	const char *text = "module_dir /a\nmodule_dir /b\n";
	struct conf *c = conf_parse("t", text, strlen(text));
	char **dirs = registry_search_dirs(c, HEARTH_KIND_PROVIDER);
	assert_string_equal(dirs[0], "/a/providers");
	assert_string_equal(dirs[1], "/a");
	assert_string_equal(dirs[2], "/b/providers");
	assert_string_equal(dirs[3], "/b");
	assert_string_equal(dirs[4], HEARTH_PROVIDER_DIR);
	assert_null(dirs[5]);
	registry_dirs_free(dirs);
	conf_free(c);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_good_modules),
		T(test_provider_runs_through_host),
		T(test_config_section_reaches_init),
		T(test_wrong_abi),
		T(test_wrong_struct_size),
		T(test_wrong_vtable_size),
		T(test_missing_callback),
		T(test_failing_init),
		T(test_stop_on_module_error),
		T(test_duplicate_name),
		T(test_duplicate_tool),
		T(test_no_entry_symbol),
		T(test_kind_mismatch),
		T(test_not_found),
		T(test_not_an_object),
		T(test_lifecycle_order),
		T(test_instances),
		T(test_core_keys_hidden),
		T(test_instance_of_wrong_file),
		cmocka_unit_test(test_search_dirs),
#undef T
	};
	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
