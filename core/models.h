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

#include <jansson.h>

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

#endif
