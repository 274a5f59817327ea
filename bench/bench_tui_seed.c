/*
 * bench_tui_seed.c: make a long session for the TUI benchmark, straight in the store:
 *     bench_tui_seed DB CWD MESSAGES
 * writes a session in CWD with MESSAGES messages (a user prompt and a Markdown answer
 * in turn, with a tool call every tenth answer) as the session/update events a
 * session/load replays, and prints the session id.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "store.h"

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_tui_seed DB CWD MESSAGES\n");
		return 2;
	}
	char *err = NULL, *sid = NULL;
	struct store *st = store_open(argv[1], &err);
	if (st == NULL) {
		fprintf(stderr, "bench_tui_seed: %s\n", err);
		return 1;
	}
	long n = atol(argv[3]);
	if (store_session_create(st, argv[2], "ten thousand messages", NULL, &sid) != 0) {
		fprintf(stderr, "bench_tui_seed: %s\n", store_errmsg(st));
		return 1;
	}
	store_begin(st);
	for (long i = 0; i < n; i++) {
		char text[512];
		json_t *u;
		if (i % 2 == 0) {
			snprintf(text, sizeof text, "question %ld: what does the function on line %ld do?",
				 i / 2, i);
			u = json_pack("{s:s,s:{s:s,s:s}}", "sessionUpdate", "user_message_chunk",
				      "content", "type", "text", "text", text);
		} else {
			snprintf(text, sizeof text, "## Answer %ld\n\nIt **parses** the `input` and "
				 "returns a list:\n\n- the first item\n- the second item, which is "
				 "long enough to wrap on a narrow terminal\n\n```c\nint x = %ld;\n```\n",
				 i / 2, i);
			u = json_pack("{s:s,s:{s:s,s:s}}", "sessionUpdate", "agent_message_chunk",
				      "content", "type", "text", "text", text);
		}
		store_event_append(st, sid, json_string_value(json_object_get(u, "sessionUpdate")), u);
		json_decref(u);
		if (i % 20 == 1) {
			char id[32];
			snprintf(id, sizeof id, "call_%ld", i);
			u = json_pack("{s:s,s:s,s:s,s:s,s:s}", "sessionUpdate", "tool_call", "toolCallId",
				      id, "title", "ls src", "kind", "read", "status", "completed");
			store_event_append(st, sid, "tool_call", u);
			json_decref(u);
		}
		if (i % 1000 == 999) {
			store_commit(st);
			store_begin(st);
		}
	}
	store_commit(st);
	printf("%s\n", sid);
	free(sid);
	store_close(st);
	return 0;
}
