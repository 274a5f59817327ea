/*
 * bad_modules.h: the pieces the broken test modules share. Each bad_*.c defines
 * BAD_NAME and what it breaks, then includes this file for a tool module that is
 * otherwise well-formed.
 */
#include <stdlib.h>

#include <hearth/tool.h>

static const struct hearth_tool_def bad_defs[] = {
	{ .name = BAD_TOOL_NAME, .description = "d", .input_schema = "{\"type\":\"object\"}",
	  .default_permission = HEARTH_PERM_ALLOW, .kind = "other" },
};

static int
bad_init(const struct hearth_host *host, const json_t *config, void **state)
{
	*state = NULL;
	return 0;
}

static void
bad_fini(void *state)
{
}

static size_t
bad_list(void *state, const struct hearth_tool_def **defs)
{
	*defs = bad_defs;
	return 1;
}

static int
bad_run(void *state, struct hearth_tool_call *call)
{
	return HEARTH_ENOTSUP;
}
