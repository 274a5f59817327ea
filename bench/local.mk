# bench/: benchmarks, built and run by `make bench`, never by `make check`: figures, not
# assertions.
EXTRA_PROGRAMS += %D%/bench_store %D%/bench_sse
EXTRA_PROGRAMS += %D%/bench_grep
%C%_bench_grep_SOURCES = %D%/bench_grep.c
%C%_bench_grep_CFLAGS = $(core_libhearthcore_la_CFLAGS)
%C%_bench_grep_LDADD = core/libhearthcore.la
EXTRA_DIST += %D%/bench_grep.sh
%C%_bench_store_SOURCES = %D%/bench_store.c
%C%_bench_store_CFLAGS = $(core_libhearthcore_la_CFLAGS)
%C%_bench_store_LDADD = core/libhearthcore.la
%C%_bench_sse_SOURCES = %D%/bench_sse.c
%C%_bench_sse_CFLAGS = $(core_libhearthcore_la_CFLAGS)
%C%_bench_sse_LDADD = core/libhearthcore.la
CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += %D%/run.sh
.PHONY: bench
bench: %D%/bench_store$(EXEEXT) %D%/bench_sse$(EXEEXT) %D%/bench_grep$(EXEEXT) all $(check_LTLIBRARIES)
	./bench/bench_sse
	./bench/bench_store
	$(SHELL) $(srcdir)/bench/run.sh $(abs_top_builddir)
	$(SHELL) $(srcdir)/bench/bench_grep.sh $(abs_top_builddir)


# Connections: the replay of a long session (session/load) to a reading client.
EXTRA_PROGRAMS += %D%/bench_replay
%C%_bench_replay_SOURCES = %D%/bench_replay.c tests/testutil.c tests/testutil.h
%C%_bench_replay_CFLAGS = $(core_libhearthcore_la_CFLAGS)
%C%_bench_replay_LDADD = core/libhearthcore.la
bench: bench-replay
.PHONY: bench-replay
bench-replay: %D%/bench_replay$(EXEEXT)
	./bench/bench_replay 10000
	./bench/bench_replay 10000 65536
