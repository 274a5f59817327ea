/*
 * permission.h: answering session/request_permission from the terminal.
 *
 * The daemon offers options of four kinds (allow_once, allow_always, reject_once,
 * reject_always); the client picks one by its kind and answers with its optionId,
 * or answers "cancelled" when the turn is being cancelled.
 */
#ifndef HEARTH_CLIENT_PERMISSION_H
#define HEARTH_CLIENT_PERMISSION_H

#include <jansson.h>

/* The optionId of the first option of `kind` in the request's params, or NULL. Borrowed. */
const char *permission_option(const json_t *params, const char *kind);

/*
 * Ask on the terminal (question on stderr, answer on stdin): "[y]es once /
 * [a]lways / [n]o / [r]eject always", offering only the kinds the request has.
 * Returns the chosen optionId (borrowed from params), or NULL when SIGINT or the
 * end of input came first.
 */
const char *permission_ask(const json_t *params, const char *title);

/* The answer to send: {outcome: {outcome: "selected", optionId}}, or "cancelled"
 * when option_id is NULL. A new reference. */
json_t *permission_outcome(const char *option_id);

#endif
