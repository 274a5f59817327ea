/*
 * script_provider: a provider module for tests that replays scripted replies.
 *
 * Section keys: `script`, a JSON file holding an array of replies, one per
 * stream() call, in order; `record`, a file to which each request is appended as
 * one JSON line. A reply is an array of steps, played one per millisecond:
 *   {"text": "..."}           a text delta
 *   {"reasoning": "..."}      a reasoning delta
 *   {"part_end": {meta}|null} close the current part
 *   {"tool_call": {"id", "name", "input"}}
 *   {"usage": {"input": n, "output": n}}
 *   {"finish": "end_turn"|"tool_use"|"max_tokens"|"refusal"}
 *   {"error": {"type": n, "status": n, "retryable": bool, "retry_after_ms": n,
 *              "message": "..."}}
 *   {"hang": true}            stop here and never finish (until cancelled)
 * When the script runs out, the reply is the text "(script exhausted)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/provider.h>

struct script_provider {
	const struct hearth_host *host;
	json_t *replies;
	size_t next;
	const char *record;
};

struct hearth_provider_call {
	struct script_provider *p;
	json_t *steps;
	size_t step;
	struct hearth_timer *timer;
	const struct hearth_stream_sink *sink;
	void *arg;
};

static int
script_init(const struct hearth_host *host, const json_t *config, void **state)
{
	struct script_provider *p = calloc(1, sizeof *p);
	if (p == NULL)
		return HEARTH_ENOMEM;
	p->host = host;
	const char *path = host->config_string(host, "script", NULL);
	json_error_t err;
	p->replies = path != NULL ? json_load_file(path, 0, &err) : json_array();
	if (!json_is_array(p->replies)) {
		host->log(host, HEARTH_LOG_ERROR, "%s:%d: %s", path, err.line, err.text);
		json_decref(p->replies);
		free(p);
		return HEARTH_EINVAL;
	}
	p->record = host->config_string(host, "record", NULL);
	*state = p;
	return 0;
}

static void
script_fini(void *state)
{
	struct script_provider *p = state;
	json_decref(p->replies);
	free(p);
}

static enum hearth_finish
script_finish(const char *name)
{
	if (strcmp(name, "tool_use") == 0) return HEARTH_FINISH_TOOL_USE;
	if (strcmp(name, "max_tokens") == 0) return HEARTH_FINISH_MAX_TOKENS;
	if (strcmp(name, "refusal") == 0) return HEARTH_FINISH_REFUSAL;
	return HEARTH_FINISH_END_TURN;
}

static void
script_end(struct hearth_provider_call *c)
{
	c->p->host->timer_stop(c->timer);
	json_decref(c->steps);
	free(c);
}

static void
script_tick_cb(void *arg)
{
	struct hearth_provider_call *c = arg;
	const struct hearth_stream_sink *s = c->sink;
	json_t *step = json_array_get(c->steps, c->step++);
	json_t *v;
	if (step == NULL) {
		void *sarg = c->arg;
		script_end(c);
		s->done(sarg, HEARTH_FINISH_END_TURN, NULL);
	} else if ((v = json_object_get(step, "text")) != NULL) {
		s->text(c->arg, json_string_value(v), json_string_length(v));
	} else if ((v = json_object_get(step, "reasoning")) != NULL) {
		s->reasoning(c->arg, json_string_value(v), json_string_length(v));
	} else if ((v = json_object_get(step, "part_end")) != NULL) {
		s->part_end(c->arg, json_is_object(v) ? v : NULL);
	} else if ((v = json_object_get(step, "tool_call")) != NULL) {
		s->tool_call(c->arg, json_string_value(json_object_get(v, "id")),
			     json_string_value(json_object_get(v, "name")),
			     json_object_get(v, "input"), NULL);
	} else if ((v = json_object_get(step, "usage")) != NULL) {
		struct hearth_usage u = {
			.input_tokens = (uint64_t)json_integer_value(json_object_get(v, "input")),
			.output_tokens = (uint64_t)json_integer_value(json_object_get(v, "output")) };
		s->usage(c->arg, &u);
	} else if ((v = json_object_get(step, "finish")) != NULL) {
		void *sarg = c->arg;
		enum hearth_finish f = script_finish(json_string_value(v));
		script_end(c);
		s->done(sarg, f, NULL);
	} else if ((v = json_object_get(step, "error")) != NULL) {
		struct hearth_provider_error e = {
			.struct_size = sizeof e,
			.type = (uint32_t)json_integer_value(json_object_get(v, "type")),
			.http_status = (long)json_integer_value(json_object_get(v, "status")),
			.retryable = json_is_true(json_object_get(v, "retryable")),
			.retry_after_ms = (uint64_t)json_integer_value(json_object_get(v, "retry_after_ms")),
			.message = json_string_value(json_object_get(v, "message")) };
		void *sarg = c->arg;
		/* The message lives in the step: keep the steps until done() returns. */
		json_t *steps = json_incref(c->steps);
		script_end(c);
		s->done(sarg, HEARTH_FINISH_ERROR, &e);
		json_decref(steps);
	} else if (json_object_get(step, "hang") != NULL) {
		c->p->host->timer_stop(c->timer);
		c->timer = NULL;
	}
}

static struct hearth_provider_call *
script_stream(void *state, const json_t *request, const struct hearth_stream_sink *sink,
	      void *arg, int *error)
{
	struct script_provider *p = state;
	if (p->record != NULL) {
		FILE *f = fopen(p->record, "a");
		if (f != NULL) {
			json_dumpf(request, f, JSON_COMPACT | JSON_SORT_KEYS);
			fputc('\n', f);
			fclose(f);
		}
	}
	struct hearth_provider_call *c = calloc(1, sizeof *c);
	if (c == NULL) {
		*error = HEARTH_ENOMEM;
		return NULL;
	}
	c->p = p;
	c->sink = sink;
	c->arg = arg;
	json_t *reply = json_array_get(p->replies, p->next);
	if (reply != NULL) {
		p->next++;
		c->steps = json_incref(reply);
	} else {
		c->steps = json_pack("[{s:s},{s:s}]", "text", "(script exhausted)", "finish",
				     "end_turn");
	}
	c->timer = p->host->timer_start(p->host, 1, 1, script_tick_cb, c);
	return c;
}

static void
script_cancel(void *state, struct hearth_provider_call *c)
{
	script_end(c);
}

static int
script_list_models(void *state,
		   void (*done)(void *arg, json_t *models, const struct hearth_provider_error *err),
		   void *arg)
{
	done(arg, json_pack("[{s:s,s:s,s:i}]", "id", "scripted", "name", "Scripted",
			    "context_window", 200000), NULL);
	return 0;
}

static const char *
script_default_model(void *state)
{
	return "scripted";
}

static const struct hearth_provider script_vtable = {
	.struct_size = sizeof(struct hearth_provider),
	.stream = script_stream,
	.cancel = script_cancel,
	.list_models = script_list_models,
	.default_model = script_default_model,
};

static const struct hearth_plugin script_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_PROVIDER, .name = "script_provider", .version = "1.0",
	.description = "test: replays scripted replies", .init = script_init,
	.fini = script_fini, .provider = &script_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &script_plugin;
}
