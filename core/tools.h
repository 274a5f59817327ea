/*
 * tools.h: the tools all loaded tool modules offer, and running one call.
 *
 * tools_start() always ends in exactly one on_done, on a later loop iteration
 * (never inside tools_start): with the module's result, or with an error result
 * when the tool is unknown, the module refused to start, its result was
 * malformed, or the call was cancelled. A result is a JSON object
 *     {"content": [ACP content blocks], "isError": bool, "rawOutput"?: any}
 */
#ifndef HEARTH_TOOLS_H
#define HEARTH_TOOLS_H

#include <jansson.h>

#include <hearth/tool.h>

#include "registry.h"

struct tools_call;

/* update: borrowed, an ACP tool_call_update patch. */
typedef void (*tools_update_fn)(void *arg, const json_t *update);
/* result: stolen. The call is freed after this returns. */
typedef void (*tools_done_fn)(void *arg, json_t *result);

/* The registry tools come from (borrowed; set at start-up). */
void tools_set_registry(struct registry *r);

/*
 * Every tool, for a provider request and for clients: a new array of
 * {"name", "description", "input_schema": {...}, "kind", "permission":
 * "allow|ask|deny", "read_only": bool, "module": "tool/name"}.
 */
json_t *tools_list(void);

/* The module and definition of tool `name`, or HEARTH_ENOENT. Borrowed. */
int tools_lookup(const char *name, struct module **m, const struct hearth_tool_def **def);

/*
 * Describe a call before it runs: a new {"title", "kind", "locations": [...],
 * "subject"} from the module's describe(), filled in where it says nothing.
 */
json_t *tools_describe(const char *tool, const json_t *input, const char *session_id,
		       const char *cwd);

/* Start a call. All strings and input are copied. Never NULL. */
struct tools_call *tools_start(const char *tool, const char *call_id, const json_t *input,
			       const char *session_id, const char *cwd,
			       tools_update_fn on_update, tools_done_fn on_done, void *arg);

/*
 * Stop a call. on_done still follows exactly once (with the module's result if it
 * finishes promptly, else an "cancelled" error result); no on_update after this.
 */
void tools_cancel(struct tools_call *c);

/* Stop a call and hear nothing more of it: neither on_update nor on_done. */
void tools_abandon(struct tools_call *c);

/* An error result {"content": [{"type":"text","text": message}], "isError": true}. */
json_t *tools_error_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The host table's tool_update and tool_finish (see plugin.h). */
int tools_host_update(struct hearth_tool_call *call, const json_t *update);
void tools_host_finish(struct hearth_tool_call *call, json_t *result);
/* The host table's path_allowed: confinement to the call's project (permission.h). */
int tools_host_path_allowed(struct hearth_tool_call *call, const char *path, int write);

/*
 * host->tools_changed: re-read module m's tools (borrowed). Invalid names and names
 * another module already offers are refused with an error log line and left out
 * of tools_list()/tools_lookup(); every initialized connection gets
 *     {"method": "_hearth/tools_changed", "params": {"module", "tools": [names],
 *      "refused": [names]}}
 * (doc/protocol.md). The next provider request of every session sees the new set.
 */
void tools_changed(struct module *m);

/* Free what tools_changed() remembered (shutdown, tests). */
void tools_forget(void);

#endif
