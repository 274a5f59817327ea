# core/: the host library and the daemon.
# The host library: the host services that are not daemon-only (log, timers, work,
# config, HTTP, processes, the parsers, the registry and the loader). Both hearthd
# and the `hearth` client link it; it links neither SQLite nor the agent.
noinst_LTLIBRARIES += %D%/libhearthhost.la
%C%_libhearthhost_la_SOURCES = \
	%D%/xmalloc.c %D%/xmalloc.h \
	%D%/log.c %D%/log.h \
	%D%/paths.c %D%/paths.h \
	%D%/loader.c %D%/loader.h \
	%D%/host.c %D%/host.h \
	%D%/registry.c %D%/registry.h \
	%D%/rpc.c %D%/rpc.h \
	%D%/conf.c %D%/conf.h \
	%D%/defer.c %D%/defer.h \
	%D%/sse.c %D%/sse.h \
	%D%/ndjson.c %D%/ndjson.h \
	%D%/http.c %D%/http.h \
	%D%/proc.c %D%/proc.h
nodist_%C%_libhearthhost_la_SOURCES = %D%/default-conf.h
%C%_libhearthhost_la_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(LIBCURL_CFLAGS) $(JANSSON_CFLAGS)
%C%_libhearthhost_la_LIBADD = $(LIBUV_LIBS) $(LIBCURL_LIBS) $(JANSSON_LIBS) $(LIBLTDL)

# The daemon-only core: connections, the dispatcher, sessions, the agent, the store.
# Everything but main(), so hearthd and the tests link the same code.
noinst_LTLIBRARIES += %D%/libhearthcore.la
%C%_libhearthcore_la_SOURCES = \
	%D%/daemon_ops.c %D%/daemon_ops.h \
	%D%/params.c %D%/params.h \
	%D%/conn.c %D%/conn.h \
	%D%/tools.c %D%/tools.h \
	%D%/permission.c %D%/permission.h \
	%D%/store.c %D%/store.h \
	%D%/session.c %D%/session.h \
	%D%/agent.c %D%/agent.h \
	%D%/acp.c %D%/acp.h \
	%D%/models.c %D%/models.h
%C%_libhearthcore_la_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(LIBCURL_CFLAGS) \
	$(JANSSON_CFLAGS) $(SQLITE3_CFLAGS)
%C%_libhearthcore_la_LIBADD = %D%/libhearthhost.la $(LIBUV_LIBS) $(LIBCURL_LIBS) \
	$(JANSSON_LIBS) $(SQLITE3_LIBS) $(LIBLTDL)

bin_PROGRAMS += hearthd
hearthd_SOURCES = %D%/hearthd.c
hearthd_CFLAGS = $(core_libhearthcore_la_CFLAGS)
hearthd_LDADD = %D%/libhearthcore.la

# transcript: the agent split by concern (one writer of the conversation, request building)
%C%_libhearthcore_la_SOURCES += \
	%D%/transcript.c %D%/transcript.h \
	%D%/context.c %D%/context.h \
	%D%/turn.c %D%/turn.h

# sandbox: the shell splitter that permission rules match against
%C%_libhearthcore_la_SOURCES += %D%/shellsplit.c %D%/shellsplit.h
