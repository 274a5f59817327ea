/*
 * defer.h: run a function on the loop's next iteration. Used where a callback
 * could otherwise re-enter its caller (a tool that finishes inside its own run(),
 * a reply produced while a request is still being parsed). One idle handle serves
 * the whole queue and is active only while the queue is non-empty, so an idle
 * daemon has no wake-ups.
 */
#ifndef HEARTH_DEFER_H
#define HEARTH_DEFER_H

#include <uv.h>

void defer_init(uv_loop_t *loop);
/* Queue fn(arg). Calls queued before defer_close() run in order. */
void defer_call(void (*fn)(void *arg), void *arg);
/* Run what is queued, then close the handle (shutdown). */
void defer_close(void);

#endif
