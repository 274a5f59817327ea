/*
 * acp.h: the ACP method dispatcher: what the core does with each message a client
 * sends. The methods and hearth's extensions are documented in doc/protocol.md.
 */
#ifndef HEARTH_ACP_H
#define HEARTH_ACP_H

#include "registry.h"

/*
 * Install the dispatcher on core connections. registry is borrowed; shutdown is
 * called (on a later loop iteration) when a client asks the daemon to stop.
 */
void acp_init(struct registry *registry, void (*shutdown)(void));
/* Drop what waits on providers (shutdown, after their fini). */
void acp_close(void);

#endif
