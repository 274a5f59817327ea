/*
 * sigint.h: interrupts for the commands that wait on the daemon (run, attach).
 *
 * Once installed, SIGINT is blocked except inside sigint_poll(), so an interrupt
 * lands only while the client waits: it wakes that wait, or, when the wait had
 * data ready anyway, is let in just after it. Either way the count is up to date
 * when sigint_poll() returns, and no wake-up is lost between checking the count
 * and sleeping. The handler only counts.
 */
#ifndef HEARTH_CLIENT_SIGINT_H
#define HEARTH_CLIENT_SIGINT_H

#include <poll.h>

/* Count SIGINTs from now on. Without it, SIGINT keeps its default action. */
void sigint_install(void);
/* How many SIGINTs arrived since sigint_install(). */
int sigint_count(void);
/*
 * poll(2) that an installed SIGINT interrupts: returns -1 with errno EINTR then.
 * timeout_ms -1 waits for ever.
 */
int sigint_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);

#endif
