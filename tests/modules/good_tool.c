/*
 * good_tool: a well-formed tool module. Its tools: `echo` (allowed) returns its
 * text; `ask_echo` does the same but asks permission first; `denied` is denied by
 * default; `sleep` finishes after `ms` milliseconds, reporting progress once, and
 * stops early when cancelled.
 */
#include <stdio.h>
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
	{ .name = "ask_echo", .description = "Repeat the text, after asking.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}",
	  .default_permission = HEARTH_PERM_ASK, .kind = "edit" },
	{ .name = "denied", .description = "Never runs.", .input_schema = "{\"type\":\"object\"}",
	  .default_permission = HEARTH_PERM_DENY, .kind = "delete" },
	{ .name = "sleep", .description = "Wait.",
	  .input_schema = "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":\"integer\"}}}",
	  .default_permission = HEARTH_PERM_ALLOW, .flags = HEARTH_TOOL_READ_ONLY,
	  .kind = "execute" },
};

struct good_tool_sleep {
	struct good_tool *t;
	struct hearth_tool_call *call;
	struct hearth_timer *timer;
};

static void
good_tool_sleep_end(struct good_tool_sleep *s, const char *text, int is_error)
{
	const struct hearth_host *h = s->t->host;
	struct hearth_tool_call *call = s->call;
	h->timer_stop(s->timer);
	call->data = NULL;
	free(s);
	h->tool_finish(call, json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
				       text, "isError", is_error));
}

static void
good_tool_sleep_cb(void *arg)
{
	good_tool_sleep_end(arg, "slept", 0);
}

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
	if (strcmp(call->tool, "sleep") == 0) {
		struct good_tool_sleep *s = calloc(1, sizeof *s);
		if (s == NULL)
			return HEARTH_ENOMEM;
		s->t = t;
		s->call = call;
		call->data = s;
		/* Two pieces of streamed output: the core shows them joined. */
		json_t *progress = json_pack("{s:[{s:s,s:{s:s,s:s}}]}", "content", "type", "content",
					     "content", "type", "text", "text", "sleep");
		t->host->tool_update(call, progress);
		json_decref(progress);
		progress = json_pack("{s:[{s:s,s:{s:s,s:s}}]}", "content", "type", "content",
				     "content", "type", "text", "text", "ing");
		t->host->tool_update(call, progress);
		json_decref(progress);
		s->timer = t->host->timer_start(t->host, (uint64_t)json_integer_value(
			json_object_get(call->input, "ms")), 0, good_tool_sleep_cb, s);
		return 0;
	}
	const char *text = json_string_value(json_object_get(call->input, "text"));
	if (text == NULL)
		return HEARTH_EINVAL;
	json_t *content = json_array();
	for (long long i = 0; i < t->repeat; i++)
		json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", text));
	t->host->tool_finish(call, json_pack("{s:o,s:b}", "content", content, "isError", 0));
	return 0;
}

static void
good_tool_cancel(void *state, struct hearth_tool_call *call)
{
	if (call->data != NULL)
		good_tool_sleep_end(call->data, "woken early", 1);
}

static json_t *
good_tool_describe(void *state, const struct hearth_tool_call *call)
{
	const char *text = json_string_value(json_object_get(call->input, "text"));
	char title[128];
	snprintf(title, sizeof title, "%s %s", call->tool, text != NULL ? text : "");
	return json_pack("{s:s,s:s}", "title", title, "subject", text != NULL ? text : "");
}

static const struct hearth_tool good_tool_vtable = {
	.struct_size = sizeof(struct hearth_tool),
	.list = good_tool_list,
	.run = good_tool_run,
	.cancel = good_tool_cancel,
	.describe = good_tool_describe,
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
