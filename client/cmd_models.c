/* cmd_models.c: `hearth models`: every model the loaded providers list. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth.h"
#include "xmalloc.h"

/* One line per model: MODEL, then NAME and CONTEXT columns aligned. */
static void
cmd_models_table(const json_t *models)
{
	size_t wid = strlen("MODEL"), wname = strlen("NAME"), i;
	json_t *m;
	json_array_foreach(models, i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));
		const char *name = json_string_value(json_object_get(m, "name"));
		if (id != NULL && strlen(id) > wid)
			wid = strlen(id);
		if (name != NULL && strlen(name) > wname)
			wname = strlen(name);
	}
	printf("%-*s  %-*s  %s\n", (int)wid, "MODEL", (int)wname, "NAME", "CONTEXT");
	json_array_foreach(models, i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));
		const char *name = json_string_value(json_object_get(m, "name"));
		json_t *cw = json_object_get(m, "contextWindow");
		char ctx[32] = "-";
		if (json_is_integer(cw))
			snprintf(ctx, sizeof ctx, "%lld", (long long)json_integer_value(cw));
		printf("%-*s  %-*s  %s\n", (int)wid, id != NULL ? id : "?", (int)wname,
		       name != NULL ? name : "", ctx);
	}
}

int
cmd_models_main(const struct hearth_opts *o, int argc, char **argv)
{
	int as_json = 0;
	int early = hearth_options("models", argc, argv, &as_json, 0);
	if (early >= 0)
		return early;
	struct client_rpc *c = hearth_connect(o, 1, NULL);
	if (c == NULL)
		return HEARTH_EXIT_ERROR;
	json_t *result = NULL;
	int status = HEARTH_EXIT_ERROR;
	if (hearth_call(c, "_hearth/models", NULL, &result) == 0) {
		json_t *models = json_object_get(result, "models");
		json_t *errors = json_object_get(result, "errors");
		if (!json_is_array(models)) {
			hearth_error("the daemon's _hearth/models answer has no 'models' array");
		} else {
			if (as_json) {
				char *line = json_dumps(result, JSON_COMPACT);
				printf("%s\n", line);
				free(line);
			} else {
				cmd_models_table(models);
			}
			/* A provider that could not list its models is named, with why. */
			size_t i;
			json_t *e;
			json_array_foreach(errors, i, e)
				hearth_error("%s: %s", json_string_value(json_object_get(e, "provider")),
					     json_string_value(json_object_get(e, "message")));
			status = json_array_size(errors) > 0 && json_array_size(models) == 0 ?
				 HEARTH_EXIT_ERROR : HEARTH_EXIT_OK;
		}
		json_decref(result);
	}
	client_rpc_free(c);
	return status;
}
