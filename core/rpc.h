/*
 * rpc.h: JSON-RPC 2.0 messages as ACP uses them: one JSON object per frame (no
 * batches), ids that are strings or integers, params that are objects.
 * Parsing checks all of that and says exactly what is wrong; builders make the
 * replies. Frames are written compact, one line each (jansson escapes newlines).
 */
#ifndef HEARTH_RPC_H
#define HEARTH_RPC_H

#include <stddef.h>

#include <jansson.h>

/* Error codes, as ACP defines them. */
#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603
#define RPC_REQUEST_CANCELLED -32800
#define RPC_AUTH_REQUIRED -32000
#define RPC_RESOURCE_NOT_FOUND -32002

enum rpc_kind {
	RPC_REQUEST = 1,      /* method and id */
	RPC_NOTIFICATION = 2, /* method, no id */
	RPC_RESPONSE = 3,     /* id and result or error */
};

struct rpc_msg {
	enum rpc_kind kind;
	json_t *root;         /* owned: the whole message */
	json_t *id;           /* borrowed from root; NULL for notifications */
	const char *method;   /* borrowed from root; NULL for responses */
	json_t *params;       /* borrowed from root; an empty object when absent */
	json_t *result;       /* borrowed; responses only */
	json_t *error;        /* borrowed; responses only */
};

/*
 * Parse one frame of `len` bytes. On success returns 0 and fills *msg (free with
 * rpc_msg_clear). On failure returns RPC_PARSE_ERROR or RPC_INVALID_REQUEST and sets
 * *reply to the error response to send back (a new reference; its id is the
 * request's when it could be read, else null), whose message names the problem
 * ("parse error at line 1, column 7: ...", "'jsonrpc' must be \"2.0\"").
 */
int rpc_parse(const char *text, size_t len, struct rpc_msg *msg, json_t **reply);
void rpc_msg_clear(struct rpc_msg *msg);

/* Builders. Each returns a new reference. `id` is borrowed (copied); values marked
 * "stolen" are taken over, even on failure. */
json_t *rpc_result(const json_t *id, json_t *result /* stolen; NULL means {} */);
json_t *rpc_error(const json_t *id, int code, const char *message, json_t *data /* stolen */);
json_t *rpc_errorf(const json_t *id, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
json_t *rpc_request(json_int_t id, const char *method, json_t *params /* stolen */);
json_t *rpc_notification(const char *method, json_t *params /* stolen */);

/* The compact text of a message, without a newline. malloc'd; caller frees. */
char *rpc_dump(const json_t *msg, size_t *len);

/*
 * Params checks for method handlers. Each returns 0 and the value (borrowed) or,
 * when it is missing (and required) or of the wrong type, HEARTH_EINVAL with *why
 * a malloc'd message naming the field ("'sessionId' must be a string").
 */
int rpc_param_string(const json_t *params, const char *key, int required, const char **out,
		     char **why);
int rpc_param_int(const json_t *params, const char *key, int required, json_int_t *out,
		  char **why);
int rpc_param_object(const json_t *params, const char *key, int required, json_t **out,
		     char **why);
int rpc_param_array(const json_t *params, const char *key, int required, json_t **out,
		    char **why);

#endif
