/*
 * models.h: the models every provider lists, asked for and cached.
 *
 * models_refresh() asks every loaded provider for its models (list_models) and
 * calls back once all have answered. A refresh already under way is joined, not
 * repeated. The cache keeps the last good list of each provider, for the session's
 * model option and for `hearth models`.
 */
#ifndef HEARTH_MODELS_H
#define HEARTH_MODELS_H

#include <stdint.h>

#include <jansson.h>
#include <hearth/provider.h>

#include "registry.h"

/*
 * result (borrowed, valid during the call):
 *   {"models": [{"id": "provider/model", "provider", "name", "contextWindow"?}, ...],
 *    "errors": [{"provider", "message"}, ...]}
 */
typedef void (*models_done_fn)(void *arg, const json_t *result);

/* The providers to ask (borrowed). */
void models_init(struct registry *r);
/* Ask every provider; done(arg, result) once all have answered. */
void models_refresh(models_done_fn done, void *arg);
/* Forget every waiter whose arg is `arg` (its owner went away). */
void models_forget(void *arg);
/* The cached models, as the "models" array above (borrowed; may be empty). */
const json_t *models_cached(void);
/* Drop waiters and the cache (shutdown: providers have been finished). */
void models_close(void);

/*
 * Model resolution, the one place that reads the providers' default models.
 *
 * models_default(): the default "provider/model" (malloc'd): the first provider
 * with credentials that names a default model, else the first that names one; NULL
 * when none does.
 */
char *models_default(void);
/*
 * Every provider's default "provider/model", in load order, without repeats (a new
 * array). The session's model option lists these first.
 */
json_t *models_defaults(void);
/*
 * Split "provider/model" and find the provider. On success *provider is the loaded
 * module (borrowed) and *model_id a malloc'd model id; else HEARTH_EINVAL and
 * *error (malloc'd). model NULL means models_default().
 */
int models_resolve(const char *model, struct module **provider, char **model_id,
		   char **error);
/*
 * The cost of a call in millionths of a dollar, from the provider's
 * `price.<model> = input, output[, cache_read, cache_write]` key (dollars per
 * million tokens); 0 when no price is configured (a malformed one is logged).
 */
int64_t models_cost_micros(const struct module *provider, const char *model_id,
			   const struct hearth_usage *usage);
/* The model's context window from the cached lists, or 0 if unknown. */
json_int_t models_context_window(const struct module *provider, const char *model_id);

#endif
