/*
 * oot_tool: a module built out of tree against the installed headers, the way a
 * third party builds one:
 *     cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags hearth-plugin) \
 *        oot_tool.c -o oot_tool.so $(pkg-config --libs hearth-plugin)
 * -DOOT_ABI=N pretends it was built for another ABI version.
 */
#include <hearth/tool.h>

#ifndef OOT_ABI
#define OOT_ABI HEARTH_ABI
#endif

static const struct hearth_tool_def oot_defs[] = {
	{ .name = "oot_hello", .description = "Say hello.", .input_schema = "{\"type\":\"object\"}",
	  .default_permission = HEARTH_PERM_ALLOW, .flags = HEARTH_TOOL_READ_ONLY, .kind = "other" },
};

static int
oot_init(const struct hearth_host *host, const json_t *config, void **state)
{
	host->log(host, HEARTH_LOG_INFO, "hello from out of tree");
	*state = NULL;
	return 0;
}

static void
oot_fini(void *state)
{
}

static size_t
oot_list(void *state, const struct hearth_tool_def **defs)
{
	*defs = oot_defs;
	return 1;
}

static int
oot_run(void *state, struct hearth_tool_call *call)
{
	return HEARTH_ENOTSUP;
}

static const struct hearth_tool oot_vtable = {
	.struct_size = sizeof(struct hearth_tool), .list = oot_list, .run = oot_run };

static const struct hearth_plugin oot_plugin = {
	.abi_version = OOT_ABI, .struct_size = sizeof(struct hearth_plugin),
	.kind = HEARTH_KIND_TOOL, .name = "oot_tool", .version = "0.0.1",
	.description = "an out-of-tree test module", .init = oot_init, .fini = oot_fini,
	.tool = &oot_vtable };

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &oot_plugin;
}
