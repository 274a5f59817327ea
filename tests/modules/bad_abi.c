/* bad_abi: built for a plugin ABI version this hearthd does not accept. */
#define BAD_TOOL_NAME "bad_abi_tool"
#include "bad_modules.h"

#ifndef BAD_ABI_VERSION
#define BAD_ABI_VERSION 99
#endif

static const struct hearth_tool bad_vtable = {
	.struct_size = sizeof(struct hearth_tool), .list = bad_list, .run = bad_run };
static const struct hearth_plugin bad_plugin = {
	.abi_version = BAD_ABI_VERSION, .struct_size = sizeof(struct hearth_plugin),
	.kind = HEARTH_KIND_TOOL, .name = "bad_abi", .version = "1", .init = bad_init,
	.fini = bad_fini, .tool = &bad_vtable };

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &bad_plugin;
}
