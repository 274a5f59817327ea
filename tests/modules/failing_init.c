/* failing_init: init() logs why and fails, after starting a timer it forgets to stop. */
#define BAD_TOOL_NAME "failing_init_tool"
#include "bad_modules.h"

static void
failing_tick_cb(void *arg)
{
}

static int
failing_init(const struct hearth_host *host, const json_t *config, void **state)
{
	/* The host must close this timer itself when the module is dropped. */
	host->timer_start(host, 60000, 0, failing_tick_cb, NULL);
	host->log(host, HEARTH_LOG_ERROR, "cannot start: the moon is in the wrong phase");
	(void)bad_init;
	return HEARTH_EINVAL;
}

static const struct hearth_tool bad_vtable = {
	.struct_size = sizeof(struct hearth_tool), .list = bad_list, .run = bad_run };
static const struct hearth_plugin bad_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "failing_init", .version = "1", .init = failing_init,
	.fini = bad_fini, .tool = &bad_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &bad_plugin;
}
