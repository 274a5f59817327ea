/* bad_vtable_size: a tool vtable whose struct_size is not the one of its ABI. */
#define BAD_TOOL_NAME "bad_vtable_size_tool"
#include "bad_modules.h"

static const struct hearth_tool bad_vtable = {
	.struct_size = 8, .list = bad_list, .run = bad_run };
static const struct hearth_plugin bad_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "bad_vtable_size", .version = "1", .init = bad_init,
	.fini = bad_fini, .tool = &bad_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &bad_plugin;
}
