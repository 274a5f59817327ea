/*
 * hearthd.c: the daemon. Reads plugins.conf, loads the modules it names, and runs
 * the loop until SIGINT or SIGTERM; then shuts down in order: frontends stop,
 * modules fini (last loaded first), the loop runs until every close callback has
 * fired, modules are unloaded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "acp.h"
#include "agent.h"
#include "conf.h"
#include "conn.h"
#include "defer.h"
#include "daemon_ops.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "paths.h"
#include "proc.h"
#include "registry.h"
#include "session.h"
#include "store.h"
#include "tools.h"
#include "xmalloc.h"

struct hearthd {
	uv_loop_t loop;
	struct store *store;
	uv_signal_t sigint, sigterm;
	struct registry *registry;
	int ready_fd;          /* the pipe to the parent while daemonizing, else -1 */
	int shutting_down;
};

static void
hearthd_usage(FILE *out)
{
	fprintf(out,
		"usage: hearthd [options]\n"
		"  -f, --foreground       stay in the foreground (log to stderr)\n"
		"  -c, --config FILE      read FILE instead of the searched plugins.conf\n"
		"      --check            load and init every module, print one line each, exit\n"
		"      --log-file FILE    append log lines to FILE\n"
		"      --log-level LEVEL  error, warn, info or debug\n"
		"  -V, --version          print the version and exit\n"
		"  -h, --help             print this help and exit\n"
		"plugins.conf is searched at $XDG_CONFIG_HOME/hearth/plugins.conf, then\n"
		"%s/hearth/plugins.conf; without one, every shipped module is loaded.\n",
		SYSCONFDIR);
}

static struct hearthd *hearthd_self;   /* for the shutdown a client asks for */

/*
 * Shut down in order: no new clients, turns stopped (their sessions marked
 * interrupted), clients told, modules finished; the loop then drains.
 */
static void
hearthd_shutdown(struct hearthd *d, const char *why)
{
	if (d->shutting_down)
		return;
	d->shutting_down = 1;
	log_info("%s: shutting down", why);
	registry_stop_frontends(d->registry);
	agent_shutdown();
	conn_end_all("the daemon is shutting down");
	registry_fini_all(d->registry);
	acp_close();
	/* Modules have cancelled their requests; what is left goes now, no callbacks. */
	if (host_context_get()->http != NULL) {
		http_client_close(host_context_get()->http, NULL, NULL);
		host_context_get()->http = NULL;
	}
	defer_close();
	session_close();
	proc_kill_all();  /* children the modules left (or released) die now */
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
}

static void
hearthd_signal_cb(uv_signal_t *handle, int signum)
{
	hearthd_shutdown(handle->data, strsignal(signum));
}

static void
hearthd_client_shutdown(void)
{
	hearthd_shutdown(hearthd_self, "a client asked");
}

/*
 * Open the store and put the core's pieces together. A turn that was running when
 * the daemon last died is marked interrupted here, never left "running".
 */
static int
hearthd_open_core(struct hearthd *d, const char *state_dir)
{
	char *path = xasprintf("%s/hearth.db", state_dir), *error = NULL;
	d->store = store_open(path, &error);
	if (d->store == NULL) {
		log_error("%s", error);
		free(error);
		free(path);
		return -1;
	}
	int n = store_mark_interrupted(d->store);
	if (n > 0)
		log_warn("%d session%s had a turn running when hearthd stopped; marked interrupted",
			 n, n == 1 ? "" : "s");
	session_set_store(d->store, path, &d->loop);
	host_context_get()->store = d->store;
	host_context_get()->http = http_client_new(&d->loop);
	free(path);
	defer_init(&d->loop);
	tools_set_registry(d->registry);
	agent_init(&d->loop, d->registry);
	agent_set_max_steps(d->registry->conf->max_steps);
	hearthd_self = d;
	acp_init(d->registry, hearthd_client_shutdown);
	static const struct host_conn_ops ops = {
		.open = conn_open, .send = conn_send, .close = conn_close, .flow = conn_flow,
		.pause = conn_pause };
	host_set_conn_ops(&ops);
	return 0;
}

static void
hearthd_leftover_cb(uv_handle_t *handle, void *arg)
{
	if (!uv_is_closing(handle)) {
		log_warn("a %s handle is still open at exit; closing it",
			 uv_handle_type_name(uv_handle_get_type(handle)));
		uv_close(handle, NULL);
	}
}

/* Run the loop until every handle's close callback has fired. */
static void
hearthd_drain(struct hearthd *d)
{
	proc_kill_all();
	uv_run(&d->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&d->loop) == UV_EBUSY) {
		uv_walk(&d->loop, hearthd_leftover_cb, NULL);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		uv_loop_close(&d->loop);
	}
}

/*
 * Fork into the background. The parent waits on a pipe until the daemon says it
 * is ready (a 0 byte) or has failed (its errors went to the still-shared stderr),
 * so `hearthd` exits 0 only once the daemon runs. Returns in the child.
 */
static int
hearthd_daemonize(void)
{
	int fds[2];
	if (pipe(fds) != 0) {
		log_error("pipe: %s", strerror(errno));
		exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		char c;
		ssize_t n;
		do
			n = read(fds[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(fds[0]);
	setsid();
	if (chdir("/") != 0)
		log_warn("chdir /: %s", strerror(errno));
	return fds[1];
}

/*
 * The daemon is up: tell the waiting parent, and let go of the terminal. Without a
 * log file of its own, a background daemon logs to STATE_DIR/hearthd.log from now
 * on (before this, only warnings and errors reached the terminal).
 */
static void
hearthd_ready(struct hearthd *d, int have_log_file, const char *state_dir,
	      enum hearth_log_level level)
{
	if (d->ready_fd < 0)
		return;
	if (!have_log_file) {
		char *path = xasprintf("%s/hearthd.log", state_dir);
		if (paths_mkdir_p(state_dir, 0700) == 0 && log_open(path) == 0)
			have_log_file = 1;
		log_set_level(level);
		log_info("hearthd %s running in the background (pid %d)", PACKAGE_VERSION,
			 (int)getpid());
		free(path);
	}
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (!have_log_file)
			dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	char ok = 0;
	if (write(d->ready_fd, &ok, 1) != 1)
		log_warn("cannot tell the parent process we are ready: %s", strerror(errno));
	close(d->ready_fd);
	d->ready_fd = -1;
}

static size_t
hearthd_started_frontends(struct registry *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_modules; i++)
		n += r->modules[i]->kind == HEARTH_KIND_FRONTEND && r->modules[i]->started;
	return n;
}

static void
hearthd_print_check(struct registry *r)
{
	for (size_t i = 0; i < r->n_modules; i++) {
		struct module *m = r->modules[i];
		printf("%-8s %-16s %-10s abi %u  %s\n", conf_kind_name(m->kind), m->name,
		       m->desc->version, m->desc->abi_version, m->path);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'C' },
		{ "log-file", required_argument, NULL, 'L' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_arg = NULL, *log_file_arg = NULL, *log_level_arg = NULL;
	int foreground = 0, check = 0, opt;

	while ((opt = getopt_long(argc, argv, "fc:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': foreground = 1; break;
		case 'c': config_arg = optarg; break;
		case 'C': check = 1; break;
		case 'L': log_file_arg = optarg; break;
		case 'l': log_level_arg = optarg; break;
		case 'V':
			printf("hearthd %s (plugin ABI %d, accepts %d to %d)\n", PACKAGE_VERSION,
			       HEARTH_ABI, HEARTH_ABI_MIN, HEARTH_ABI);
			return 0;
		case 'h':
			hearthd_usage(stdout);
			return 0;
		default:
			hearthd_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hearthd: unexpected argument '%s'\n", argv[optind]);
		hearthd_usage(stderr);
		return 2;
	}

	char *conf_path = conf_find(config_arg);
	struct conf *conf = conf_path != NULL ? conf_load(conf_path) : conf_default();
	free(conf_path);
	if (conf->n_errors > 0) {
		for (size_t i = 0; i < conf->n_errors; i++)
			fprintf(stderr, "%s\n", conf->errors[i]);
		fprintf(stderr, "hearthd: %zu error%s in %s\n", conf->n_errors,
			conf->n_errors == 1 ? "" : "s", conf->path);
		conf_free(conf);
		return 1;
	}

	enum hearth_log_level level = conf->log_level;
	if (log_level_arg != NULL && log_parse_level(log_level_arg, &level) != 0) {
		fprintf(stderr, "hearthd: unknown log level '%s' (error, warn, info, debug)\n",
			log_level_arg);
		conf_free(conf);
		return 2;
	}
	log_set_level(level);
	const char *log_file = log_file_arg != NULL ? log_file_arg : conf->log_file;
	if (!check && log_file != NULL && log_open(log_file) != 0) {
		conf_free(conf);
		return 1;
	}

	struct hearthd d = { .ready_fd = -1 };
	if (!check && !foreground) {
		d.ready_fd = hearthd_daemonize();
		/* A client starting us: only what goes wrong reaches its terminal. */
		if (log_file == NULL && level > HEARTH_LOG_WARN)
			log_set_level(HEARTH_LOG_WARN);
	}
	signal(SIGPIPE, SIG_IGN);

	char *state_dir = paths_state_dir(), *runtime_dir = paths_runtime_dir();
	struct host_context ctx = { .loop = &d.loop, .state_dir = state_dir,
				    .runtime_dir = runtime_dir };
	uv_loop_init(&d.loop);
	ctx.daemon = &core_host_ops;
	host_context_set(&ctx);

	int status = 0;
	if (loader_init() != 0) {
		log_error("cannot initialise libltdl");
		status = 1;
		goto out;
	}
	d.registry = registry_new(conf);
	size_t errors = registry_load_all(d.registry);

	if (check) {
		hearthd_print_check(d.registry);
		for (size_t i = 0; i < d.registry->n_errors; i++)
			fprintf(stderr, "%s\n", d.registry->errors[i]);
		status = errors > 0 ? 1 : 0;
		registry_fini_all(d.registry);
		hearthd_drain(&d);
	} else if (errors > 0 && d.registry->stopped) {
		log_error("stopping: a module failed and stop_on_module_error is set");
		status = 1;
		registry_fini_all(d.registry);
		hearthd_drain(&d);
	} else if (hearthd_open_core(&d, state_dir) != 0) {
		status = 1;
		registry_fini_all(d.registry);
		hearthd_drain(&d);
	} else {
		uv_signal_init(&d.loop, &d.sigint);
		uv_signal_init(&d.loop, &d.sigterm);
		d.sigint.data = d.sigterm.data = &d;
		uv_signal_start(&d.sigint, hearthd_signal_cb, SIGINT);
		uv_signal_start(&d.sigterm, hearthd_signal_cb, SIGTERM);
		size_t failed = registry_start_frontends(d.registry);
		if (failed > 0 && (conf->stop_on_module_error ||
				   hearthd_started_frontends(d.registry) == 0)) {
			/* With no way in, a daemon is useless: another one may hold the socket. */
			status = 1;
			hearthd_shutdown(&d, "no frontend could start");
		} else {
			log_info("hearthd %s running: %zu module%s", PACKAGE_VERSION,
				 d.registry->n_modules, d.registry->n_modules == 1 ? "" : "s");
			hearthd_ready(&d, log_file != NULL, state_dir, level);
		}
		hearthd_drain(&d);
		session_free_all();
		ctx.store = NULL;
		store_close(d.store);
		log_info("stopped");
	}
	registry_free(d.registry);
	loader_exit();
out:
	if (d.ready_fd >= 0)
		close(d.ready_fd);
	free(state_dir);
	free(runtime_dir);
	conf_free(conf);
	log_close();
	return status;
}
