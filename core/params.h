/*
 * params.h: the params schema of every ACP and _hearth/ method the dispatcher serves,
 * one table per method (core/params.c), and the checker that holds a request's params
 * to it before its handler runs. The handlers then read fields knowing their types and
 * limits; what is left to them is what needs state (does the session exist, is the
 * directory there, does the model resolve).
 *
 * Rules, the same for every field:
 *  - a field absent or null is "not given": an error ("missing 'cwd'") when required;
 *  - fields the table does not name are ignored (ACP lets clients add them);
 *  - strings never contain NUL, and are at most `max` bytes (PARAMS_STRING_MAX when 0);
 *  - integers are within [min, max];
 *  - arrays have at most `max` items (no limit when 0), each of type `items`;
 *  - a dotted name ("_meta.hearth.lastSeq") walks objects; a step that is present and
 *    not an object is an error naming it.
 */
#ifndef HEARTH_PARAMS_H
#define HEARTH_PARAMS_H

#include <jansson.h>

/* The longest string any field takes unless its table says less; a path's limit. */
#define PARAMS_STRING_MAX 65536
#define PARAMS_PATH_MAX 4096
#define PARAMS_NAME_MAX 256     /* ids, model names, config ids */
#define PARAMS_TITLE_MAX 1024

enum params_type {
	PARAMS_ANY = 0,
	PARAMS_STRING,
	PARAMS_INT,
	PARAMS_BOOL,
	PARAMS_OBJECT,
	PARAMS_ARRAY,
	PARAMS_ID,              /* a JSON-RPC id: a string or an integer */
};

/* Flags of a field. */
#define PARAMS_REQUIRED 0x1
#define PARAMS_NONEMPTY 0x2     /* strings: at least one byte */
#define PARAMS_ABSPATH 0x4      /* strings: start with '/' */

struct params_field {
	const char *name;       /* key, or dotted path of keys */
	enum params_type type;
	unsigned flags;
	json_int_t min, max;    /* integers: bounds; strings: max bytes; arrays: max items */
	enum params_type items; /* arrays: the type of each item (PARAMS_ANY: any) */
};

/* The fields of `method`, ended by a field whose name is NULL; NULL for a method with
 * no table (then nothing is checked). Static storage. */
const struct params_field *params_schema(const char *method);

/*
 * Check `params` (borrowed; an object) against the table of `method`. Returns 0 when
 * they conform (or the method has no table), else HEARTH_EINVAL with *why a malloc'd
 * message naming the field and the rule it breaks ("'cwd' must be an absolute path").
 */
int params_check(const char *method, const json_t *params, char **why);

/* The same against an explicit table (for tests and for tables not in params.c). */
int params_check_fields(const struct params_field *fields, const json_t *params, char **why);

#endif
