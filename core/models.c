/* models.c: the providers' model lists (see models.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/provider.h>

#include "log.h"
#include "models.h"
#include "xmalloc.h"

struct models_waiter {
	models_done_fn done;
	void *arg;
	struct models_waiter *next;
};

/* One refresh: every provider asked; done when `pending` reaches 0. */
struct models_round {
	struct models_ask *asks;   /* asked, not answered: freed at close if never answered */
	size_t pending;
	json_t *lists;     /* {provider: [models]} of this round */
	json_t *errors;    /* [{provider, message}] */
	int started;       /* all providers have been asked */
};

/* What a provider's callback needs: its round and its name. */
struct models_ask {
	struct models_round *round;
	char *provider;
	struct models_ask *next;
};

static struct registry *models_registry;
static json_t *models_cache;            /* {provider: [models]} */
static struct models_round *models_current;
static struct models_waiter *models_waiters;
static json_t *models_flat;             /* what models_cached() last returned */

void
models_init(struct registry *r)
{
	models_registry = r;
	if (models_cache == NULL)
		models_cache = json_object();
}

static json_t *
models_flatten(const json_t *lists)
{
	json_t *out = json_array();
	const char *provider;
	json_t *list;
	json_object_foreach((json_t *)lists, provider, list) {
		size_t i;
		json_t *m;
		json_array_foreach(list, i, m) {
			const char *id = json_string_value(json_object_get(m, "id"));
			if (id == NULL)
				continue;
			char *full = xasprintf("%s/%s", provider, id);
			const char *name = json_string_value(json_object_get(m, "name"));
			json_t *o = json_pack("{s:s,s:s,s:s}", "id", full, "provider", provider, "name",
					      name != NULL ? name : id);
			free(full);
			json_t *cw = json_object_get(m, "context_window");
			if (json_is_integer(cw))
				json_object_set(o, "contextWindow", cw);
			if (o != NULL)
				json_array_append_new(out, o);
		}
	}
	return out;
}

const json_t *
models_cached(void)
{
	json_decref(models_flat);
	models_flat = models_cache != NULL ? models_flatten(models_cache) : json_array();
	return models_flat;
}

static void
models_round_end(struct models_round *r)
{
	json_t *result = json_pack("{s:o,s:O}", "models", models_flatten(r->lists), "errors",
				   r->errors);
	const char *provider;
	json_t *list;
	json_object_foreach(r->lists, provider, list)
		json_object_set(models_cache, provider, list);
	if (models_current == r)
		models_current = NULL;
	struct models_waiter *w = models_waiters;
	models_waiters = NULL;
	while (w != NULL) {
		struct models_waiter *next = w->next;
		w->done(w->arg, result);
		free(w);
		w = next;
	}
	json_decref(result);
	json_decref(r->lists);
	json_decref(r->errors);
	free(r);
}

static void
models_listed_cb(void *arg, json_t *models, const struct hearth_provider_error *err)
{
	struct models_ask *ask = arg;
	struct models_round *r = ask->round;
	for (struct models_ask **pp = &r->asks; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ask) {
			*pp = ask->next;
			break;
		}
	}
	if (json_is_array(models)) {
		json_object_set_new(r->lists, ask->provider, models);
	} else {
		json_decref(models);
		const char *msg = err != NULL && err->message != NULL ? err->message :
				  "no model list and no error";
		json_array_append_new(r->errors, json_pack("{s:s,s:s}", "provider", ask->provider,
							   "message", msg));
	}
	free(ask->provider);
	free(ask);
	if (--r->pending == 0 && r->started)
		models_round_end(r);
}

void
models_refresh(models_done_fn done, void *arg)
{
	struct models_waiter *w = xcalloc(1, sizeof *w);
	w->done = done;
	w->arg = arg;
	w->next = models_waiters;
	models_waiters = w;
	if (models_current != NULL)
		return;   /* joins the round under way */

	struct models_round *r = xcalloc(1, sizeof *r);
	r->lists = json_object();
	r->errors = json_array();
	r->pending = 1;   /* held until every provider was asked: answers may come at once */
	models_current = r;
	for (size_t i = 0; models_registry != NULL && i < models_registry->n_modules; i++) {
		struct module *m = models_registry->modules[i];
		if (m->kind != HEARTH_KIND_PROVIDER || !m->inited)
			continue;
		struct models_ask *ask = xcalloc(1, sizeof *ask);
		ask->round = r;
		ask->provider = xstrdup(m->name);
		ask->next = r->asks;
		r->asks = ask;
		r->pending++;
		int rc = m->desc->provider->list_models(m->state, models_listed_cb, ask);
		if (rc != 0) {
			struct hearth_provider_error e = { .struct_size = sizeof e,
							   .message = hearth_strerror(rc) };
			models_listed_cb(ask, NULL, &e);
		}
	}
	r->started = 1;
	if (--r->pending == 0)
		models_round_end(r);
}

void
models_forget(void *arg)
{
	for (struct models_waiter **pp = &models_waiters; *pp != NULL;) {
		if ((*pp)->arg == arg) {
			struct models_waiter *w = *pp;
			*pp = w->next;
			free(w);
		} else {
			pp = &(*pp)->next;
		}
	}
}

void
models_close(void)
{
	while (models_waiters != NULL) {
		struct models_waiter *w = models_waiters;
		models_waiters = w->next;
		free(w);
	}
	/* Providers are finished: a round still waiting will never hear back. */
	struct models_round *r = models_current;
	if (r != NULL) {
		while (r->asks != NULL) {
			struct models_ask *ask = r->asks;
			r->asks = ask->next;
			free(ask->provider);
			free(ask);
		}
		json_decref(r->lists);
		json_decref(r->errors);
		free(r);
		models_current = NULL;
	}
	json_decref(models_cache);
	models_cache = NULL;
	json_decref(models_flat);
	models_flat = NULL;
}

/* ------------------------------------------------------------ resolution -- */

/* The provider's default model, or NULL when it names none. Borrowed. */
static const char *
models_provider_default(const struct module *m)
{
	if (m->kind != HEARTH_KIND_PROVIDER || !m->inited ||
	    m->desc->provider->default_model == NULL)
		return NULL;
	return m->desc->provider->default_model(m->state);
}

char *
models_default(void)
{
	struct module *fallback = NULL;
	for (size_t i = 0; models_registry != NULL && i < models_registry->n_modules; i++) {
		struct module *m = models_registry->modules[i];
		const char *model = models_provider_default(m);
		if (model == NULL)
			continue;
		if (m->desc->provider->has_credentials == NULL ||
		    m->desc->provider->has_credentials(m->state))
			return xasprintf("%s/%s", m->name, model);
		if (fallback == NULL)
			fallback = m;
	}
	return fallback != NULL ?
		xasprintf("%s/%s", fallback->name, models_provider_default(fallback)) : NULL;
}

json_t *
models_defaults(void)
{
	json_t *out = json_array();
	for (size_t i = 0; models_registry != NULL && i < models_registry->n_modules; i++) {
		const struct module *m = models_registry->modules[i];
		const char *model = models_provider_default(m);
		if (model != NULL)
			json_array_append_new(out, json_sprintf("%s/%s", m->name, model));
	}
	return out;
}

int
models_resolve(const char *model, struct module **provider, char **model_id, char **error)
{
	char *dflt = NULL;
	if (model == NULL) {
		model = dflt = models_default();
		if (model == NULL) {
			*error = xstrdup("no model: no provider module is loaded that names a "
					 "default model (load one in plugins.conf)");
			return HEARTH_EINVAL;
		}
	}
	const char *slash = strchr(model, '/');
	if (slash == NULL || slash == model || slash[1] == '\0') {
		*error = xasprintf("model '%s' is not of the form provider/model", model);
		free(dflt);
		return HEARTH_EINVAL;
	}
	char *pname = xstrndup(model, (size_t)(slash - model));
	struct module *m = models_registry != NULL ?
		registry_find(models_registry, HEARTH_KIND_PROVIDER, pname) : NULL;
	if (m == NULL || !m->inited) {
		*error = xasprintf("model '%s': no provider module '%s' is loaded", model, pname);
		free(pname);
		free(dflt);
		return HEARTH_EINVAL;
	}
	free(pname);
	*provider = m;
	*model_id = xstrdup(slash + 1);
	free(dflt);
	return 0;
}

/* --------------------------------------------------------------- pricing -- */

int64_t
models_cost_micros(const struct module *provider, const char *model_id,
		   const struct hearth_usage *u)
{
	char *key = xasprintf("price.%s", model_id);
	const char *v = json_string_value(json_object_get(provider->conf->section, key));
	free(key);
	if (v == NULL)
		return 0;
	double p[4] = { 0, 0, 0, 0 };
	int n = sscanf(v, "%lf , %lf , %lf , %lf", &p[0], &p[1], &p[2], &p[3]);
	if (n < 2) {
		log_warn("%s: price.%s = '%s' is not 'input, output[, cache read, cache write]' "
			 "in dollars per million tokens", provider->who, model_id, v);
		return 0;
	}
	if (n < 3)
		p[2] = p[0];
	if (n < 4)
		p[3] = p[0];
	/* tokens x dollars per million tokens = millionths of a dollar. */
	double micros = (double)u->input_tokens * p[0] + (double)u->output_tokens * p[1] +
			(double)u->cache_read_tokens * p[2] + (double)u->cache_write_tokens * p[3];
	return (int64_t)(micros + 0.5);
}

json_int_t
models_context_window(const struct module *provider, const char *model_id)
{
	char *id = xasprintf("%s/%s", provider->name, model_id);
	json_int_t size = 0;
	size_t i;
	json_t *m;
	json_array_foreach((json_t *)models_cached(), i, m) {
		if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0) {
			size = json_integer_value(json_object_get(m, "contextWindow"));
			break;
		}
	}
	free(id);
	return size;
}
