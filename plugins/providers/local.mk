# plugins/providers/: one module per vendor API.
# What every provider module shares, linked into each (modules cannot link the core).
noinst_LTLIBRARIES += %D%/libkit.la
%C%_libkit_la_SOURCES = %D%/kit.c %D%/kit.h
%C%_libkit_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS)

provider_LTLIBRARIES += %D%/anthropic.la
%C%_anthropic_la_SOURCES = %D%/anthropic.c
%C%_anthropic_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS)
%C%_anthropic_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_anthropic_la_LIBADD = %D%/libkit.la $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load provider anthropic\n

provider_LTLIBRARIES += %D%/openai.la
%C%_openai_la_SOURCES = %D%/openai.c
%C%_openai_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS)
%C%_openai_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_openai_la_LIBADD = %D%/libkit.la $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load provider openai\n

provider_LTLIBRARIES += %D%/gemini.la
%C%_gemini_la_SOURCES = %D%/gemini.c
%C%_gemini_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS)
%C%_gemini_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_gemini_la_LIBADD = %D%/libkit.la $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load provider gemini\n

provider_LTLIBRARIES += %D%/ollama.la
%C%_ollama_la_SOURCES = %D%/ollama.c
%C%_ollama_la_CFLAGS = $(MODULE_COPTS) $(JANSSON_CFLAGS)
%C%_ollama_la_LDFLAGS = $(MODULE_LDOPTS)
%C%_ollama_la_LIBADD = %D%/libkit.la $(JANSSON_LIBS)
HEARTH_DEFAULT_CONF += load provider ollama\n
