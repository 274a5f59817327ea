# plugins/tools/: tool modules (a module may offer several tools).
# How every tool module shows file names (names.h), linked into each.
noinst_LTLIBRARIES += %D%/libnames.la
%C%_libnames_la_SOURCES = %D%/names.c %D%/names.h
%C%_libnames_la_CFLAGS = $(MODULE_COPTS)

tool_LTLIBRARIES += %D%/edit.la
%C%_edit_la_SOURCES = %D%/edit.c
%C%_edit_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS)
%C%_edit_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_edit_la_LIBADD = %D%/libnames.la $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load tool edit\n

tool_LTLIBRARIES += %D%/grep.la
%C%_grep_la_SOURCES = %D%/grep.c
%C%_grep_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS) $(PCRE2_CFLAGS)
%C%_grep_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_grep_la_LIBADD = %D%/libnames.la $(JANSSON_LIBS) $(PCRE2_LIBS)
HEARTH_DEFAULT_CONF += load tool grep\n

tool_LTLIBRARIES += %D%/shell.la
%C%_shell_la_SOURCES = %D%/shell.c
%C%_shell_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS)
%C%_shell_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_shell_la_LIBADD = %D%/libnames.la $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load tool shell\n
