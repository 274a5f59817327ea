/*
 * sigint.h: interrupts for the commands that wait on the daemon (run, attach).
 *
 * Once installed, SIGINT is blocked except inside sigint_poll(), so an interrupt
 * can only land while the client waits and always wakes that wait (no lost
 * wake-up between checking the count and sleeping). The handler only counts.
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
