/* dup_name: declares the name of another module (good_tool) of the same kind. */
#define BAD_TOOL_NAME "dup_name_tool"
#include "bad_modules.h"

static const struct hearth_tool bad_vtable = {
	.struct_size = sizeof(struct hearth_tool), .list = bad_list, .run = bad_run };
static const struct hearth_plugin bad_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "good_tool", .version = "1", .init = bad_init,
	.fini = bad_fini, .tool = &bad_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &bad_plugin;
}
