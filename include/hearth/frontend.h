/*
 * hearth/frontend.h: the frontend vtable (the socket listener, the TUI).
 *
 * A frontend carries clients to the core. It opens one core connection per client
 * with host->conn_open() and relays ACP messages both ways: the socket frontend
 * does so for each accepted Unix-socket client; the TUI opens one and renders what
 * comes back. All calls run on the loop thread. See plugin.h for the rules.
 */
#ifndef HEARTH_FRONTEND_H
#define HEARTH_FRONTEND_H

#include <hearth/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hearth_frontend {
	uint32_t struct_size; /* sizeof(struct hearth_frontend) */

	/*
	 * Mandatory. Begin serving: called once every module's init() has run and the
	 * core is ready for connections. Return 0, or a HEARTH_E* code after logging.
	 */
	int (*start)(void *state);

	/*
	 * Mandatory. Stop accepting and close every client: the first step of shutdown,
	 * before any module's fini(). Handles may still be closing when it returns.
	 */
	void (*stop)(void *state);
};

#ifdef __cplusplus
}
#endif

#endif /* HEARTH_FRONTEND_H */
