/* sigint.c: SIGINT counting and a poll that it interrupts (see sigint.h). */
#include "config.h"

#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "sigint.h"

static volatile sig_atomic_t sigint_seen;
static int sigint_installed;
static sigset_t sigint_wait_mask; /* the mask inside sigint_poll: SIGINT open */

static void
sigint_handler_cb(int signum)
{
	(void)signum;
	sigint_seen++;
}

void
sigint_install(void)
{
	struct sigaction sa = { .sa_handler = sigint_handler_cb };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the wait must see EINTR. */
	sigaction(SIGINT, &sa, NULL);

	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigint_wait_mask = old;
	sigdelset(&sigint_wait_mask, SIGINT);
	sigint_installed = 1;
}

int
sigint_count(void)
{
	return sigint_seen;
}

int
sigint_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	if (!sigint_installed)
		return poll(fds, nfds, timeout_ms);
	struct timespec ts, *tsp = NULL;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	int n = ppoll(fds, nfds, tsp, &sigint_wait_mask);
	/* A ready fd wins over a pending signal, which would stay pending as long as
	 * data streams in: let it in now. */
	sigset_t pending;
	if (n >= 0 && sigpending(&pending) == 0 && sigismember(&pending, SIGINT)) {
		sigset_t old;
		sigprocmask(SIG_SETMASK, &sigint_wait_mask, &old);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	return n;
}
