# fuzz/: libFuzzer harnesses, one per parser or entry that takes outside bytes, with
# seed corpora in fuzz/corpus/<name>/. Built by `make fuzz` in a tree configured with
# `./configure CC=clang --enable-fuzzers`; `make fuzz-run` runs each for
# FUZZ_SECONDS (default 20) and fails on a crash, a leak or a timeout. See HACKING.md.
FUZZ_NAMES = acp rpc sse ndjson conf gitignore shellsplit anthropic openai openai_responses gemini ollama
EXTRA_DIST += %D%/corpus %D%/run.sh %D%/fuzz.h

if FUZZERS
FUZZ_PROGS = %D%/fuzz_acp \
	%D%/fuzz_rpc \
	%D%/fuzz_sse \
	%D%/fuzz_ndjson \
	%D%/fuzz_conf \
	%D%/fuzz_gitignore \
	%D%/fuzz_shellsplit \
	%D%/fuzz_anthropic \
	%D%/fuzz_openai \
	%D%/fuzz_openai_responses \
	%D%/fuzz_gemini \
	%D%/fuzz_ollama
EXTRA_PROGRAMS += $(FUZZ_PROGS)
CLEANFILES += $(FUZZ_PROGS)
FUZZ_LDOPTS = -fsanitize=fuzzer
FUZZ_COPTS = $(core_libhearthcore_la_CFLAGS)
FUZZ_LIBS = core/libhearthcore.la
%C%_fuzz_acp_SOURCES = %D%/fuzz_acp.c %D%/fuzz.h
%C%_fuzz_acp_CFLAGS = $(FUZZ_COPTS)
%C%_fuzz_acp_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_acp_LDADD = $(FUZZ_LIBS)
%C%_fuzz_rpc_SOURCES = %D%/fuzz_rpc.c %D%/fuzz.h
%C%_fuzz_rpc_CFLAGS = $(FUZZ_COPTS)
%C%_fuzz_rpc_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_rpc_LDADD = $(FUZZ_LIBS)
%C%_fuzz_sse_SOURCES = %D%/fuzz_sse.c %D%/fuzz.h
%C%_fuzz_sse_CFLAGS = $(FUZZ_COPTS)
%C%_fuzz_sse_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_sse_LDADD = $(FUZZ_LIBS)
%C%_fuzz_ndjson_SOURCES = %D%/fuzz_ndjson.c %D%/fuzz.h
%C%_fuzz_ndjson_CFLAGS = $(FUZZ_COPTS)
%C%_fuzz_ndjson_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_ndjson_LDADD = $(FUZZ_LIBS)
%C%_fuzz_conf_SOURCES = %D%/fuzz_conf.c %D%/fuzz.h
%C%_fuzz_conf_CFLAGS = $(FUZZ_COPTS)
%C%_fuzz_conf_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_conf_LDADD = $(FUZZ_LIBS)
%C%_fuzz_shellsplit_SOURCES = %D%/fuzz_shellsplit.c %D%/fuzz.h
%C%_fuzz_shellsplit_CFLAGS = $(FUZZ_COPTS)
%C%_fuzz_shellsplit_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_shellsplit_LDADD = $(FUZZ_LIBS)
# The gitignore matcher is static in the grep module: the harness includes its source.
%C%_fuzz_gitignore_SOURCES = %D%/fuzz_gitignore.c %D%/fuzz.h
%C%_fuzz_gitignore_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(PCRE2_CFLAGS)
%C%_fuzz_gitignore_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_gitignore_LDADD = plugins/tools/libnames.la $(JANSSON_LIBS) $(PCRE2_LIBS)
# One harness, built once per provider decoder.
%C%_fuzz_anthropic_SOURCES = %D%/fuzz_provider.c %D%/fuzz.h
%C%_fuzz_anthropic_CFLAGS = $(FUZZ_COPTS) -DFUZZ_PROVIDER='"anthropic"'
%C%_fuzz_anthropic_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_anthropic_LDADD = $(FUZZ_LIBS)
%C%_fuzz_openai_SOURCES = %D%/fuzz_provider.c %D%/fuzz.h
%C%_fuzz_openai_CFLAGS = $(FUZZ_COPTS) -DFUZZ_PROVIDER='"openai"'
%C%_fuzz_openai_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_openai_LDADD = $(FUZZ_LIBS)
%C%_fuzz_openai_responses_SOURCES = %D%/fuzz_provider.c %D%/fuzz.h
%C%_fuzz_openai_responses_CFLAGS = $(FUZZ_COPTS) -DFUZZ_PROVIDER='"openai"' -DFUZZ_SECTION='"api = responses"'
%C%_fuzz_openai_responses_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_openai_responses_LDADD = $(FUZZ_LIBS)
%C%_fuzz_gemini_SOURCES = %D%/fuzz_provider.c %D%/fuzz.h
%C%_fuzz_gemini_CFLAGS = $(FUZZ_COPTS) -DFUZZ_PROVIDER='"gemini"'
%C%_fuzz_gemini_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_gemini_LDADD = $(FUZZ_LIBS)
%C%_fuzz_ollama_SOURCES = %D%/fuzz_provider.c %D%/fuzz.h
%C%_fuzz_ollama_CFLAGS = $(FUZZ_COPTS) -DFUZZ_PROVIDER='"ollama"'
%C%_fuzz_ollama_LDFLAGS = $(FUZZ_LDOPTS)
%C%_fuzz_ollama_LDADD = $(FUZZ_LIBS)

fuzz: $(FUZZ_PROGS) $(provider_LTLIBRARIES)
fuzz-run: fuzz
	FUZZ_SECONDS=$${FUZZ_SECONDS:-20} $(SHELL) $(srcdir)/%D%/run.sh $(abs_top_builddir)/%D% \
		$(abs_top_srcdir)/%D%/corpus $(FUZZ_NAMES)
else
fuzz fuzz-run:
	@echo "the fuzzers need: ./configure CC=clang --enable-fuzzers" >&2; exit 1
endif
.PHONY: fuzz fuzz-run
