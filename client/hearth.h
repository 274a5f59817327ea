/*
 * hearth.h: what the client's commands share: the global options, connecting
 * with the handshake done, calls whose errors are printed, and one entry point
 * per command (cmd_NAME.c).
 */
#ifndef HEARTH_CLIENT_HEARTH_H
#define HEARTH_CLIENT_HEARTH_H

#include <stdio.h>

#include <jansson.h>

#include "client_rpc.h"

/* Exit statuses. */
#define HEARTH_EXIT_OK 0
#define HEARTH_EXIT_ERROR 1       /* the daemon said no, or could not be reached */
#define HEARTH_EXIT_USAGE 2       /* bad command line */
#define HEARTH_EXIT_INTERRUPTED 130

struct hearth_opts {
	const char *config;  /* --config FILE (borrowed from argv), or NULL */
	char *socket_path;   /* owned: --socket, $HEARTH_SOCKET or the default */
	int no_start;        /* --no-start */
};

/* "usage: hearth NAME ARGS" for command `name`, on out. */
void hearth_usage_cmd(const char *name, FILE *out);

/* "hearth: MESSAGE\n" on stderr. */
void hearth_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message of the last hearth_error() (borrowed, valid until the next), or NULL. */
const char *hearth_last_error(void);

/*
 * Connect to the daemon (starting it if may_start and not --no-start) and run the
 * initialize handshake. Returns the client (free with client_rpc_free) and, if
 * agent is non-NULL, the initialize result in *agent (new reference); or NULL
 * after printing why.
 */
struct client_rpc *hearth_connect(const struct hearth_opts *o, int may_start, json_t **agent);

/*
 * client_rpc_call() for commands: params stolen. Returns 0 with *result (new
 * reference), or -1 after printing "hearth: MESSAGE" for an error answer or a
 * transport failure.
 */
int hearth_call(struct client_rpc *c, const char *method, json_t *params, json_t **result);

/*
 * The session id that arg names: a whole id, or a prefix of exactly one (asked of
 * _hearth/sessions). An id the daemon does not list comes back as given, for the
 * daemon to refuse. Malloc'd; NULL after saying that the prefix is ambiguous or
 * that the daemon could not be asked.
 */
char *cmd_sessions_resolve(struct client_rpc *c, const char *arg);

/*
 * The daemon's providers ({name, credentials, configured, defaultModel}, from
 * _hearth/daemon; a new reference), or NULL when it does not say. Quiet on errors.
 */
json_t *cmd_models_providers(struct client_rpc *c);
/*
 * "ANTHROPIC_API_KEY (anthropic), ..." for every provider without credentials
 * (malloc'd; NULL when none lacks them); *any is 1 when one has them.
 */
char *cmd_models_no_keys(const json_t *providers, int *any);

/* The commands: argv[0] is "hearth NAME"; each returns the exit status. */
/*
 * The options every simple command shares: -h/--help, and --json when as_json is
 * not NULL (it is set to 1). Positional arguments are refused unless any_args; the
 * caller reads them from optind. Returns -1 to go on, else the exit status.
 */
int hearth_options(const char *cmd, int argc, char **argv, int *as_json, int any_args);

int cmd_run_main(const struct hearth_opts *o, int argc, char **argv);
int cmd_sessions_main(const struct hearth_opts *o, int argc, char **argv);
int cmd_models_main(const struct hearth_opts *o, int argc, char **argv);
int cmd_attach_main(const struct hearth_opts *o, int argc, char **argv);
int cmd_acp_main(const struct hearth_opts *o, int argc, char **argv);
int cmd_stop_main(const struct hearth_opts *o, int argc, char **argv);
int cmd_doctor_main(const struct hearth_opts *o, int argc, char **argv);

#endif
