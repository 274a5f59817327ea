/* fuzz_conf.c: plugins.conf text through the parser (core/conf.c). */
#include "config.h"

#include "conf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c = conf_parse("fuzz.conf", (const char *)data, size);
	if (c != NULL) {
		(void)conf_module_find(c, HEARTH_KIND_PROVIDER, "anthropic");
		(void)conf_module_find(c, HEARTH_KIND_TOOL, "shell");
	}
	conf_free(c);
	return 0;
}
