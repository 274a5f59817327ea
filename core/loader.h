/*
 * loader.h: the one file that talks to libltdl, so it could be swapped for plain
 * dlopen. Modules are opened RTLD_LOCAL: a module never sees another module's
 * symbols. libltdl binds lazily, so shipped modules are linked with -no-undefined
 * and -Wl,-z,now (bind at load): an unresolved symbol fails the build or the load,
 * never a call in the middle of a session.
 * libltdl is not thread-safe: call these from the loop thread only.
 */
#ifndef HEARTH_LOADER_H
#define HEARTH_LOADER_H

/* Reference-counted, like lt_dlinit/lt_dlexit. Return 0 or HEARTH_EIO. */
int loader_init(void);
void loader_exit(void);

/*
 * Open the module file at `path` (a libtool .la, which points at the real object,
 * or a .so). Returns a handle, or NULL with *error a malloc'd reason the caller frees.
 */
void *loader_open(const char *path, char **error);
/* The address of `symbol` in the module, or NULL. */
void *loader_sym(void *handle, const char *symbol);
/* Unload; the handle is dead afterwards. */
void loader_close(void *handle);

#endif
