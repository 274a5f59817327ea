/* fuzz_rpc.c: one JSON-RPC frame through rpc_parse (core/rpc.c), then its params
 * through the method's schema (core/params.c), as conn_send does before dispatch. */
#include "config.h"

#include <stdlib.h>

#include "fuzz.h"
#include "params.h"
#include "rpc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_msg m;
	json_t *reply = NULL;
	if (rpc_parse((const char *)data, size, &m, &reply) != 0) {
		free(rpc_dump(reply, NULL));
		json_decref(reply);
		return 0;
	}
	if (m.method != NULL) {
		char *why = NULL;
		if (params_check(m.method, m.params, &why) != 0) {
			json_t *e = rpc_error(m.id, RPC_INVALID_PARAMS, why, NULL);
			free(rpc_dump(e, NULL));
			json_decref(e);
		}
		free(why);
	}
	rpc_msg_clear(&m);
	return 0;
}
