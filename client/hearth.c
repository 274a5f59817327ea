/*
 * hearth.c: the hearth client's main(): global options, the command table, and
 * what every command shares (connecting with the handshake, printing errors).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/plugin.h>

#include "connect.h"
#include "hearth.h"
#include "xmalloc.h"

static int hearth_help_main(const struct hearth_opts *o, int argc, char **argv);
static int hearth_version_main(const struct hearth_opts *o, int argc, char **argv);

static const struct hearth_cmd {
	const char *name;
	const char *args;
	const char *summary;
	int (*main)(const struct hearth_opts *o, int argc, char **argv);
} hearth_cmds[] = {
	{ "run", "[--model PROVIDER/MODEL] [--session ID | --continue] [--cwd DIR]\n"
		 "                  [--format text|json] [--allow RULE]... [--deny RULE]...\n"
		 "                  [--allow-all] PROMPT",
	  "send PROMPT (- reads stdin) and stream the answer", cmd_run_main },
	{ "sessions", "[--json] | rm ID... | rename ID TITLE | fork ID\n"
		      "                  | prune --older-than SPAN [--dry-run]",
	  "list the sessions; remove, rename, fork or prune them", cmd_sessions_main },
	{ "models", "[--json]", "list the models of every provider", cmd_models_main },
	{ "attach", "ID", "replay a session, then follow it live", cmd_attach_main },
	{ "acp", "", "speak ACP on stdin and stdout, for editors", cmd_acp_main },
	{ "stop", "", "stop the daemon", cmd_stop_main },
	{ "doctor", "[--json]", "check config, modules, keys, socket and store", cmd_doctor_main },
	{ "help", "[COMMAND]", "describe the commands, or one", hearth_help_main },
	{ "version", "", "print the version", hearth_version_main },
};
#define HEARTH_N_CMDS (sizeof hearth_cmds / sizeof hearth_cmds[0])

static void
hearth_usage(FILE *out)
{
	fprintf(out, "usage: hearth [--config FILE] [--socket PATH] [--no-start] COMMAND [ARGS]\n"
		     "commands:\n");
	for (size_t i = 0; i < HEARTH_N_CMDS; i++)
		fprintf(out, "  %-9s %s\n", hearth_cmds[i].name, hearth_cmds[i].summary);
	fprintf(out,
		"options:\n"
		"  --config FILE   the plugins.conf a daemon started by this command reads\n"
		"  --socket PATH   the daemon's socket (default $HEARTH_SOCKET, else\n"
		"                  $XDG_RUNTIME_DIR/hearth/hearth.sock)\n"
		"  --no-start      fail instead of starting a daemon when none runs\n"
		"  -h, --help      print this help\n"
		"  -V, --version   print the version\n"
		"`hearth COMMAND --help` describes a command; see hearth(1).\n");
}

void
hearth_usage_cmd(const char *name, FILE *out)
{
	for (size_t i = 0; i < HEARTH_N_CMDS; i++) {
		if (strcmp(hearth_cmds[i].name, name) == 0)
			fprintf(out, "usage: hearth %s%s%s\n  %s\n", name,
				hearth_cmds[i].args[0] != '\0' ? " " : "", hearth_cmds[i].args,
				hearth_cmds[i].summary);
	}
}

/* `hearth help [COMMAND]`: the summary, or one command's usage. */
static int
hearth_help_main(const struct hearth_opts *o, int argc, char **argv)
{
	(void)o;
	if (argc > 2) {
		hearth_error("help: unexpected argument '%s'", argv[2]);
		return HEARTH_EXIT_USAGE;
	}
	if (argc < 2) {
		hearth_usage(stdout);
		return HEARTH_EXIT_OK;
	}
	for (size_t i = 0; i < HEARTH_N_CMDS; i++) {
		if (strcmp(hearth_cmds[i].name, argv[1]) == 0) {
			hearth_usage_cmd(argv[1], stdout);
			return HEARTH_EXIT_OK;
		}
	}
	hearth_error("help: unknown command '%s'", argv[1]);
	return HEARTH_EXIT_USAGE;
}

/* `hearth version`, `-V`, `--version`: the client's version and its ABI. */
static int
hearth_version_main(const struct hearth_opts *o, int argc, char **argv)
{
	(void)o;
	if (argc > 1) {
		hearth_error("version: unexpected argument '%s'", argv[1]);
		return HEARTH_EXIT_USAGE;
	}
	printf("hearth %s\n", PACKAGE_VERSION);
	return HEARTH_EXIT_OK;
}

int
hearth_options(const char *cmd, int argc, char **argv, int *as_json, int any_args)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			hearth_usage_cmd(cmd, stdout);
			return HEARTH_EXIT_OK;
		}
		if (opt == 'j' && as_json != NULL) {
			*as_json = 1;
			continue;
		}
		if (opt == 'j')
			hearth_error("%s: unknown option '--json'", cmd);
		hearth_usage_cmd(cmd, stderr);
		return HEARTH_EXIT_USAGE;
	}
	if (!any_args && optind < argc) {
		hearth_error("%s: unexpected argument '%s'", cmd, argv[optind]);
		return HEARTH_EXIT_USAGE;
	}
	return -1;
}

/* Kept for `hearth run --format json`, whose result line carries the error. */
static char *hearth_last_message;

void
hearth_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(hearth_last_message);
	hearth_last_message = xvasprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "hearth: %s\n", hearth_last_message);
}

const char *
hearth_last_error(void)
{
	return hearth_last_message;
}

struct client_rpc *
hearth_connect(const struct hearth_opts *o, int may_start, json_t **agent)
{
	struct connect_opts co = {
		.socket_path = o->socket_path,
		.config = o->config,
		.no_start = o->no_start || !may_start,
	};
	int fd;
	char *why;
	if (connect_open(&co, &fd, &why) != 0) {
		hearth_error("%s", why);
		free(why);
		return NULL;
	}
	struct client_rpc *c = client_rpc_new(fd);
	if (client_rpc_initialize(c, agent, &why) != 0) {
		hearth_error("%s", why);
		free(why);
		client_rpc_free(c);
		return NULL;
	}
	return c;
}

int
hearth_call(struct client_rpc *c, const char *method, json_t *params, json_t **result)
{
	json_t *error;
	int rc = client_rpc_call(c, method, params, result, &error);
	if (rc != 0) {
		hearth_error("%s", client_rpc_why(c));
		return -1;
	}
	if (error != NULL) {
		hearth_error("%s", json_string_value(json_object_get(error, "message")));
		json_decref(error);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_SOCKET, OPT_NO_START, OPT_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "no-start", no_argument, NULL, OPT_NO_START },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hearth_opts o = { 0 };
	const char *socket_arg = NULL;
	int opt;

	/* '+': stop at the command, whose options are its own. */
	while ((opt = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_CONFIG: o.config = optarg; break;
		case OPT_SOCKET: socket_arg = optarg; break;
		case OPT_NO_START: o.no_start = 1; break;
		case OPT_VERSION:
		case 'V':
			return hearth_version_main(&o, 0, NULL);
		case 'h':
			hearth_usage(stdout);
			return HEARTH_EXIT_OK;
		default:
			hearth_usage(stderr);
			return HEARTH_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		hearth_error("no command given");
		hearth_usage(stderr);
		return HEARTH_EXIT_USAGE;
	}
	const struct hearth_cmd *cmd = NULL;
	for (size_t i = 0; i < HEARTH_N_CMDS; i++) {
		if (strcmp(hearth_cmds[i].name, argv[optind]) == 0)
			cmd = &hearth_cmds[i];
	}
	if (cmd == NULL) {
		hearth_error("unknown command '%s'", argv[optind]);
		hearth_usage(stderr);
		return HEARTH_EXIT_USAGE;
	}

	/* A daemon gone mid-write is an error to report, not a reason to die silently. */
	signal(SIGPIPE, SIG_IGN);
	o.socket_path = connect_socket_path(socket_arg);
	char **sub_argv = argv + optind;
	int sub_argc = argc - optind;
	/* getopt names argv[0] in its complaints: "hearth run: invalid option". */
	char *name = xasprintf("hearth %s", cmd->name);
	sub_argv[0] = name;
	optind = 0; /* glibc: start the command's option parsing afresh */
	int status = cmd->main(&o, sub_argc, sub_argv);
	free(name);
	free(o.socket_path);
	free(hearth_last_message);
	hearth_last_message = NULL;
	return status;
}
