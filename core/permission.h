/*
 * permission.h: may this tool call run, and may it touch this path?
 *
 * Rules live in the section of the module that offers the tool (plugins.conf):
 *
 *     [tool shell]
 *     allow.shell = git status*, git diff*, ls*     run without asking
 *     ask.shell   = git push*                       always ask
 *     deny.shell  = rm -rf*, sudo *                 never run
 *     permission.shell = ask                        when no pattern matches
 *     allow_paths = GLOBS                           outside the project: may read
 *     allow_write_paths = GLOBS                     outside the project: may change
 *
 * A pattern list is comma-separated shell globs (fnmatch, `*` also matching `/`,
 * so "/usr/include" followed by a slash and a star covers that whole tree),
 * matched against the call's subject: the command line for shell, the
 * project-relative path for file tools (what the tool's describe() says).
 *
 * The decision, first match wins: the tool is not offered (its permission is
 * deny: refused whatever else says); a deny pattern; an "always" answer remembered
 * for this project (the store); an allow pattern; an ask pattern; the tool's
 * permission.<tool> key; the tool's own default. Deny wins over allow.
 *
 * For a command line tool (kind "execute") the line is split into its simple
 * commands (shellsplit.h). Deny and ask patterns match the whole line or any
 * command read, those inside substitutions included. An allow pattern lets the
 * line run only when the splitter read all of it, nothing is substituted, no
 * command redirects output to a file, and every command matches one. A line the
 * splitter cannot read asks, even under permission.<tool> = allow.
 */
#ifndef HEARTH_PERMISSION_H
#define HEARTH_PERMISSION_H

#include <hearth/tool.h>

#include "registry.h"
#include "store.h"

/* 1 when `subject` matches one of the comma-separated globs in `list` (NULL: none). */
int permission_match_list(const char *list, const char *subject);

/*
 * The decision for a call of tool `def` offered by module `m`, on `subject`, in
 * project directory `project`. st may be NULL (no remembered answers). *why (may
 * be NULL) gets a static or borrowed description of the rule that decided.
 */
enum hearth_permission permission_decide(const struct module *m,
					 const struct hearth_tool_def *def,
					 const char *subject, const char *project,
					 struct store *st, const char **why);

/* The tool's permission when no pattern and no remembered answer applies. */
enum hearth_permission permission_default(const struct module *m,
					  const struct hearth_tool_def *def);

/*
 * Confinement: 0 when `path` (absolute, already resolved) is the project directory
 * or inside it, or matches the module's allow_paths (allow_write_paths when write);
 * HEARTH_EPERM otherwise.
 */
int permission_path_allowed(const struct module *m, const char *project, const char *path,
			    int write);

/*
 * A prompt's own rules (session/prompt's `_meta.hearth.permissions`, see
 * doc/protocol.md), for the turn it starts: {allow: [RULE...], deny: [RULE...],
 * allowAll: bool}, a RULE being "TOOL" (every call) or "TOOL:PATTERNS" (the
 * comma-separated globs of plugins.conf, matched against the subject).
 *
 * permission_rules_parse(): v (borrowed) may be NULL (*out NULL). Returns 0 with
 * *out (owned, free with permission_rules_free()), or -1 with *why (malloc'd)
 * naming the field. permission_rules_apply(): the decision for a call, given the
 * configuration's `base` (permission_decide()'s): the prompt's deny wins; then a
 * deny of the configuration stands; then the prompt's allow, then allowAll; else
 * base. *why is set (static) when the prompt's rules decided. r may be NULL.
 */
struct permission_rules;
int permission_rules_parse(const json_t *v, struct permission_rules **out, char **why);
enum hearth_permission permission_rules_apply(const struct permission_rules *r, const char *tool,
					      const char *subject, enum hearth_permission base,
					      const char **why);
void permission_rules_free(struct permission_rules *r);

#endif
