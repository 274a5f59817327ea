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

/* The environment variable each shipped provider takes its key (or server) from. */
static const char *
cmd_models_key_env(const char *provider)
{
	static const char *const envs[][2] = {
		{ "anthropic", "ANTHROPIC_API_KEY" },
		{ "openai", "OPENAI_API_KEY" },
		{ "gemini", "GEMINI_API_KEY or GOOGLE_API_KEY" },
		{ "ollama", "OLLAMA_HOST" },
	};
	for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
		if (strcmp(provider, envs[i][0]) == 0)
			return envs[i][1];
	return "its key (see its section in plugins.conf)";
}

json_t *
cmd_models_providers(struct client_rpc *c)
{
	json_t *result = NULL, *error = NULL;
	if (client_rpc_call(c, "_hearth/daemon", NULL, &result, &error) != 0 || error != NULL) {
		json_decref(error);
		return NULL;
	}
	json_t *p = json_incref(json_object_get(result, "providers"));
	json_decref(result);
	if (!json_is_array(p)) {
		json_decref(p);
		return NULL;
	}
	return p;
}

char *
cmd_models_no_keys(const json_t *providers, int *any)
{
	char *list = NULL;
	size_t i;
	json_t *p;
	*any = 0;
	json_array_foreach(providers, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		if (name == NULL)
			continue;
		if (json_is_true(json_object_get(p, "credentials"))) {
			*any = 1;
			continue;
		}
		char *more = xasprintf("%s%s%s (%s)", list != NULL ? list : "",
				       list != NULL ? ", " : "", cmd_models_key_env(name), name);
		free(list);
		list = more;
	}
	return list;
}

/* Whether provider `name` has no key and no section of its own: nothing to report. */
static int
cmd_models_unset(const json_t *providers, const char *name)
{
	size_t i;
	json_t *p;
	json_array_foreach(providers, i, p) {
		const char *pn = json_string_value(json_object_get(p, "name"));
		if (pn != NULL && name != NULL && strcmp(pn, name) == 0)
			return !json_is_true(json_object_get(p, "credentials")) &&
			       !json_is_true(json_object_get(p, "configured"));
	}
	return 0;
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
	json_t *providers = cmd_models_providers(c); /* NULL from an older daemon */
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
			/* A provider that could not list its models is named, with why; one
			 * with no key and no section of its own was not meant to, and is
			 * only named in the closing line. */
			size_t i, shown = 0, unset = 0;
			json_t *e;
			json_array_foreach(errors, i, e) {
				const char *pn = json_string_value(json_object_get(e, "provider"));
				if (cmd_models_unset(providers, pn)) {
					unset++;
					continue;
				}
				shown++;
				hearth_error("%s: %s", pn,
					     json_string_value(json_object_get(e, "message")));
			}
			int any;
			char *missing = unset > 0 ? cmd_models_no_keys(providers, &any) : NULL;
			if (missing != NULL)
				hearth_error("left out for want of a key: set %s", missing);
			free(missing);
			status = shown + unset > 0 && json_array_size(models) == 0 ?
				 HEARTH_EXIT_ERROR : HEARTH_EXIT_OK;
		}
		json_decref(result);
	}
	json_decref(providers);
	client_rpc_free(c);
	return status;
}
