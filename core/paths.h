/*
 * paths.h: where hearth keeps things, per the XDG base directory spec.
 * Every function returns a malloc'd string the caller frees.
 */
#ifndef HEARTH_PATHS_H
#define HEARTH_PATHS_H

/* $XDG_STATE_HOME/hearth, else $HOME/.local/state/hearth. */
char *paths_state_dir(void);
/* $XDG_RUNTIME_DIR/hearth, else $TMPDIR (or /tmp)/hearth-UID. */
char *paths_runtime_dir(void);
/* $XDG_CONFIG_HOME/hearth, else $HOME/.config/hearth. */
char *paths_config_dir(void);

/*
 * Create `path` and missing parents with `mode` for the ones it creates. Returns 0
 * or HEARTH_EIO with errno set.
 */
int paths_mkdir_p(const char *path, unsigned mode);

#endif
