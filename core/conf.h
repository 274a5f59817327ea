/*
 * conf.h: plugins.conf, the daemon's configuration.
 *
 * The format (documented for users in doc/plugins.conf.5):
 *
 *     # a comment: a line whose first non-blank character is '#'
 *     load provider anthropic          directive: load a module (kind, name)
 *     load provider groq openai        directive: a second instance of a module, named
 *     module_dir /opt/hearth/modules   directive: also search this directory
 *     stop_on_module_error yes         directive: a module that fails stops hearthd
 *     log_level info                   directive: error, warn, info or debug
 *     log_file /path/to/hearthd.log    directive: log here instead of stderr
 *     max_steps 50                     directive: model requests per turn, at most
 *
 *     [provider anthropic]             section: settings of a loaded module
 *     model = claude-sonnet-4-5        key = value (blanks around both trimmed)
 *     base_url = ${ANTHROPIC_BASE_URL:-https://api.anthropic.com}
 *
 * ${VAR} expands to the environment variable (empty when unset), ${VAR:-word} to
 * word when VAR is unset or empty, and $$ to a literal $; expansion applies to
 * values and directive arguments. A line is a directive when it has no '='.
 * Lines are at most CONF_LINE_MAX bytes and must be valid UTF-8.
 *
 * Every problem is reported as "FILE:LINE: what is wrong"; parsing goes on after
 * an error so that one run reports them all.
 */
#ifndef HEARTH_CONF_H
#define HEARTH_CONF_H

#include <stddef.h>

#include <jansson.h>

#include <hearth/plugin.h>

#define CONF_LINE_MAX 4096
#define CONF_FILE_MAX (1024 * 1024)
#define CONF_MAX_STEPS_DEFAULT 50
#define CONF_MAX_STEPS_LIMIT 10000

struct conf_module {
	enum hearth_kind kind;
	char *name;          /* owned: the instance's name (sections, logs, models) */
	char *module;        /* owned: the module file's name; the name unless `load` said */
	int load_line;       /* line of its `load` directive */
	int section_line;    /* line of its [kind name] header, 0 if none */
	json_t *section;     /* owned: {"key": "value", ...}, never NULL */
	json_t *key_lines;   /* owned: {"key": line number, ...} */
};

struct conf {
	char *path;                  /* owned: the file the text came from, for messages */
	struct conf_module *modules; /* owned array, in `load` order */
	size_t n_modules;
	char **module_dirs;          /* owned array of owned strings, in file order */
	size_t n_module_dirs;
	int stop_on_module_error;    /* 0 or 1; default 0 */
	enum hearth_log_level log_level; /* default HEARTH_LOG_INFO */
	char *log_file;              /* owned, or NULL for stderr */
	int max_steps;               /* model requests per turn; default CONF_MAX_STEPS_DEFAULT */
	char **errors;               /* owned array of owned "FILE:LINE: message" strings */
	size_t n_errors;
};

/*
 * Parse `len` bytes of `text` (need not be NUL-terminated) read from `path` (used
 * in messages only). Always returns a new struct conf (free with conf_free);
 * n_errors says whether it is usable. Problems found: unknown directive, wrong
 * argument count, unknown kind, duplicate load, section for a module that is not
 * loaded, duplicate section, malformed section header, key without value or empty
 * key, duplicate key, line over CONF_LINE_MAX, invalid UTF-8, NUL bytes, unterminated
 * ${, bad yes/no or log level, a module name outside [a-z0-9_-], a file over
 * CONF_FILE_MAX.
 */
struct conf *conf_parse(const char *path, const char *text, size_t len);

/* Read and parse a file. A file that cannot be read gives one error "FILE: why". */
struct conf *conf_load(const char *path);

/* The built-in default: loads every module shipped with hearth. path is "(built-in)". */
struct conf *conf_default(void);

/*
 * Where plugins.conf is: `explicit_path` if non-NULL; else
 * $XDG_CONFIG_HOME/hearth/plugins.conf (~/.config when unset) if it exists; else
 * SYSCONFDIR/hearth/plugins.conf if it exists; else NULL (use conf_default()).
 * Returns a string the caller frees, or NULL.
 */
char *conf_find(const char *explicit_path);

/* The module with this kind and name, or NULL. Borrowed. */
struct conf_module *conf_module_find(struct conf *c, enum hearth_kind kind, const char *name);

/* "provider", "tool", "frontend"; NULL for anything else. Static. */
const char *conf_kind_name(enum hearth_kind kind);
/* The kind named `s`, or 0. */
enum hearth_kind conf_kind_parse(const char *s);

void conf_free(struct conf *c);

#endif
