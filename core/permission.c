/* permission.c: permission rules and confinement (see permission.h). */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "permission.h"
#include "xmalloc.h"

int
permission_match_list(const char *list, const char *subject)
{
	if (list == NULL || subject == NULL)
		return 0;
	char *copy = xstrdup(list), *save = NULL;
	int hit = 0;
	for (char *p = strtok_r(copy, ",", &save); p != NULL && !hit;
	     p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			p[--n] = '\0';
		if (n > 0 && fnmatch(p, subject, 0) == 0)
			hit = 1;
	}
	free(copy);
	return hit;
}

/* The value of "<prefix>.<tool>" in the module's section, or NULL. */
static const char *
permission_key(const struct module *m, const char *prefix, const char *tool)
{
	char *key = xasprintf("%s.%s", prefix, tool);
	const char *v = json_string_value(json_object_get(m->conf->section, key));
	free(key);
	return v;
}

static int
permission_parse(const char *s, enum hearth_permission *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "allow") == 0)
		*out = HEARTH_PERM_ALLOW;
	else if (strcmp(s, "ask") == 0)
		*out = HEARTH_PERM_ASK;
	else if (strcmp(s, "deny") == 0)
		*out = HEARTH_PERM_DENY;
	else
		return -1;
	return 0;
}

enum hearth_permission
permission_default(const struct module *m, const struct hearth_tool_def *def)
{
	enum hearth_permission p;
	if (permission_parse(permission_key(m, "permission", def->name), &p) == 0)
		return p;
	p = def->default_permission;
	return p == HEARTH_PERM_ALLOW || p == HEARTH_PERM_DENY ? p : HEARTH_PERM_ASK;
}

enum hearth_permission
permission_decide(const struct module *m, const struct hearth_tool_def *def, const char *subject,
		  const char *project, struct store *st, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (subject == NULL)
		subject = "";
	if (permission_match_list(permission_key(m, "deny", def->name), subject)) {
		*why = "denied by a deny rule in plugins.conf";
		return HEARTH_PERM_DENY;
	}
	char *remembered = NULL;
	if (st != NULL && store_permission_get(st, project, def->name, subject, &remembered) == 0) {
		enum hearth_permission p = HEARTH_PERM_ASK;
		permission_parse(remembered, &p);
		free(remembered);
		*why = p == HEARTH_PERM_DENY ? "denied by an \"always reject\" answer" :
					      "allowed by an \"always allow\" answer";
		return p;
	}
	if (permission_match_list(permission_key(m, "allow", def->name), subject)) {
		*why = "allowed by an allow rule in plugins.conf";
		return HEARTH_PERM_ALLOW;
	}
	if (permission_match_list(permission_key(m, "ask", def->name), subject)) {
		*why = "an ask rule in plugins.conf";
		return HEARTH_PERM_ASK;
	}
	enum hearth_permission p;
	const char *v = permission_key(m, "permission", def->name);
	if (v != NULL) {
		if (permission_parse(v, &p) == 0) {
			*why = p == HEARTH_PERM_DENY ? "denied by the tool's permission in "
				"plugins.conf" : "the tool's permission in plugins.conf";
			return p;
		}
		log_warn("%s: permission.%s = '%s' is not allow, ask or deny; using the default",
			 m->who, def->name, v);
	}
	p = def->default_permission;
	if (p != HEARTH_PERM_ALLOW && p != HEARTH_PERM_DENY)
		p = HEARTH_PERM_ASK;
	*why = p == HEARTH_PERM_DENY ? "denied by the permission rules" : "the tool's default";
	return p;
}

int
permission_path_allowed(const struct module *m, const char *project, const char *path, int write)
{
	size_t n = strlen(project);
	while (n > 1 && project[n - 1] == '/')
		n--;
	if (strncmp(path, project, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1))
		return 0;
	const char *key = write ? "allow_write_paths" : "allow_paths";
	if (permission_match_list(json_string_value(json_object_get(m->conf->section, key)), path))
		return 0;
	/* What may be written may be read. */
	if (!write && permission_match_list(json_string_value(json_object_get(
			m->conf->section, "allow_write_paths")), path))
		return 0;
	return HEARTH_EPERM;
}
