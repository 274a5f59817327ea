/* permission.c: permission rules and confinement (see permission.h). */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "permission.h"
#include "shellsplit.h"
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

/* A command line tool (kind "execute"): its rules match each simple command. */
static int
permission_is_shell(const struct hearth_tool_def *def)
{
	return def->kind != NULL && strcmp(def->kind, "execute") == 0;
}

/* 1 when the whole line or any of its commands matches the list. */
static int
permission_match_any(const char *list, const char *subject, const struct shellsplit *sp)
{
	if (permission_match_list(list, subject))
		return 1;
	for (size_t i = 0; sp != NULL && i < sp->n; i++)
		if (permission_match_list(list, sp->cmds[i].text))
			return 1;
	return 0;
}

/*
 * May an allow rule let this command line run? Only when the splitter read it all,
 * nothing is substituted, no command writes through a redirection, and every
 * command matches the list. *why gets the reason when not.
 */
static int
permission_shell_allowed(const char *list, const struct shellsplit *sp, int certain,
			 const char **why)
{
	if (list == NULL)
		return 0;
	if (!certain) {
		*why = "the command line could not be read with certainty";
		return 0;
	}
	if (sp->substitution) {
		*why = "the command line holds a substitution";
		return 0;
	}
	if (sp->n == 0)
		return 0;
	for (size_t i = 0; i < sp->n; i++) {
		if (sp->cmds[i].flags & SHELLSPLIT_WRITES) {
			*why = "a command redirects its output to a file";
			return 0;
		}
		if (!permission_match_list(list, sp->cmds[i].text))
			return 0;
	}
	return 1;
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
	/* A tool whose permission is deny is not offered to the model: a call to it
	 * is one the model was never given, whatever the allow rules say. */
	if (permission_default(m, def) == HEARTH_PERM_DENY) {
		*why = "the tool is not offered (its permission is deny)";
		return HEARTH_PERM_DENY;
	}
	struct shellsplit sp = { 0 }, *spp = NULL;
	int certain = 0;
	if (permission_is_shell(def)) {
		certain = shellsplit_parse(subject, strlen(subject), &sp) == 0;
		spp = &sp;
	}
	enum hearth_permission p;
	if (permission_match_any(permission_key(m, "deny", def->name), subject, spp)) {
		*why = "denied by a deny rule in plugins.conf";
		p = HEARTH_PERM_DENY;
		goto done;
	}
	char *remembered = NULL;
	if (st != NULL && store_permission_get(st, project, def->name, subject, &remembered) == 0) {
		p = HEARTH_PERM_ASK;
		permission_parse(remembered, &p);
		free(remembered);
		*why = p == HEARTH_PERM_DENY ? "denied by an \"always reject\" answer" :
					      "allowed by an \"always allow\" answer";
		goto done;
	}
	const char *allow = permission_key(m, "allow", def->name);
	const char *not_allowed = NULL;
	if (spp != NULL ? permission_shell_allowed(allow, spp, certain, &not_allowed) :
	    permission_match_list(allow, subject)) {
		*why = "allowed by an allow rule in plugins.conf";
		p = HEARTH_PERM_ALLOW;
		goto done;
	}
	if (permission_match_any(permission_key(m, "ask", def->name), subject, spp)) {
		*why = "an ask rule in plugins.conf";
		p = HEARTH_PERM_ASK;
		goto done;
	}
	const char *v = permission_key(m, "permission", def->name);
	if (v != NULL) {
		if (permission_parse(v, &p) == 0) {
			if (p == HEARTH_PERM_ALLOW && spp != NULL && !certain) {
				/* Even "allow everything" asks for a line the splitter
				 * cannot read: deny rules could not be checked on it. */
				*why = "the command line could not be read with certainty";
				p = HEARTH_PERM_ASK;
			} else {
				*why = "the tool's permission in plugins.conf";
			}
			goto done;
		}
		log_warn("%s: permission.%s = '%s' is not allow, ask or deny; using the default",
			 m->who, def->name, v);
	}
	p = def->default_permission;
	if (p != HEARTH_PERM_ALLOW && p != HEARTH_PERM_DENY)
		p = HEARTH_PERM_ASK;
	if (p == HEARTH_PERM_ALLOW && spp != NULL && !certain)
		p = HEARTH_PERM_ASK;
	*why = not_allowed != NULL && p == HEARTH_PERM_ASK ? not_allowed :
	       p == HEARTH_PERM_DENY ? "denied by the permission rules" : "the tool's default";
done:
	shellsplit_free(&sp);
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
