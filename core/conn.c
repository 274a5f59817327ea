/* conn.c: connections between frontends and the core (see conn.h). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hearth/plugin.h>

#include "conn.h"
#include "defer.h"
#include "log.h"
#include "xmalloc.h"

struct conn_pending {
	json_int_t id;
	conn_answer_fn cb;
	void *arg;
	struct conn_pending *next;
};

/* One queued message: serialized, without a newline. */
struct conn_msg {
	struct conn_msg *next;
	size_t len;
	char text[];
};

enum conn_state {
	CONN_OPEN,     /* both ways */
	CONN_ENDING,   /* the core ended it: the queue goes out, then on_close */
	CONN_DONE,     /* closed by the frontend, or on_close has run: nothing reaches it */
};

struct hearth_conn {
	struct conn_info info;
	void (*on_message)(void *arg, const char *json, size_t len);
	void (*on_close)(void *arg, const char *reason);
	void (*on_drain)(void *arg);
	void *arg;
	enum conn_state state;
	char *reason;                /* owned: why the core ended it */
	unsigned refs;               /* the frontend's (until DONE), a scheduled drain, a dispatch */
	int scheduled;               /* a drain is queued on the loop */
	int draining;                /* inside conn_drain: no nested drain */
	int paused;                  /* the frontend takes nothing now (conn_pause) */
	int gone;                    /* conn_gone has run: the core forgot it */
	int want_drain;              /* conn_send said EBUSY: call on_drain when there is room */
	int lagging;                 /* dropping updates until the queue is under max/2 */
	uint64_t lag_dropped;        /* updates dropped in this lag, for the resync */
	size_t max;                  /* the queue's bound */
	struct conn_msg *head, **tail;
	void (*room_fn)(void *arg, struct hearth_conn *c);
	void *room_arg;
	size_t room_len;
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
	c->refs = 1;
	c->max = CONN_QUEUE_DEFAULT;
	c->tail = &c->head;
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

static void
conn_clear_queue(struct hearth_conn *c)
{
	while (c->head != NULL) {
		struct conn_msg *m = c->head;
		c->head = m->next;
		free(m);
	}
	c->tail = &c->head;
	c->info.queued = 0;
}

static void
conn_unref(struct hearth_conn *c)
{
	if (--c->refs > 0)
		return;
	conn_clear_queue(c);
	json_decref(c->info.client_caps);
	free(c->reason);
	free(c);
}

static void conn_drain_cb(void *arg);

/* Deliver on the loop's next iteration (the pending drain holds a reference). */
static void
conn_schedule(struct hearth_conn *c)
{
	if (c->scheduled)
		return;
	c->scheduled = 1;
	c->refs++;
	defer_call(conn_drain_cb, c);
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

/* The core forgets the connection: followers, turns, then its open requests. */
static void
conn_forget(struct hearth_conn *c)
{
	if (c->gone)
		return;
	c->gone = 1;
	c->room_fn = NULL;
	if (conn_gone != NULL)
		conn_gone(c);
	conn_drop_pending(c);
}

void
conn_close(struct hearth_conn *c)
{
	if (c == NULL || c->state == CONN_DONE)
		return;
	log_debug("connection %llu closed by its frontend", (unsigned long long)c->info.id);
	c->state = CONN_DONE;
	c->info.closed = 1;
	conn_clear_queue(c);
	conn_unlink(c);
	c->refs++;
	conn_forget(c);
	conn_unref(c);
	conn_unref(c);   /* the frontend's */
}

/* Append text to the queue, whatever the bound (the caller decided it goes). */
static void
conn_push(struct hearth_conn *c, const char *text, size_t len)
{
	struct conn_msg *m = xmalloc(sizeof *m + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->text, text, len);
	*c->tail = m;
	c->tail = &m->next;
	c->info.queued += len;
	if (c->info.queued > c->info.queued_peak)
		c->info.queued_peak = c->info.queued;
	if (!c->paused)
		conn_schedule(c);
}

/* The lag is over: tell the client what it missed, before any later update. */
static void
conn_resync(struct hearth_conn *c)
{
	char msg[160];
	int n = snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"method\":\"_hearth/resync\","
			 "\"params\":{\"reason\":\"send queue overflow\",\"dropped\":%llu}}",
			 (unsigned long long)c->lag_dropped);
	log_info("connection %llu: caught up after %llu dropped update%s; sent a resync",
		 (unsigned long long)c->info.id, (unsigned long long)c->lag_dropped,
		 c->lag_dropped == 1 ? "" : "s");
	c->lagging = 0;
	c->lag_dropped = 0;
	conn_push(c, msg, (size_t)n);
}

int
conn_has_room(struct hearth_conn *c, size_t len)
{
	size_t q = c->info.queued;
	return q <= c->max / 4 || q + len <= c->max / 2;
}

void
conn_on_room(struct hearth_conn *c, size_t len, void (*fn)(void *arg, struct hearth_conn *c),
	     void *arg)
{
	if (c->gone || c->state != CONN_OPEN)
		fn = NULL;
	c->room_fn = fn;
	c->room_arg = arg;
	c->room_len = len;
	if (fn != NULL && conn_has_room(c, len))
		conn_schedule(c);
}

/*
 * Hand what is queued to the frontend, then: the resync after a lag, on_close
 * after an end, on_drain and the room callback when there is room. force (at
 * shutdown): an ending connection is finished now, what a paused frontend cannot
 * take is dropped.
 */
static void
conn_drain(struct hearth_conn *c, int force)
{
	if (c->draining)
		return;
	c->draining = 1;
	if (c->gone)
		conn_drop_pending(c);   /* requests sent after it went */
	if (c->state == CONN_ENDING)
		conn_forget(c);
	for (;;) {
		while (c->head != NULL && c->state != CONN_DONE && !c->paused) {
			struct conn_msg *m = c->head;
			c->head = m->next;
			if (c->head == NULL)
				c->tail = &c->head;
			c->info.queued -= m->len;
			c->on_message(c->arg, m->text, m->len);
			free(m);
		}
		if (c->state == CONN_OPEN && c->lagging && c->info.queued <= c->max / 2) {
			conn_resync(c);
			continue;
		}
		break;
	}
	if (c->state == CONN_ENDING && (c->head == NULL || force)) {
		conn_clear_queue(c);
		c->state = CONN_DONE;
		conn_unlink(c);
		log_debug("connection %llu ended: %s", (unsigned long long)c->info.id, c->reason);
		c->on_close(c->arg, c->reason);
		c->draining = 0;
		conn_unref(c);   /* the frontend's: the caller still holds one */
		return;
	}
	if (c->state == CONN_OPEN && c->want_drain && c->info.queued <= c->max / 4) {
		c->want_drain = 0;
		c->on_drain(c->arg);
	}
	if (c->state == CONN_OPEN && c->room_fn != NULL && conn_has_room(c, c->room_len)) {
		void (*fn)(void *, struct hearth_conn *) = c->room_fn;
		c->room_fn = NULL;
		fn(c->room_arg, c);
	}
	c->draining = 0;
}

static void
conn_drain_cb(void *arg)
{
	struct hearth_conn *c = arg;
	c->scheduled = 0;
	conn_drain(c, 0);
	conn_unref(c);
}

int
conn_queue(struct hearth_conn *c, const char *text, size_t len, int update)
{
	if (c == NULL || c->state != CONN_OPEN)
		return HEARTH_EINVAL;
	if (c->lagging && c->info.queued <= c->max / 2)
		conn_resync(c);
	size_t q = c->info.queued;
	if (q > c->max / 4 && update && (c->lagging || q + len > c->max / 4 * 3)) {
		if (!c->lagging)
			log_warn("connection %llu: send queue full (%zu bytes queued, %zu more); "
				 "dropping session updates until it catches up",
				 (unsigned long long)c->info.id, q, len);
		c->lagging = 1;
		c->lag_dropped++;
		c->info.dropped++;
		return HEARTH_ELIMIT;
	}
	if (q > c->max / 4 && !update && q + len > c->max) {
		char *why = xasprintf("send queue overflow: %zu bytes queued and a message of %zu "
				      "bytes more would pass the limit of %zu bytes (the client "
				      "is not reading)", q, len, c->max);
		log_warn("connection %llu: %s; closing it", (unsigned long long)c->info.id, why);
		conn_end(c, why);
		free(why);
		return HEARTH_ELIMIT;
	}
	conn_push(c, text, len);
	return 0;
}

void
conn_write(struct hearth_conn *c, const json_t *msg)
{
	if (c == NULL || c->state != CONN_OPEN)
		return;
	size_t len;
	char *text = rpc_dump(msg, &len);
	conn_queue(c, text, len, 0);
	free(text);
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
	if (c == NULL || c->state == CONN_DONE)
		return HEARTH_EINVAL;
	if (c->state == CONN_ENDING) {
		log_debug("connection %llu: message ignored: the connection is closing",
			  (unsigned long long)c->info.id);
		return 0;
	}
	if (len > CONN_FRAME_MAX) {
		conn_reply_error(c, NULL, RPC_INVALID_REQUEST, "frame of %zu bytes is larger than "
				 "the limit of %u bytes", len, CONN_FRAME_MAX);
		return HEARTH_ELIMIT;
	}
	if (c->on_drain != NULL && c->info.queued > c->max / 2) {
		c->want_drain = 1;
		return HEARTH_EBUSY;
	}
	struct rpc_msg msg;
	json_t *reply = NULL;
	if (rpc_parse(json, len, &msg, &reply) != 0) {
		conn_write(c, reply);
		json_decref(reply);
		return 0;
	}
	c->refs++;
	if (msg.kind == RPC_RESPONSE)
		conn_handle_response(c, &msg);
	else if (conn_dispatch != NULL)
		conn_dispatch(c, &msg);
	else if (msg.kind == RPC_REQUEST)
		conn_reply_error(c, msg.id, RPC_INTERNAL_ERROR, "the core is not ready");
	rpc_msg_clear(&msg);
	conn_unref(c);
	return 0;
}

int
conn_flow(struct hearth_conn *c, size_t queue_max, void (*on_drain)(void *arg))
{
	if (c == NULL || c->state == CONN_DONE || (queue_max != 0 && queue_max < CONN_QUEUE_MIN))
		return HEARTH_EINVAL;
	if (queue_max != 0)
		c->max = queue_max;
	c->on_drain = on_drain;
	if (on_drain == NULL)
		c->want_drain = 0;
	return 0;
}

void
conn_pause(struct hearth_conn *c, int paused)
{
	if (c == NULL || c->state == CONN_DONE)
		return;
	c->paused = paused != 0;
	if (!c->paused)
		conn_schedule(c);
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
	json_int_t id = p->id = c->next_request_id++;
	p->cb = cb;
	p->arg = arg;
	p->next = c->pending;
	c->pending = p;
	if (c->gone) {
		/* It can never be answered: say so from the loop, not from here. */
		json_decref(params);
		conn_schedule(c);
		return id;
	}
	json_t *m = rpc_request(id, method, params);
	conn_write(c, m);
	json_decref(m);
	return id;
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
	if (c == NULL || c->state != CONN_OPEN)
		return;
	c->state = CONN_ENDING;
	c->info.closed = 1;
	c->reason = xstrdup(reason != NULL ? reason : "closed by the daemon");
	json_t *n = rpc_notification("_hearth/closing", json_pack("{s:s}", "reason", c->reason));
	size_t len;
	char *text = rpc_dump(n, &len);
	json_decref(n);
	conn_push(c, text, len);
	free(text);
	conn_schedule(c);
}

void
conn_foreach(void (*fn)(struct hearth_conn *c, void *arg), void *arg)
{
	for (struct hearth_conn *c = conn_list, *next; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_OPEN)
			fn(c, arg);
	}
}

void
conn_end_all(const char *reason)
{
	/* Each pass finishes the first connection (a forced drain unlinks it). */
	while (conn_list != NULL) {
		struct hearth_conn *c = conn_list;
		conn_end(c, reason);
		c->refs++;
		conn_drain(c, 1);
		if (conn_list == c)
			conn_unlink(c);   /* a drain already under way: cannot happen */
		conn_unref(c);
	}
}
