/* good_tool: a well-formed tool module offering `echo`, which returns its input text. */
#include <stdlib.h>
#include <string.h>

#include <hearth/tool.h>

struct good_tool {
	const struct hearth_host *host;
	long long repeat;
};

static const struct hearth_tool_def good_tool_defs[] = {
	{ .name = "echo", .description = "Repeat the text it is given.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
			  "\"required\":[\"text\"]}",
	  .default_permission = HEARTH_PERM_ALLOW, .flags = HEARTH_TOOL_READ_ONLY,
	  .kind = "other" },
};

static int
good_tool_init(const struct hearth_host *host, const json_t *config, void **state)
{
	struct good_tool *t = calloc(1, sizeof *t);
	if (t == NULL)
		return HEARTH_ENOMEM;
	t->host = host;
	if (host->config_int(host, "repeat", 1, 1, 10, &t->repeat) != 0) {
		free(t);
		return HEARTH_EINVAL;
	}
	*state = t;
	return 0;
}

static void
good_tool_fini(void *state)
{
	free(state);
}

static size_t
good_tool_list(void *state, const struct hearth_tool_def **defs)
{
	*defs = good_tool_defs;
	return sizeof good_tool_defs / sizeof good_tool_defs[0];
}

static int
good_tool_run(void *state, struct hearth_tool_call *call)
{
	struct good_tool *t = state;
	const char *text = json_string_value(json_object_get(call->input, "text"));
	if (text == NULL)
		return HEARTH_EINVAL;
	json_t *content = json_array();
	for (long long i = 0; i < t->repeat; i++)
		json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", text));
	t->host->tool_finish(call, json_pack("{s:o,s:b}", "content", content, "isError", 0));
	return 0;
}

static const struct hearth_tool good_tool_vtable = {
	.struct_size = sizeof(struct hearth_tool),
	.list = good_tool_list,
	.run = good_tool_run,
};

static const struct hearth_plugin good_tool_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "good_tool", .version = "1.0.0",
	.description = "test: a well-formed tool module", .init = good_tool_init,
	.fini = good_tool_fini, .tool = &good_tool_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &good_tool_plugin;
}
