/* test_rpc.c: JSON-RPC framing: every kind of message, and every way one can be bad. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc.h"
#include "xmalloc.h"

/* Parse `text`, expecting failure with `code`; the reply must be exactly `want`. */
static void
expect_reject(const char *text, size_t len, int code, const char *want)
{
	struct rpc_msg msg;
	json_t *reply = NULL;
	assert_int_equal(rpc_parse(text, len, &msg, &reply), code);
	assert_null(msg.root);
	assert_non_null(reply);
	char *got = rpc_dump(reply, NULL);
	assert_string_equal(got, want);
	free(got);
	json_decref(reply);
}

#define REJECT(text, code, want) expect_reject(text, strlen(text), code, want)

static void
test_request(void **state)
{
	(void)state;
	const char *t = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"session/new\","
			"\"params\":{\"cwd\":\"/x\",\"mcpServers\":[]}}";
	struct rpc_msg m;
	json_t *reply = NULL;
	assert_int_equal(rpc_parse(t, strlen(t), &m, &reply), 0);
	assert_null(reply);
	assert_int_equal(m.kind, RPC_REQUEST);
	assert_string_equal(m.method, "session/new");
	assert_int_equal(json_integer_value(m.id), 7);
	const char *cwd;
	char *why = NULL;
	assert_int_equal(rpc_param_string(m.params, "cwd", 1, &cwd, &why), 0);
	assert_string_equal(cwd, "/x");
	json_t *arr;
	assert_int_equal(rpc_param_array(m.params, "mcpServers", 1, &arr, &why), 0);
	assert_int_equal(json_array_size(arr), 0);
	json_int_t n;
	assert_int_equal(rpc_param_int(m.params, "cwd", 1, &n, &why), -1);
	assert_string_equal(why, "'cwd' must be an integer");
	free(why);
	why = NULL;
	assert_int_equal(rpc_param_string(m.params, "sessionId", 1, &cwd, &why), -1);
	assert_string_equal(why, "missing 'sessionId'");
	free(why);
	assert_int_equal(rpc_param_string(m.params, "sessionId", 0, &cwd, &why), 0);
	assert_null(cwd);
	rpc_msg_clear(&m);
}

static void
test_notification_and_string_id(void **state)
{
	(void)state;
	struct rpc_msg m;
	json_t *reply;
	const char *n = "{\"jsonrpc\":\"2.0\",\"method\":\"session/cancel\"}";
	assert_int_equal(rpc_parse(n, strlen(n), &m, &reply), 0);
	assert_int_equal(m.kind, RPC_NOTIFICATION);
	assert_null(m.id);
	assert_true(json_is_object(m.params));   /* absent params read as {} */
	rpc_msg_clear(&m);

	const char *r = "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"x\",\"params\":{}}";
	assert_int_equal(rpc_parse(r, strlen(r), &m, &reply), 0);
	assert_string_equal(json_string_value(m.id), "abc");
	rpc_msg_clear(&m);
}

static void
test_responses(void **state)
{
	(void)state;
	struct rpc_msg m;
	json_t *reply;
	const char *ok = "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"outcome\":{}}}";
	assert_int_equal(rpc_parse(ok, strlen(ok), &m, &reply), 0);
	assert_int_equal(m.kind, RPC_RESPONSE);
	assert_non_null(m.result);
	assert_null(m.error);
	rpc_msg_clear(&m);
	const char *err = "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-1,\"message\":\"m\"}}";
	assert_int_equal(rpc_parse(err, strlen(err), &m, &reply), 0);
	assert_non_null(m.error);
	rpc_msg_clear(&m);
	REJECT("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":1,\"error\":{\"code\":1,\"message\":\"\"}}",
	       RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32600,\"message\":\"a response "
	       "needs exactly one of 'result' and 'error'\"}}");
	REJECT("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":\"x\"}}", RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32600,\"message\":\"'error' "
	       "must be an object with an integer 'code' and a string 'message'\"}}");
}

static void
test_malformed(void **state)
{
	(void)state;
	REJECT("{\"jsonrpc\":\"2.0\",", RPC_PARSE_ERROR,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse "
	       "error at line 1, column 17: string or '}' expected near end of file\"}}");
	REJECT("", RPC_PARSE_ERROR,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse "
	       "error at line 1, column 0: unexpected token near end of file\"}}");
	REJECT("[{\"jsonrpc\":\"2.0\",\"method\":\"a\"}]", RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
	       "\"batches are not supported: send one message per line\"}}");
	/* A bare value is JSON but not a message: -32600, not -32700. */
	static const char *const bare[] = { "\"hello\"", "1", "null", "true", " -2.5 " };
	for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++)
		REJECT(bare[i], RPC_INVALID_REQUEST,
		       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
		       "\"a message must be a JSON object\"}}");
	REJECT("{\"id\":1,\"method\":\"a\"}", RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600,\"message\":\"'jsonrpc' "
	       "must be \\\"2.0\\\"\"}}");
	REJECT("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"a\"}", RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"'id' "
	       "must be a string, an integer or null\"}}");
	REJECT("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":5}", RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32600,\"message\":\"'method' "
	       "must be a non-empty string\"}}");
	REJECT("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"a\",\"params\":[1]}",
	       RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32600,\"message\":\"'params' "
	       "must be an object\"}}");
	REJECT("{\"jsonrpc\":\"2.0\"}", RPC_INVALID_REQUEST,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"a "
	       "message needs 'method' (request or notification) or 'id' (response)\"}}");
	REJECT("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"a\"}", RPC_PARSE_ERROR,
	       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse "
	       "error at line 1, column 28: duplicate object key near '\\\"id\\\"'\"}}");
}

/* Binary input, invalid UTF-8, NUL bytes, truncation at every byte: never a crash. */
static void
test_binary_and_truncated(void **state)
{
	(void)state;
	struct rpc_msg m;
	json_t *reply;
	const char bin[] = "\x7f" "ELF\x00\x01\xff\xfe{}";
	assert_int_equal(rpc_parse(bin, sizeof bin - 1, &m, &reply), RPC_PARSE_ERROR);
	json_decref(reply);
	const char bad_utf8[] = "{\"jsonrpc\":\"2.0\",\"method\":\"\xc3\x28\"}";
	assert_int_equal(rpc_parse(bad_utf8, sizeof bad_utf8 - 1, &m, &reply), RPC_PARSE_ERROR);
	json_decref(reply);
	const char nul[] = "{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000b\"}";
	assert_int_equal(rpc_parse(nul, sizeof nul - 1, &m, &reply), RPC_PARSE_ERROR);
	json_decref(reply);
	const char *full = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"k\":[1,2]}}";
	for (size_t cut = 0; cut < strlen(full); cut++) {
		int rc = rpc_parse(full, cut, &m, &reply);
		assert_true(rc == RPC_PARSE_ERROR || rc == RPC_INVALID_REQUEST);
		json_decref(reply);
	}
	assert_int_equal(rpc_parse(full, strlen(full), &m, &reply), 0);
	rpc_msg_clear(&m);
}

static void
test_deep_nesting(void **state)
{
	(void)state;
	size_t depth = 100000;
	char *t = xmalloc(depth * 2 + 1);
	memset(t, '[', depth);
	memset(t + depth, ']', depth);
	struct rpc_msg m;
	json_t *reply;
	assert_int_equal(rpc_parse(t, depth * 2, &m, &reply), RPC_PARSE_ERROR);
	json_decref(reply);
	free(t);
}

static void
test_builders(void **state)
{
	(void)state;
	json_t *id = json_string("q1");
	char *s;
	json_t *m = rpc_result(id, json_pack("{s:s}", "stopReason", "end_turn"));
	s = rpc_dump(m, NULL);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"q1\",\"result\":"
			    "{\"stopReason\":\"end_turn\"}}");
	free(s);
	json_decref(m);
	m = rpc_errorf(NULL, RPC_METHOD_NOT_FOUND, "unknown method '%s'", "x/y");
	s = rpc_dump(m, NULL);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,"
			    "\"message\":\"unknown method 'x/y'\"}}");
	free(s);
	json_decref(m);
	m = rpc_error(id, RPC_INTERNAL_ERROR, "bad \xff byte", NULL);
	s = rpc_dump(m, NULL);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":\"q1\",\"error\":{\"code\":-32603,"
			    "\"message\":\"(invalid UTF-8)\"}}");
	free(s);
	json_decref(m);
	m = rpc_notification("session/update", json_pack("{s:s}", "text", "a\nb"));
	size_t len;
	s = rpc_dump(m, &len);
	assert_null(memchr(s, '\n', len));  /* one frame is one line */
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":"
			    "{\"text\":\"a\\nb\"}}");
	free(s);
	json_decref(m);
	m = rpc_request(9, "session/request_permission", NULL);
	s = rpc_dump(m, NULL);
	assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":"
			    "\"session/request_permission\",\"params\":{}}");
	free(s);
	json_decref(m);
	json_decref(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_notification_and_string_id),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_binary_and_truncated),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_builders),
	};
	return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
