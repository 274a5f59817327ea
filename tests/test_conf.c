/* test_conf.c: plugins.conf parsing, loading and lookup (core/conf.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "xmalloc.h"

#include "default-conf.h"   /* generated from Makefile.am's HEARTH_DEFAULT_CONF */
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* ------------------------------------------------------------ helpers -- */

/* Parse exactly n bytes from a heap copy with no NUL after it, so ASan sees overreads. */
static struct conf *
parse_n(const char *path, const char *text, size_t n)
{
	char *copy = xmalloc(n);
	memcpy(copy, text, n);
	struct conf *c = conf_parse(path, copy, n);
	free(copy);
	return c;
}

static struct conf *
parse(const char *text)
{
	return parse_n("t.conf", text, strlen(text));
}

static void
expect_errors_(struct conf *c, const char *const *want, size_t n)
{
	if (c->n_errors != n) {
		for (size_t i = 0; i < c->n_errors; i++)
			print_message("got error: %s\n", c->errors[i]);
	}
	assert_int_equal(c->n_errors, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(c->errors[i], want[i]);
}

#define EXPECT_ERRORS(c, ...)                                                   \
	do {                                                                    \
		const char *const want_[] = { __VA_ARGS__ };                    \
		expect_errors_((c), want_, sizeof want_ / sizeof want_[0]);     \
	} while (0)
#define EXPECT_OK(c) expect_errors_((c), NULL, 0)

/* Parse text and expect exactly one error, `err`. */
static void
check_one(const char *text, const char *err)
{
	struct conf *c = parse(text);
	EXPECT_ERRORS(c, err);
	conf_free(c);
}

static const char *
sval(struct conf_module *m, const char *key)
{
	json_t *v = json_object_get(m->section, key);
	assert_non_null(v);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static int
kline(struct conf_module *m, const char *key)
{
	json_t *v = json_object_get(m->key_lines, key);
	assert_non_null(v);
	assert_true(json_is_integer(v));
	return (int)json_integer_value(v);
}

static char *
make_tmpdir(void)
{
	char tmpl[] = "/tmp/hearth-test-conf-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void
write_file(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Deterministic bytes for the binary tests. */
static uint32_t
rnd(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return *state >> 8;
}

static void
check_all_prefixed(struct conf *c, const char *prefix)
{
	for (size_t i = 0; i < c->n_errors; i++)
		assert_true(strncmp(c->errors[i], prefix, strlen(prefix)) == 0);
}

/* -------------------------------------------------------- valid files -- */

static const char full_conf[] =
	"# hearth configuration\n"                        /* 1 */
	"load provider anthropic\n"                       /* 2 */
	"load tool shell\n"                               /* 3 */
	"  load\tfrontend   socket   \n"                  /* 4 */
	"module_dir /opt/hearth/modules\n"                /* 5 */
	"module_dir\t/usr/local/lib/hearth\n"             /* 6 */
	"stop_on_module_error yes\n"                      /* 7 */
	"log_level debug\n"                               /* 8 */
	"log_file /var/log/hearthd.log\n"                 /* 9 */
	"\n"                                              /* 10 */
	"[provider anthropic]\n"                          /* 11 */
	"model = claude-sonnet-4-5\n"                     /* 12 */
	"max_tokens=8192\n"                               /* 13 */
	"base_url =   https://api.anthropic.com/v1   \n"  /* 14 */
	"    # an indented comment\n"                     /* 15 */
	"note = a = b#c $# d ${X:-#e} # a comment\n"      /* 16 */
	"\n"                                              /* 17 */
	"[ tool   shell ]\n"                              /* 18 */
	"timeout.ms = 30000\n"                            /* 19 */
	"Allow-List_2 = ls,cat\n";                        /* 20 */

/* The README's plugins.conf example (its first ```ini block) parses as shown. */
static void
test_readme_example(void **state)
{
	(void)state;
	FILE *f = fopen(TEST_SRCDIR "/../README.md", "r");
	assert_non_null(f);
	char line[1024];
	char *text = xstrdup("");
	size_t len = 0;
	int in = 0, seen = 0;
	while (fgets(line, sizeof line, f) != NULL && seen < 2) {
		if (strncmp(line, "```", 3) == 0) {
			if (in || strncmp(line, "```ini", 6) == 0)
				seen++;
			in = !in && strncmp(line, "```ini", 6) == 0;
			continue;
		}
		if (in) {
			size_t l = strlen(line);
			text = xrealloc(text, len + l + 1);
			memcpy(text + len, line, l + 1);
			len += l;
		}
	}
	fclose(f);
	assert_int_equal(seen, 2); /* the block was found, and closed */
	struct conf *c = parse(text);
	free(text);
	EXPECT_OK(c);
	assert_int_equal(c->n_modules, 3);
	assert_string_equal(c->module_dirs[0], "/opt/hearth-extra");
	assert_int_equal(c->stop_on_module_error, 0);
	assert_string_equal(sval(&c->modules[0], "model"), "claude-sonnet-4-5");
	conf_free(c);
}

static void
test_full_valid(void **state)
{
	struct conf *c = parse(full_conf);
	EXPECT_OK(c);
	assert_string_equal(c->path, "t.conf");

	assert_int_equal(c->n_modules, 3);
	struct conf_module *m = &c->modules[0];
	assert_int_equal(m->kind, HEARTH_KIND_PROVIDER);
	assert_string_equal(m->name, "anthropic");
	assert_int_equal(m->load_line, 2);
	assert_int_equal(m->section_line, 11);
	assert_int_equal(json_object_size(m->section), 4);
	assert_string_equal(sval(m, "model"), "claude-sonnet-4-5");
	assert_string_equal(sval(m, "max_tokens"), "8192");
	assert_string_equal(sval(m, "base_url"), "https://api.anthropic.com/v1");
	assert_string_equal(sval(m, "note"), "a = b#c # d #e");
	assert_int_equal(json_object_size(m->key_lines), 4);
	assert_int_equal(kline(m, "model"), 12);
	assert_int_equal(kline(m, "max_tokens"), 13);
	assert_int_equal(kline(m, "base_url"), 14);
	assert_int_equal(kline(m, "note"), 16);

	m = &c->modules[1];
	assert_int_equal(m->kind, HEARTH_KIND_TOOL);
	assert_string_equal(m->name, "shell");
	assert_int_equal(m->load_line, 3);
	assert_int_equal(m->section_line, 18);
	assert_int_equal(json_object_size(m->section), 2);
	assert_string_equal(sval(m, "timeout.ms"), "30000");
	assert_string_equal(sval(m, "Allow-List_2"), "ls,cat");
	assert_int_equal(json_object_size(m->key_lines), 2);
	assert_int_equal(kline(m, "timeout.ms"), 19);
	assert_int_equal(kline(m, "Allow-List_2"), 20);

	m = &c->modules[2];
	assert_int_equal(m->kind, HEARTH_KIND_FRONTEND);
	assert_string_equal(m->name, "socket");
	assert_int_equal(m->load_line, 4);
	assert_int_equal(m->section_line, 0);
	assert_non_null(m->section);
	assert_true(json_is_object(m->section));
	assert_int_equal(json_object_size(m->section), 0);
	assert_non_null(m->key_lines);
	assert_int_equal(json_object_size(m->key_lines), 0);

	assert_int_equal(c->n_module_dirs, 2);
	assert_string_equal(c->module_dirs[0], "/opt/hearth/modules");
	assert_string_equal(c->module_dirs[1], "/usr/local/lib/hearth");
	assert_int_equal(c->stop_on_module_error, 1);
	assert_int_equal(c->log_level, HEARTH_LOG_DEBUG);
	assert_string_equal(c->log_file, "/var/log/hearthd.log");

	assert_ptr_equal(conf_module_find(c, HEARTH_KIND_TOOL, "shell"), &c->modules[1]);
	assert_ptr_equal(conf_module_find(c, HEARTH_KIND_FRONTEND, "socket"), &c->modules[2]);
	assert_null(conf_module_find(c, HEARTH_KIND_PROVIDER, "shell"));
	assert_null(conf_module_find(c, HEARTH_KIND_TOOL, "nope"));
	assert_null(conf_module_find(c, HEARTH_KIND_TOOL, NULL));
	assert_null(conf_module_find(NULL, HEARTH_KIND_TOOL, "shell"));
	conf_free(c);
}

static void
test_defaults_and_empty(void **state)
{
	const char *texts[] = { "", "\n\n", "# only a comment", "  \t \n# c\n\t\n" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct conf *c = parse(texts[i]);
		EXPECT_OK(c);
		assert_int_equal(c->n_modules, 0);
		assert_null(c->modules);
		assert_int_equal(c->n_module_dirs, 0);
		assert_int_equal(c->stop_on_module_error, 0);
		assert_int_equal(c->log_level, HEARTH_LOG_INFO);
		assert_null(c->log_file);
		conf_free(c);
	}
	/* NULL text of length 0 is an empty file. */
	struct conf *c = conf_parse("e.conf", NULL, 0);
	EXPECT_OK(c);
	assert_string_equal(c->path, "e.conf");
	conf_free(c);
	conf_free(NULL);
}

static void
test_load_after_section_and_last_wins(void **state)
{
	struct conf *c = parse("[tool shell]\n"
			       "x = 1\n"
			       "load tool shell\n"
			       "load provider shell\n" /* same name, other kind: fine */
			       "log_level error\n"
			       "log_level warn\n"
			       "log_file /a\n"
			       "log_file /b\n"
			       "stop_on_module_error on\n"
			       "stop_on_module_error off\n");
	EXPECT_OK(c);
	assert_int_equal(c->n_modules, 2);
	struct conf_module *m = conf_module_find(c, HEARTH_KIND_TOOL, "shell");
	assert_non_null(m);
	assert_int_equal(m->load_line, 3);
	assert_int_equal(m->section_line, 1);
	assert_string_equal(sval(m, "x"), "1");
	m = conf_module_find(c, HEARTH_KIND_PROVIDER, "shell");
	assert_non_null(m);
	assert_int_equal(m->section_line, 0);
	assert_int_equal(json_object_size(m->section), 0);
	assert_int_equal(c->log_level, HEARTH_LOG_WARN);
	assert_string_equal(c->log_file, "/b");
	assert_int_equal(c->stop_on_module_error, 0);
	conf_free(c);
}

/* --------------------------------------------------- one error at a time -- */

static void
test_error_directives(void **state)
{
	check_one("lod provider x\n", "t.conf:1: unknown directive 'lod'");
	check_one("\n\nLoad tool x\n", "t.conf:3: unknown directive 'Load'");
	check_one("model\n", "t.conf:1: unknown directive 'model'");
	check_one("bad\x1b[31m x\n", "t.conf:1: unknown directive 'bad\\x1b[31m'");
	check_one("load provider\n",
		  "t.conf:1: 'load' takes 2 to 3 arguments (kind, name, and optionally the module), got 1");
	check_one("load\n", "t.conf:1: 'load' takes 2 to 3 arguments (kind, name, and optionally the module), got 0");
	check_one("load tool a b c\n",
		  "t.conf:1: 'load' takes 2 to 3 arguments (kind, name, and optionally the module), got 4");
	check_one("load tool a B\n",
		  "t.conf:1: invalid module name 'B' (expected 1 to 64 of a-z, 0-9, '_' and '-')");
	check_one("module_dir\n", "t.conf:1: 'module_dir' takes 1 argument (a directory), got 0");
	check_one("module_dir /a /b\n",
		  "t.conf:1: 'module_dir' takes 1 argument (a directory), got 2");
	check_one("stop_on_module_error\n",
		  "t.conf:1: 'stop_on_module_error' takes 1 argument (yes or no), got 0");
	check_one("log_level debug info\n",
		  "t.conf:1: 'log_level' takes 1 argument (error, warn, info or debug), got 2");
	check_one("log_file /a b\n", "t.conf:1: 'log_file' takes 1 argument (a file name), got 2");
	check_one("load provder x\n",
		  "t.conf:1: unknown module kind 'provder' (expected provider, tool or frontend)");
	check_one("load Tool x\n",
		  "t.conf:1: unknown module kind 'Tool' (expected provider, tool or frontend)");
	check_one("load provider anthropic\nload tool anthropic\nload provider anthropic\n",
		  "t.conf:3: module 'anthropic' (provider) is already loaded on line 1");
	check_one("stop_on_module_error maybe\n",
		  "t.conf:1: invalid value 'maybe' for stop_on_module_error "
		  "(expected yes, no, true, false, on, off, 1 or 0)");
	check_one("log_level loud\n",
		  "t.conf:1: invalid log level 'loud' (expected error, warn, info or debug)");
	check_one("max_steps\n",
		  "t.conf:1: 'max_steps' takes 1 argument (a number of model requests), got 0");
	check_one("max_steps 0\n", "t.conf:1: invalid value '0' for max_steps (expected 1 to 10000)");
	check_one("max_steps 10001\n",
		  "t.conf:1: invalid value '10001' for max_steps (expected 1 to 10000)");
	check_one("max_steps 5x\n", "t.conf:1: invalid value '5x' for max_steps (expected 1 to 10000)");
	check_one("max_steps 99999999999999999999\n",
		  "t.conf:1: invalid value '99999999999999999999' for max_steps (expected 1 to 10000)");
	/* A named instance of a module. */
	struct conf *c = parse("load provider groq openai\nload provider openai\n");
	EXPECT_OK(c);
	assert_string_equal(c->modules[0].name, "groq");
	assert_string_equal(c->modules[0].module, "openai");
	assert_string_equal(c->modules[1].name, "openai");
	assert_string_equal(c->modules[1].module, "openai");
	conf_free(c);
	c = parse("max_steps 7\n");
	EXPECT_OK(c);
	assert_int_equal(c->max_steps, 7);
	conf_free(c);
	c = parse("");
	assert_int_equal(c->max_steps, CONF_MAX_STEPS_DEFAULT);
	conf_free(c);
}

static void
test_bool_and_level_values(void **state)
{
	static const struct { const char *word; int val; } bools[] = {
		{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { "on", 1 },
		{ "off", 0 }, { "1", 1 }, { "0", 0 }, { "YES", 1 }, { "Off", 0 },
	};
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		/* Start from the opposite so a no-op would be caught. */
		char text[128];
		snprintf(text, sizeof text, "stop_on_module_error %s\nstop_on_module_error %s\n",
			 bools[i].val ? "no" : "yes", bools[i].word);
		struct conf *c = parse(text);
		EXPECT_OK(c);
		assert_int_equal(c->stop_on_module_error, bools[i].val);
		conf_free(c);
	}
	static const struct { const char *word; enum hearth_log_level val; } levels[] = {
		{ "error", HEARTH_LOG_ERROR }, { "warn", HEARTH_LOG_WARN },
		{ "info", HEARTH_LOG_INFO }, { "debug", HEARTH_LOG_DEBUG },
		{ "DEBUG", HEARTH_LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		char text[64];
		snprintf(text, sizeof text, "log_level %s\n", levels[i].word);
		struct conf *c = parse(text);
		EXPECT_OK(c);
		assert_int_equal(c->log_level, levels[i].val);
		conf_free(c);
	}
	check_one("stop_on_module_error 2\n",
		  "t.conf:1: invalid value '2' for stop_on_module_error "
		  "(expected yes, no, true, false, on, off, 1 or 0)");
}

static void
test_error_keys(void **state)
{
	check_one("x = 1\n", "t.conf:1: key 'x' outside a section");
	check_one("# c\nload tool t\nx=1\n[tool t]\n", "t.conf:3: key 'x' outside a section");
	check_one("load tool t\n[tool t]\n= v\n", "t.conf:3: missing key before '='");
	check_one("load tool t\n[tool t]\nmy key = v\n",
		  "t.conf:3: invalid key 'my key' (expected A-Z, a-z, 0-9, '_', '.' and '-')");
	check_one("load tool t\n[tool t]\nk\xc3\xa9 = v\n",
		  "t.conf:3: invalid key 'k\xc3\xa9' (expected A-Z, a-z, 0-9, '_', '.' and '-')");
	check_one("load tool t\n[tool t]\nk =\n", "t.conf:3: key 'k' has no value");
	check_one("load tool t\n[tool t]\nk =  \t \n", "t.conf:3: key 'k' has no value");

	struct conf *c = parse("load provider anthropic\n"
			       "[provider anthropic]\n"
			       "model = a\n"
			       "model = b\n");
	EXPECT_ERRORS(c, "t.conf:4: duplicate key 'model' in [provider anthropic] "
			 "(first set on line 3)");
	assert_string_equal(sval(&c->modules[0], "model"), "a");
	assert_int_equal(kline(&c->modules[0], "model"), 3);
	conf_free(c);
}

static void
test_error_sections(void **state)
{
	check_one("[tool shell]\nx = 1\n",
		  "t.conf:1: section [tool shell] is for a module that is not loaded "
		  "(add 'load tool shell')");
	check_one("load tool t\n[tool t\n", "t.conf:2: section header has no closing ']'");
	check_one("[tool shell] x\n",
		  "t.conf:1: unexpected text after ']' in section header: 'x'");
	check_one("[tool shell]  #c\n",
		  "t.conf:1: section [tool shell] is for a module that is not loaded "
		  "(add 'load tool shell')");
	check_one("[[tool shell]]\n",
		  "t.conf:1: unexpected text after ']' in section header: ']'");
	check_one("[tool]\n",
		  "t.conf:1: section header needs a kind and a name, as in [provider anthropic]");
	check_one("[ ]\n",
		  "t.conf:1: section header needs a kind and a name, as in [provider anthropic]");
	check_one("[tool a b]\n",
		  "t.conf:1: section header needs a kind and a name, as in [provider anthropic]");
	check_one("[provder x]\n",
		  "t.conf:1: unknown module kind 'provder' (expected provider, tool or frontend)");
	check_one("[tool Shell]\n",
		  "t.conf:1: invalid module name 'Shell' (expected 1 to 64 of a-z, 0-9, '_' and '-')");
	/* No expansion in headers. */
	check_one("[tool ${X}]\n",
		  "t.conf:1: invalid module name '${X}' (expected 1 to 64 of a-z, 0-9, '_' and '-')");

	/* Keys under a bad header are dropped without more errors. */
	check_one("[tool]\nk = v\nj = w\n",
		  "t.conf:1: section header needs a kind and a name, as in [provider anthropic]");

	/* A duplicate section: reported, its keys dropped, the first one kept. */
	struct conf *c = parse("load tool t\n"
			       "[tool t]\n"
			       "a = 1\n"
			       "[tool t]\n"
			       "a = 2\n"
			       "b = 3\n");
	EXPECT_ERRORS(c, "t.conf:4: duplicate section [tool t] (first on line 2)");
	assert_int_equal(c->modules[0].section_line, 2);
	assert_int_equal(json_object_size(c->modules[0].section), 1);
	assert_string_equal(sval(&c->modules[0], "a"), "1");
	conf_free(c);
}

static void
test_module_names(void **state)
{
	char name64[65], name65[66], text[160];
	memset(name64, 'a', 64);
	name64[64] = '\0';
	memset(name65, 'b', 65);
	name65[65] = '\0';

	snprintf(text, sizeof text, "load tool %s\n[tool %s]\nk = v\n", name64, name64);
	struct conf *c = parse(text);
	EXPECT_OK(c);
	assert_string_equal(c->modules[0].name, name64);
	conf_free(c);

	snprintf(text, sizeof text, "load tool %s\n", name65);
	char want[256];
	snprintf(want, sizeof want, "t.conf:1: invalid module name '%.64s...' "
		 "(expected 1 to 64 of a-z, 0-9, '_' and '-')", name65);
	check_one(text, want);

	c = parse("load tool a-b_9\n");
	EXPECT_OK(c);
	assert_string_equal(c->modules[0].name, "a-b_9");
	conf_free(c);
	check_one("load tool Foo\n",
		  "t.conf:1: invalid module name 'Foo' (expected 1 to 64 of a-z, 0-9, '_' and '-')");
	check_one("load tool a/b\n",
		  "t.conf:1: invalid module name 'a/b' (expected 1 to 64 of a-z, 0-9, '_' and '-')");
	check_one("load tool a.b\n",
		  "t.conf:1: invalid module name 'a.b' (expected 1 to 64 of a-z, 0-9, '_' and '-')");
	/* Expands to empty. */
	unsetenv("HEARTH_T_UNSET");
	check_one("load tool ${HEARTH_T_UNSET}\n",
		  "t.conf:1: invalid module name '' (expected 1 to 64 of a-z, 0-9, '_' and '-')");
}

static void
test_several_errors_in_order(void **state)
{
	char text[8192];
	char longline[CONF_LINE_MAX + 2];
	memset(longline, 'x', CONF_LINE_MAX + 1);
	longline[CONF_LINE_MAX + 1] = '\0';
	snprintf(text, sizeof text,
		 "lod x\n"                      /* 1 */
		 "[tool ghost]\n"               /* 2 */
		 "k = v\n"                      /* 3 */
		 "load provder x\n"             /* 4 */
		 "load provider anthropic\n"    /* 5 */
		 "[provider anthropic]\n"       /* 6 */
		 "model = a\n"                  /* 7 */
		 "model = b\n"                  /* 8 */
		 "%s\n"                         /* 9 */
		 "log_level loud\n"             /* 10 */
		 "stop_on_module_error maybe\n" /* 11 */
		 "x = ${\n"                     /* 12 */
		 "[frontend gone]\n"            /* 13 */
		 "ok = 1\n",                    /* 14 */
		 longline);
	struct conf *c = parse(text);
	EXPECT_ERRORS(c,
		"t.conf:1: unknown directive 'lod'",
		"t.conf:2: section [tool ghost] is for a module that is not loaded "
		"(add 'load tool ghost')",
		"t.conf:4: unknown module kind 'provder' (expected provider, tool or frontend)",
		"t.conf:8: duplicate key 'model' in [provider anthropic] (first set on line 7)",
		"t.conf:9: line is longer than 4096 bytes",
		"t.conf:10: invalid log level 'loud' (expected error, warn, info or debug)",
		"t.conf:11: invalid value 'maybe' for stop_on_module_error "
		"(expected yes, no, true, false, on, off, 1 or 0)",
		"t.conf:12: unterminated ${ in value",
		"t.conf:13: section [frontend gone] is for a module that is not loaded "
		"(add 'load frontend gone')");
	/* What was right is still there. */
	assert_int_equal(c->n_modules, 1);
	assert_string_equal(sval(&c->modules[0], "model"), "a");
	conf_free(c);
}

static void
test_too_many_errors(void **state)
{
	size_t n = 150;
	char *text = xmalloc(n * 6 + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * 6, "bogus\n", 6);
	text[n * 6] = '\0';
	struct conf *c = parse(text);
	assert_int_equal(c->n_errors, 101);
	assert_string_equal(c->errors[0], "t.conf:1: unknown directive 'bogus'");
	assert_string_equal(c->errors[99], "t.conf:100: unknown directive 'bogus'");
	assert_string_equal(c->errors[100], "t.conf:100: too many errors, giving up");
	conf_free(c);
	free(text);
}

/* ---------------------------------------------------- lines and bytes -- */

static void
test_long_lines(void **state)
{
	/* Exactly CONF_LINE_MAX bytes: accepted, also with CRLF (the CR does not count). */
	for (int crlf = 0; crlf <= 1; crlf++) {
		char *text = xmalloc(CONF_LINE_MAX + 64);
		int o = sprintf(text, "load tool t\n[tool t]\nk = ");
		size_t vlen = CONF_LINE_MAX - 4;
		memset(text + o, 'v', vlen);
		o += (int)vlen;
		o += sprintf(text + o, "%s", crlf ? "\r\nz = 1\r\n" : "\nz = 1\n");
		struct conf *c = parse_n("t.conf", text, (size_t)o);
		EXPECT_OK(c);
		assert_int_equal(strlen(sval(&c->modules[0], "k")), vlen);
		assert_string_equal(sval(&c->modules[0], "z"), "1");
		conf_free(c);
		free(text);
	}

	/* One byte more: reported once, skipped, the rest parsed; also as the last line. */
	size_t n = CONF_LINE_MAX + 1;
	char *text = xmalloc(3 * n + 64);
	int o = sprintf(text, "load tool t\n");
	memset(text + o, '#', n);
	o += (int)n;
	o += sprintf(text + o, "\nlog_level debug\nlod\n[tool t]\n");
	memset(text + o, 'k', n);
	o += (int)n;
	struct conf *c = parse_n("t.conf", text, (size_t)o);
	EXPECT_ERRORS(c, "t.conf:2: line is longer than 4096 bytes",
		      "t.conf:4: unknown directive 'lod'",
		      "t.conf:6: line is longer than 4096 bytes");
	assert_int_equal(c->log_level, HEARTH_LOG_DEBUG);
	assert_int_equal(c->n_modules, 1);
	conf_free(c);

	/* A huge line (100 KiB) is one error too. */
	size_t big = 100 * 1024;
	char *huge = xmalloc(big);
	memset(huge, 'a', big);
	c = parse_n("t.conf", huge, big);
	EXPECT_ERRORS(c, "t.conf:1: line is longer than 4096 bytes");
	conf_free(c);
	free(huge);
	free(text);
}

static void
test_utf8(void **state)
{
	static const struct { const char *bytes; int at; } bad[] = {
		{ "\xC0\x80", 5 },             /* overlong NUL */
		{ "\xC1\xBF", 5 },             /* overlong 2-byte */
		{ "\xE0\x80\xAF", 5 },         /* overlong 3-byte */
		{ "\xE0\x9F\xBF", 5 },         /* overlong U+07FF */
		{ "\xF0\x80\x80\xAF", 5 },     /* overlong 4-byte */
		{ "\xF0\x8F\xBF\xBF", 5 },     /* overlong U+FFFF */
		{ "\xED\xA0\x80", 5 },         /* surrogate U+D800 */
		{ "\xED\xBF\xBF", 5 },         /* surrogate U+DFFF */
		{ "\xF4\x90\x80\x80", 5 },     /* U+110000 */
		{ "\xF5\x80\x80\x80", 5 },     /* lead past F4 */
		{ "\xFF", 5 },
		{ "\xFE", 5 },
		{ "\x80", 5 },                 /* lone continuation */
		{ "ab\xE2\x82", 7 },           /* cut at the end of the line */
		{ "ab\xE2\x82 x", 7 },         /* cut before a space */
		{ "\xE2\x28\xA1", 5 },         /* bad continuation */
		{ "\xC3\xA9\xC3", 7 },         /* good, then cut */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[64], want[64];
		snprintf(text, sizeof text, "load tool t\n[tool t]\nk = %s\nz = 1\n", bad[i].bytes);
		snprintf(want, sizeof want, "t.conf:3: invalid UTF-8 at byte %d", bad[i].at);
		struct conf *c = parse(text);
		EXPECT_ERRORS(c, want);
		assert_null(json_object_get(c->modules[0].section, "k"));
		assert_string_equal(sval(&c->modules[0], "z"), "1");
		conf_free(c);
	}
	/* Boundaries that are valid: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF. */
	const char *good = "\xC2\x80 \xDF\xBF \xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80 "
			   "\xEF\xBF\xBF \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF \xF0\x9F\x98\x80";
	char text[128];
	snprintf(text, sizeof text, "load tool t\n[tool t]\nk = %s\n", good);
	struct conf *c = parse(text);
	EXPECT_OK(c);
	assert_string_equal(sval(&c->modules[0], "k"), good);
	conf_free(c);
}

static void
test_nul_bytes(void **state)
{
	static const char text[] = "load tool a\nx\0y\nlo\0ad\nlog_level warn\n";
	struct conf *c = parse_n("t.conf", text, sizeof text - 1);
	EXPECT_ERRORS(c, "t.conf:2: NUL byte in file (binary data?)");
	assert_int_equal(c->n_modules, 1);
	assert_int_equal(c->log_level, HEARTH_LOG_WARN);
	conf_free(c);

	c = parse_n("t.conf", "\0", 1);
	EXPECT_ERRORS(c, "t.conf:1: NUL byte in file (binary data?)");
	conf_free(c);
}

static void
test_crlf(void **state)
{
	struct conf *c = parse("load tool t\r\n"
			       "[tool t]\r\n"
			       "k = v\r\n"
			       "\r\n"
			       "mixed = lf\n"
			       "inner = a\rb\r\n"
			       "log_level debug\r\n"
			       "log_file /x\r");
	EXPECT_OK(c);
	struct conf_module *m = &c->modules[0];
	assert_int_equal(m->section_line, 2);
	assert_string_equal(sval(m, "k"), "v");
	assert_string_equal(sval(m, "mixed"), "lf");
	assert_string_equal(sval(m, "inner"), "a\rb");
	assert_int_equal(kline(m, "inner"), 6);
	assert_int_equal(c->log_level, HEARTH_LOG_DEBUG);
	assert_string_equal(c->log_file, "/x");
	conf_free(c);

	check_one("a = b\r\n", "t.conf:1: key 'a' outside a section");
	check_one("# x\r\n\r\nlod\r\n", "t.conf:3: unknown directive 'lod'");
}

static void
test_bom(void **state)
{
	struct conf *c = parse("\xEF\xBB\xBFload tool t\n[tool t]\nk = v\n");
	EXPECT_OK(c);
	assert_int_equal(c->n_modules, 1);
	assert_string_equal(c->modules[0].name, "t");
	assert_int_equal(c->modules[0].load_line, 1);
	conf_free(c);

	c = parse("\xEF\xBB\xBF");
	EXPECT_OK(c);
	conf_free(c);

	c = parse("\xEF\xBB\xBF\r\n# c\r\nlog_level error\r\n");
	EXPECT_OK(c);
	assert_int_equal(c->log_level, HEARTH_LOG_ERROR);
	conf_free(c);

	/* Only at the very start. */
	check_one("load tool t\n\xEF\xBB\xBFlog_level info\n",
		  "t.conf:2: unknown directive '\xEF\xBB\xBFlog_level'");
	/* A cut BOM is not UTF-8. */
	check_one("\xEF\xBB", "t.conf:1: invalid UTF-8 at byte 1");
}

/* ---------------------------------------------------------- truncation -- */

static void
test_truncated(void **state)
{
	/* Every prefix of a good file: no crash, and a prefix of whole lines is clean. */
	size_t len = strlen(full_conf);
	for (size_t n = 0; n <= len; n++) {
		struct conf *c = parse_n("t.conf", full_conf, n);
		check_all_prefixed(c, "t.conf:");
		if (n == 0 || full_conf[n - 1] == '\n')
			assert_int_equal(c->n_errors, 0);
		conf_free(c);
	}

	/* Cut mid-line, mid-header, mid-${, mid-key; a last line without newline is fine. */
	check_one("load provider anthropic\nlo", "t.conf:2: unknown directive 'lo'");
	check_one("load provider anthropic\nload provider", "t.conf:2: 'load' takes 2 to 3 "
		  "arguments (kind, name, and optionally the module), got 1");
	check_one("load provider anthropic\n[provider anthr",
		  "t.conf:2: section header has no closing ']'");
	check_one("load provider anthropic\n[",
		  "t.conf:2: section header has no closing ']'");
	check_one("load provider anthropic\n[provider anthropic]\nbase_url = ${ANTHROPIC_BA",
		  "t.conf:3: unterminated ${ in value");
	check_one("load provider anthropic\n[provider anthropic]\nbase_url = ${A:-http",
		  "t.conf:3: unterminated ${ in value");
	struct conf *c = parse("load provider anthropic\n[provider anthropic]\nbase_url = $");
	/* A lone '$' at the end is literal. */
	EXPECT_OK(c);
	assert_string_equal(sval(&c->modules[0], "base_url"), "$");
	conf_free(c);
	check_one("load provider anthropic\n[provider anthropic]\nbase_url =",
		  "t.conf:3: key 'base_url' has no value");
	check_one("log_file ${X", "t.conf:1: unterminated ${ in argument");

	c = parse("load provider anthropic\n[provider anthropic]\nmodel = claude");
	EXPECT_OK(c);
	assert_string_equal(sval(&c->modules[0], "model"), "claude");
	conf_free(c);
}

/* -------------------------------------------------------------- binary -- */

static void
test_binary_elf(void **state)
{
	/* The start of an x86-64 ELF executable. */
	static const unsigned char elf[] = {
		0x7f, 'E', 'L', 'F', 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x03, 0x00, 0x3e, 0x00, 0x01, 0x00, 0x00, 0x00, 0x60, 0x10, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x0a, 0x7f, 'E', 'L', 'F', 0xff, 0xfe, 0x0a, 'l', 'o', 'a', 'd', 0x0a,
	};
	struct conf *c = parse_n("a.out", (const char *)elf, sizeof elf);
	EXPECT_ERRORS(c, "a.out:1: NUL byte in file (binary data?)",
		      "a.out:2: invalid UTF-8 at byte 5",
		      "a.out:3: 'load' takes 2 to 3 arguments (kind, name, and optionally the module), got 0");
	assert_int_equal(c->n_modules, 0);
	conf_free(c);
}

static void
test_binary_random(void **state)
{
	uint32_t seed = 12345;
	size_t n = 64 * 1024;
	char *buf = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(rnd(&seed) & 0xff);
	buf[100] = '\0';
	struct conf *c = parse_n("rnd", buf, n);
	assert_true(c->n_errors >= 1 && c->n_errors <= 101);
	check_all_prefixed(c, "rnd:");
	size_t nul = 0;
	for (size_t i = 0; i < c->n_errors; i++)
		nul += strstr(c->errors[i], "NUL byte in file") != NULL;
	assert_int_equal(nul, 1);
	conf_free(c);

	/* Random bytes without NUL: only the other checks can catch them. */
	for (size_t i = 0; i < n; i++) {
		char b = (char)(rnd(&seed) & 0xff);
		buf[i] = b != '\0' ? b : '\n';
	}
	c = parse_n("rnd", buf, n);
	assert_true(c->n_errors >= 1 && c->n_errors <= 101);
	check_all_prefixed(c, "rnd:");
	conf_free(c);

	/* Many short inputs built from the format's own characters. */
	static const char alphabet[] = "[]=${}:-#_ \t\n\r$$load tool provider frontend x";
	char small[256];
	for (int round = 0; round < 3000; round++) {
		size_t len = rnd(&seed) % sizeof small;
		for (size_t i = 0; i < len; i++)
			small[i] = alphabet[rnd(&seed) % (sizeof alphabet - 1)];
		c = parse_n("s", small, len);
		check_all_prefixed(c, "s:");
		conf_free(c);
	}
	free(buf);
}

/* ----------------------------------------------------------- expansion -- */

static void
test_expansion(void **state)
{
	setenv("HEARTH_T_A", "alpha", 1);
	setenv("HEARTH_T_EMPTY", "", 1);
	setenv("HEARTH_T_SPACE", "/tmp/a b.log", 1);
	setenv("HEARTH_T_META", "${HEARTH_T_A}$$", 1);
	unsetenv("HEARTH_T_UNSET");

	struct conf *c = parse(
		"load tool t\n"
		"[tool t]\n"
		"a = ${HEARTH_T_A}\n"
		"b = x${HEARTH_T_UNSET}y\n"
		"c = ${HEARTH_T_UNSET:-def ault}\n"
		"d = ${HEARTH_T_EMPTY:-fallback}\n"
		"e = ${HEARTH_T_A:-fallback}\n"
		"f = $$HOME $${HEARTH_T_A}\n"
		"g = cost $5 and $ alone $\n"
		"h = ${HEARTH_T_UNSET:-${HEARTH_T_A}}\n"
		"i = ${HEARTH_T_UNSET:-${HEARTH_T_UNSET:-in$$ner}}\n"
		"j = {}} $}\n"
		"k = ${HEARTH_T_EMPTY}\n"
		"l = ${HEARTH_T_META}\n"
		"m = ${HEARTH_T_UNSET:-}\n"
		"n = pre-${HEARTH_T_A}-${HEARTH_T_A}-post\n"
		"o = ${HEARTH_T_UNSET:-a}b}\n"
		"p = $$$$\n");
	EXPECT_OK(c);
	struct conf_module *m = &c->modules[0];
	assert_string_equal(sval(m, "a"), "alpha");
	assert_string_equal(sval(m, "b"), "xy");
	assert_string_equal(sval(m, "c"), "def ault");
	assert_string_equal(sval(m, "d"), "fallback");
	assert_string_equal(sval(m, "e"), "alpha");
	assert_string_equal(sval(m, "f"), "$HOME ${HEARTH_T_A}");
	assert_string_equal(sval(m, "g"), "cost $5 and $ alone $");
	assert_string_equal(sval(m, "h"), "alpha");
	assert_string_equal(sval(m, "i"), "in$ner");
	assert_string_equal(sval(m, "j"), "{}} $}");
	assert_string_equal(sval(m, "k"), "");
	assert_string_equal(sval(m, "l"), "${HEARTH_T_A}$$"); /* not expanded twice */
	assert_string_equal(sval(m, "m"), "");
	assert_string_equal(sval(m, "n"), "pre-alpha-alpha-post");
	assert_string_equal(sval(m, "o"), "ab}");
	assert_string_equal(sval(m, "p"), "$$");
	conf_free(c);

	/* Directive arguments; ${X:-a b} stays one word. */
	c = parse("load tool ${HEARTH_T_UNSET:-shell}\n"
		  "module_dir ${HEARTH_T_A}/mods\n"
		  "module_dir ${HEARTH_T_UNSET}\n"
		  "module_dir $$x\n"
		  "log_level ${HEARTH_T_UNSET:-debug}\n"
		  "stop_on_module_error ${HEARTH_T_UNSET:-on}\n"
		  "log_file ${HEARTH_T_SPACE}\n");
	EXPECT_OK(c);
	assert_string_equal(c->modules[0].name, "shell");
	assert_int_equal(c->n_module_dirs, 2);
	assert_string_equal(c->module_dirs[0], "alpha/mods");
	assert_string_equal(c->module_dirs[1], "$x");
	assert_int_equal(c->log_level, HEARTH_LOG_DEBUG);
	assert_int_equal(c->stop_on_module_error, 1);
	assert_string_equal(c->log_file, "/tmp/a b.log");
	conf_free(c);

	c = parse("log_file ${HEARTH_T_UNSET:-/var/log/a b.log}\n");
	EXPECT_OK(c);
	assert_string_equal(c->log_file, "/var/log/a b.log");
	conf_free(c);
	c = parse("log_file /x\nlog_file ${HEARTH_T_UNSET}\n");
	EXPECT_OK(c);
	assert_null(c->log_file); /* empty: back to stderr */
	conf_free(c);

	/* Nesting: 8 deep is fine, 9 is not. */
	char text[512], *o = text;
	o += sprintf(o, "load tool t\n[tool t]\nk = ");
	for (int i = 0; i < 8; i++)
		o += sprintf(o, "${HEARTH_T_UNSET:-");
	o += sprintf(o, "z");
	for (int i = 0; i < 8; i++)
		o += sprintf(o, "}");
	sprintf(o, "\n");
	c = parse(text);
	EXPECT_OK(c);
	assert_string_equal(sval(&c->modules[0], "k"), "z");
	conf_free(c);
	o = text;
	o += sprintf(o, "load tool t\n[tool t]\nk = ");
	for (int i = 0; i < 9; i++)
		o += sprintf(o, "${HEARTH_T_UNSET:-");
	o += sprintf(o, "z");
	for (int i = 0; i < 9; i++)
		o += sprintf(o, "}");
	sprintf(o, "\n");
	check_one(text, "t.conf:3: ${...} nested more than 8 deep in value");

	unsetenv("HEARTH_T_A");
	unsetenv("HEARTH_T_EMPTY");
	unsetenv("HEARTH_T_SPACE");
	unsetenv("HEARTH_T_META");
}

static void
test_expansion_errors(void **state)
{
	const char *pre = "load tool t\n[tool t]\n";
	static const struct { const char *line, *err; } cases[] = {
		{ "k = ${HOME", "t.conf:3: unterminated ${ in value" },
		{ "k = ${", "t.conf:3: unterminated ${ in value" },
		{ "k = ${X:-abc", "t.conf:3: unterminated ${ in value" },
		{ "k = ${X:-${Y}", "t.conf:3: unterminated ${ in value" },
		{ "k = ${}", "t.conf:3: empty variable name in ${} in value" },
		{ "k = ${1A}", "t.conf:3: invalid variable name '1A' in value (it starts with a digit)" },
		{ "k = ${A B}", "t.conf:3: unexpected ' ' after '${A' in value (expected '}' or ':-')" },
		{ "k = ${A:=x}", "t.conf:3: unexpected ':' after '${A' in value (expected '}' or ':-')" },
		{ "k = ${A-x}", "t.conf:3: unexpected '-' after '${A' in value (expected '}' or ':-')" },
		{ "k = ${-x}", "t.conf:3: unexpected '-' after '${' in value (expected a variable name)" },
		{ "k = ${A\xc3\xa9}",
		  "t.conf:3: unexpected '\xc3\xa9' after '${A' in value (expected '}' or ':-')" },
		{ "k = ${X:-${}}", "t.conf:3: empty variable name in ${} in value" },
		{ "log_file ${X", "t.conf:3: unterminated ${ in argument" },
		{ "log_file ${X:-a b", "t.conf:3: unterminated ${ in argument" },
		{ "module_dir ${}", "t.conf:3: empty variable name in ${} in argument" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[128];
		snprintf(text, sizeof text, "%s%s\n", pre, cases[i].line);
		check_one(text, cases[i].err);
	}

	/* Not UTF-8 in the environment. */
	setenv("HEARTH_T_BAD", "ok\xff", 1);
	check_one("load tool t\n[tool t]\nk = ${HEARTH_T_BAD}\n",
		  "t.conf:3: environment variable HEARTH_T_BAD is not valid UTF-8");
	check_one("load tool t\n[tool t]\nk = ${HEARTH_T_BAD:-x}\n",
		  "t.conf:3: environment variable HEARTH_T_BAD is not valid UTF-8");
	unsetenv("HEARTH_T_BAD");

	/* The expanded size: exactly 64 KiB is fine, a byte more is not. */
	size_t max = 64 * 1024;
	char *big = xmalloc(max + 2);
	memset(big, 'x', max + 1);
	big[max] = '\0';
	setenv("HEARTH_T_BIG", big, 1);
	struct conf *c = parse("load tool t\n[tool t]\nk = ${HEARTH_T_BIG}\n");
	EXPECT_OK(c);
	assert_int_equal(strlen(sval(&c->modules[0], "k")), max);
	conf_free(c);
	check_one("load tool t\n[tool t]\nk = ${HEARTH_T_BIG}y\n",
		  "t.conf:3: expanding ${HEARTH_T_BIG} makes the value longer than 65536 bytes");
	check_one("load tool t\n[tool t]\nk = $$${HEARTH_T_BIG}\n",
		  "t.conf:3: expanding ${HEARTH_T_BIG} makes the value longer than 65536 bytes");
	check_one("load tool t\n[tool t]\nk = ${HEARTH_T_BIG}$$\n",
		  "t.conf:3: expanding ${HEARTH_T_BIG} makes the value longer than 65536 bytes");
	check_one("module_dir ${HEARTH_T_UNSET:-${HEARTH_T_BIG}}${HEARTH_T_BIG}\n",
		  "t.conf:1: expanding ${HEARTH_T_BIG} makes the argument longer than 65536 bytes");
	big[max] = 'x';
	big[max + 1] = '\0';
	setenv("HEARTH_T_BIG", big, 1);
	check_one("load tool t\n[tool t]\nk = ${HEARTH_T_BIG}\n",
		  "t.conf:3: expanding ${HEARTH_T_BIG} makes the value longer than 65536 bytes");
	unsetenv("HEARTH_T_BIG");
	free(big);
}

/* ------------------------------------------------------- files, lookup -- */

static void
test_load_files(void **state)
{
	char *dir = make_tmpdir();
	char *path = xasprintf("%s/plugins.conf", dir);

	/* A good file; path is kept as given. */
	write_file(path, full_conf, strlen(full_conf));
	struct conf *c = conf_load(path);
	EXPECT_OK(c);
	assert_string_equal(c->path, path);
	assert_int_equal(c->n_modules, 3);
	assert_string_equal(sval(&c->modules[0], "model"), "claude-sonnet-4-5");
	conf_free(c);

	/* Errors name the file. */
	write_file(path, "lod\n", 4);
	c = conf_load(path);
	char *want = xasprintf("%s:1: unknown directive 'lod'", path);
	EXPECT_ERRORS(c, want);
	free(want);
	conf_free(c);

	/* Exactly CONF_FILE_MAX bytes is read; one more, or 2 MB, is refused. */
	size_t size = 2 * 1024 * 1024;
	char *big = xmalloc(size);
	memset(big, '#', size);
	for (size_t i = 63; i < size; i += 64)
		big[i] = '\n';
	write_file(path, big, CONF_FILE_MAX);
	c = conf_load(path);
	EXPECT_OK(c);
	conf_free(c);
	want = xasprintf("%s: file is larger than 1048576 bytes", path);
	write_file(path, big, CONF_FILE_MAX + 1);
	c = conf_load(path);
	EXPECT_ERRORS(c, want);
	conf_free(c);
	write_file(path, big, size);
	c = conf_load(path);
	EXPECT_ERRORS(c, want);
	assert_int_equal(c->n_modules, 0);
	conf_free(c);
	free(want);
	/* The same limit holds for text handed to conf_parse. */
	c = conf_parse("t.conf", big, CONF_FILE_MAX + 1);
	EXPECT_ERRORS(c, "t.conf: file is larger than 1048576 bytes");
	conf_free(c);
	free(big);

	/* Missing file, a directory. */
	char *missing = xasprintf("%s/nope.conf", dir);
	c = conf_load(missing);
	want = xasprintf("%s: cannot read: No such file or directory", missing);
	EXPECT_ERRORS(c, want);
	assert_string_equal(c->path, missing);
	assert_int_equal(c->n_modules, 0);
	free(want);
	conf_free(c);
	c = conf_load(dir);
	want = xasprintf("%s: cannot read: Is a directory", dir);
	EXPECT_ERRORS(c, want);
	free(want);
	conf_free(c);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(missing);
	free(path);
	free(dir);
}

/* Set or unset (value NULL) an environment variable. */
static void
env_set(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static void
test_find(void **state)
{
	char *old_xdg = getenv("XDG_CONFIG_HOME") ? xstrdup(getenv("XDG_CONFIG_HOME")) : NULL;
	char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	const char *sys = SYSCONFDIR "/hearth/plugins.conf";
	struct stat st;
	const char *sys_want = stat(sys, &st) == 0 ? sys : NULL;

	char *explicit = conf_find("/some/where.conf");
	assert_string_equal(explicit, "/some/where.conf");
	free(explicit);

	char *xdg = make_tmpdir();
	char *home = make_tmpdir();
	char *xdg_dir = xasprintf("%s/hearth", xdg);
	char *xdg_file = xasprintf("%s/hearth/plugins.conf", xdg);
	char *home_cfg = xasprintf("%s/.config", home);
	char *home_dir = xasprintf("%s/.config/hearth", home);
	char *home_file = xasprintf("%s/.config/hearth/plugins.conf", home);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	setenv("HOME", home, 1);

	/* Nothing there yet: the system file if it exists, else NULL. */
	char *found = conf_find(NULL);
	if (sys_want == NULL)
		assert_null(found);
	else
		assert_string_equal(found, sys_want);
	free(found);

	assert_int_equal(mkdir(xdg_dir, 0700), 0);
	write_file(xdg_file, "", 0);
	found = conf_find(NULL);
	assert_string_equal(found, xdg_file);
	free(found);
	/* --config still wins. */
	found = conf_find("other.conf");
	assert_string_equal(found, "other.conf");
	free(found);

	/* XDG_CONFIG_HOME unset, or relative (which the XDG spec says to ignore): ~/.config. */
	assert_int_equal(mkdir(home_cfg, 0700), 0);
	assert_int_equal(mkdir(home_dir, 0700), 0);
	write_file(home_file, "", 0);
	unsetenv("XDG_CONFIG_HOME");
	found = conf_find(NULL);
	assert_string_equal(found, home_file);
	free(found);
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	found = conf_find(NULL);
	assert_string_equal(found, home_file);
	free(found);

	/* XDG_CONFIG_HOME set but without the file: no fallback to ~/.config. */
	assert_int_equal(unlink(xdg_file), 0);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	found = conf_find(NULL);
	if (sys_want == NULL)
		assert_null(found);
	else
		assert_string_equal(found, sys_want);
	free(found);

	assert_int_equal(unlink(home_file), 0);
	assert_int_equal(rmdir(home_dir), 0);
	assert_int_equal(rmdir(home_cfg), 0);
	assert_int_equal(rmdir(xdg_dir), 0);
	assert_int_equal(rmdir(xdg), 0);
	assert_int_equal(rmdir(home), 0);
	env_set("XDG_CONFIG_HOME", old_xdg);
	env_set("HOME", old_home);
	free(old_xdg);
	free(old_home);
	free(xdg);
	free(home);
	free(xdg_dir);
	free(xdg_file);
	free(home_cfg);
	free(home_dir);
	free(home_file);
}

static void
test_default(void **state)
{
	struct conf *c = conf_default();
	EXPECT_OK(c);
	assert_string_equal(c->path, "(built-in)");
	size_t loads = 0;
	for (const char *s = HEARTH_DEFAULT_CONF; (s = strstr(s, "load ")) != NULL; s++)
		loads++;
	assert_int_equal(c->n_modules, loads);
	conf_free(c);
}

static void
test_kinds(void **state)
{
	assert_string_equal(conf_kind_name(HEARTH_KIND_PROVIDER), "provider");
	assert_string_equal(conf_kind_name(HEARTH_KIND_TOOL), "tool");
	assert_string_equal(conf_kind_name(HEARTH_KIND_FRONTEND), "frontend");
	assert_null(conf_kind_name((enum hearth_kind)0));
	assert_null(conf_kind_name((enum hearth_kind)99));
	assert_int_equal(conf_kind_parse("provider"), HEARTH_KIND_PROVIDER);
	assert_int_equal(conf_kind_parse("tool"), HEARTH_KIND_TOOL);
	assert_int_equal(conf_kind_parse("frontend"), HEARTH_KIND_FRONTEND);
	assert_int_equal(conf_kind_parse("Tool"), 0);
	assert_int_equal(conf_kind_parse("tools"), 0);
	assert_int_equal(conf_kind_parse(""), 0);
	assert_int_equal(conf_kind_parse(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_valid),
		cmocka_unit_test(test_readme_example),
		cmocka_unit_test(test_defaults_and_empty),
		cmocka_unit_test(test_load_after_section_and_last_wins),
		cmocka_unit_test(test_error_directives),
		cmocka_unit_test(test_bool_and_level_values),
		cmocka_unit_test(test_error_keys),
		cmocka_unit_test(test_error_sections),
		cmocka_unit_test(test_module_names),
		cmocka_unit_test(test_several_errors_in_order),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_binary_elf),
		cmocka_unit_test(test_binary_random),
		cmocka_unit_test(test_expansion),
		cmocka_unit_test(test_expansion_errors),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_kinds),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
