/* paths.c: XDG directories (see paths.h). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hearth/plugin.h>

#include "paths.h"
#include "xmalloc.h"

/* An environment variable only counts when it is an absolute path (XDG says so). */
static const char *
paths_env_abs(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] == '/' ? v : NULL;
}

static const char *
paths_home(void)
{
	const char *home = paths_env_abs("HOME");
	if (home != NULL)
		return home;
	struct passwd *pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/";
}

static char *
paths_xdg(const char *var, const char *fallback)
{
	const char *base = paths_env_abs(var);
	if (base != NULL)
		return xasprintf("%s/hearth", base);
	return xasprintf("%s/%s/hearth", paths_home(), fallback);
}

char *
paths_state_dir(void)
{
	return paths_xdg("XDG_STATE_HOME", ".local/state");
}

char *
paths_config_dir(void)
{
	return paths_xdg("XDG_CONFIG_HOME", ".config");
}

char *
paths_runtime_dir(void)
{
	const char *base = paths_env_abs("XDG_RUNTIME_DIR");
	if (base != NULL)
		return xasprintf("%s/hearth", base);
	const char *tmp = paths_env_abs("TMPDIR");
	return xasprintf("%s/hearth-%u", tmp != NULL ? tmp : "/tmp", (unsigned)getuid());
}

int
paths_mkdir_p(const char *path, unsigned mode)
{
	char *copy = xstrdup(path);
	int rc = 0;
	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, saved == '\0' ? mode : 0700) != 0 && errno != EEXIST) {
			rc = HEARTH_EIO;
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	if (rc == 0) {
		struct stat st;
		if (stat(path, &st) != 0)
			return HEARTH_EIO;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return HEARTH_EIO;
		}
	}
	return rc;
}
