/* bad_size: a descriptor whose struct_size is not the one its ABI version defined. */
#define BAD_TOOL_NAME "bad_size_tool"
#include "bad_modules.h"

static const struct hearth_tool bad_vtable = {
	.struct_size = sizeof(struct hearth_tool), .list = bad_list, .run = bad_run };
static const struct hearth_plugin bad_plugin = {
	.abi_version = HEARTH_ABI, .struct_size = sizeof(struct hearth_plugin) + 16,
	.kind = HEARTH_KIND_TOOL, .name = "bad_size", .version = "1", .init = bad_init,
	.fini = bad_fini, .tool = &bad_vtable };

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &bad_plugin;
}
