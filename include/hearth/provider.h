/*
 * hearth/provider.h: the provider vtable (a model vendor: Anthropic, OpenAI, ...).
 *
 * A provider turns a provider-neutral request into its vendor's wire format, streams
 * the reply back through a sink the core hands it, and lists its models. All calls
 * run on the loop thread. See plugin.h for the ownership and error rules.
 *
 * The request (a JSON object, borrowed for the duration of stream()):
 *
 *   {
 *     "model": "claude-sonnet-4-5",        the model id, without the "provider/" prefix
 *     "system": "You are ...",             optional system prompt
 *     "max_tokens": 8192,                   optional output limit
 *     "messages": [                         in order; roles user, assistant, tool
 *       {"role": "user", "parts": [
 *          {"type": "text", "text": "..."},
 *          {"type": "image", "mime": "image/png", "data": "<base64>"},
 *          {"type": "file", "mime": "...", "name": "...", "data": "<base64>"}]},
 *       {"role": "assistant", "parts": [
 *          {"type": "reasoning", "text": "...", "meta": {"provider": "anthropic", ...}},
 *          {"type": "text", "text": "...", "meta": {...}},
 *          {"type": "tool_call", "id": "call_1", "name": "read", "input": {...}, "meta": {...}}]},
 *       {"role": "tool", "parts": [
 *          {"type": "tool_result", "id": "call_1", "name": "read",
 *           "content": "text the tool returned", "is_error": false}]}
 *     ],
 *     "tools": [{"name": "read", "description": "...", "input_schema": {...}}]
 *   }
 *
 * "meta" is what a provider attached to a part when it produced it (a thinking
 * signature, a Gemini thoughtSignature); it carries "provider": "<module name>", and
 * a provider sends it back only when the name is its own. Every tool_call in an
 * assistant message is answered by a tool_result with the same id in the tool
 * message that follows it; the provider rearranges that into its vendor's shape.
 */
#ifndef HEARTH_PROVIDER_H
#define HEARTH_PROVIDER_H

#include <hearth/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Why the model stopped. */
enum hearth_finish {
	HEARTH_FINISH_END_TURN = 1,   /* it finished its answer */
	HEARTH_FINISH_TOOL_USE = 2,   /* it wants the tool calls it made run */
	HEARTH_FINISH_MAX_TOKENS = 3, /* the output limit cut it off */
	HEARTH_FINISH_STOP_SEQUENCE = 4,
	HEARTH_FINISH_REFUSAL = 5,    /* it refused (safety, policy) */
	HEARTH_FINISH_PAUSE = 6,      /* the vendor paused a long turn; continue it */
	HEARTH_FINISH_ERROR = 7,      /* see the error passed to done() */
	HEARTH_FINISH_CANCELLED = 8,
};

/* What went wrong, by what the caller should do about it. */
enum hearth_provider_errtype {
	HEARTH_PERR_AUTH = 1,          /* 401: bad or missing key; the user must act */
	HEARTH_PERR_PERMISSION = 2,    /* 403 */
	HEARTH_PERR_NOT_FOUND = 3,     /* 404: unknown model or endpoint */
	HEARTH_PERR_BAD_REQUEST = 4,   /* 400, 422 */
	HEARTH_PERR_TOO_LARGE = 5,     /* 413 */
	HEARTH_PERR_CONTEXT = 6,       /* the prompt is longer than the model's context */
	HEARTH_PERR_RATE_LIMITED = 7,  /* 429; retry_after_ms when the vendor said */
	HEARTH_PERR_OVERLOADED = 8,    /* 529, 503, "overloaded_error" */
	HEARTH_PERR_SERVER = 9,        /* other 5xx, in-stream api_error */
	HEARTH_PERR_NETWORK = 10,      /* refused, reset, DNS, TLS */
	HEARTH_PERR_TIMEOUT = 11,      /* connect or idle timeout */
	HEARTH_PERR_PROTOCOL = 12,     /* a malformed or truncated stream */
};

struct hearth_provider_error {
	uint32_t struct_size;    /* sizeof(struct hearth_provider_error) */
	uint32_t type;           /* enum hearth_provider_errtype */
	long http_status;        /* 0 when there was no HTTP status */
	int retryable;           /* 1 when retrying the same request can help */
	uint64_t retry_after_ms; /* 0 when the vendor did not say */
	const char *message;     /* the vendor's message, or ours; borrowed */
	const char *vendor_code; /* the vendor's error type ("overloaded_error"), or NULL */
};

/* Token counts; 0 when the vendor did not report one. */
struct hearth_usage {
	uint64_t input_tokens;       /* prompt tokens, cache reads and writes excluded */
	uint64_t output_tokens;      /* reasoning included */
	uint64_t reasoning_tokens;
	uint64_t cache_read_tokens;
	uint64_t cache_write_tokens;
};

/*
 * Where a provider sends what it streams. Filled by the core and borrowed by the
 * provider until done() (after which it is never touched again). Text and
 * reasoning arrive as deltas: consecutive deltas of one kind append to the same
 * part; part_end() closes the current part and attaches the provider's meta to it.
 */
struct hearth_stream_sink {
	uint32_t struct_size;
	void (*text)(void *arg, const char *text, size_t len);
	void (*reasoning)(void *arg, const char *text, size_t len);
	/* meta: a borrowed JSON object to store with the part ({"provider": ...}), or NULL */
	void (*part_end)(void *arg, const json_t *meta);
	/* A complete tool call: id, name, parsed arguments (object), meta; all borrowed. */
	void (*tool_call)(void *arg, const char *id, const char *name, const json_t *input,
			  const json_t *meta);
	/* Cumulative usage of this call so far (may come more than once). */
	void (*usage)(void *arg, const struct hearth_usage *usage);
	/* Exactly once, last. err is NULL unless finish is HEARTH_FINISH_ERROR. */
	void (*done)(void *arg, enum hearth_finish finish, const struct hearth_provider_error *err);
};

/* A call in flight; the provider defines it. */
struct hearth_provider_call;

struct hearth_provider {
	uint32_t struct_size; /* sizeof(struct hearth_provider) */

	/*
	 * Mandatory. Start streaming a reply to `request` (borrowed; copy what you
	 * keep). Returns the call, or NULL with *error set when it could not start (no
	 * sink callback follows then). Otherwise the sink's done() comes exactly once.
	 */
	struct hearth_provider_call *(*stream)(void *state, const json_t *request,
					       const struct hearth_stream_sink *sink, void *arg,
					       int *error);
	/* Mandatory. Stop a call; no sink callback follows, and the call is freed. */
	void (*cancel)(void *state, struct hearth_provider_call *call);

	/*
	 * Mandatory. List the models, asynchronously. done() gets a JSON array of
	 * {"id": "...", "name": "...", "context_window": n?} (a new reference the
	 * callee takes) or NULL with err set. Returns 0 when started.
	 */
	int (*list_models)(void *state,
			   void (*done)(void *arg, json_t *models,
					const struct hearth_provider_error *err),
			   void *arg);

	/* Optional. The model to use when none was chosen (borrowed), or NULL. */
	const char *(*default_model)(void *state);
	/* Optional. 1 when the module has what it needs to authenticate (a key). */
	int (*has_credentials)(void *state);
};

#ifdef __cplusplus
}
#endif

#endif /* HEARTH_PROVIDER_H */
