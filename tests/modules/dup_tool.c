/* dup_tool: offers a tool named `echo`, which good_tool offers already. */
#define BAD_TOOL_NAME "echo"
#include "bad_modules.h"

static const struct hearth_tool bad_vtable = {
	.struct_size = sizeof(struct hearth_tool), .list = bad_list, .run = bad_run };
static const struct hearth_plugin bad_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "dup_tool", .version = "1", .init = bad_init,
	.fini = bad_fini, .tool = &bad_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &bad_plugin;
}
