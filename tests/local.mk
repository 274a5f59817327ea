# %D%/: cmocka tests, test modules, fakes of the vendors, end-to-end scripts.
TEST_COPTS = $(core_libhearthcore_la_CFLAGS) $(CMOCKA_CFLAGS) \
	-DTEST_SRCDIR=\"$(abs_top_srcdir)/tests\" -DTEST_BUILDDIR=\"$(abs_top_builddir)/tests\"
TEST_LIBS = core/libhearthcore.la $(CMOCKA_LIBS)
AM_TESTS_ENVIRONMENT = \
	export HEARTH_TEST_SRCDIR='$(abs_top_srcdir)/tests'; \
	export HEARTH_TEST_BUILDDIR='$(abs_top_builddir)'; \
	export ASAN_OPTIONS=detect_leaks=1; \
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1;

if HAVE_CMOCKA

# Test modules: real, uninstalled .so files for the registry tests. -rpath makes
# libtool build a shared module even though it is never installed.
TEST_MODULE_COPTS = $(AM_CFLAGS) -fvisibility=hidden $(JANSSON_CFLAGS)
TEST_MODULE_LDOPTS = -module -avoid-version -shared -Wl,-z,defs -Wl,-z,now \
	-export-symbols-regex '^hearth_plugin_entry$$' -rpath /nowhere $(SANITIZER_FLAGS)
check_LTLIBRARIES += %D%/modules/good_tool.la %D%/modules/good_provider.la %D%/modules/good_frontend.la %D%/modules/bad_abi.la %D%/modules/bad_size.la %D%/modules/bad_vtable_size.la %D%/modules/no_callback.la %D%/modules/failing_init.la %D%/modules/dup_name.la %D%/modules/dup_tool.la %D%/modules/no_entry.la \
	%D%/modules/script_provider.la
%C%_modules_good_tool_la_SOURCES = %D%/modules/good_tool.c
%C%_modules_good_tool_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_good_tool_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_good_tool_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_good_provider_la_SOURCES = %D%/modules/good_provider.c
%C%_modules_good_provider_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_good_provider_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_good_provider_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_good_frontend_la_SOURCES = %D%/modules/good_frontend.c
%C%_modules_good_frontend_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_good_frontend_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_good_frontend_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_bad_abi_la_SOURCES = %D%/modules/bad_abi.c
%C%_modules_bad_abi_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_bad_abi_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_bad_abi_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_bad_size_la_SOURCES = %D%/modules/bad_size.c
%C%_modules_bad_size_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_bad_size_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_bad_size_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_bad_vtable_size_la_SOURCES = %D%/modules/bad_vtable_size.c
%C%_modules_bad_vtable_size_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_bad_vtable_size_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_bad_vtable_size_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_no_callback_la_SOURCES = %D%/modules/no_callback.c
%C%_modules_no_callback_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_no_callback_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_no_callback_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_failing_init_la_SOURCES = %D%/modules/failing_init.c
%C%_modules_failing_init_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_failing_init_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_failing_init_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_dup_name_la_SOURCES = %D%/modules/dup_name.c
%C%_modules_dup_name_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_dup_name_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_dup_name_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_dup_tool_la_SOURCES = %D%/modules/dup_tool.c
%C%_modules_dup_tool_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_dup_tool_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_dup_tool_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_no_entry_la_SOURCES = %D%/modules/no_entry.c
%C%_modules_no_entry_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_no_entry_la_LDFLAGS = -module -avoid-version -shared -Wl,-z,defs -rpath /nowhere $(SANITIZER_FLAGS)
%C%_modules_no_entry_la_LIBADD = $(JANSSON_LIBS)
%C%_modules_script_provider_la_SOURCES = %D%/modules/script_provider.c
%C%_modules_script_provider_la_CFLAGS = $(TEST_MODULE_COPTS)
%C%_modules_script_provider_la_LDFLAGS = $(TEST_MODULE_LDOPTS)
%C%_modules_script_provider_la_LIBADD = $(JANSSON_LIBS)
EXTRA_DIST += %D%/modules/bad_modules.h

check_PROGRAMS += %D%/test_registry %D%/test_host %D%/test_rpc %D%/test_sse \
	%D%/test_ndjson
%C%_test_sse_SOURCES = %D%/test_sse.c
%C%_test_sse_CFLAGS = $(TEST_COPTS)
%C%_test_sse_LDADD = $(TEST_LIBS)
%C%_test_ndjson_SOURCES = %D%/test_ndjson.c
%C%_test_ndjson_CFLAGS = $(TEST_COPTS)
%C%_test_ndjson_LDADD = $(TEST_LIBS)
%C%_test_rpc_SOURCES = %D%/test_rpc.c
%C%_test_rpc_CFLAGS = $(TEST_COPTS)
%C%_test_rpc_LDADD = $(TEST_LIBS)
%C%_test_registry_SOURCES = %D%/test_registry.c %D%/testutil.c %D%/testutil.h
%C%_test_registry_CFLAGS = $(TEST_COPTS)
%C%_test_registry_LDADD = $(TEST_LIBS)
%C%_test_host_SOURCES = %D%/test_host.c %D%/testutil.c %D%/testutil.h
%C%_test_host_CFLAGS = $(TEST_COPTS)
%C%_test_host_LDADD = $(TEST_LIBS)
TESTS += $(check_PROGRAMS) %D%/test_hearthd.sh %D%/test_acp_sdk.sh %D%/test_e2e.sh
EXTRA_DIST += %D%/test_hearthd.sh %D%/test_acp_sdk.sh %D%/test_e2e.sh %D%/peers/package.json %D%/peers/acp_sdk_client.mjs
check_PROGRAMS += %D%/test_socket
%C%_test_socket_SOURCES = %D%/test_socket.c %D%/testutil.c %D%/testutil.h
%C%_test_socket_CFLAGS = $(TEST_COPTS)
%C%_test_socket_LDADD = $(TEST_LIBS)
check_PROGRAMS += %D%/test_conf
%C%_test_conf_SOURCES = %D%/test_conf.c
%C%_test_conf_CFLAGS = $(TEST_COPTS)
%C%_test_conf_LDADD = $(TEST_LIBS)
check_PROGRAMS += %D%/test_store %D%/test_acp %D%/test_daemon %D%/test_permission
%C%_test_permission_SOURCES = %D%/test_permission.c %D%/testutil.c %D%/testutil.h
%C%_test_permission_CFLAGS = $(TEST_COPTS)
%C%_test_permission_LDADD = $(TEST_LIBS)
%C%_test_daemon_SOURCES = %D%/test_daemon.c %D%/testutil.c %D%/testutil.h
%C%_test_daemon_CFLAGS = $(TEST_COPTS)
%C%_test_daemon_LDADD = $(TEST_LIBS)
%C%_test_acp_SOURCES = %D%/test_acp.c %D%/testutil.c %D%/testutil.h
%C%_test_acp_CFLAGS = $(TEST_COPTS)
%C%_test_acp_LDADD = $(TEST_LIBS)
%C%_test_store_SOURCES = %D%/test_store.c
%C%_test_store_CFLAGS = $(TEST_COPTS)
%C%_test_store_LDADD = $(TEST_LIBS)
# A scripted HTTP/1.1 server on 127.0.0.1 (%D%/fakehttp.h), for every test
# that talks HTTP: link %D%/libfakehttp.la.
check_LTLIBRARIES += %D%/libfakehttp.la
%C%_libfakehttp_la_SOURCES = %D%/fakehttp.c %D%/fakehttp.h
%C%_libfakehttp_la_LIBADD = -lpthread
check_PROGRAMS += %D%/test_http
%C%_test_http_SOURCES = %D%/test_http.c
%C%_test_http_CFLAGS = $(TEST_COPTS)
%C%_test_http_LDADD = %D%/libfakehttp.la $(TEST_LIBS)
check_PROGRAMS += %D%/test_proc
%C%_test_proc_SOURCES = %D%/test_proc.c %D%/testutil.c %D%/testutil.h
%C%_test_proc_CFLAGS = $(TEST_COPTS)
%C%_test_proc_LDADD = $(TEST_LIBS)
# A fake Anthropic API on fakehttp (%D%/fake_anthropic.h), and the same as a
# program for end-to-end tests (run alone, it checks itself).
check_LTLIBRARIES += %D%/libfakeanthropic.la
%C%_libfakeanthropic_la_SOURCES = %D%/fake_anthropic.c %D%/fake_anthropic.h
%C%_libfakeanthropic_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
%C%_libfakeanthropic_la_LIBADD = %D%/libfakehttp.la $(JANSSON_LIBS)
check_PROGRAMS += %D%/fake-anthropic
%C%_fake_anthropic_SOURCES = %D%/fake_anthropic_main.c
%C%_fake_anthropic_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
%C%_fake_anthropic_LDADD = %D%/libfakeanthropic.la $(JANSSON_LIBS)
check_PROGRAMS += %D%/test_anthropic
%C%_test_anthropic_SOURCES = %D%/test_anthropic.c %D%/testutil.c %D%/testutil.h \
	%D%/provider_harness.c %D%/provider_harness.h
%C%_test_anthropic_CFLAGS = $(TEST_COPTS)
%C%_test_anthropic_LDADD = %D%/libfakeanthropic.la $(TEST_LIBS)
# A fake OpenAI API on fakehttp (%D%/fake_openai.h), and the OpenAI provider's tests.
check_LTLIBRARIES += %D%/libfakeopenai.la
%C%_libfakeopenai_la_SOURCES = %D%/fake_openai.c %D%/fake_openai.h
%C%_libfakeopenai_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
%C%_libfakeopenai_la_LIBADD = %D%/libfakehttp.la $(JANSSON_LIBS)
check_PROGRAMS += %D%/test_openai
%C%_test_openai_SOURCES = %D%/test_openai.c %D%/testutil.c %D%/testutil.h \
	%D%/provider_harness.c %D%/provider_harness.h
%C%_test_openai_CFLAGS = $(TEST_COPTS)
%C%_test_openai_LDADD = %D%/libfakeopenai.la $(TEST_LIBS)
# A fake Gemini API on fakehttp (%D%/fake_gemini.h).
check_LTLIBRARIES += %D%/libfakegemini.la
%C%_libfakegemini_la_SOURCES = %D%/fake_gemini.c %D%/fake_gemini.h
%C%_libfakegemini_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
%C%_libfakegemini_la_LIBADD = %D%/libfakehttp.la $(JANSSON_LIBS)
check_PROGRAMS += %D%/test_gemini
%C%_test_gemini_SOURCES = %D%/test_gemini.c %D%/testutil.c %D%/testutil.h \
	%D%/provider_harness.c %D%/provider_harness.h
%C%_test_gemini_CFLAGS = $(TEST_COPTS)
%C%_test_gemini_LDADD = %D%/libfakegemini.la $(TEST_LIBS)
# A fake Ollama server on fakehttp (%D%/fake_ollama.h), and the same as a
# program for end-to-end tests (run alone, it checks itself).
check_LTLIBRARIES += %D%/libfakeollama.la
%C%_libfakeollama_la_SOURCES = %D%/fake_ollama.c %D%/fake_ollama.h
%C%_libfakeollama_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
%C%_libfakeollama_la_LIBADD = %D%/libfakehttp.la $(JANSSON_LIBS)
check_PROGRAMS += %D%/fake-ollama
%C%_fake_ollama_SOURCES = %D%/fake_ollama_main.c
%C%_fake_ollama_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
%C%_fake_ollama_LDADD = %D%/libfakeollama.la $(JANSSON_LIBS)
check_PROGRAMS += %D%/test_ollama
%C%_test_ollama_SOURCES = %D%/test_ollama.c %D%/testutil.c %D%/testutil.h \
	%D%/provider_harness.c %D%/provider_harness.h
%C%_test_ollama_CFLAGS = $(TEST_COPTS)
%C%_test_ollama_LDADD = %D%/libfakeollama.la $(TEST_LIBS)
# One session through every provider, against all the fakes.
check_PROGRAMS += %D%/test_switch
%C%_test_switch_SOURCES = %D%/test_switch.c %D%/testutil.c %D%/testutil.h
%C%_test_switch_CFLAGS = $(TEST_COPTS)
%C%_test_switch_LDADD = %D%/libfakeanthropic.la %D%/libfakeopenai.la \
	%D%/libfakegemini.la %D%/libfakeollama.la $(TEST_LIBS)
# The client against a fake daemon (%D%/fake_acpd, built below).
TESTS += %D%/test_client.sh
EXTRA_DIST += %D%/test_client.sh
check_PROGRAMS += %D%/test_client_rpc %D%/test_render
%C%_test_client_rpc_SOURCES = %D%/test_client_rpc.c client/client_rpc.c client/sigint.c
%C%_test_client_rpc_CFLAGS = $(TEST_COPTS) -I$(top_srcdir)/client
%C%_test_client_rpc_LDADD = $(TEST_LIBS)
%C%_test_render_SOURCES = %D%/test_render.c client/render.c
%C%_test_render_CFLAGS = $(TEST_COPTS) -I$(top_srcdir)/client
%C%_test_render_LDADD = $(TEST_LIBS)
check_PROGRAMS += %D%/test_edit
%C%_test_edit_SOURCES = %D%/test_edit.c %D%/testutil.c %D%/testutil.h
%C%_test_edit_CFLAGS = $(TEST_COPTS)
%C%_test_edit_LDADD = $(TEST_LIBS)
# The grep tool module against real trees and git check-ignore.
check_PROGRAMS += %D%/test_grep
%C%_test_grep_SOURCES = %D%/test_grep.c %D%/testutil.c %D%/testutil.h
%C%_test_grep_CFLAGS = $(TEST_COPTS)
%C%_test_grep_LDADD = $(TEST_LIBS)
# The shell tool module with real /bin/sh children.
check_PROGRAMS += %D%/test_shell
%C%_test_shell_SOURCES = %D%/test_shell.c %D%/testutil.c %D%/testutil.h
%C%_test_shell_CFLAGS = $(TEST_COPTS)
%C%_test_shell_LDADD = $(TEST_LIBS)
else
check-local:
	@echo "make check needs cmocka: apt-get install libcmocka-dev, then ./configure again" >&2
	@exit 1
endif


# An out-of-tree module built against the installed headers (run by distcheck).
installcheck-local:
	$(SHELL) $(srcdir)/tests/installcheck.sh '$(DESTDIR)$(bindir)/hearthd' \
		'$(DESTDIR)$(libdir)/pkgconfig' '$(srcdir)/tests'
EXTRA_DIST += %D%/installcheck.sh %D%/oot/oot_tool.c

# The client tests' fake daemon: a helper, not a test, so it is built for `make
# check` through check_DATA (TESTS runs every check_PROGRAMS).
EXTRA_PROGRAMS += %D%/fake_acpd
%C%_fake_acpd_SOURCES = %D%/fake_acpd.c
%C%_fake_acpd_CFLAGS = $(core_libhearthcore_la_CFLAGS)
%C%_fake_acpd_LDADD = core/libhearthcore.la
check_DATA += %D%/fake_acpd$(EXEEXT)

# Hardening: the params schemas (core/params.c).
if HAVE_CMOCKA
check_PROGRAMS += %D%/test_params
%C%_test_params_SOURCES = %D%/test_params.c
%C%_test_params_CFLAGS = $(TEST_COPTS)
%C%_test_params_LDADD = $(TEST_LIBS)
check_PROGRAMS += %D%/test_names
%C%_test_names_SOURCES = %D%/test_names.c plugins/tools/names.c
%C%_test_names_CFLAGS = $(TEST_COPTS)
%C%_test_names_LDADD = $(TEST_LIBS)
# The crash campaign: kill -9 the real hearthd at random moments (tests/test_crash.c).
check_PROGRAMS += %D%/test_crash
%C%_test_crash_SOURCES = %D%/test_crash.c %D%/testutil.c %D%/testutil.h
%C%_test_crash_CFLAGS = $(TEST_COPTS) $(SQLITE3_CFLAGS)
%C%_test_crash_LDADD = $(TEST_LIBS) $(SQLITE3_LIBS)
endif

# sandbox: the shell splitter
if HAVE_CMOCKA
check_PROGRAMS += %D%/test_shellsplit
%C%_test_shellsplit_SOURCES = %D%/test_shellsplit.c
%C%_test_shellsplit_CFLAGS = $(TEST_COPTS)
%C%_test_shellsplit_LDADD = $(TEST_LIBS)
endif

# The TUI: cmocka tests of its pure parts (text, Markdown, editor, keys) and the tmux test.
if HAVE_CMOCKA
check_PROGRAMS += %D%/test_tui
%C%_test_tui_SOURCES = %D%/test_tui.c $(TUI_PURE_SOURCES)
%C%_test_tui_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(CMARK_CFLAGS) -I$(srcdir)/plugins/frontends
%C%_test_tui_LDADD = $(CMOCKA_LIBS) $(CMARK_LIBS)
endif
TESTS += %D%/test_tui.sh
EXTRA_DIST += %D%/test_tui.sh

# Connections: delivery, backpressure, paced replays, through the socket frontend.
if HAVE_CMOCKA
check_PROGRAMS += %D%/test_conn
%C%_test_conn_SOURCES = %D%/test_conn.c %D%/testutil.c %D%/testutil.h
%C%_test_conn_CFLAGS = $(TEST_COPTS)
%C%_test_conn_LDADD = $(TEST_LIBS)
endif
