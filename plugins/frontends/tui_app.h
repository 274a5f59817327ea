/*
 * tui_app.h: the TUI module's state, shared by tui.c (ACP, keys, commands) and
 * tui_term.c (the terminal: ncurses, colours, drawing, restoring it on every exit).
 * Everything runs on the loop thread.
 */
#ifndef HEARTH_TUI_APP_H
#define HEARTH_TUI_APP_H

#include <jansson.h>
#include <uv.h>

#include <hearth/frontend.h>

#include "tui.h"

struct tui_call; /* a request we sent, waiting for its answer */

struct tui_pick {
	char *label; /* owned, sanitized */
	char *value; /* owned */
	int section; /* 0: this project (sessions picker), 1: elsewhere */
};

enum tui_picker { TP_NONE, TP_MODEL, TP_SESSION };

struct tui {
	const struct hearth_host *host;
	struct hearth_conn *conn;
	uv_loop_t *loop;
	uv_poll_t *in;          /* stdin; owned, freed in its close callback */
	uv_signal_t *winch;     /* SIGWINCH; likewise */
	struct hearth_timer *draw_timer, *spin_timer;
	int term_on;            /* ncurses owns the terminal */
	int rows, cols;
	int colors;             /* 0 (none or NO_COLOR), 8, 256 */
	int stopping;

	/* the conversation */
	char *session_id, *cwd, *title, *model;
	long long last_seq;
	int replaying;          /* session/load is replaying history */
	int busy;               /* our prompt is running */
	struct tui_view view;
	long scroll;            /* lines above the bottom */
	struct tui_entry **row_entry; /* which entry each conversation row shows (last frame) */
	int row_entry_n;
	struct tui_entry *asking; /* the permission question shown, or NULL */

	/* the status line */
	char *state, *state_title, *state_reason; /* _hearth/turn_state, or inferred */
	long long attempt, max_attempts, wait_ms;
	uint64_t state_since;
	long long used, size, in_tokens, out_tokens;
	double cost;
	int spin;
	int have_turn_state;    /* the daemon sends _hearth/turn_state: no need to ask */
	const char *conn_state;

	/* input */
	struct tui_edit edit;
	struct tui_keys keys;
	char **history;         /* this project's prompts, oldest first; owned */
	size_t n_history;
	size_t hist_pos;        /* n_history: not browsing */
	char *hist_saved;       /* the draft kept while browsing; owned */
	int ctrl_c;             /* Ctrl+C pressed once on an empty, idle editor */

	/* pickers */
	enum tui_picker picker;
	struct tui_pick *picks;
	size_t n_picks, pick_sel;
	char filter[128];

	/* requests */
	long long next_id;
	struct tui_call *calls;

	/* for tests and benchmarks: write a line to this file at the first full frame */
	char *frame_file;
	int frame_done;
};

/* tui_term.c */
int tui_term_start(struct tui *t);
void tui_term_stop(struct tui *t);
void tui_term_resize(struct tui *t);
void tui_term_draw(struct tui *t);
void tui_term_redraw_all(struct tui *t);
/* Give the terminal back for a child (the editor) and take it again. */
void tui_term_suspend(struct tui *t);
void tui_term_resume(struct tui *t);
/* Conversation rows on screen (for paging). */
int tui_term_view_rows(const struct tui *t);

/* tui.c */
void tui_dirty(struct tui *t);

#endif /* HEARTH_TUI_APP_H */
