/* loader.c: libltdl behind a thin interface (see loader.h). */
#include "config.h"

#include <stdlib.h>

#include <ltdl.h>

#include <hearth/plugin.h>

#include "loader.h"
#include "xmalloc.h"

int
loader_init(void)
{
	return lt_dlinit() == 0 ? 0 : HEARTH_EIO;
}

void
loader_exit(void)
{
	lt_dlexit();
}

void *
loader_open(const char *path, char **error)
{
	lt_dladvise advise;
	lt_dlhandle h = NULL;

	if (lt_dladvise_init(&advise) != 0) {
		*error = xstrdup(lt_dlerror());
		return NULL;
	}
	/* Local symbols: modules never resolve against each other (DESIGN 4). */
	lt_dladvise_local(&advise);
	h = lt_dlopenadvise(path, advise);
	lt_dladvise_destroy(&advise);
	if (h == NULL) {
		const char *why = lt_dlerror();
		*error = xstrdup(why != NULL ? why : "unknown libltdl error");
	}
	return h;
}

void *
loader_sym(void *handle, const char *symbol)
{
	return lt_dlsym((lt_dlhandle)handle, symbol);
}

void
loader_close(void *handle)
{
	if (handle != NULL)
		lt_dlclose((lt_dlhandle)handle);
}
