/*
 * render.h: how `hearth run` and `hearth attach` show a session's updates.
 *
 * Text: the agent's message text goes to stdout as it streams; its thoughts go to
 * stderr, dimmed, only when stderr is a terminal; each tool call is one line
 * "• TITLE" on stderr, and each change of its status "• TITLE: STATUS"; a plan is
 * "• plan" and one "  - ENTRY (STATUS)" line per entry. With show_user (attach),
 * the user's messages go to stdout too, each line quoted with "> ". Other updates
 * are not shown. When stdout is a terminal, a line on stderr first ends the
 * current stdout line, so the two do not mix on screen.
 *
 * JSON: each session/update params object as received, one per line on stdout
 * (`hearth run` adds its init line before and its result line after).
 */
#ifndef HEARTH_CLIENT_RENDER_H
#define HEARTH_CLIENT_RENDER_H

#include <stdio.h>

#include <jansson.h>

enum render_format {
	RENDER_TEXT,
	RENDER_JSON,
};

enum render_last {
	RENDER_NONE,
	RENDER_USER,
	RENDER_AGENT,
	RENDER_THOUGHT,
};

struct render {
	enum render_format format;
	int show_user;           /* print user_message_chunk (attach) */
	FILE *out, *err;         /* borrowed: stdout and stderr */
	int out_tty, err_tty;    /* thoughts only on a terminal; keep lines apart */
	int out_bol, err_bol;    /* the stream is at the start of a line */
	int out_used;            /* something went to out */
	enum render_last last;   /* what the previous chunk was */
	enum render_last speaker; /* whose message text went to out last */
	json_t *tools;           /* owned: {toolCallId: {"title", "status"}} */
	/* What the turn did, for `hearth run`'s result (counted in both formats). */
	int model_calls;         /* usage_update notifications: one per model call */
	int tool_calls;          /* distinct tool calls */
	char *final_text;        /* owned: the agent's text since its last tool call */
	size_t final_len;
};

/* Set r up for out and err (borrowed; usually stdout and stderr). */
void render_init(struct render *r, enum render_format format, int show_user, FILE *out,
		 FILE *err);
/* Show one session/update params object (borrowed). Unknown updates are skipped. */
void render_update(struct render *r, const json_t *params);
/* The turn ended: JSON prints {"stopReason": reason}; text ends the stdout line. */
void render_stop(struct render *r, const char *stop_reason);
/*
 * About to write a line of our own on stderr (text): end an open thought line,
 * and the stdout line too when both are terminals (the same screen). Piped
 * output is left untouched.
 */
void render_break(struct render *r);
/* End the current stdout line if one is open (text): the output is over. */
void render_finish(struct render *r);
/* Free what r holds. */
void render_clear(struct render *r);

#endif
