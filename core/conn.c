/* conn.c: connections between frontends and the core (see conn.h). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/plugin.h>

#include "conn.h"
#include "log.h"
#include "xmalloc.h"

struct conn_pending {
	json_int_t id;
	conn_answer_fn cb;
	void *arg;
	struct conn_pending *next;
};

struct hearth_conn {
	struct conn_info info;
	void (*on_message)(void *arg, const char *json, size_t len);
	void (*on_close)(void *arg, const char *reason);
	void *arg;
	int ended;                   /* the core ended it; on_close has run */
	unsigned busy;               /* inside a dispatch: free later */
	int free_when_idle;
	json_int_t next_request_id;
	struct conn_pending *pending;
	struct hearth_conn *prev, *next;
};

static struct hearth_conn *conn_list;
static uint64_t conn_next_id = 1;
static conn_dispatch_fn conn_dispatch;
static conn_gone_fn conn_gone;

void
conn_set_dispatch(conn_dispatch_fn dispatch, conn_gone_fn gone)
{
	conn_dispatch = dispatch;
	conn_gone = gone;
}

struct conn_info *
conn_info(struct hearth_conn *c)
{
	return &c->info;
}

struct hearth_conn *
conn_open(void (*on_message)(void *arg, const char *json, size_t len),
	  void (*on_close)(void *arg, const char *reason), void *arg)
{
	if (on_message == NULL || on_close == NULL)
		return NULL;
	struct hearth_conn *c = xcalloc(1, sizeof *c);
	c->info.id = conn_next_id++;
	c->on_message = on_message;
	c->on_close = on_close;
	c->arg = arg;
	c->next_request_id = 1;
	c->next = conn_list;
	if (conn_list != NULL)
		conn_list->prev = c;
	conn_list = c;
	log_debug("connection %llu opened", (unsigned long long)c->info.id);
	return c;
}

static void
conn_unlink(struct hearth_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (conn_list == c)
		conn_list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Answer every pending request with "withdrawn" (both NULL). */
static void
conn_drop_pending(struct hearth_conn *c)
{
	while (c->pending != NULL) {
		struct conn_pending *p = c->pending;
		c->pending = p->next;
		p->cb(p->arg, c, NULL, NULL);
		free(p);
	}
}

static void
conn_free(struct hearth_conn *c)
{
	json_decref(c->info.client_caps);
	free(c);
}

void
conn_close(struct hearth_conn *c)
{
	if (c == NULL || c->info.closed)
		return;
	log_debug("connection %llu closed by its frontend", (unsigned long long)c->info.id);
	c->info.closed = 1;
	conn_unlink(c);
	c->busy++;
	conn_drop_pending(c);
	if (conn_gone != NULL)
		conn_gone(c);
	c->busy--;
	if (c->busy > 0)
		c->free_when_idle = 1;
	else
		conn_free(c);
}

static void
conn_handle_response(struct hearth_conn *c, struct rpc_msg *msg)
{
	if (!json_is_integer(msg->id)) {
		log_debug("connection %llu: response with an id we never sent; ignored",
			  (unsigned long long)c->info.id);
		return;
	}
	json_int_t id = json_integer_value(msg->id);
	for (struct conn_pending **pp = &c->pending; *pp != NULL; pp = &(*pp)->next) {
		struct conn_pending *p = *pp;
		if (p->id != id)
			continue;
		*pp = p->next;
		p->cb(p->arg, c, msg->result, msg->error);
		free(p);
		return;
	}
	log_debug("connection %llu: response to unknown request %lld; ignored",
		  (unsigned long long)c->info.id, (long long)id);
}

int
conn_send(struct hearth_conn *c, const char *json, size_t len)
{
	if (c == NULL || c->info.closed)
		return HEARTH_EINVAL;
	if (len > CONN_FRAME_MAX) {
		conn_reply_error(c, NULL, RPC_INVALID_REQUEST, "frame of %zu bytes is larger than "
				 "the limit of %u bytes", len, CONN_FRAME_MAX);
		return HEARTH_ELIMIT;
	}
	struct rpc_msg msg;
	json_t *reply = NULL;
	if (rpc_parse(json, len, &msg, &reply) != 0) {
		conn_write(c, reply);
		json_decref(reply);
		return 0;
	}
	c->busy++;
	if (msg.kind == RPC_RESPONSE)
		conn_handle_response(c, &msg);
	else if (conn_dispatch != NULL)
		conn_dispatch(c, &msg);
	else if (msg.kind == RPC_REQUEST)
		conn_reply_error(c, msg.id, RPC_INTERNAL_ERROR, "the core is not ready");
	rpc_msg_clear(&msg);
	c->busy--;
	if (c->busy == 0 && c->free_when_idle)
		conn_free(c);
	return 0;
}

void
conn_write(struct hearth_conn *c, const json_t *msg)
{
	if (c == NULL || c->info.closed || c->ended)
		return;
	size_t len;
	char *text = rpc_dump(msg, &len);
	c->on_message(c->arg, text, len);
	free(text);
}

void
conn_reply(struct hearth_conn *c, const json_t *id, json_t *result)
{
	json_t *m = rpc_result(id, result);
	conn_write(c, m);
	json_decref(m);
}

void
conn_reply_error(struct hearth_conn *c, const json_t *id, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	json_t *m = rpc_error(id, code, text, NULL);
	free(text);
	conn_write(c, m);
	json_decref(m);
}

json_int_t
conn_request(struct hearth_conn *c, const char *method, json_t *params, conn_answer_fn cb,
	     void *arg)
{
	struct conn_pending *p = xcalloc(1, sizeof *p);
	p->id = c->next_request_id++;
	p->cb = cb;
	p->arg = arg;
	p->next = c->pending;
	c->pending = p;
	json_t *m = rpc_request(p->id, method, params);
	conn_write(c, m);
	json_decref(m);
	return p->id;
}

void
conn_withdraw(struct hearth_conn *c, json_int_t id)
{
	for (struct conn_pending **pp = &c->pending; *pp != NULL; pp = &(*pp)->next) {
		struct conn_pending *p = *pp;
		if (p->id != id)
			continue;
		*pp = p->next;
		free(p);
		json_t *n = rpc_notification("$/cancel_request",
					     json_pack("{s:I}", "requestId", (json_int_t)id));
		conn_write(c, n);
		json_decref(n);
		return;
	}
}

void
conn_end(struct hearth_conn *c, const char *reason)
{
	if (c->ended || c->info.closed)
		return;
	c->ended = 1;
	c->on_close(c->arg, reason);
}

void
conn_foreach(void (*fn)(struct hearth_conn *c, void *arg), void *arg)
{
	for (struct hearth_conn *c = conn_list, *next; c != NULL; c = next) {
		next = c->next;
		if (!c->info.closed && !c->ended)
			fn(c, arg);
	}
}

static void
conn_end_cb(struct hearth_conn *c, void *arg)
{
	conn_end(c, arg);
}

void
conn_end_all(const char *reason)
{
	conn_foreach(conn_end_cb, (void *)(uintptr_t)reason);
}
