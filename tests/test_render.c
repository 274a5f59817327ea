/*
 * test_render.c: what `hearth run` and `hearth attach` print for session updates,
 * byte for byte, in text and JSON; on a terminal and off it; and for updates that
 * are malformed, unknown or incomplete (shown as nothing, never a crash).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"

struct capture {
	char *out_text, *err_text;
	size_t out_len, err_len;
	FILE *out, *err;
	struct render r;
};

static struct capture *
capture_new(enum render_format format, int show_user)
{
	struct capture *c = calloc(1, sizeof *c);
	c->out = open_memstream(&c->out_text, &c->out_len);
	c->err = open_memstream(&c->err_text, &c->err_len);
	render_init(&c->r, format, show_user, c->out, c->err);
	return c;
}

/* Feed one update, given as JSON text (the params object, or anything). */
static void
feed(struct capture *c, const char *params_json)
{
	json_error_t err;
	json_t *params = json_loads(params_json, JSON_DECODE_ANY, &err);
	assert_non_null(params);
	render_update(&c->r, params);
	json_decref(params);
}

static void
expect(struct capture *c, const char *out, const char *err)
{
	fflush(c->out);
	fflush(c->err);
	assert_string_equal(c->out_text, out);
	assert_string_equal(c->err_text, err);
}

static void
capture_free(struct capture *c)
{
	render_clear(&c->r);
	fclose(c->out);
	fclose(c->err);
	free(c->out_text);
	free(c->err_text);
	free(c);
}

#define CHUNK(tag, text) \
	"{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"" tag "\",\"content\":" \
	"{\"type\":\"text\",\"text\":\"" text "\"}}}"
#define TOOL(extra) \
	"{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"tool_call\",\"toolCallId\":\"c1\"" \
	extra "}}"
#define TOOL_UPDATE(id, extra) \
	"{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"tool_call_update\"," \
	"\"toolCallId\":\"" id "\"" extra "}}"

static void
test_text_turn(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	feed(c, CHUNK("user_message_chunk", "hi"));
	feed(c, CHUNK("agent_thought_chunk", "hmm"));
	feed(c, CHUNK("agent_message_chunk", "Hello, "));
	feed(c, TOOL(",\"title\":\"Read README\",\"status\":\"pending\""));
	feed(c, TOOL_UPDATE("c1", ",\"status\":\"in_progress\""));
	feed(c, TOOL_UPDATE("c1", ",\"status\":\"in_progress\",\"content\":[]"));
	feed(c, TOOL_UPDATE("c1", ",\"content\":[]"));
	feed(c, TOOL_UPDATE("c1", ",\"status\":\"completed\""));
	feed(c, CHUNK("agent_message_chunk", "world."));
	feed(c, "{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"usage_update\",\"used\":5}}");
	render_stop(&c->r, "end_turn");
	/* Off a terminal: no thoughts, no user echo, stdout untouched by tool lines. */
	expect(c, "Hello, world.\n",
	       "• Read README\n• Read README: in_progress\n• Read README: completed\n");
	capture_free(c);
}

static void
test_text_ending_with_newline_gets_no_other(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	feed(c, CHUNK("agent_message_chunk", "line\\n"));
	render_stop(&c->r, "end_turn");
	render_finish(&c->r);
	expect(c, "line\n", "");
	capture_free(c);
}

static void
test_nothing_said_prints_nothing(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	render_stop(&c->r, "end_turn");
	expect(c, "", "");
	capture_free(c);
}

/* On a terminal: thoughts dimmed on stderr, and stderr lines start on a fresh line. */
static void
test_terminal(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	c->r.out_tty = c->r.err_tty = 1;
	feed(c, CHUNK("agent_thought_chunk", "Let me "));
	feed(c, CHUNK("agent_thought_chunk", "look."));
	feed(c, CHUNK("agent_message_chunk", "Hello"));
	feed(c, TOOL(",\"title\":\"ls\""));
	feed(c, CHUNK("agent_message_chunk", "Done"));
	render_stop(&c->r, "end_turn");
	expect(c, "Hello\nDone\n", "\033[2mLet me \033[0m\033[2mlook.\033[0m\n• ls\n");
	capture_free(c);
}

/* A line of the client's own on stderr breaks the stdout line only on one screen. */
static void
test_break(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	feed(c, CHUNK("agent_message_chunk", "Hello, "));
	render_break(&c->r);
	feed(c, CHUNK("agent_message_chunk", "world."));
	render_stop(&c->r, "end_turn");
	expect(c, "Hello, world.\n", "");
	capture_free(c);

	c = capture_new(RENDER_TEXT, 0);
	c->r.out_tty = c->r.err_tty = 1;
	feed(c, CHUNK("agent_thought_chunk", "hmm"));
	render_break(&c->r);
	feed(c, CHUNK("agent_message_chunk", "Hello, "));
	render_break(&c->r);
	render_break(&c->r);
	feed(c, CHUNK("agent_message_chunk", "world."));
	render_stop(&c->r, "end_turn");
	expect(c, "Hello, \nworld.\n", "\033[2mhmm\033[0m\n");
	capture_free(c);

	c = capture_new(RENDER_JSON, 0);
	c->r.out_tty = c->r.err_tty = 1;
	feed(c, "{}");
	render_break(&c->r);
	expect(c, "{}\n", "");
	capture_free(c);
}

static void
test_attach_shows_user_quoted(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 1);
	feed(c, CHUNK("user_message_chunk", "fix it\\nplease"));
	feed(c, CHUNK("user_message_chunk", " now"));
	feed(c, CHUNK("agent_message_chunk", "On it."));
	feed(c, TOOL(",\"title\":\"edit\""));
	feed(c, CHUNK("agent_message_chunk", " Done."));
	feed(c, CHUNK("user_message_chunk", "thanks\\n"));
	feed(c, CHUNK("agent_message_chunk", "You're welcome."));
	render_finish(&c->r);
	expect(c, "> fix it\n> please now\n\nOn it. Done.\n\n> thanks\n\nYou're welcome.\n",
	       "• edit\n");
	capture_free(c);
}

static void
test_json_lines(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_JSON, 0);
	feed(c, "{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"agent_message_chunk\","
		"\"content\":{\"type\":\"text\",\"text\":\"h\\u00e9\\n\"}},"
		"\"_meta\":{\"hearth\":{\"seq\":3}}}");
	feed(c, "{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"something_new\",\"x\":[1]}}");
	render_stop(&c->r, "max_tokens");
	render_finish(&c->r);
	expect(c,
	       "{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"agent_message_chunk\","
	       "\"content\":{\"type\":\"text\",\"text\":\"hé\\n\"}},\"_meta\":{\"hearth\":{\"seq\":3}}}\n"
	       "{\"sessionId\":\"s\",\"update\":{\"sessionUpdate\":\"something_new\",\"x\":[1]}}\n"
	       "{\"stopReason\":\"max_tokens\"}\n",
	       "");
	capture_free(c);
}

static void
test_plan_and_content_kinds(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	feed(c, "{\"update\":{\"sessionUpdate\":\"plan\",\"entries\":[{\"content\":\"read\","
		"\"status\":\"completed\"},{\"content\":\"write\"},{\"status\":\"pending\"}]}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":"
		"{\"type\":\"image\",\"data\":\"AAAA\",\"mimeType\":\"image/png\"}}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":"
		"{\"type\":\"resource_link\",\"uri\":\"file:///a.c\",\"name\":\"a.c\"}}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":"
		"{\"type\":\"resource\",\"resource\":{\"uri\":\"file:///b.c\",\"text\":\"x\"}}}}");
	render_finish(&c->r);
	expect(c, "[image][resource_link: file:///a.c][resource: file:///b.c]\n",
	       "• plan\n  - read (completed)\n  - write (pending)\n  -  (pending)\n");
	capture_free(c);
}

/* A tool update for a call never announced is named by its id; a title may come late. */
static void
test_tool_titles(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	feed(c, TOOL_UPDATE("c9", ",\"status\":\"failed\""));
	feed(c, TOOL(""));
	feed(c, TOOL_UPDATE("c1", ",\"title\":\"grep TODO\",\"status\":\"completed\""));
	feed(c, TOOL_UPDATE("c1", ",\"title\":\"\",\"status\":\"failed\""));
	feed(c, "{\"update\":{\"sessionUpdate\":\"tool_call_update\",\"status\":\"failed\"}}");
	expect(c, "", "• c9: failed\n• c1\n• grep TODO: completed\n• grep TODO: failed\n• : failed\n");
	capture_free(c);
}

/* A finished call's output under it (at most 8 lines), a failure's reason on its line;
 * the counts a run's result needs. */
static void
test_tool_output_and_counts(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 0);
	feed(c, TOOL(",\"title\":\"ls\",\"status\":\"pending\""));
	feed(c, TOOL_UPDATE("c1", ",\"status\":\"completed\",\"content\":[{\"type\":\"content\","
			    "\"content\":{\"type\":\"text\",\"text\":\"a\\nb\\nc\\nd\\ne\\nf\\ng\\nh\\ni\\nj\"}}]"));
	feed(c, "{\"update\":{\"sessionUpdate\":\"tool_call\",\"toolCallId\":\"c2\","
		"\"title\":\"rm\",\"status\":\"pending\"}}");
	feed(c, TOOL_UPDATE("c2", ",\"status\":\"failed\",\"content\":[{\"type\":\"content\","
			    "\"content\":{\"type\":\"text\",\"text\":\"denied by a deny rule\"}}]"));
	feed(c, TOOL(",\"title\":\"ls\",\"status\":\"pending\"")); /* c1 again: not counted */
	feed(c, CHUNK("agent_message_chunk", "Done"));
	feed(c, CHUNK("agent_message_chunk", "."));
	feed(c, "{\"update\":{\"sessionUpdate\":\"usage_update\",\"used\":5}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"usage_update\",\"used\":9}}");
	assert_int_equal(c->r.tool_calls, 2);
	assert_int_equal(c->r.model_calls, 2);
	assert_string_equal(c->r.final_text, "Done.");
	render_stop(&c->r, "end_turn");
	expect(c, "Done.\n",
	       "• ls\n• ls: completed\n    a\n    b\n    c\n    d\n    e\n    f\n    g\n    h\n"
	       "    … 2 more lines\n• rm\n• rm: failed: denied by a deny rule\n• ls\n");
	capture_free(c);
}

static void
test_malformed_updates(void **state)
{
	(void)state;
	struct capture *c = capture_new(RENDER_TEXT, 1);
	feed(c, "null");
	feed(c, "[]");
	feed(c, "{}");
	feed(c, "{\"update\":7}");
	feed(c, "{\"update\":{}}");
	feed(c, "{\"update\":{\"sessionUpdate\":3}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"agent_message_chunk\"}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":[]}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":{\"type\":1}}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":"
		"{\"type\":\"text\",\"text\":5}}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"user_message_chunk\",\"content\":"
		"{\"type\":\"text\"}}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"plan\",\"entries\":\"no\"}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"plan\",\"entries\":[1,null]}}");
	feed(c, "{\"update\":{\"sessionUpdate\":\"tool_call\",\"toolCallId\":[],\"title\":5}}");
	render_finish(&c->r);
	expect(c, "", "• plan\n• plan\n  -  (pending)\n  -  (pending)\n• \n");
	capture_free(c);
}

/* A big chunk passes whole. */
static void
test_oversized_chunk(void **state)
{
	(void)state;
	size_t n = 1 << 20;
	char *text = malloc(n + 1);
	memset(text, 'a', n);
	text[n] = '\0';
	json_t *params = json_pack("{s:{s:s, s:{s:s, s:s}}}", "update", "sessionUpdate",
				   "agent_message_chunk", "content", "type", "text", "text", text);
	struct capture *c = capture_new(RENDER_TEXT, 0);
	render_update(&c->r, params);
	render_finish(&c->r);
	fflush(c->out);
	assert_int_equal(c->out_len, n + 1);
	assert_memory_equal(c->out_text, text, n);
	json_decref(params);
	free(text);
	capture_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_turn),
		cmocka_unit_test(test_text_ending_with_newline_gets_no_other),
		cmocka_unit_test(test_nothing_said_prints_nothing),
		cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_break),
		cmocka_unit_test(test_attach_shows_user_quoted),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_plan_and_content_kinds),
		cmocka_unit_test(test_tool_titles),
		cmocka_unit_test(test_tool_output_and_counts),
		cmocka_unit_test(test_malformed_updates),
		cmocka_unit_test(test_oversized_chunk),
	};
	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
