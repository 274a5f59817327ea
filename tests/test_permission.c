/*
 * test_permission.c: permission rules (patterns, remembered answers, the order of
 * the decision) and confinement to the project directory.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "permission.h"
#include "registry.h"
#include "store.h"
#include "testutil.h"
#include "xmalloc.h"

static const char conf_text[] =
	"load tool shell\n"
	"[tool shell]\n"
	"allow.shell = git status*, git diff*,ls\n"
	"ask.shell = git push*\n"
	"deny.shell = rm -rf*,  sudo *\n"
	"permission.quiet = allow\n"
	"permission.odd = maybe\n"
	"allow_paths = /usr/include/*, /opt/docs\n"
	"allow_write_paths = /tmp/scratch/*\n";

static const struct hearth_tool_def shell_def = { .name = "shell", .default_permission =
						  HEARTH_PERM_ASK, .kind = "execute" };
static const struct hearth_tool_def quiet_def = { .name = "quiet", .default_permission =
						  HEARTH_PERM_DENY };
static const struct hearth_tool_def odd_def = { .name = "odd", .default_permission =
						HEARTH_PERM_ALLOW };
static const struct hearth_tool_def bare_def = { .name = "bare", .default_permission = 0 };

struct fixture {
	struct conf *conf;
	struct module m;
	struct store *st;
	char *tmp;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	f->conf = conf_parse("plugins.conf", conf_text, strlen(conf_text));
	assert_int_equal(f->conf->n_errors, 0);
	f->m.kind = HEARTH_KIND_TOOL;
	static char name[] = "shell", who[] = "tool/shell";
	f->m.name = name;
	f->m.who = who;
	f->m.conf = &f->conf->modules[0];
	f->tmp = testutil_mkdtemp("perm");
	char *db = xasprintf("%s/db", f->tmp);
	f->st = store_open(db, NULL);
	assert_non_null(f->st);
	free(db);
	testutil_log_capture();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	free(testutil_log_release());
	store_close(f->st);
	testutil_rmtree(f->tmp);
	free(f->tmp);
	conf_free(f->conf);
	free(f);
	return 0;
}

static void
test_match_list(void **state)
{
	(void)state;
	assert_true(permission_match_list("git status*, git diff*", "git status --short"));
	assert_true(permission_match_list("git status*,git diff*", "git diff HEAD~1"));
	assert_false(permission_match_list("git status*", "git push"));
	assert_true(permission_match_list(" ls ", "ls"));
	assert_false(permission_match_list(" ls ", "ls -la"));
	/* A star crosses directories: "src/" plus a star covers the whole tree below src. */
	assert_true(permission_match_list("src/*", "src/a/b/c.c"));
	assert_false(permission_match_list(NULL, "x"));
	assert_false(permission_match_list("", "x"));
	assert_false(permission_match_list(",,", ""));
	assert_false(permission_match_list("x", NULL));
}

static void
test_decide_order(void **state)
{
	struct fixture *f = *state;
	const char *why = NULL;
	assert_int_equal(permission_decide(&f->m, &shell_def, "git status", "/p", f->st, &why),
			 HEARTH_PERM_ALLOW);
	assert_string_equal(why, "allowed by an allow rule in plugins.conf");
	assert_int_equal(permission_decide(&f->m, &shell_def, "git push origin", "/p", f->st, &why),
			 HEARTH_PERM_ASK);
	assert_string_equal(why, "an ask rule in plugins.conf");
	assert_int_equal(permission_decide(&f->m, &shell_def, "rm -rf /", "/p", f->st, &why),
			 HEARTH_PERM_DENY);
	assert_string_equal(why, "denied by a deny rule in plugins.conf");
	assert_int_equal(permission_decide(&f->m, &shell_def, "make", "/p", f->st, &why),
			 HEARTH_PERM_ASK);
	assert_string_equal(why, "the tool's default");

	/* A remembered "always" beats allow and ask rules, never a deny rule. */
	assert_int_equal(store_permission_put(f->st, "/p", "shell", "make", "allow"), 0);
	assert_int_equal(permission_decide(&f->m, &shell_def, "make", "/p", f->st, &why),
			 HEARTH_PERM_ALLOW);
	assert_string_equal(why, "allowed by an \"always allow\" answer");
	assert_int_equal(permission_decide(&f->m, &shell_def, "make", "/other", f->st, &why),
			 HEARTH_PERM_ASK);   /* remembered per project */
	assert_int_equal(store_permission_put(f->st, "/p", "shell", "git status", "deny"), 0);
	assert_int_equal(permission_decide(&f->m, &shell_def, "git status", "/p", f->st, &why),
			 HEARTH_PERM_DENY);
	assert_int_equal(store_permission_put(f->st, "/p", "shell", "sudo ls", "allow"), 0);
	assert_int_equal(permission_decide(&f->m, &shell_def, "sudo ls", "/p", f->st, &why),
			 HEARTH_PERM_DENY);
	assert_int_equal(permission_decide(&f->m, &shell_def, "make", "/p", NULL, NULL),
			 HEARTH_PERM_ASK);
}

static void
test_tool_defaults(void **state)
{
	struct fixture *f = *state;
	const char *why;
	/* permission.<tool> overrides the tool's own default. */
	assert_int_equal(permission_decide(&f->m, &quiet_def, "x", "/p", f->st, &why),
			 HEARTH_PERM_ALLOW);
	assert_string_equal(why, "the tool's permission in plugins.conf");
	assert_int_equal(permission_default(&f->m, &quiet_def), HEARTH_PERM_ALLOW);
	/* A bad value is reported and the tool's default used. */
	assert_int_equal(permission_decide(&f->m, &odd_def, "x", "/p", f->st, &why),
			 HEARTH_PERM_ALLOW);
	char *log = testutil_log_release();
	assert_non_null(strstr(log, "WARN  core: tool/shell: permission.odd = 'maybe' is not allow, "
			       "ask or deny; using the default\n"));
	free(log);
	testutil_log_capture();
	/* A tool that says nothing asks. */
	assert_int_equal(permission_decide(&f->m, &bare_def, "x", "/p", f->st, &why),
			 HEARTH_PERM_ASK);
	assert_int_equal(permission_default(&f->m, &bare_def), HEARTH_PERM_ASK);
}

static void
test_confinement(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(permission_path_allowed(&f->m, "/home/u/proj", "/home/u/proj", 1), 0);
	assert_int_equal(permission_path_allowed(&f->m, "/home/u/proj", "/home/u/proj/a/b.c", 1), 0);
	assert_int_equal(permission_path_allowed(&f->m, "/home/u/proj/", "/home/u/proj/a.c", 1), 0);
	/* A sibling whose name starts the same is outside. */
	assert_int_equal(permission_path_allowed(&f->m, "/home/u/proj", "/home/u/project2/a.c", 0),
			 HEARTH_EPERM);
	assert_int_equal(permission_path_allowed(&f->m, "/home/u/proj", "/etc/passwd", 0),
			 HEARTH_EPERM);
	/* allow_paths: read only; allow_write_paths: both. */
	assert_int_equal(permission_path_allowed(&f->m, "/p", "/usr/include/stdio.h", 0), 0);
	assert_int_equal(permission_path_allowed(&f->m, "/p", "/usr/include/stdio.h", 1),
			 HEARTH_EPERM);
	assert_int_equal(permission_path_allowed(&f->m, "/p", "/opt/docs", 0), 0);
	assert_int_equal(permission_path_allowed(&f->m, "/p", "/opt/docs/x", 0), HEARTH_EPERM);
	assert_int_equal(permission_path_allowed(&f->m, "/p", "/tmp/scratch/out.txt", 1), 0);
	assert_int_equal(permission_path_allowed(&f->m, "/p", "/tmp/scratch/out.txt", 0), 0);
	/* The root as a project contains everything. */
	assert_int_equal(permission_path_allowed(&f->m, "/", "/etc/passwd", 1), 0);
}


/* The shell rules against a table of tricky command lines (issue 12). */
static const char table_conf[] =
	"load tool shell\n"
	"[tool shell]\n"
	"allow.shell = git status*, git diff*, ls, ls *, echo *, cat *, grep *, wc *\n"
	"deny.shell = rm -rf*, sudo *, curl *\n"
	"ask.shell = git push*\n";

static const struct {
	const char *cmd;
	enum hearth_permission want;
} table[] = {
	/* the three bypasses of issue 12 */
	{ "git status; touch X", HEARTH_PERM_ASK },
	{ "git status $(touch X)", HEARTH_PERM_ASK },
	{ "git status\ntouch X", HEARTH_PERM_ASK },
	/* plain and compound lines whose every command is allowed */
	{ "git status", HEARTH_PERM_ALLOW },
	{ "git status --short", HEARTH_PERM_ALLOW },
	{ "git status && git diff", HEARTH_PERM_ALLOW },
	{ "git status || ls", HEARTH_PERM_ALLOW },
	{ "ls | grep foo | wc -l", HEARTH_PERM_ALLOW },
	{ "ls; ls -la\n\ngit diff HEAD~1", HEARTH_PERM_ALLOW },
	{ "(ls; git status)", HEARTH_PERM_ALLOW },
	{ "echo 'a; touch X'", HEARTH_PERM_ALLOW },
	{ "echo \"a && touch X\"", HEARTH_PERM_ALLOW },
	{ "echo a\\;touch X", HEARTH_PERM_ALLOW },
	{ "echo '$(touch X)'", HEARTH_PERM_ALLOW },
	{ "echo \\$(touch X)", HEARTH_PERM_ASK },  /* a syntax error in bash */
	{ "git status # ; touch X", HEARTH_PERM_ALLOW },
	{ "git status 2>&1", HEARTH_PERM_ALLOW },
	{ "git status 2>/dev/null", HEARTH_PERM_ALLOW },
	{ "grep x < README", HEARTH_PERM_ALLOW },
	{ "grep x <<'EOF'\n$(touch X)\nEOF", HEARTH_PERM_ALLOW },
	{ "grep x <<EOF\nplain $HOME\nEOF\nls", HEARTH_PERM_ALLOW },
	{ "cat < README", HEARTH_PERM_ASK },  /* "cat" alone: redirections are not words */
	{ "echo $HOME ${USER}", HEARTH_PERM_ALLOW },
	{ "git status \\\n --short", HEARTH_PERM_ALLOW },
	{ "git status &", HEARTH_PERM_ALLOW },
	/* a second command that is not allowed */
	{ "git status && touch X", HEARTH_PERM_ASK },
	{ "git status || touch X", HEARTH_PERM_ASK },
	{ "git status | sh", HEARTH_PERM_ASK },
	{ "git status |& sh", HEARTH_PERM_ASK },
	{ "git status & touch X", HEARTH_PERM_ASK },
	{ "git status;touch X", HEARTH_PERM_ASK },
	{ "git status\r\ntouch X", HEARTH_PERM_ASK },
	{ "(git status; touch X)", HEARTH_PERM_ASK },
	{ "git status\n\n  touch X  ", HEARTH_PERM_ASK },
	/* substitutions */
	{ "git status `touch X`", HEARTH_PERM_ASK },
	{ "git status \"$(touch X)\"", HEARTH_PERM_ASK },
	{ "git status \"`touch X`\"", HEARTH_PERM_ASK },
	{ "cat <(touch X)", HEARTH_PERM_ASK },
	{ "ls >(touch X)", HEARTH_PERM_ASK },
	{ "echo $(ls)", HEARTH_PERM_ASK },
	{ "cat <<EOF\n$(touch X)\nEOF", HEARTH_PERM_ASK },
	{ "cat <<EOF\n`touch X`\nEOF", HEARTH_PERM_ASK },
	{ "git status $((1+1))", HEARTH_PERM_ASK },
	{ "echo ${X:-$(touch X)}", HEARTH_PERM_ASK },
	/* redirections that write */
	{ "git status > X", HEARTH_PERM_ASK },
	{ "git status >> ~/.bashrc", HEARTH_PERM_ASK },
	{ "git status &> X", HEARTH_PERM_ASK },
	{ "git status 2>X", HEARTH_PERM_ASK },
	{ "git status >| X", HEARTH_PERM_ASK },
	{ "cat <> X", HEARTH_PERM_ASK },
	{ "(ls) > X", HEARTH_PERM_ASK },
	{ "echo x >&X", HEARTH_PERM_ASK },
	/* what the splitter does not read asks */
	{ "git status 'unterminated", HEARTH_PERM_ASK },
	{ "git status \"unterminated", HEARTH_PERM_ASK },
	{ "git status $(touch X", HEARTH_PERM_ASK },
	{ "git status `touch X", HEARTH_PERM_ASK },
	{ "git status \\", HEARTH_PERM_ASK },
	{ "if true; then touch X; fi", HEARTH_PERM_ASK },
	{ "for f in a; do touch $f; done", HEARTH_PERM_ASK },
	{ "{ git status; touch X; }", HEARTH_PERM_ASK },
	{ "! git status", HEARTH_PERM_ASK },
	{ "$X status", HEARTH_PERM_ASK },
	{ "$'\\x72m' -rf /", HEARTH_PERM_ASK },
	{ "git status; ;", HEARTH_PERM_ASK },
	{ "git status &&", HEARTH_PERM_ASK },
	{ "| git status", HEARTH_PERM_ASK },
	{ "git status )", HEARTH_PERM_ASK },
	{ "cat <<EOF\nno end", HEARTH_PERM_ASK },
	{ "git status ((", HEARTH_PERM_ASK },
	{ "LD_PRELOAD=/tmp/x.so git status", HEARTH_PERM_ASK },
	{ "", HEARTH_PERM_ASK },
	/* deny rules match any part, wherever it hides */
	{ "rm -rf /", HEARTH_PERM_DENY },
	{ "git status; rm -rf /", HEARTH_PERM_DENY },
	{ "git status && \"rm\" -rf /", HEARTH_PERM_DENY },
	{ "git status $(rm -rf /)", HEARTH_PERM_DENY },
	{ "echo `sudo ls`", HEARTH_PERM_DENY },
	{ "ls | sudo  tee /etc/x", HEARTH_PERM_DENY },
	{ "(cd /; r\\m -rf .)", HEARTH_PERM_DENY },
	{ "git status\ncurl http://x", HEARTH_PERM_DENY },
	{ "cat <(curl http://x)", HEARTH_PERM_DENY },
	{ "rm -rf /; if true; then x; fi; 'unterminated", HEARTH_PERM_DENY },
	/* ask rules match any part too */
	{ "git status && git push origin", HEARTH_PERM_ASK },
};

static void
test_shell_table(void **state)
{
	(void)state;
	struct conf *conf = conf_parse("plugins.conf", table_conf, strlen(table_conf));
	assert_int_equal(conf->n_errors, 0);
	static char name[] = "shell", who[] = "tool/shell";
	struct module m = { .kind = HEARTH_KIND_TOOL, .name = name, .who = who,
			    .conf = &conf->modules[0] };
	size_t n = sizeof table / sizeof table[0];
	assert_true(n >= 50);
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		enum hearth_permission got = permission_decide(&m, &shell_def, table[i].cmd, "/p",
							       NULL, &why);
		if (got != table[i].want) {
			print_error("row %zu [%s]: got %d want %d (%s)\n", i, table[i].cmd,
				    (int)got, (int)table[i].want, why ? why : "-");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	conf_free(conf);
}

/* permission.shell = deny hides the tool, and a call to it is refused anyway. */
static void
test_not_offered(void **state)
{
	(void)state;
	static const char text[] = "load tool shell\n[tool shell]\npermission.shell = deny\n"
				   "allow.shell = git status*\n";
	struct conf *conf = conf_parse("plugins.conf", text, strlen(text));
	assert_int_equal(conf->n_errors, 0);
	static char name[] = "shell", who[] = "tool/shell";
	struct module m = { .kind = HEARTH_KIND_TOOL, .name = name, .who = who,
			    .conf = &conf->modules[0] };
	const char *why = NULL;
	assert_int_equal(permission_default(&m, &shell_def), HEARTH_PERM_DENY);
	const char *cmds[] = { "git status", "git status; touch X", "git status $(touch X)",
			       "git status\ntouch X" };
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		assert_int_equal(permission_decide(&m, &shell_def, cmds[i], "/p", NULL, &why),
				 HEARTH_PERM_DENY);
		assert_string_equal(why, "the tool is not offered (its permission is deny)");
	}
	conf_free(conf);
}

/* permission.shell = allow still asks for a line that cannot be read. */
static void
test_allow_all_uncertain(void **state)
{
	(void)state;
	static const char text[] = "load tool shell\n[tool shell]\npermission.shell = allow\n"
				   "deny.shell = rm *\n";
	struct conf *conf = conf_parse("plugins.conf", text, strlen(text));
	static char name[] = "shell", who[] = "tool/shell";
	struct module m = { .kind = HEARTH_KIND_TOOL, .name = name, .who = who,
			    .conf = &conf->modules[0] };
	const char *why = NULL;
	assert_int_equal(permission_decide(&m, &shell_def, "make && make check", "/p", NULL, &why),
			 HEARTH_PERM_ALLOW);
	assert_int_equal(permission_decide(&m, &shell_def, "make; rm x", "/p", NULL, &why),
			 HEARTH_PERM_DENY);
	assert_int_equal(permission_decide(&m, &shell_def, "eval \"$(echo rm x)\"", "/p", NULL,
					   &why), HEARTH_PERM_ALLOW);
	assert_int_equal(permission_decide(&m, &shell_def, "if x; then rm y; fi", "/p", NULL,
					   &why), HEARTH_PERM_ASK);
	assert_string_equal(why, "the command line could not be read with certainty");
	conf_free(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_list),
		cmocka_unit_test_setup_teardown(test_decide_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tool_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confinement, setup, teardown),
		cmocka_unit_test(test_shell_table),
		cmocka_unit_test(test_not_offered),
		cmocka_unit_test(test_allow_all_uncertain),
	};
	return cmocka_run_group_tests_name("permission", tests, NULL, NULL);
}
