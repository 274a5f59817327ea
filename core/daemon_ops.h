/*
 * daemon_ops.h: the daemon's side of the host services that only the daemon has
 * (host.h's struct host_daemon_ops): kv in the store, tool calls, tools_changed.
 * hearthd and the tests put &core_host_ops in their host_context.
 */
#ifndef HEARTH_DAEMON_OPS_H
#define HEARTH_DAEMON_OPS_H

#include "host.h"

extern const struct host_daemon_ops core_host_ops;

#endif
