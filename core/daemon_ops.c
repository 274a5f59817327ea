/* daemon_ops.c: the daemon-only host services, wired to the store and tools.c. */
#include "config.h"

#include "daemon_ops.h"
#include "store.h"
#include "tools.h"

const struct host_daemon_ops core_host_ops = {
	.kv_get = store_kv_get,
	.kv_put = store_kv_put,
	.kv_delete = store_kv_delete,
	.errmsg = store_errmsg,
	.tool_update = tools_host_update,
	.tool_finish = tools_host_finish,
	.path_allowed = tools_host_path_allowed,
	.tools_changed = tools_changed,
};
