# plugins/frontends/: how clients reach the core.
frontend_LTLIBRARIES += %D%/socket.la
%C%_socket_la_SOURCES = %D%/socket.c
%C%_socket_la_CFLAGS = $(MODULE_COPTS) $(LIBUV_CFLAGS) $(JANSSON_CFLAGS)
%C%_socket_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_socket_la_LIBADD = $(LIBUV_LIBS) $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load frontend socket\n
