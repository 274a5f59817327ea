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


# transcript: one step's daemon CPU, new session against a 10,000-message one
EXTRA_DIST += %D%/bench_session.sh
bench: bench-session
.PHONY: bench-session
bench-session: all $(check_LTLIBRARIES)
	$(SHELL) $(srcdir)/bench/bench_session.sh $(abs_top_builddir)

# The TUI's figures (bench_tui.sh): a long session seeded straight in the store.
EXTRA_PROGRAMS += %D%/bench_tui_seed
%C%_bench_tui_seed_SOURCES = %D%/bench_tui_seed.c
%C%_bench_tui_seed_CFLAGS = $(core_libhearthcore_la_CFLAGS)
%C%_bench_tui_seed_LDADD = core/libhearthcore.la
EXTRA_DIST += %D%/bench_tui.sh %D%/bench_tui_stream.py
.PHONY: bench-tui
bench-tui: %D%/bench_tui_seed$(EXEEXT) all
	$(SHELL) $(srcdir)/bench/bench_tui.sh $(abs_top_builddir)
bench: bench-tui
