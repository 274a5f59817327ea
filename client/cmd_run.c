/*
 * cmd_run.c: `hearth run`: send one prompt to a new or existing session and
 * stream the answer until the turn ends.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hearth/plugin.h>

#include "follow.h"
#include "hearth.h"
#include "sigint.h"
#include "xmalloc.h"

/* The largest prompt read from stdin. */
#define CMD_RUN_PROMPT_MAX (16u * 1024 * 1024)

struct cmd_run {
	const char *model;       /* --model, or NULL */
	const char *session_arg; /* --session, or NULL */
	int resume_latest;       /* --continue */
	char *cwd;               /* owned: --cwd or the current directory, resolved */
	int cwd_given;
	enum render_format format;
	char *prompt;            /* owned */
	/* The session, once resolved. */
	char *session_id;        /* owned */
	char *session_cwd;       /* owned */
	json_int_t last_seq;
	int existing;
	/* For the result: when the run began, and the session before the turn. */
	struct timespec start;
	json_t *before;          /* owned: _hearth/status before the turn, or NULL */
	const char *stop_reason; /* borrowed from a static string or NULL */
	char *stop_buf;          /* owned: the stop reason when it came from the daemon */
	char *new_model;         /* owned: the model session/new reported, or NULL */
	json_t *allow, *deny;    /* owned: --allow and --deny rules, in order */
	int allow_all;           /* --allow-all */
};

static const char *const cmd_run_usage_keys[] = {
	"inputTokens", "outputTokens", "reasoningTokens", "cacheReadTokens", "cacheWriteTokens",
};

/* The session's status now (a new reference), or NULL; says nothing on failure. */
static json_t *
cmd_run_status(struct client_rpc *c, const char *id)
{
	json_t *result = NULL, *error = NULL;
	if (id == NULL ||
	    client_rpc_call(c, "_hearth/status", json_pack("{s:s}", "sessionId", id), &result,
			    &error) != 0 || error != NULL) {
		json_decref(error);
		return NULL;
	}
	return result;
}

/* Print one JSON object (borrowed) as a line on stdout. */
static void
cmd_run_line(const json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT);
	if (line != NULL)
		printf("%s\n", line);
	free(line);
	fflush(stdout);
}

/* --format json's first line: the session, its model, its tools, its directory. */
static void
cmd_run_init_line(const struct cmd_run *r)
{
	json_t *tools = json_object_get(r->before, "tools");
	const char *model = json_string_value(json_object_get(r->before, "model"));
	if (model == NULL)
		model = r->new_model;
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s}", "type", "init", "sessionId", r->session_id,
			      "model", model, "cwd", r->session_cwd);
	json_object_set_new(o, "tools", json_is_array(tools) ? json_incref(tools) : json_array());
	cmd_run_line(o);
	json_decref(o);
}

/*
 * What the turn did: this turn's usage and cost (the session's totals after the
 * turn less those before), its counts, its final text and how it ended. `after`
 * is borrowed and may be NULL (the daemon went away): the usage is then zero.
 */
static json_t *
cmd_run_result(const struct cmd_run *r, const struct render *rd, const json_t *after,
	       const char *error)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	json_int_t ms = (json_int_t)(now.tv_sec - r->start.tv_sec) * 1000 +
			(now.tv_nsec - r->start.tv_nsec) / 1000000;
	const json_t *ua = json_object_get(after, "usage");
	const json_t *ub = json_object_get(r->before, "usage");
	json_t *usage = json_object();
	for (size_t i = 0; i < sizeof cmd_run_usage_keys / sizeof cmd_run_usage_keys[0]; i++) {
		const char *k = cmd_run_usage_keys[i];
		json_int_t d = ua != NULL ? json_integer_value(json_object_get(ua, k)) -
					    json_integer_value(json_object_get(ub, k)) : 0;
		json_object_set_new(usage, k, json_integer(d));
	}
	json_int_t micros = ua != NULL ? json_integer_value(json_object_get(ua, "costMicros")) -
					 json_integer_value(json_object_get(ub, "costMicros")) : 0;
	return json_pack("{s:s, s:s?, s:s?, s:s#, s:b, s:s?, s:I, s:i, s:i, s:o, s:f}",
			 "type", "result", "sessionId", r->session_id, "stopReason",
			 r->stop_reason, "text", rd->final_text != NULL ? rd->final_text : "",
			 rd->final_len, "isError", error != NULL, "error", error, "durationMs",
			 ms, "modelCalls", rd->model_calls, "toolCalls", rd->tool_calls, "usage",
			 usage, "costUsd", (double)micros / 1e6);
}

/* How the run ended, as --format json's last line or text's closing summary. */
static void
cmd_run_report(struct cmd_run *r, struct client_rpc *c, const struct render *rd, int status)
{
	const char *error = status == HEARTH_EXIT_ERROR ? hearth_last_error() : NULL;
	if (status == HEARTH_EXIT_ERROR && error == NULL)
		error = "the run failed";
	/* Text asks for the totals only when it has a terminal to show them on. */
	int want = rd->format == RENDER_JSON || rd->err_tty;
	json_t *after = c != NULL && want ? cmd_run_status(c, r->session_id) : NULL;
	json_t *res = cmd_run_result(r, rd, after, error);
	if (rd->format == RENDER_JSON) {
		cmd_run_line(res);
	} else if (rd->err_tty && after != NULL) {
		/* On a terminal only: piped stderr stays what the turn said. */
		const json_t *u = json_object_get(res, "usage");
		fprintf(stderr, "• %lld tokens in, %lld out, $%.4f\n",
			(long long)(json_integer_value(json_object_get(u, "inputTokens")) +
				    json_integer_value(json_object_get(u, "cacheReadTokens")) +
				    json_integer_value(json_object_get(u, "cacheWriteTokens"))),
			(long long)json_integer_value(json_object_get(u, "outputTokens")),
			json_real_value(json_object_get(res, "costUsd")));
	}
	json_decref(res);
	json_decref(after);
}

/* All of stdin, as a malloc'd string; NULL after printing why. */
static char *
cmd_run_read_stdin(void)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 == cap) {
			if (cap > CMD_RUN_PROMPT_MAX) {
				hearth_error("the prompt on stdin is longer than %u bytes",
					     CMD_RUN_PROMPT_MAX);
				free(buf);
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hearth_error("cannot read the prompt from stdin: %s", strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/*
 * Options and arguments into r. Returns 0 to go on, -1 when --help was printed,
 * or an exit status after printing why.
 */
static int
cmd_run_parse(struct cmd_run *r, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "session", required_argument, NULL, 's' },
		{ "continue", no_argument, NULL, 'C' },
		{ "cwd", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "allow", required_argument, NULL, 'a' },
		{ "deny", required_argument, NULL, 'D' },
		{ "allow-all", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cwd_arg = ".";
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': r->model = optarg; break;
		case 's': r->session_arg = optarg; break;
		case 'C': r->resume_latest = 1; break;
		case 'd': cwd_arg = optarg; r->cwd_given = 1; break;
		case 'a': json_array_append_new(r->allow, json_string(optarg)); break;
		case 'D': json_array_append_new(r->deny, json_string(optarg)); break;
		case 'A': r->allow_all = 1; break;
		case 'f':
			if (strcmp(optarg, "text") == 0) {
				r->format = RENDER_TEXT;
			} else if (strcmp(optarg, "json") == 0) {
				r->format = RENDER_JSON;
			} else {
				hearth_error("--format must be text or json, not '%s'", optarg);
				return HEARTH_EXIT_USAGE;
			}
			break;
		case 'h':
			hearth_usage_cmd("run", stdout);
			return -1;
		default:
			hearth_usage_cmd("run", stderr);
			return HEARTH_EXIT_USAGE;
		}
	}
	if (r->session_arg != NULL && r->resume_latest) {
		hearth_error("--session and --continue exclude each other");
		return HEARTH_EXIT_USAGE;
	}
	if (optind >= argc) {
		hearth_error("run needs a PROMPT (- reads it from stdin)");
		hearth_usage_cmd("run", stderr);
		return HEARTH_EXIT_USAGE;
	}

	char real[PATH_MAX];
	struct stat st;
	if (realpath(cwd_arg, real) == NULL || stat(real, &st) != 0) {
		hearth_error("--cwd %s: %s", cwd_arg, strerror(errno));
		return HEARTH_EXIT_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		hearth_error("--cwd %s: not a directory", cwd_arg);
		return HEARTH_EXIT_USAGE;
	}
	r->cwd = xstrdup(real);

	if (argc - optind == 1 && strcmp(argv[optind], "-") == 0) {
		r->prompt = cmd_run_read_stdin();
		if (r->prompt == NULL)
			return HEARTH_EXIT_ERROR;
	} else {
		/* Several words are one prompt, as `echo` would join them. */
		size_t len = 0;
		for (int i = optind; i < argc; i++)
			len += strlen(argv[i]) + 1;
		r->prompt = xmalloc(len);
		r->prompt[0] = '\0';
		for (int i = optind; i < argc; i++) {
			if (i > optind)
				strcat(r->prompt, " ");
			strcat(r->prompt, argv[i]);
		}
	}
	if (r->prompt[strspn(r->prompt, " \t\r\n")] == '\0') {
		hearth_error("the prompt is empty");
		return HEARTH_EXIT_USAGE;
	}
	json_t *probe = json_string(r->prompt);
	if (probe == NULL) {
		hearth_error("the prompt is not valid UTF-8");
		return HEARTH_EXIT_USAGE;
	}
	json_decref(probe);
	return 0;
}

/* An existing session: its directory and latest sequence number. */
static int
cmd_run_existing(struct cmd_run *r, struct client_rpc *c, const char *id)
{
	json_t *status;
	if (hearth_call(c, "_hearth/status", json_pack("{s:s}", "sessionId", id), &status) != 0)
		return -1;
	const char *cwd = json_string_value(json_object_get(status, "cwd"));
	r->session_id = xstrdup(id);
	r->session_cwd = xstrdup(r->cwd_given || cwd == NULL ? r->cwd : cwd);
	r->last_seq = json_integer_value(json_object_get(status, "lastSeq"));
	r->existing = 1;
	json_decref(status);
	return 0;
}

/* The newest session in r->cwd, or NULL. Malloc'd. */
static char *
cmd_run_latest(struct cmd_run *r, struct client_rpc *c, int *failed)
{
	json_t *list;
	*failed = 0;
	if (hearth_call(c, "_hearth/sessions", json_pack("{s:s}", "cwd", r->cwd), &list) != 0) {
		*failed = 1;
		return NULL;
	}
	char *id = NULL;
	size_t i;
	json_t *s;
	/* Newest first; the daemon filters by cwd, but an older one might not. */
	json_array_foreach(json_object_get(list, "sessions"), i, s) {
		const char *sid = json_string_value(json_object_get(s, "sessionId"));
		const char *cwd = json_string_value(json_object_get(s, "cwd"));
		if (sid != NULL && cwd != NULL && strcmp(cwd, r->cwd) == 0) {
			id = xstrdup(sid);
			break;
		}
	}
	json_decref(list);
	return id;
}

static int
cmd_run_new(struct cmd_run *r, struct client_rpc *c)
{
	/* Without a model, the daemon picks a provider that has credentials: when none
	 * has, say so now rather than after a provider's retries. */
	json_t *providers = r->model == NULL ? cmd_models_providers(c) : NULL;
	int any = 1;
	char *missing = providers != NULL ? cmd_models_no_keys(providers, &any) : NULL;
	json_decref(providers);
	if (!any) {
		hearth_error("no provider has credentials: set %s in the daemon's environment "
			     "(`hearth stop` first if it runs), or choose one with --model "
			     "PROVIDER/MODEL", missing != NULL ? missing : "a provider's key");
		free(missing);
		return -1;
	}
	free(missing);
	json_t *params = json_pack("{s:s, s:[]}", "cwd", r->cwd, "mcpServers");
	if (r->model != NULL)
		json_object_set_new(params, "_meta",
				    json_pack("{s:{s:s}}", "hearth", "model", r->model));
	json_t *result;
	if (hearth_call(c, "session/new", params, &result) != 0)
		return -1;
	const char *id = json_string_value(json_object_get(result, "sessionId"));
	if (id == NULL) {
		hearth_error("the daemon's session/new answer has no sessionId");
		json_decref(result);
		return -1;
	}
	r->session_id = xstrdup(id);
	r->session_cwd = xstrdup(r->cwd);
	/* The model it runs with, for the init line (a session without one of its own
	 * has no model in _hearth/status). */
	size_t i;
	json_t *opt;
	json_array_foreach(json_object_get(result, "configOptions"), i, opt) {
		const char *v = json_string_value(json_object_get(opt, "currentValue"));
		const char *oid = json_string_value(json_object_get(opt, "id"));
		if (v != NULL && oid != NULL && strcmp(oid, "model") == 0 && r->new_model == NULL)
			r->new_model = xstrdup(v);
	}
	json_decref(result);
	return 0;
}

/* --session, --continue or a new session; then --model on an existing one. */
static int
cmd_run_resolve(struct cmd_run *r, struct client_rpc *c)
{
	int rc;
	if (r->session_arg != NULL) {
		char *id = cmd_sessions_resolve(c, r->session_arg); /* a unique prefix will do */
		rc = id != NULL ? cmd_run_existing(r, c, id) : -1;
		free(id);
	} else if (r->resume_latest) {
		int failed;
		char *id = cmd_run_latest(r, c, &failed);
		if (failed)
			return -1;
		if (id != NULL) {
			rc = cmd_run_existing(r, c, id);
			free(id);
		} else {
			hearth_error("no session in %s yet: starting a new one", r->cwd);
			rc = cmd_run_new(r, c);
		}
	} else {
		rc = cmd_run_new(r, c);
	}
	if (rc != 0 || !r->existing || r->model == NULL)
		return rc;
	json_t *result;
	if (hearth_call(c, "session/set_config_option",
			json_pack("{s:s, s:s, s:s}", "sessionId", r->session_id, "configId", "model",
				  "value", r->model), &result) != 0)
		return -1;
	json_decref(result);
	return 0;
}

/* The exit status for a stop reason; the unusual ones get a note on stderr. */
static int
cmd_run_stop_status(const char *reason)
{
	if (strcmp(reason, "end_turn") == 0)
		return HEARTH_EXIT_OK;
	if (strcmp(reason, "cancelled") == 0) {
		hearth_error("the turn was cancelled");
		return HEARTH_EXIT_INTERRUPTED;
	}
	if (strcmp(reason, "max_tokens") == 0)
		hearth_error("the turn stopped: the model reached its output token limit "
			     "(max_tokens)");
	else if (strcmp(reason, "max_turn_requests") == 0)
		hearth_error("the turn stopped: it reached the limit of model requests in one "
			     "turn (max_turn_requests)");
	else if (strcmp(reason, "refusal") == 0)
		hearth_error("the turn stopped: the model refused to go on (refusal)");
	else
		hearth_error("the turn stopped: %s", reason);
	return HEARTH_EXIT_OK;
}

/* Send the prompt and follow the turn to its end. */
static int
cmd_run_turn(struct cmd_run *r, struct client_rpc *c)
{
	struct follow f;
	follow_init(&f, r->session_id, r->session_cwd, r->format, 0,
		    isatty(STDIN_FILENO) ? FOLLOW_PERMISSION_ASK : FOLLOW_PERMISSION_REJECT);
	f.cancel_on_interrupt = 1;
	f.last_seq = r->last_seq;
	client_rpc_set_handler(c, follow_msg_cb, follow_signal_cb, &f);
	sigint_install();

	int status = HEARTH_EXIT_ERROR;
	if (r->existing && follow_resume(&f, c) != 0)
		goto out;
	json_t *params = json_pack("{s:s, s:[{s:s, s:s}]}", "sessionId", r->session_id, "prompt",
				   "type", "text", "text", r->prompt);
	/* This turn's own rules travel with its prompt (doc/protocol.md). */
	if (json_array_size(r->allow) > 0 || json_array_size(r->deny) > 0 || r->allow_all) {
		json_t *rules = json_pack("{s:O, s:O, s:b}", "allow", r->allow, "deny", r->deny,
					  "allowAll", r->allow_all);
		json_object_set_new(params, "_meta", json_pack("{s:{s:o}}", "hearth", "permissions",
							       rules));
	}
	json_t *result, *error;
	client_rpc_set_timeout(c, -1); /* a turn takes as long as it takes */
	int rc = client_rpc_call(c, "session/prompt", params, &result, &error);
	int usable = 1; /* whether c can still be asked for the session's status */
	render_finish(&f.render);
	if (rc == HEARTH_ECANCELED) {
		r->stop_reason = "cancelled";
		status = HEARTH_EXIT_INTERRUPTED;
		usable = 0;
	} else if (rc != 0) {
		hearth_error("%s", client_rpc_why(c));
		usable = 0;
	} else if (error != NULL) {
		hearth_error("%s", json_string_value(json_object_get(error, "message")));
		json_decref(error);
	} else {
		const char *reason = json_string_value(json_object_get(result, "stopReason"));
		if (reason == NULL) {
			hearth_error("the daemon's session/prompt answer has no stopReason");
		} else {
			r->stop_buf = xstrdup(reason);
			r->stop_reason = r->stop_buf;
			status = cmd_run_stop_status(reason);
		}
		json_decref(result);
	}
	cmd_run_report(r, usable ? c : NULL, &f.render, status);
out:
	follow_clear(&f);
	return status;
}

int
cmd_run_main(const struct hearth_opts *o, int argc, char **argv)
{
	struct cmd_run r = { .format = RENDER_TEXT, .allow = json_array(), .deny = json_array() };
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	int status = cmd_run_parse(&r, argc, argv);
	if (status != 0) {
		status = status < 0 ? HEARTH_EXIT_OK : status;
		goto out;
	}
	if (r.allow_all)
		hearth_error("--allow-all: every tool call of this turn runs without asking "
			     "(a deny rule still refuses)");
	struct client_rpc *c = hearth_connect(o, 1, NULL);
	if (c == NULL || cmd_run_resolve(&r, c) != 0) {
		/* Even a run that never reached its turn ends with a result line. */
		status = HEARTH_EXIT_ERROR;
		if (r.format == RENDER_JSON) {
			struct render rd;
			render_init(&rd, RENDER_JSON, 0, stdout, stderr);
			cmd_run_report(&r, NULL, &rd, status);
			render_clear(&rd);
		}
	} else {
		if (r.format == RENDER_JSON || isatty(STDERR_FILENO))
			r.before = cmd_run_status(c, r.session_id);
		if (r.format == RENDER_JSON)
			cmd_run_init_line(&r);
		status = cmd_run_turn(&r, c);
	}
	client_rpc_free(c);
out:
	free(r.cwd);
	free(r.prompt);
	free(r.session_id);
	free(r.session_cwd);
	free(r.stop_buf);
	free(r.new_model);
	json_decref(r.allow);
	json_decref(r.deny);
	json_decref(r.before);
	return status;
}
