/*
 * tui_term.c: the terminal. ncurses draws into its virtual screen and sends only what
 * changed; input bytes are read by tui.c and decoded by tui_keys.c, so ncurses never
 * reads. The terminal is given back on every exit path: stop(), exit(), and the fatal
 * signals (whose handler uses only async-signal-safe calls).
 */
#include "config.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include "tui_app.h"

/* What we switch on, and what gives it back: mouse (SGR), bracketed paste, cursor. */
#define TUI_MODES_ON "\033[?1000h\033[?1006h\033[?2004h"
#define TUI_MODES_OFF "\033[?2004l\033[?1006l\033[?1000l"
#define TUI_RESET TUI_MODES_OFF "\033[0m\033[?25h\033[?1049l\r\n"

static struct termios tui_saved_tio;
static int tui_saved_ok;
static volatile sig_atomic_t tui_term_live;
static const int tui_fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
static struct sigaction tui_old_act[sizeof tui_fatal / sizeof tui_fatal[0]];
static SCREEN *tui_screen;

static void
tui_term_write(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Async-signal-safe: put the terminal back and let the signal do what it does. */
static void
tui_term_fatal_cb(int sig)
{
	if (tui_term_live) {
		tui_term_live = 0;
		tui_term_write(TUI_RESET);
		if (tui_saved_ok)
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &tui_saved_tio);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
tui_term_atexit(void)
{
	if (tui_term_live) {
		tui_term_live = 0;
		endwin();
		tui_term_write(TUI_MODES_OFF);
	}
}

/* colour pair n+1 is style n; attributes carry the rest */
struct tui_look {
	short c8, c256;
	attr_t attr;
};

static const struct tui_look tui_looks[TS_COUNT] = {
	[TS_NORMAL] = { -1, -1, 0 },
	[TS_BOLD] = { -1, -1, A_BOLD },
	[TS_ITALIC] = { -1, -1, A_ITALIC },
	[TS_CODE] = { COLOR_CYAN, 109, 0 },
	[TS_HEADING] = { COLOR_MAGENTA, 176, A_BOLD },
	[TS_LINK] = { COLOR_BLUE, 75, A_UNDERLINE },
	[TS_QUOTE] = { COLOR_WHITE, 246, 0 },
	[TS_DIM] = { -1, 245, A_DIM },
	[TS_USER] = { COLOR_CYAN, 117, A_BOLD },
	[TS_ERROR] = { COLOR_RED, 203, A_BOLD },
	[TS_ADD] = { COLOR_GREEN, 114, 0 },
	[TS_DEL] = { COLOR_RED, 210, 0 },
	[TS_HUNK] = { COLOR_MAGENTA, 140, 0 },
	[TS_TOOL] = { COLOR_YELLOW, 179, A_BOLD },
	[TS_OK] = { COLOR_GREEN, 71, 0 },
	[TS_WARN] = { COLOR_YELLOW, 221, 0 },
	[TS_SELECT] = { -1, -1, A_REVERSE | A_BOLD },
};

static attr_t
tui_term_attr(const struct tui *t, enum tui_style s)
{
	attr_t a = tui_looks[s].attr;
	if (t->colors == 0) {
		/* no colour: shapes only, so a diff still reads */
		if (s == TS_ERROR || s == TS_HEADING || s == TS_TOOL)
			a |= A_BOLD;
		if (s == TS_DEL)
			a |= A_DIM;
		if (s == TS_LINK)
			a |= A_UNDERLINE;
		return a;
	}
	if (s == TS_DIM && t->colors >= 256)
		a &= ~(attr_t)A_DIM; /* the grey is enough */
	return a | COLOR_PAIR(s + 1);
}

static void
tui_term_colors(struct tui *t)
{
	const char *nc = getenv("NO_COLOR");
	t->colors = 0;
	if ((nc != NULL && nc[0] != '\0') || !has_colors())
		return;
	start_color();
	use_default_colors();
	t->colors = COLORS >= 256 ? 256 : 8;
	for (int s = 0; s < TS_COUNT; s++) {
		short fg = t->colors >= 256 ? tui_looks[s].c256 : tui_looks[s].c8;
		init_pair((short)(s + 1), fg, -1);
	}
}

int
tui_term_start(struct tui *t)
{
	/* wide characters need a UTF-8 locale; the daemon may still be in "C" */
	if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0) {
		setlocale(LC_CTYPE, "");
		if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
			setlocale(LC_CTYPE, "C.UTF-8");
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		t->host->log(t->host, HEARTH_LOG_ERROR, "the TUI needs a terminal on stdin and stdout");
		return HEARTH_EINVAL;
	}
	tui_saved_ok = tcgetattr(STDIN_FILENO, &tui_saved_tio) == 0;
	tui_screen = newterm(NULL, stdout, stdin);
	if (tui_screen == NULL) {
		t->host->log(t->host, HEARTH_LOG_ERROR, "cannot use the terminal (TERM=%s)",
			     getenv("TERM") != NULL ? getenv("TERM") : "");
		return HEARTH_EINVAL;
	}
	set_term(tui_screen);
	raw();
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, FALSE);
	leaveok(stdscr, FALSE);
	tui_term_colors(t);
	static int once;
	if (!once) {
		once = 1;
		atexit(tui_term_atexit);
	}
	for (size_t i = 0; i < sizeof tui_fatal / sizeof tui_fatal[0]; i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = tui_term_fatal_cb;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESETHAND;
		sigaction(tui_fatal[i], &sa, &tui_old_act[i]);
	}
	tui_term_live = 1;
	t->term_on = 1;
	refresh();
	tui_term_write(TUI_MODES_ON);
	getmaxyx(stdscr, t->rows, t->cols);
	return 0;
}

void
tui_term_stop(struct tui *t)
{
	if (!t->term_on)
		return;
	t->term_on = 0;
	tui_term_live = 0;
	tui_term_write(TUI_MODES_OFF);
	endwin();
	delscreen(tui_screen);
	tui_screen = NULL;
	for (size_t i = 0; i < sizeof tui_fatal / sizeof tui_fatal[0]; i++)
		sigaction(tui_fatal[i], &tui_old_act[i], NULL);
}

void
tui_term_suspend(struct tui *t)
{
	if (!t->term_on)
		return;
	tui_term_write(TUI_MODES_OFF);
	def_prog_mode();
	endwin();
}

void
tui_term_resume(struct tui *t)
{
	if (!t->term_on)
		return;
	reset_prog_mode();
	tui_term_write(TUI_MODES_ON);
	clearok(stdscr, TRUE);
	tui_term_draw(t);
}

void
tui_term_resize(struct tui *t)
{
	if (!t->term_on)
		return;
	endwin(); /* makes ncurses re-read the size on the next refresh */
	refresh();
	getmaxyx(stdscr, t->rows, t->cols);
	clearok(stdscr, TRUE);
}

void
tui_term_redraw_all(struct tui *t)
{
	if (t->term_on)
		clearok(stdscr, TRUE);
}

/* Put up to `room` columns of s at the cursor in style st; returns the columns used. */
static int
tui_term_put(struct tui *t, const char *s, enum tui_style st, int room)
{
	wchar_t wbuf[256];
	int used = 0;
	size_t len = strlen(s), i = 0;
	attrset(tui_term_attr(t, st));
	while (i < len && used <= room) {
		size_t n = 0;
		int batch_w = 0;
		while (i < len && n < sizeof wbuf / sizeof wbuf[0] - 1) {
			uint32_t cp;
			size_t k = tui_utf8_decode(s + i, len - i, &cp);
			int w = tui_cp_width(cp);
			if (used + batch_w + w > room)
				break;
			wbuf[n++] = (wchar_t)cp;
			batch_w += w;
			i += k;
		}
		if (n == 0)
			break;
		addnwstr(wbuf, (int)n);
		used += batch_w;
	}
	attrset(A_NORMAL);
	return used;
}

static void
tui_term_line(struct tui *t, int y, const struct tui_line *l, int width)
{
	move(y, 0);
	int used = 0;
	for (size_t i = 0; i < l->n && used < width; i++)
		used += tui_term_put(t, l->spans[i].text, l->spans[i].style, width - used);
	if (used < width)
		clrtoeol();
}

int
tui_term_view_rows(const struct tui *t)
{
	int r = t->rows - 3;
	return r > 1 ? r : 1;
}

struct tui_row {
	const struct tui_line *line;
	struct tui_entry *entry;
};

/* The conversation in rows [0, vh): only the entries that show are laid out. */
static void
tui_term_view(struct tui *t, int vh)
{
	int width = t->cols;
	if (vh <= 0 || width <= 0)
		return;
	long need = t->scroll + vh;
	struct tui_row *rows = calloc((size_t)need, sizeof *rows);
	if (rows == NULL)
		abort();
	long got = 0;
	t->view.now_ms = t->host->now_ms(t->host);
	for (size_t i = t->view.n; i > 0 && got < need; i--) {
		struct tui_entry *e = t->view.v[i - 1];
		const struct tui_lines *ls = tui_entry_lines(&t->view, e, width);
		for (size_t j = ls->n; j > 0 && got < need; j--) {
			rows[got].line = &ls->v[j - 1];
			rows[got].entry = e;
			got++;
		}
	}
	if (got < need && t->scroll > 0) {
		/* scrolled past the top: stop at the first line */
		t->scroll = got > vh ? got - vh : 0;
		need = t->scroll + vh;
	}
	free(t->row_entry);
	t->row_entry = calloc((size_t)vh, sizeof *t->row_entry);
	t->row_entry_n = vh;
	/* rows[0] is the bottom line; row y shows rows[scroll + vh - 1 - y] */
	for (int y = 0; y < vh; y++) {
		long k = t->scroll + vh - 1 - y;
		if (k < got && k >= 0) {
			tui_term_line(t, y, rows[k].line, width);
			t->row_entry[y] = rows[k].entry;
		} else {
			move(y, 0);
			clrtoeol();
		}
	}
	free(rows);
}

static int
tui_term_match(const char *label, const char *filter)
{
	if (filter[0] == '\0')
		return 1;
	size_t fl = strlen(filter);
	for (const char *p = label; *p != '\0'; p++) {
		size_t i = 0;
		while (i < fl && p[i] != '\0' &&
		       (p[i] | 0x20) == (filter[i] | 0x20))
			i++;
		if (i == fl)
			return 1;
	}
	return 0;
}

static void
tui_term_picker(struct tui *t, int vh)
{
	if (vh <= 0)
		return;
	struct tui_line l = { 0 };
	const char *what = t->picker == TP_MODEL ? "Model" : "Session";
	char head[256];
	snprintf(head, sizeof head, "%s: ", what);
	tui_line_add(&l, TS_HEADING, head, strlen(head));
	tui_line_add(&l, TS_NORMAL, t->filter, strlen(t->filter));
	const char *hint = "  (type to filter, ↑↓ move, Enter choose, Esc close)";
	tui_line_add(&l, TS_DIM, hint, strlen(hint));
	tui_term_line(t, 0, &l, t->cols);
	tui_line_clear(&l);
	size_t *idx = calloc(t->n_picks + 1, sizeof *idx);
	if (idx == NULL)
		abort();
	size_t n = 0, sel = 0;
	for (size_t i = 0; i < t->n_picks; i++) {
		if (tui_term_match(t->picks[i].label, t->filter)) {
			if (i == t->pick_sel)
				sel = n;
			idx[n++] = i;
		}
	}
	int avail = vh - 1;
	size_t first = 0;
	if (avail > 0 && sel >= (size_t)avail)
		first = sel - (size_t)avail + 1;
	for (int y = 1; y < vh; y++) {
		size_t k = first + (size_t)(y - 1);
		move(y, 0);
		clrtoeol();
		if (k >= n) {
			if (n == 0 && y == 1)
				tui_term_put(t, "  (nothing matches)", TS_DIM, t->cols);
			continue;
		}
		const struct tui_pick *p = &t->picks[idx[k]];
		int on = idx[k] == t->pick_sel;
		int used = tui_term_put(t, on ? "› " : "  ", on ? TS_SELECT : TS_NORMAL, t->cols);
		used += tui_term_put(t, p->label, on ? TS_SELECT : p->section ? TS_DIM : TS_NORMAL,
				     t->cols - used);
	}
	free(idx);
}

static const char *const tui_spinner[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };

static void
tui_term_human(long long n, char *buf, size_t size)
{
	if (n >= 1000000)
		snprintf(buf, size, "%.1fM", (double)n / 1e6);
	else if (n >= 1000)
		snprintf(buf, size, "%.1fk", (double)n / 1e3);
	else
		snprintf(buf, size, "%lld", n);
}

static void
tui_term_status(struct tui *t, int y)
{
	char left[512], right[512];
	const char *st = t->state != NULL ? t->state : "idle";
	uint64_t now = t->host->now_ms(t->host);
	char el[24] = "";
	if (t->state_since != 0 && now >= t->state_since)
		tui_elapsed(now - t->state_since, el, sizeof el);
	const char *spin = strcmp(st, "idle") != 0 ? tui_spinner[t->spin % 10] : " ";
	if (strcmp(st, "idle") == 0)
		snprintf(left, sizeof left, " ready");
	else if (strcmp(st, "retrying") == 0) {
		long long left_ms = (long long)t->wait_ms - (long long)(now - t->state_since);
		if (left_ms < 0)
			left_ms = 0;
		snprintf(left, sizeof left, "%s retrying in %llds (attempt %lld/%lld)%s%s", spin,
			 (left_ms + 999) / 1000, t->attempt, t->max_attempts,
			 t->state_reason != NULL ? ": " : "",
			 t->state_reason != NULL ? t->state_reason : "");
	} else if (strcmp(st, "tool") == 0)
		snprintf(left, sizeof left, "%s running %s %s", spin,
			 t->state_title != NULL ? t->state_title : "a tool", el);
	else if (strcmp(st, "permission") == 0)
		snprintf(left, sizeof left, "%s waiting for your answer", spin);
	else
		snprintf(left, sizeof left, "%s %s %s  (Esc to cancel)", spin, st, el);
	char used[32], size[32], in[32], out[32];
	tui_term_human(t->used, used, sizeof used);
	tui_term_human(t->size, size, sizeof size);
	tui_term_human(t->in_tokens, in, sizeof in);
	tui_term_human(t->out_tokens, out, sizeof out);
	char ctx[128] = "";
	if (t->size > 0)
		snprintf(ctx, sizeof ctx, " · ctx %s/%s %lld%%", used, size, t->used * 100 / t->size);
	else if (t->used > 0)
		snprintf(ctx, sizeof ctx, " · ctx %s", used);
	snprintf(right, sizeof right, "%s%s · ↑%s ↓%s · $%.3f · %s ",
		 t->model != NULL ? t->model : "no model", ctx, in, out, t->cost,
		 t->conn_state != NULL ? t->conn_state : "connected");
	char *l = tui_sanitize(left, strlen(left), 0), *r = tui_sanitize(right, strlen(right), 0);
	move(y, 0);
	attrset(tui_term_attr(t, TS_SELECT) & ~(attr_t)A_BOLD);
	hline(' ', t->cols);
	int lw = tui_width(l), rw = tui_width(r);
	move(y, 0);
	int u = tui_term_put(t, l, strcmp(st, "idle") != 0 ? TS_SELECT : TS_SELECT, t->cols);
	if (u + 1 + rw <= t->cols) {
		move(y, t->cols - rw);
		tui_term_put(t, r, TS_SELECT, rw);
	}
	(void)lw;
	free(l);
	free(r);
}

void
tui_term_draw(struct tui *t)
{
	if (!t->term_on)
		return;
	getmaxyx(stdscr, t->rows, t->cols);
	int rows = t->rows, cols = t->cols;
	if (rows <= 0 || cols <= 0)
		return;
	int ew = cols - 2 > 1 ? cols - 2 : 1;
	struct tui_lines ed = { 0 };
	int crow = 0, ccol = 0;
	tui_edit_layout(&t->edit, ew, &ed, &crow, &ccol);
	int max_eh = rows / 3 > 1 ? rows / 3 : 1;
	int eh = (int)ed.n < max_eh ? (int)ed.n : max_eh;
	int status = rows >= 2 ? rows - 1 : -1;
	int edit_top = (status >= 0 ? status : rows) - eh;
	if (edit_top < 0) {
		eh += edit_top;
		edit_top = 0;
	}
	int sep = rows >= 6 ? edit_top - 1 : -1;
	int vh = sep >= 0 ? sep : edit_top;
	if (t->picker != TP_NONE)
		tui_term_picker(t, vh);
	else
		tui_term_view(t, vh);
	if (sep >= 0) {
		move(sep, 0);
		attrset(tui_term_attr(t, TS_DIM));
		for (int x = 0; x < cols; x++)
			addstr("─");
		attrset(A_NORMAL);
		if (t->scroll > 0) {
			char buf[64];
			snprintf(buf, sizeof buf, " ↑ %ld lines (PgDn) ", t->scroll);
			move(sep, cols > tui_width(buf) + 2 ? 2 : 0);
			tui_term_put(t, buf, TS_WARN, cols);
		}
	}
	/* the editor scrolls to keep the cursor's row in view */
	int first = crow >= eh ? crow - eh + 1 : 0;
	for (int i = 0; i < eh; i++) {
		int r = first + i;
		move(edit_top + i, 0);
		clrtoeol();
		if (cols >= 3)
			tui_term_put(t, r == 0 ? "❯ " : "  ", TS_USER, 2);
		if (r < (int)ed.n) {
			int used = 0;
			const struct tui_line *l = &ed.v[r];
			for (size_t s = 0; s < l->n; s++)
				used += tui_term_put(t, l->spans[s].text, TS_NORMAL, ew - used);
		}
	}
	if (status >= 0)
		tui_term_status(t, status);
	tui_lines_clear(&ed);
	if (t->picker == TP_NONE && t->asking == NULL && eh > 0) {
		int x = (cols >= 3 ? 2 : 0) + ccol;
		if (x >= cols)
			x = cols - 1;
		move(edit_top + crow - first, x);
		curs_set(1);
	} else {
		curs_set(0);
	}
	refresh();
	if (!t->frame_done && t->frame_file != NULL && !t->replaying && t->session_id != NULL) {
		t->frame_done = 1;
		FILE *f = fopen(t->frame_file, "w");
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (f != NULL) {
			/* wall-clock milliseconds, for a benchmark that started us */
			fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
			fclose(f);
		}
	}
}
