/* defer.c: calls run on the next loop iteration (see defer.h). */
#include "config.h"

#include <stdlib.h>

#include "defer.h"
#include "xmalloc.h"

struct defer_item {
	void (*fn)(void *arg);
	void *arg;
	struct defer_item *next;
};

static uv_idle_t defer_idle;
static int defer_ready;
static struct defer_item *defer_head, **defer_tail = &defer_head;

static void
defer_run_all(void)
{
	/* Take the queue as it is: calls queued by these calls run next time round. */
	struct defer_item *it = defer_head;
	defer_head = NULL;
	defer_tail = &defer_head;
	while (it != NULL) {
		struct defer_item *next = it->next;
		it->fn(it->arg);
		free(it);
		it = next;
	}
}

static void
defer_idle_cb(uv_idle_t *handle)
{
	defer_run_all();
	if (defer_head == NULL)
		uv_idle_stop(handle);
}

void
defer_init(uv_loop_t *loop)
{
	uv_idle_init(loop, &defer_idle);
	defer_ready = 1;
}

void
defer_call(void (*fn)(void *arg), void *arg)
{
	struct defer_item *it = xcalloc(1, sizeof *it);
	it->fn = fn;
	it->arg = arg;
	*defer_tail = it;
	defer_tail = &it->next;
	if (defer_ready)
		uv_idle_start(&defer_idle, defer_idle_cb);
}

void
defer_close(void)
{
	while (defer_head != NULL)
		defer_run_all();
	if (defer_ready) {
		defer_ready = 0;
		uv_close((uv_handle_t *)&defer_idle, NULL);
	}
}
