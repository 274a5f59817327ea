# client/: the `hearth` client, one file per concern, one per command.
bin_PROGRAMS += hearth
hearth_SOURCES = %D%/hearth.c %D%/hearth.h \
	%D%/connect.c %D%/connect.h \
	%D%/client_rpc.c %D%/client_rpc.h \
	%D%/sigint.c %D%/sigint.h \
	%D%/render.c %D%/render.h \
	%D%/permission.c %D%/permission.h \
	%D%/follow.c %D%/follow.h \
	%D%/cmd_run.c %D%/cmd_sessions.c %D%/cmd_models.c %D%/cmd_attach.c \
	%D%/cmd_acp.c %D%/cmd_stop.c %D%/cmd_doctor.c
hearth_CFLAGS = $(core_libhearthhost_la_CFLAGS) $(SQLITE3_CFLAGS)
# The host library only: the client never opens the store (no libsqlite3 to load).
hearth_LDADD = core/libhearthhost.la
