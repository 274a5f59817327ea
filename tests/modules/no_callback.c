/* no_callback: a tool module without the mandatory `run` callback. */
#define BAD_TOOL_NAME "no_callback_tool"
#include "bad_modules.h"

static const struct hearth_tool bad_vtable = {
	.struct_size = sizeof(struct hearth_tool), .list = bad_list };
static const struct hearth_plugin bad_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "no_callback", .version = "1", .init = bad_init,
	.fini = bad_fini, .tool = &bad_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	(void)bad_run;
	return &bad_plugin;
}
