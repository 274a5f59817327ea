/* test_params.c: every method's params schema (core/params.c): wrong types, missing
 * fields, oversized values, extra fields, and the exact messages. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "params.h"
#include "xmalloc.h"

/* `params` is JSON text; "@N" inside a string becomes N copies of 'a' (oversized). */
static json_t *
load(const char *text)
{
	const char *at = strstr(text, "@");
	char *expanded;
	if (at != NULL) {
		long n = strtol(at + 1, NULL, 10);
		char *as = xmalloc((size_t)n + 1);
		memset(as, 'a', (size_t)n);
		as[n] = '\0';
		const char *rest = at + 1 + strspn(at + 1, "0123456789");
		expanded = xasprintf("%.*s%s%s", (int)(at - text), text, as, rest);
		free(as);
	} else {
		expanded = xstrdup(text);
	}
	json_error_t e;
	json_t *v = json_loads(expanded, JSON_ALLOW_NUL, &e);
	if (v == NULL)
		fail_msg("bad test JSON %s: %s", expanded, e.text);
	free(expanded);
	return v;
}

static const struct {
	const char *method;
	const char *params;
	const char *why;   /* NULL: accepted */
} cases[] = {
	/* initialize */
	{ "initialize", "{\"protocolVersion\":1}", NULL },
	{ "initialize", "{\"protocolVersion\":1,\"extra\":[1,2],\"clientInfo\":{}}", NULL },
	{ "initialize", "{}", "missing 'protocolVersion'" },
	{ "initialize", "{\"protocolVersion\":null}", "missing 'protocolVersion'" },
	{ "initialize", "{\"protocolVersion\":\"1\"}", "'protocolVersion' must be an integer" },
	{ "initialize", "{\"protocolVersion\":1.0}", "'protocolVersion' must be an integer" },
	{ "initialize", "{\"protocolVersion\":-1}",
	  "'protocolVersion' must be between 0 and 65535" },
	{ "initialize", "{\"protocolVersion\":65536}",
	  "'protocolVersion' must be between 0 and 65535" },
	{ "initialize", "{\"protocolVersion\":1,\"clientCapabilities\":[]}",
	  "'clientCapabilities' must be an object" },
	{ "initialize", "{\"protocolVersion\":1,\"clientInfo\":\"me\"}",
	  "'clientInfo' must be an object" },
	/* authenticate */
	{ "authenticate", "{}", NULL },
	{ "authenticate", "{\"methodId\":7}", "'methodId' must be a string" },
	/* session/new */
	{ "session/new", "{\"cwd\":\"/tmp\",\"mcpServers\":[]}", NULL },
	{ "session/new", "{\"cwd\":\"/tmp\",\"mcpServers\":[{}],\"x\":1}", NULL },
	{ "session/new", "{}", "missing 'cwd'" },
	{ "session/new", "{\"cwd\":5}", "'cwd' must be a string" },
	{ "session/new", "{\"cwd\":\"\"}", "'cwd' must not be empty" },
	{ "session/new", "{\"cwd\":\"tmp\"}", "'cwd' must be an absolute path" },
	{ "session/new", "{\"cwd\":\"/a\\u0000b\"}", "'cwd' must not contain NUL" },
	{ "session/new", "{\"cwd\":\"/@4096\"}", "'cwd' is longer than 4096 bytes" },
	{ "session/new", "{\"cwd\":\"/@4095\"}", NULL },
	{ "session/new", "{\"cwd\":\"/\",\"mcpServers\":{}}", "'mcpServers' must be an array" },
	{ "session/new", "{\"cwd\":\"/\",\"mcpServers\":[1]}",
	  "'mcpServers[0]' must be an object" },
	{ "session/new", "{\"cwd\":\"/\",\"mcpServers\":[{},\"x\"]}",
	  "'mcpServers[1]' must be an object" },
	{ "session/new", "{\"cwd\":\"/\",\"_meta\":5}", "'_meta' must be an object" },
	{ "session/new", "{\"cwd\":\"/\",\"_meta\":{\"hearth\":[]}}",
	  "'_meta.hearth' must be an object" },
	{ "session/new", "{\"cwd\":\"/\",\"_meta\":{\"hearth\":{\"model\":1}}}",
	  "'_meta.hearth.model' must be a string" },
	{ "session/new", "{\"cwd\":\"/\",\"_meta\":{\"hearth\":{\"model\":\"\"}}}",
	  "'_meta.hearth.model' must not be empty" },
	{ "session/new", "{\"cwd\":\"/\",\"_meta\":{\"hearth\":{\"model\":\"@257\"}}}",
	  "'_meta.hearth.model' is longer than 256 bytes" },
	{ "session/new", "{\"cwd\":\"/\",\"_meta\":{\"other\":1}}", NULL },
	/* session/load */
	{ "session/load", "{\"sessionId\":\"s\",\"cwd\":\"/\",\"mcpServers\":[]}", NULL },
	{ "session/load", "{\"sessionId\":\"s\"}", NULL },
	{ "session/load", "{}", "missing 'sessionId'" },
	{ "session/load", "{\"sessionId\":3}", "'sessionId' must be a string" },
	{ "session/load", "{\"sessionId\":\"\"}", "'sessionId' must not be empty" },
	{ "session/load", "{\"sessionId\":\"@257\"}", "'sessionId' is longer than 256 bytes" },
	{ "session/load", "{\"sessionId\":\"s\",\"cwd\":true}", "'cwd' must be a string" },
	{ "session/load", "{\"sessionId\":\"s\",\"cwd\":\"x/y\"}",
	  "'cwd' must be an absolute path" },
	{ "session/load", "{\"sessionId\":\"s\",\"mcpServers\":\"none\"}",
	  "'mcpServers' must be an array" },
	{ "session/load", "{\"sessionId\":\"s\",\"mcpServers\":[1]}",
	  "'mcpServers[0]' must be an object" },
	/* session/fork: the fields of session/load */
	{ "session/fork", "{\"sessionId\":\"s\",\"cwd\":\"/p\"}", NULL },
	{ "session/fork", "{\"cwd\":\"/p\"}", "missing 'sessionId'" },
	{ "session/fork", "{\"sessionId\":\"s\",\"cwd\":\"p\"}", "'cwd' must be an absolute path" },
	{ "session/fork", "{\"sessionId\":\"s\",\"mcpServers\":[[]]}",
	  "'mcpServers[0]' must be an object" },
	/* session/resume */
	{ "session/resume", "{\"sessionId\":\"s\",\"_meta\":{\"hearth\":{\"lastSeq\":0}}}", NULL },
	{ "session/resume", "{\"sessionId\":\"s\",\"_meta\":{\"hearth\":{\"lastSeq\":-1}}}",
	  "'_meta.hearth.lastSeq' must be between 0 and 9223372036854775807" },
	{ "session/resume", "{\"sessionId\":\"s\",\"_meta\":{\"hearth\":{\"lastSeq\":\"3\"}}}",
	  "'_meta.hearth.lastSeq' must be an integer" },
	{ "session/resume", "{\"sessionId\":\"s\",\"mcpServers\":[null]}",
	  "'mcpServers[0]' must be an object" },
	/* session/list and _hearth/sessions */
	{ "session/list", "{}", NULL },
	{ "session/list", "{\"cwd\":\"/x\",\"cursor\":\"c\"}", NULL },
	{ "session/list", "{\"cwd\":\"rel\"}", "'cwd' must be an absolute path" },
	{ "session/list", "{\"cwd\":[]}", "'cwd' must be a string" },
	{ "session/list", "{\"cursor\":1}", "'cursor' must be a string" },
	{ "_hearth/sessions", "{\"cwd\":\"rel\"}", "'cwd' must be an absolute path" },
	{ "_hearth/sessions", "{\"cwd\":\"/@5000\"}", "'cwd' is longer than 4096 bytes" },
	/* the methods that take only a session */
	{ "session/close", "{\"sessionId\":\"s\"}", NULL },
	{ "session/close", "{}", "missing 'sessionId'" },
	{ "session/delete", "{\"sessionId\":{}}", "'sessionId' must be a string" },
	{ "session/cancel", "{\"sessionId\":[]}", "'sessionId' must be a string" },
	{ "_hearth/status", "{\"sessionId\":\"\"}", "'sessionId' must not be empty" },
	/* session/prompt */
	{ "session/prompt", "{\"sessionId\":\"s\",\"prompt\":[{\"type\":\"text\"}]}", NULL },
	{ "session/prompt", "{\"sessionId\":\"s\"}", "missing 'prompt'" },
	{ "session/prompt", "{\"sessionId\":\"s\",\"prompt\":\"hi\"}",
	  "'prompt' must be an array" },
	{ "session/prompt", "{\"sessionId\":\"s\",\"prompt\":[\"hi\"]}",
	  "'prompt[0]' must be an object" },
	{ "session/prompt", "{\"prompt\":[]}", "missing 'sessionId'" },
	/* session/set_config_option */
	{ "session/set_config_option", "{\"sessionId\":\"s\",\"configId\":\"model\",\"value\":"
	  "\"a/b\"}", NULL },
	{ "session/set_config_option", "{\"sessionId\":\"s\",\"value\":\"a/b\"}",
	  "missing 'configId'" },
	{ "session/set_config_option", "{\"sessionId\":\"s\",\"configId\":\"model\"}",
	  "missing 'value'" },
	{ "session/set_config_option", "{\"sessionId\":\"s\",\"configId\":\"model\",\"value\":1}",
	  "'value' must be a string" },
	{ "session/set_config_option", "{\"sessionId\":\"s\",\"configId\":\"\",\"value\":\"x\"}",
	  "'configId' must not be empty" },
	{ "session/set_config_option", "{\"sessionId\":\"s\",\"configId\":\"model\",\"value\":"
	  "\"@300\"}", "'value' is longer than 256 bytes" },
	/* $/cancel_request */
	{ "$/cancel_request", "{\"requestId\":4}", NULL },
	{ "$/cancel_request", "{\"requestId\":\"r\"}", NULL },
	{ "$/cancel_request", "{}", "missing 'requestId'" },
	{ "$/cancel_request", "{\"requestId\":1.5}", "'requestId' must be a string or an integer" },
	{ "$/cancel_request", "{\"requestId\":[]}", "'requestId' must be a string or an integer" },
	/* _hearth/rename */
	{ "_hearth/rename", "{\"sessionId\":\"s\",\"title\":\"t\"}", NULL },
	{ "_hearth/rename", "{\"sessionId\":\"s\",\"title\":\"@1024\"}", NULL },
	{ "_hearth/rename", "{\"sessionId\":\"s\"}", "missing 'title'" },
	{ "_hearth/rename", "{\"sessionId\":\"s\",\"title\":\"\"}", "'title' must not be empty" },
	{ "_hearth/rename", "{\"sessionId\":\"s\",\"title\":\"@1025\"}",
	  "'title' is longer than 1024 bytes" },
	{ "_hearth/rename", "{\"sessionId\":\"s\",\"title\":false}", "'title' must be a string" },
	{ "_hearth/rename", "{\"title\":\"t\"}", "missing 'sessionId'" },
	/* the methods without params take anything extra */
	{ "_hearth/daemon", "{\"x\":1}", NULL },
	{ "_hearth/models", "{}", NULL },
	{ "_hearth/shutdown", "{\"now\":true}", NULL },
	/* a method without a table is not checked */
	{ "no/such", "{\"anything\":1}", NULL },
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *p = load(cases[i].params);
		char *why = NULL;
		int rc = params_check(cases[i].method, p, &why);
		if (cases[i].why == NULL) {
			if (rc != 0)
				fail_msg("case %zu (%s %s): refused: %s", i, cases[i].method,
					 cases[i].params, why);
			assert_null(why);
		} else {
			if (rc != -1 || why == NULL)
				fail_msg("case %zu (%s %s): accepted", i, cases[i].method,
					 cases[i].params);
			if (strcmp(why, cases[i].why) != 0)
				fail_msg("case %zu (%s): got \"%s\", want \"%s\"", i, cases[i].method,
					 why, cases[i].why);
		}
		free(why);
		json_decref(p);
	}
}

/* Every method doc/protocol.md documents has a table. */
static void
test_every_method_has_a_schema(void **state)
{
	(void)state;
	static const char *const methods[] = {
		"initialize", "authenticate", "session/new", "session/load", "session/resume",
		"session/list", "session/close", "session/delete", "session/fork", "session/prompt",
		"session/cancel", "session/set_config_option", "$/cancel_request",
		"_hearth/status", "_hearth/rename", "_hearth/sessions", "_hearth/daemon",
		"_hearth/models", "_hearth/shutdown",
	};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (params_schema(methods[i]) == NULL)
			fail_msg("no schema for %s", methods[i]);
	assert_null(params_schema("no/such"));
}

/* An explicit table: booleans, bounded arrays, any-typed items, params not an object. */
static void
test_explicit_table(void **state)
{
	(void)state;
	static const struct params_field fields[] = {
		{ "flag", PARAMS_BOOL, PARAMS_REQUIRED, 0, 0, PARAMS_ANY },
		{ "list", PARAMS_ARRAY, 0, 0, 2, PARAMS_ANY },
		{ "n", PARAMS_INT, 0, 1, 3, PARAMS_ANY },
		{ NULL, PARAMS_ANY, 0, 0, 0, PARAMS_ANY },
	};
	static const struct {
		const char *params, *why;
	} t[] = {
		{ "{\"flag\":true,\"list\":[1,\"x\"],\"n\":3}", NULL },
		{ "{\"flag\":1}", "'flag' must be a boolean" },
		{ "{\"flag\":false,\"list\":[1,2,3]}", "'list' has 3 items, more than 2" },
		{ "{\"flag\":false,\"n\":0}", "'n' must be between 1 and 3" },
		{ "[]", "params must be an object" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		json_t *p = load(t[i].params);
		char *why = NULL;
		int rc = params_check_fields(fields, p, &why);
		if (t[i].why == NULL) {
			assert_int_equal(rc, 0);
			assert_null(why);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(why, t[i].why);
		}
		free(why);
		json_decref(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_every_method_has_a_schema),
		cmocka_unit_test(test_explicit_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
