/* no_entry: a shared object that is not a hearth module (no entry symbol). */
#include <hearth/plugin.h>

HEARTH_PLUGIN_EXPORT int no_entry_function(void);

HEARTH_PLUGIN_EXPORT int
no_entry_function(void)
{
	return 42;
}
