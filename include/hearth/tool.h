/*
 * hearth/tool.h: the tool vtable (edit, shell, grep, an MCP bridge, ...).
 *
 * A tool module offers one or more tools. The core checks permission before each
 * call, then calls run(); the module reports progress with host->tool_update() and
 * ends the call with host->tool_finish(), exactly once. All calls run on the loop
 * thread; put slow work on host->work_queue. See plugin.h for ownership and errors.
 */
#ifndef HEARTH_TOOL_H
#define HEARTH_TOOL_H

#include <hearth/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hearth_permission {
	HEARTH_PERM_ALLOW = 1,
	HEARTH_PERM_ASK = 2,
	HEARTH_PERM_DENY = 3,
};

enum hearth_tool_flags {
	HEARTH_TOOL_READ_ONLY = 1 << 0, /* changes nothing on disk or elsewhere */
};

/* One tool a module offers. All strings static or owned by the module. */
struct hearth_tool_def {
	const char *name;          /* [a-zA-Z0-9_-]+, unique across all modules */
	const char *description;   /* what the model reads to decide when to use it */
	const char *input_schema;  /* JSON Schema of the arguments object, as JSON text */
	uint32_t default_permission; /* enum hearth_permission when plugins.conf says nothing */
	uint32_t flags;            /* enum hearth_tool_flags */
	const char *kind;          /* ACP tool kind: read, edit, delete, move, search,
				      execute, think, fetch or other */
};

/*
 * One call, allocated by the core and valid until host->tool_finish(). The module
 * reads the fields and may use `data` for itself.
 */
struct hearth_tool_call {
	uint32_t struct_size;     /* sizeof(struct hearth_tool_call) of the daemon */
	const char *id;           /* the model's call id */
	const char *tool;         /* which of the module's tools */
	const json_t *input;      /* the arguments: a JSON object */
	const char *session_id;
	const char *cwd;          /* the session's project directory: absolute, resolved */
	void *data;               /* the module's, untouched by the core */
};

struct hearth_tool {
	uint32_t struct_size; /* sizeof(struct hearth_tool) */

	/*
	 * Mandatory. The tools offered now: *defs points at n definitions owned by the
	 * module, valid until it calls host->tools_changed() or fini().
	 */
	size_t (*list)(void *state, const struct hearth_tool_def **defs);

	/*
	 * Mandatory. Start a call. Return 0 when started: host->tool_finish() then
	 * follows exactly once, possibly before run() returns. Return a HEARTH_E* code
	 * when it could not start; no tool_finish() follows, the core reports the error.
	 */
	int (*run)(void *state, struct hearth_tool_call *call);

	/* Optional. Stop a running call soon; it still ends with tool_finish(). */
	void (*cancel)(void *state, struct hearth_tool_call *call);

	/*
	 * Optional. Describe a call before it runs, for clients and permissions: a new
	 * JSON object {"title": "Read src/main.c", "kind": "read",
	 * "locations": [{"path": "/abs/src/main.c", "line": 1}],
	 * "subject": "src/main.c"}. "subject" is what permission patterns match (a
	 * path for file tools, the command line for shell). NULL: the core uses the
	 * tool name.
	 */
	json_t *(*describe)(void *state, const struct hearth_tool_call *call);
};

#ifdef __cplusplus
}
#endif

#endif /* HEARTH_TOOL_H */
