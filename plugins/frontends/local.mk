# plugins/frontends/: how clients reach the core.
frontend_LTLIBRARIES += %D%/socket.la
%C%_socket_la_SOURCES = %D%/socket.c
%C%_socket_la_CFLAGS = $(MODULE_COPTS) $(LIBUV_CFLAGS) $(JANSSON_CFLAGS)
%C%_socket_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_socket_la_LIBADD = $(LIBUV_LIBS) $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load frontend socket\n

# The TUI: the terminal frontend (not in the default configuration: `hearth` loads it).
TUI_PURE_SOURCES = %D%/tui.h %D%/tui_text.c %D%/tui_md.c %D%/tui_view.c %D%/tui_edit.c \
	%D%/tui_keys.c
frontend_LTLIBRARIES += %D%/tui.la
%C%_tui_la_SOURCES = %D%/tui.c %D%/tui_app.h %D%/tui_term.c $(TUI_PURE_SOURCES)
%C%_tui_la_CFLAGS = $(MODULE_COPTS) $(LIBUV_CFLAGS) $(JANSSON_CFLAGS) $(NCURSESW_CFLAGS) \
	$(CMARK_CFLAGS)
%C%_tui_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_tui_la_LIBADD = $(LIBUV_LIBS) $(JANSSON_LIBS) $(NCURSESW_LIBS) $(CMARK_LIBS)
