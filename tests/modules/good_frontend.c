/*
 * good_frontend: a well-formed frontend module. start() arms a repeating timer
 * (a stand-in for a listener) that stop() must close; it writes "started" and
 * "stopped" lines to the file named by its `trace` key, so an end-to-end test can
 * see the order of the shutdown steps.
 */
#include <stdio.h>
#include <stdlib.h>

#include <hearth/frontend.h>

struct good_frontend {
	const struct hearth_host *host;
	struct hearth_timer *timer;
	const char *trace;
};

static void
good_frontend_trace(struct good_frontend *f, const char *what)
{
	if (f->trace == NULL)
		return;
	FILE *out = fopen(f->trace, "a");
	if (out != NULL) {
		fprintf(out, "%s\n", what);
		fclose(out);
	}
}

static int
good_frontend_init(const struct hearth_host *host, const json_t *config, void **state)
{
	struct good_frontend *f = calloc(1, sizeof *f);
	if (f == NULL)
		return HEARTH_ENOMEM;
	f->host = host;
	f->trace = host->config_string(host, "trace", NULL);
	good_frontend_trace(f, "init");
	*state = f;
	return 0;
}

static void
good_frontend_tick_cb(void *arg)
{
}

static int
good_frontend_start(void *state)
{
	struct good_frontend *f = state;
	f->timer = f->host->timer_start(f->host, 60000, 60000, good_frontend_tick_cb, f);
	good_frontend_trace(f, "start");
	return f->timer != NULL ? 0 : HEARTH_ENOMEM;
}

static void
good_frontend_stop(void *state)
{
	struct good_frontend *f = state;
	f->host->timer_stop(f->timer);
	f->timer = NULL;
	good_frontend_trace(f, "stop");
}

static void
good_frontend_fini(void *state)
{
	struct good_frontend *f = state;
	good_frontend_trace(f, "fini");
	free(f);
}

static const struct hearth_frontend good_frontend_vtable = {
	.struct_size = sizeof(struct hearth_frontend),
	.start = good_frontend_start,
	.stop = good_frontend_stop,
};

static const struct hearth_plugin good_frontend_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_FRONTEND, .name = "good_frontend", .version = "0.9",
	.description = "test: a well-formed frontend module", .init = good_frontend_init,
	.fini = good_frontend_fini, .frontend = &good_frontend_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &good_frontend_plugin;
}
