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

#endif
