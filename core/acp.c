/* acp.c: the ACP method dispatcher (see acp.h and doc/protocol.md). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acp.h"
#include "agent.h"
#include "conn.h"
#include "defer.h"
#include "host.h"
#include "log.h"
#include "models.h"
#include "params.h"
#include "rpc.h"
#include "session.h"
#include "store.h"
#include "tools.h"
#include "xmalloc.h"

#define ACP_PROTOCOL_VERSION 1

static struct registry *acp_registry;
static void (*acp_shutdown)(void);

typedef void (*acp_handler_fn)(struct hearth_conn *c, struct rpc_msg *m);

/* ------------------------------------------------------------- helpers -- */

static void
acp_invalid(struct hearth_conn *c, struct rpc_msg *m, char *why)
{
	conn_reply_error(c, m->id, RPC_INVALID_PARAMS, "invalid params for %s: %s", m->method,
			 why);
	free(why);
}

/* The session named by params.sessionId, or NULL after answering the error. */
static struct session *
acp_session_param(struct hearth_conn *c, struct rpc_msg *m)
{
	const char *sid;
	char *why = NULL;
	if (rpc_param_string(m->params, "sessionId", 1, &sid, &why) != 0) {
		acp_invalid(c, m, why);
		return NULL;
	}
	struct session *s = session_find(sid);
	if (s == NULL)
		conn_reply_error(c, m->id, RPC_RESOURCE_NOT_FOUND, "no session '%s'", sid);
	return s;
}

static char *
acp_iso8601(int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char buf[40];
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	return xasprintf("%s.%03dZ", buf, (int)(ms % 1000));
}

/* The session's config options: the model, as ACP's category "model" select. */
static json_t *
acp_config_options(struct session *s)
{
	char *dflt = models_default();
	const char *current = s->model != NULL ? s->model : dflt != NULL ? dflt : "";
	json_t *options = json_array();
	json_t *seen = json_object();
	if (current[0] != '\0') {
		json_array_append_new(options, json_pack("{s:s,s:s}", "value", current, "name",
							 current));
		json_object_set_new(seen, current, json_true());
	}
	json_t *defaults = models_defaults();
	size_t i;
	json_t *d;
	json_array_foreach(defaults, i, d) {
		const char *v = json_string_value(d);
		if (json_object_get(seen, v) == NULL) {
			json_array_append_new(options, json_pack("{s:s,s:s}", "value", v, "name", v));
			json_object_set_new(seen, v, json_true());
		}
	}
	json_decref(defaults);
	/* Every listed model is a value (the list comes from the last refresh). */
	json_t *m;
	json_array_foreach(models_cached(), i, m) {
		const char *v = json_string_value(json_object_get(m, "id"));
		if (v == NULL || json_object_get(seen, v) != NULL)
			continue;
		json_array_append_new(options, json_pack("{s:s,s:O}", "value", v, "name",
							 json_object_get(m, "name")));
		json_object_set_new(seen, v, json_true());
	}
	json_t *out = json_pack("[{s:s,s:s,s:s,s:s,s:s,s:o}]", "id", "model", "name", "Model",
				"category", "model", "type", "select", "currentValue", current,
				"options", options);
	json_decref(seen);
	free(dflt);
	return out;
}

static int64_t
acp_last_seq(struct session *s)
{
	struct store_session ss;
	if (store_session_get(session_store(), s->id, &ss) != 0)
		return 0;
	int64_t seq = ss.last_seq;
	store_session_clear(&ss);
	return seq;
}

/* ------------------------------------------------------------- methods -- */

static void
acp_initialize(struct hearth_conn *c, struct rpc_msg *m)
{
	json_int_t version = ACP_PROTOCOL_VERSION;
	char *why = NULL;
	if (rpc_param_int(m->params, "protocolVersion", 1, &version, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	struct conn_info *info = conn_info(c);
	json_decref(info->client_caps);
	info->client_caps = json_incref(json_object_get(m->params, "clientCapabilities"));
	info->initialized = 1;
	/* Echo the client's version when we speak it; else offer ours. */
	conn_reply(c, m->id, json_pack(
		"{s:i,s:{s:s,s:s,s:s},s:[],s:{s:b,s:{s:{},s:{},s:{},s:{},s:{}},s:{s:b,s:b,s:b},"
		"s:{s:b,s:b},s:{s:{s:b,s:b}}}}",
		"protocolVersion", version == ACP_PROTOCOL_VERSION ? (int)version :
				   ACP_PROTOCOL_VERSION,
		"agentInfo", "name", "hearth", "title", "hearth", "version", PACKAGE_VERSION,
		"authMethods",
		"agentCapabilities", "loadSession", 1,
		"sessionCapabilities", "list", "resume", "close", "delete", "fork",
		"promptCapabilities", "image", 1, "audio", 0, "embeddedContext", 1,
		"mcpCapabilities", "http", 0, "sse", 0,
		"_meta", "hearth", "seq", 1, "resync", 1));
}

static void
acp_authenticate(struct hearth_conn *c, struct rpc_msg *m)
{
	conn_reply(c, m->id, NULL);
}

static void
acp_models_ignore_cb(void *arg, const json_t *result)
{
}

static void
acp_session_new(struct hearth_conn *c, struct rpc_msg *m)
{
	const char *cwd, *model = NULL;
	json_t *servers;
	char *why = NULL;
	if (rpc_param_string(m->params, "cwd", 1, &cwd, &why) != 0 ||
	    rpc_param_array(m->params, "mcpServers", 0, &servers, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	const json_t *meta = json_object_get(json_object_get(m->params, "_meta"), "hearth");
	if (json_object_get(meta, "model") != NULL) {
		model = json_string_value(json_object_get(meta, "model"));
		struct module *p;
		char *id = NULL;
		if (model == NULL || models_resolve(model, &p, &id, &why) != 0) {
			acp_invalid(c, m, why != NULL ? why : xstrdup("'_meta.hearth.model' must be "
								      "a string"));
			return;
		}
		free(id);
	}
	/* The first session asks the providers for their models, in the background. */
	static int models_asked;
	if (!models_asked) {
		models_asked = 1;
		models_refresh(acp_models_ignore_cb, &models_asked);
	}
	struct session *s = session_create(cwd, model, &why);
	if (s == NULL) {
		acp_invalid(c, m, why);
		return;
	}
	session_follow(s, c);
	conn_reply(c, m->id, json_pack("{s:s,s:o}", "sessionId", s->id, "configOptions",
				       acp_config_options(s)));
}

/* A session/load or session/resume whose replay is under way. */
struct acp_attach {
	json_t *id;   /* owned: the request's id */
};

static void
acp_attach_done_cb(void *arg, struct session *s, struct hearth_conn *c, int rc, int64_t last)
{
	struct acp_attach *a = arg;
	if (rc == HEARTH_ECANCELED) {
		/* The connection has gone: nobody to answer. */
	} else if (rc == HEARTH_ENOENT) {
		conn_reply_error(c, a->id, RPC_RESOURCE_NOT_FOUND, "session '%s' was deleted",
				 s->id);
	} else if (rc < 0) {
		conn_reply_error(c, a->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
	} else {
		conn_reply(c, a->id, json_pack("{s:o,s:{s:{s:I}}}", "configOptions",
					       acp_config_options(s), "_meta", "hearth", "lastSeq",
					       (json_int_t)acp_last_seq(s)));
	}
	json_decref(a->id);
	free(a);
}

/*
 * session/load replays everything; session/resume only what the client missed.
 * The replay is paced by the connection's queue; the answer comes after it.
 */
static void
acp_session_attach(struct hearth_conn *c, struct rpc_msg *m, int replay_all)
{
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	int64_t after = 0;
	if (!replay_all) {
		const json_t *meta = json_object_get(json_object_get(m->params, "_meta"), "hearth");
		json_t *last = json_object_get(meta, "lastSeq");
		if (last != NULL && (!json_is_integer(last) || json_integer_value(last) < 0)) {
			acp_invalid(c, m, xstrdup("'_meta.hearth.lastSeq' must be a non-negative "
						  "integer"));
			return;
		}
		/* Resuming without a position replays nothing: ACP's resume has no replay. */
		after = last != NULL ? json_integer_value(last) : acp_last_seq(s);
	}
	struct acp_attach *a = xcalloc(1, sizeof *a);
	a->id = json_deep_copy(m->id);
	session_replay(s, c, after, acp_attach_done_cb, a);
}

static void
acp_session_load(struct hearth_conn *c, struct rpc_msg *m)
{
	acp_session_attach(c, m, 1);
}

static void
acp_session_resume(struct hearth_conn *c, struct rpc_msg *m)
{
	acp_session_attach(c, m, 0);
}

/* A session's token and cost totals, as _hearth/status and _hearth/sessions give them. */
static json_t *
acp_usage_json(const struct store_usage *u)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}",
			 "inputTokens", (json_int_t)u->tokens.input_tokens,
			 "outputTokens", (json_int_t)u->tokens.output_tokens,
			 "reasoningTokens", (json_int_t)u->tokens.reasoning_tokens,
			 "cacheReadTokens", (json_int_t)u->tokens.cache_read_tokens,
			 "cacheWriteTokens", (json_int_t)u->tokens.cache_write_tokens,
			 "costMicros", (json_int_t)u->cost_micros);
}

static json_t *
acp_session_summary(const struct store_session *ss, int hearth_fields)
{
	char *updated = acp_iso8601(ss->updated_at);
	json_t *o = json_pack("{s:s,s:s,s:s}", "sessionId", ss->id, "cwd", ss->cwd, "updatedAt",
			      updated);
	free(updated);
	if (ss->title != NULL)
		json_object_set_new(o, "title", json_string(ss->title));
	if (hearth_fields) {
		json_object_set_new(o, "model", ss->model ? json_string(ss->model) : json_null());
		json_object_set_new(o, "status", json_string(store_status_name(ss->status)));
		json_object_set_new(o, "messages", json_integer(ss->message_count));
		json_object_set_new(o, "lastSeq", json_integer(ss->last_seq));
		if (ss->title == NULL)
			json_object_set_new(o, "title", json_null());
		char *created = acp_iso8601(ss->created_at);
		json_object_set_new(o, "createdAt", json_string(created));
		free(created);
		json_object_set_new(o, "usage", acp_usage_json(&ss->usage));
	}
	return o;
}

static void
acp_list(struct hearth_conn *c, struct rpc_msg *m, int hearth_fields)
{
	const char *cwd;
	char *why = NULL;
	if (rpc_param_string(m->params, "cwd", 0, &cwd, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	struct store_session *list = NULL;
	size_t n = 0;
	if (store_session_list(session_store(), cwd, 0, &list, &n) != 0) {
		conn_reply_error(c, m->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
		return;
	}
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, acp_session_summary(&list[i], hearth_fields));
	store_session_list_free(list, n);
	conn_reply(c, m->id, json_pack("{s:o}", "sessions", out));
}

static void
acp_session_list(struct hearth_conn *c, struct rpc_msg *m)
{
	acp_list(c, m, 0);
}

static void
acp_hearth_sessions(struct hearth_conn *c, struct rpc_msg *m)
{
	acp_list(c, m, 1);
}

static void
acp_session_close(struct hearth_conn *c, struct rpc_msg *m)
{
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	session_unfollow(s, c);
	/* The session outlives its clients; its turn ends only when nobody follows it. */
	if (s->followers == NULL)
		agent_cancel(s);
	conn_reply(c, m->id, NULL);
}

static void
acp_session_delete(struct hearth_conn *c, struct rpc_msg *m)
{
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	if (s->turn != NULL) {
		conn_reply_error(c, m->id, RPC_INVALID_PARAMS, "session %s is busy: cancel its "
				 "turn first", s->id);
		return;
	}
	int rc = session_delete(s);
	if (rc != 0)
		conn_reply_error(c, m->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
	else
		conn_reply(c, m->id, NULL);
}

/*
 * session/fork {sessionId, cwd?, mcpServers?}: a new session with a copy of the
 * history, followed by the caller. A fork keeps its source's directory, and a
 * session whose turn runs is not forked mid-step.
 */
static void
acp_session_fork(struct hearth_conn *c, struct rpc_msg *m)
{
	const char *cwd = NULL;
	json_t *servers;
	char *why = NULL;
	if (rpc_param_string(m->params, "cwd", 0, &cwd, &why) != 0 ||
	    rpc_param_array(m->params, "mcpServers", 0, &servers, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	if (cwd != NULL && strcmp(cwd, s->cwd) != 0) {
		conn_reply_error(c, m->id, RPC_INVALID_PARAMS, "a fork keeps its session's "
				 "directory: cwd must be %s (or left out)", s->cwd);
		return;
	}
	if (s->turn != NULL) {
		conn_reply_error(c, m->id, RPC_INVALID_PARAMS, "session %s is busy: fork it "
				 "when its turn has ended", s->id);
		return;
	}
	char *id;
	if (store_session_fork(session_store(), s->id, &id) != 0) {
		conn_reply_error(c, m->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
		return;
	}
	struct session *f = session_find(id);
	free(id);
	if (f == NULL) {
		conn_reply_error(c, m->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
		return;
	}
	log_info("session %s forked from %s", f->id, s->id);
	session_follow(f, c);
	conn_reply(c, m->id, json_pack("{s:s,s:o}", "sessionId", f->id, "configOptions",
				       acp_config_options(f)));
}

#define ACP_TITLE_MAX 60 /* characters of an automatic title */

/*
 * A title from a prompt's text: its first non-blank line, blanks squeezed, cut to
 * ACP_TITLE_MAX characters at a word when one ends late enough, with "…" when
 * cut. Malloc'd, or NULL when the text has no visible character.
 */
static char *
acp_title_from_text(const char *text)
{
	while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
		text++;
	size_t cap = strlen(text) + 4, n = 0, chars = 0, last_space = 0;
	char *t = xmalloc(cap);
	int cut = 0;
	for (const char *p = text; *p != '\0' && *p != '\n' && *p != '\r'; p++) {
		int blank = *p == ' ' || *p == '\t';
		if (blank && (n == 0 || t[n - 1] == ' '))
			continue;
		int lead = ((unsigned char)*p & 0xc0) != 0x80;
		if (lead && chars == ACP_TITLE_MAX) {
			cut = 1;
			break;
		}
		chars += lead;
		if (blank)
			last_space = n;
		t[n++] = blank ? ' ' : *p;
	}
	if (cut && last_space > n / 2)
		n = last_space;
	while (n > 0 && t[n - 1] == ' ')
		n--;
	if (n == 0) {
		free(t);
		return NULL;
	}
	if (cut) {
		memcpy(t + n, "\xe2\x80\xa6", 3); /* … */
		n += 3;
	}
	t[n] = '\0';
	return t;
}

/* An untitled session is named after the first text of its first prompt. */
static void
acp_auto_title(struct session *s, const json_t *prompt)
{
	if (s->title != NULL)
		return;
	size_t i;
	json_t *block;
	json_array_foreach(prompt, i, block) {
		const char *type = json_string_value(json_object_get(block, "type"));
		const char *text = json_string_value(json_object_get(block, "text"));
		char *title = type != NULL && strcmp(type, "text") == 0 && text != NULL ?
			acp_title_from_text(text) : NULL;
		if (title == NULL)
			continue;
		if (session_set_title(s, title) == 0) {
			json_t *u = json_pack("{s:s,s:s}", "sessionUpdate", "session_info_update",
					      "title", title);
			session_emit(s, u);
			json_decref(u);
		}
		free(title);
		return;
	}
}

static void
acp_session_prompt(struct hearth_conn *c, struct rpc_msg *m)
{
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	json_t *prompt;
	char *why = NULL;
	if (rpc_param_array(m->params, "prompt", 1, &prompt, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	session_follow(s, c);
	if (agent_prompt(s, prompt, c, m->id, &why) != 0)
		acp_invalid(c, m, why);
	else
		acp_auto_title(s, prompt);
}

static void
acp_session_cancel(struct hearth_conn *c, struct rpc_msg *m)
{
	const char *sid;
	char *why = NULL;
	if (rpc_param_string(m->params, "sessionId", 1, &sid, &why) != 0) {
		free(why);
		return;
	}
	struct session *s = session_find(sid);
	if (s != NULL)
		agent_cancel(s);
}

static void
acp_cancel_request(struct hearth_conn *c, struct rpc_msg *m)
{
	json_t *id = json_object_get(m->params, "requestId");
	if (id != NULL)
		agent_cancel_request(c, id);
}

static void
acp_set_config_option(struct hearth_conn *c, struct rpc_msg *m)
{
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	const char *config_id, *value;
	char *why = NULL;
	if (rpc_param_string(m->params, "configId", 1, &config_id, &why) != 0 ||
	    rpc_param_string(m->params, "value", 1, &value, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	if (strcmp(config_id, "model") != 0) {
		acp_invalid(c, m, xasprintf("unknown config option '%s'", config_id));
		return;
	}
	struct module *p;
	char *model_id = NULL;
	if (models_resolve(value, &p, &model_id, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	free(model_id);
	if (session_set_model(s, value) != 0) {
		conn_reply_error(c, m->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
		return;
	}
	json_t *options = acp_config_options(s);
	json_t *u = json_pack("{s:s,s:O}", "sessionUpdate", "config_option_update",
			      "configOptions", options);
	session_emit(s, u);
	json_decref(u);
	conn_reply(c, m->id, json_pack("{s:o}", "configOptions", options));
}

static void
acp_hearth_status(struct hearth_conn *c, struct rpc_msg *m)
{
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	struct store_session ss;
	if (store_session_get(session_store(), s->id, &ss) != 0) {
		conn_reply_error(c, m->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
		return;
	}
	json_t *r = acp_session_summary(&ss, 1); /* with createdAt, updatedAt and usage */
	/* The tools a turn may call, by name (what `hearth run`'s init line lists). */
	json_t *names = json_array(), *all = tools_list(), *tool;
	size_t i;
	json_array_foreach(all, i, tool)
		json_array_append(names, json_object_get(tool, "name"));
	json_decref(all);
	json_object_set_new(r, "tools", names);
	store_session_clear(&ss);
	conn_reply(c, m->id, r);
}

static void
acp_hearth_rename(struct hearth_conn *c, struct rpc_msg *m)
{
	struct session *s = acp_session_param(c, m);
	if (s == NULL)
		return;
	const char *title;
	char *why = NULL;
	if (rpc_param_string(m->params, "title", 1, &title, &why) != 0) {
		acp_invalid(c, m, why);
		return;
	}
	if (session_set_title(s, title) != 0) {
		conn_reply_error(c, m->id, RPC_INTERNAL_ERROR, "%s", store_errmsg(session_store()));
		return;
	}
	json_t *u = json_pack("{s:s,s:s}", "sessionUpdate", "session_info_update", "title", title);
	session_emit(s, u);
	json_decref(u);
	conn_reply(c, m->id, NULL);
}

static void
acp_hearth_daemon(struct hearth_conn *c, struct rpc_msg *m)
{
	json_t *mods = json_array();
	for (size_t i = 0; acp_registry != NULL && i < acp_registry->n_modules; i++) {
		struct module *mod = acp_registry->modules[i];
		json_array_append_new(mods, json_pack("{s:s,s:s,s:s}", "kind",
						      conf_kind_name(mod->kind), "name", mod->name,
						      "version", mod->desc->version));
	}
	struct host_context *ctx = host_context_get();
	conn_reply(c, m->id, json_pack("{s:s,s:i,s:i,s:o,s:s,s:s}", "version", PACKAGE_VERSION,
				       "pid", (int)getpid(), "abi", HEARTH_ABI, "modules", mods,
				       "stateDir", ctx->state_dir, "runtimeDir",
				       ctx->runtime_dir));
}

/* A `_hearth/models` request waiting for the providers' lists. */
struct acp_models_req {
	struct hearth_conn *conn;
	json_t *id;
	struct acp_models_req *next;
};

static struct acp_models_req *acp_models_reqs;

static void
acp_models_unlink(struct acp_models_req *q)
{
	for (struct acp_models_req **pp = &acp_models_reqs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			return;
		}
	}
}

static void
acp_models_done_cb(void *arg, const json_t *result)
{
	struct acp_models_req *q = arg;
	acp_models_unlink(q);
	conn_reply(q->conn, q->id, json_deep_copy(result));
	json_decref(q->id);
	free(q);
}

static void
acp_hearth_models(struct hearth_conn *c, struct rpc_msg *m)
{
	struct acp_models_req *q = xcalloc(1, sizeof *q);
	q->conn = c;
	q->id = json_deep_copy(m->id);
	q->next = acp_models_reqs;
	acp_models_reqs = q;
	models_refresh(acp_models_done_cb, q);
}

static void
acp_shutdown_cb(void *arg)
{
	if (acp_shutdown != NULL)
		acp_shutdown();
}

static void
acp_hearth_shutdown(struct hearth_conn *c, struct rpc_msg *m)
{
	log_info("shutdown requested by connection %llu", (unsigned long long)conn_info(c)->id);
	conn_reply(c, m->id, NULL);
	defer_call(acp_shutdown_cb, NULL);
}

/* ------------------------------------------------------------ dispatch -- */

static const struct {
	const char *method;
	acp_handler_fn fn;
	int notification;   /* 1: a notification; a request with this name is still served */
} acp_methods[] = {
	{ "initialize", acp_initialize, 0 },
	{ "authenticate", acp_authenticate, 0 },
	{ "session/new", acp_session_new, 0 },
	{ "session/load", acp_session_load, 0 },
	{ "session/resume", acp_session_resume, 0 },
	{ "session/list", acp_session_list, 0 },
	{ "session/close", acp_session_close, 0 },
	{ "session/delete", acp_session_delete, 0 },
	{ "session/fork", acp_session_fork, 0 },
	{ "session/prompt", acp_session_prompt, 0 },
	{ "session/cancel", acp_session_cancel, 1 },
	{ "session/set_config_option", acp_set_config_option, 0 },
	{ "$/cancel_request", acp_cancel_request, 1 },
	{ "_hearth/status", acp_hearth_status, 0 },
	{ "_hearth/rename", acp_hearth_rename, 0 },
	{ "_hearth/sessions", acp_hearth_sessions, 0 },
	{ "_hearth/daemon", acp_hearth_daemon, 0 },
	{ "_hearth/models", acp_hearth_models, 0 },
	{ "_hearth/shutdown", acp_hearth_shutdown, 0 },
};

static void
acp_dispatch(struct hearth_conn *c, struct rpc_msg *m)
{
	for (size_t i = 0; i < sizeof acp_methods / sizeof acp_methods[0]; i++) {
		if (strcmp(acp_methods[i].method, m->method) != 0)
			continue;
		/* Every method's params meet its schema (core/params.c) before it runs. */
		char *why = NULL;
		if (params_check(m->method, m->params, &why) != 0) {
			if (m->kind == RPC_REQUEST)
				acp_invalid(c, m, why);
			else
				free(why);
			return;
		}
		if (m->kind == RPC_REQUEST && acp_methods[i].notification) {
			/* A notification sent as a request: do it, and say so. */
			acp_methods[i].fn(c, m);
			conn_reply(c, m->id, NULL);
			return;
		}
		if (m->kind == RPC_NOTIFICATION && !acp_methods[i].notification) {
			log_debug("connection %llu: %s sent as a notification; ignored",
				  (unsigned long long)conn_info(c)->id, m->method);
			return;
		}
		acp_methods[i].fn(c, m);
		return;
	}
	/* Unknown requests get -32601; unknown notifications are ignored (ACP). */
	if (m->kind == RPC_REQUEST)
		conn_reply_error(c, m->id, RPC_METHOD_NOT_FOUND, "unknown method '%s'", m->method);
}

static void
acp_conn_gone(struct hearth_conn *c)
{
	for (struct acp_models_req *q = acp_models_reqs, *next; q != NULL; q = next) {
		next = q->next;
		if (q->conn == c) {
			models_forget(q);
			acp_models_unlink(q);
			json_decref(q->id);
			free(q);
		}
	}
	agent_conn_gone(c);
	session_conn_gone(c);
}

void
acp_close(void)
{
	while (acp_models_reqs != NULL) {
		struct acp_models_req *q = acp_models_reqs;
		acp_models_reqs = q->next;
		json_decref(q->id);
		free(q);
	}
	models_close();
}

void
acp_init(struct registry *registry, void (*shutdown)(void))
{
	acp_registry = registry;
	acp_shutdown = shutdown;
	models_init(registry);
	conn_set_dispatch(acp_dispatch, acp_conn_gone);
}
