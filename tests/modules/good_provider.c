/*
 * good_provider: a well-formed provider module. It answers every request with the
 * text "pong" from a timer (so the reply is asynchronous, as a real one is), and
 * lists one model.
 */
#include <stdlib.h>

#include <hearth/provider.h>

struct good_provider {
	const struct hearth_host *host;
};

struct hearth_provider_call {
	struct good_provider *p;
	struct hearth_timer *timer;
	const struct hearth_stream_sink *sink;
	void *arg;
};

static int
good_provider_init(const struct hearth_host *host, const json_t *config, void **state)
{
	struct good_provider *p = calloc(1, sizeof *p);
	if (p == NULL)
		return HEARTH_ENOMEM;
	p->host = host;
	*state = p;
	return 0;
}

static void
good_provider_fini(void *state)
{
	free(state);
}

static void
good_provider_reply_cb(void *arg)
{
	struct hearth_provider_call *c = arg;
	const struct hearth_stream_sink *sink = c->sink;
	void *sarg = c->arg;
	c->p->host->timer_stop(c->timer);
	free(c);
	sink->text(sarg, "pong", 4);
	sink->part_end(sarg, NULL);
	sink->done(sarg, HEARTH_FINISH_END_TURN, NULL);
}

static struct hearth_provider_call *
good_provider_stream(void *state, const json_t *request, const struct hearth_stream_sink *sink,
		     void *arg, int *error)
{
	struct good_provider *p = state;
	struct hearth_provider_call *c = calloc(1, sizeof *c);
	if (c == NULL) {
		*error = HEARTH_ENOMEM;
		return NULL;
	}
	c->p = p;
	c->sink = sink;
	c->arg = arg;
	c->timer = p->host->timer_start(p->host, 1, 0, good_provider_reply_cb, c);
	return c;
}

static void
good_provider_cancel(void *state, struct hearth_provider_call *c)
{
	c->p->host->timer_stop(c->timer);
	free(c);
}

static int
good_provider_list_models(void *state,
			  void (*done)(void *arg, json_t *models,
				       const struct hearth_provider_error *err),
			  void *arg)
{
	done(arg, json_pack("[{s:s,s:s}]", "id", "pong-1", "name", "Pong 1"), NULL);
	return 0;
}

static const struct hearth_provider good_provider_vtable = {
	.struct_size = sizeof(struct hearth_provider),
	.stream = good_provider_stream,
	.cancel = good_provider_cancel,
	.list_models = good_provider_list_models,
};

static const struct hearth_plugin good_provider_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_PROVIDER, .name = "good_provider", .version = "2.3.4",
	.description = "test: a well-formed provider module", .init = good_provider_init,
	.fini = good_provider_fini, .provider = &good_provider_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &good_provider_plugin;
}
