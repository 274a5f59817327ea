/*
 * shell: the `shell` tool. Runs {command} with /bin/sh -c in the session's
 * directory through host->proc_spawn (own process group, API keys removed from
 * the environment unless keep_secrets), with a timeout, and captures stdout and
 * stderr each up to max_output_bytes: the head and the tail are kept, the middle
 * is counted. Output is streamed to clients as it comes, batched every
 * SHELL_UPDATE_MS at most. Timeout and cancel kill the whole group; when the
 * command has ended, whatever of its group is left (a background child) is
 * killed too, so no orphan outlives the call.
 *
 * Memory per call is bounded whatever the command prints: two head buffers, two
 * tail rings and one pending-update buffer, all of fixed size.
 */
#define _POSIX_C_SOURCE 200809L /* kill */

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <hearth/tool.h>

#include "names.h"

#define SHELL_DEFAULT_TIMEOUT_MS 120000
#define SHELL_DEFAULT_MAX_TIMEOUT_MS 600000
#define SHELL_DEFAULT_MAX_OUTPUT 65536
#define SHELL_MIN_OUTPUT 16
#define SHELL_MAX_OUTPUT (64LL * 1024 * 1024)
/* Progress updates: at most one per this many ms, carrying at most this many bytes. */
#define SHELL_UPDATE_MS 200
#define SHELL_UPDATE_MAX 16384
/* Linux refuses one argument longer than this (MAX_ARG_STRLEN less the NUL). */
#define SHELL_MAX_COMMAND 131071
/* The title is the command's first line, cut at this many bytes. */
#define SHELL_TITLE_MAX 80

struct shell {
	const struct hearth_host *host;
	long long timeout_ms, max_timeout_ms, max_output;
	int keep_secrets;
	struct shell_run *runs;  /* running calls, for fini() */
};

/* One captured stream: the first head_cap bytes, a ring of the last tail_cap. */
struct shell_stream {
	char *head, *tail;      /* malloc'd when first needed */
	size_t head_cap, head_len;
	size_t tail_cap, tail_len, tail_pos;  /* tail_pos: where the next byte goes */
	unsigned long long total;
};

struct shell_run {
	struct shell *sh;
	struct hearth_tool_call *call;  /* borrowed until tool_finish() */
	struct hearth_proc *proc;       /* NULL once on_exit ran or after release */
	int pid;
	uint32_t timeout_ms;
	struct shell_stream out, err;
	/* Output not yet sent to clients, both streams in arrival order. */
	char pending[SHELL_UPDATE_MAX];
	size_t pending_len;
	unsigned long long pending_dropped;
	struct hearth_timer *timer;     /* the next update, when one is due */
	uint64_t last_update;
	struct shell_run *prev, *next;
};

static const struct hearth_tool_def shell_defs[] = {
	{ .name = "shell",
	  .description =
		"Run a shell command with /bin/sh -c in the project directory and return its "
		"exit status, stdout and stderr. stdin is /dev/null: do not run interactive "
		"programs. Long output is cut in the middle (the head and the tail are kept). "
		"The command is killed, with everything it started, when it exceeds its "
		"timeout or is cancelled; background processes do not outlive it.",
	  .input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"command\":{\"type\":\"string\",\"description\":\"The command line\"},"
		"\"timeout_ms\":{\"type\":\"integer\",\"minimum\":1,"
		"\"description\":\"Kill it after this many milliseconds (default 120000)\"},"
		"\"description\":{\"type\":\"string\","
		"\"description\":\"What the command does, in a few words\"}},"
		"\"required\":[\"command\"],\"additionalProperties\":false}",
	  .default_permission = HEARTH_PERM_ASK,
	  .kind = "execute" },
};

/* ------------------------------------------------------------ text helpers -- */

struct shell_buf {
	char *data;
	size_t len, cap;
	int oom;
};

static void
shell_buf_add(struct shell_buf *b, const char *data, size_t len)
{
	if (b->oom)
		return;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 256;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL) {
			b->oom = 1;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void
shell_buf_str(struct shell_buf *b, const char *s)
{
	shell_buf_add(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if it is not one. */
static size_t
shell_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * Append output bytes as valid UTF-8 for JSON: valid sequences as they are, NUL
 * and bytes that are not UTF-8 as "\xNN" (never dropped).
 */
static void
shell_buf_output(struct shell_buf *b, const char *data, size_t len)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t i = 0, run = 0;
	while (i < len) {
		size_t n = s[i] != 0 ? shell_utf8_seq(s + i, len - i) : 0;
		if (n > 0) {
			i += n;
			continue;
		}
		shell_buf_add(b, data + run, i - run);
		char esc[8];
		snprintf(esc, sizeof esc, "\\x%02x", s[i]);
		shell_buf_str(b, esc);
		i++;
		run = i;
	}
	shell_buf_add(b, data + run, i - run);
}

/* How many bytes at the end of s[0..len) are an unfinished UTF-8 sequence. */
static size_t
shell_utf8_cut_end(const char *data, size_t len)
{
	const unsigned char *s = (const unsigned char *)data;
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char c = s[len - back];
		if ((c & 0xc0) == 0x80)
			continue;  /* a continuation byte: look further back */
		size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		return need > back ? back : 0;
	}
	return 0;
}

/* How many continuation bytes start s[0..len) (the rest of a cut sequence). */
static size_t
shell_utf8_cut_start(const char *data, size_t len)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t n = 0;
	while (n < 3 && n < len && (s[n] & 0xc0) == 0x80)
		n++;
	return n;
}

static const char *
shell_signal_name(int sig)
{
	switch (sig) {
	case SIGHUP: return "SIGHUP";
	case SIGINT: return "SIGINT";
	case SIGQUIT: return "SIGQUIT";
	case SIGILL: return "SIGILL";
	case SIGTRAP: return "SIGTRAP";
	case SIGABRT: return "SIGABRT";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGKILL: return "SIGKILL";
	case SIGUSR1: return "SIGUSR1";
	case SIGSEGV: return "SIGSEGV";
	case SIGUSR2: return "SIGUSR2";
	case SIGPIPE: return "SIGPIPE";
	case SIGALRM: return "SIGALRM";
	case SIGTERM: return "SIGTERM";
	case SIGXCPU: return "SIGXCPU";
	case SIGXFSZ: return "SIGXFSZ";
	case SIGSYS: return "SIGSYS";
	default: return NULL;
	}
}

/* ---------------------------------------------------------------- streams -- */

static void
shell_stream_init(struct shell_stream *st, size_t cap)
{
	memset(st, 0, sizeof *st);
	st->tail_cap = cap / 2;
	st->head_cap = cap - st->tail_cap;
}

static void
shell_stream_free(struct shell_stream *st)
{
	free(st->head);
	free(st->tail);
}

/* Keep what fits in the head, the last tail_cap bytes in the ring. 0 or ENOMEM. */
static int
shell_stream_add(struct shell_stream *st, const char *data, size_t len)
{
	st->total += len;
	if (st->head_len < st->head_cap) {
		if (st->head == NULL && (st->head = malloc(st->head_cap)) == NULL)
			return HEARTH_ENOMEM;
		size_t n = st->head_cap - st->head_len;
		if (n > len)
			n = len;
		memcpy(st->head + st->head_len, data, n);
		st->head_len += n;
		data += n;
		len -= n;
	}
	if (len == 0 || st->tail_cap == 0)
		return 0;
	if (st->tail == NULL && (st->tail = malloc(st->tail_cap)) == NULL)
		return HEARTH_ENOMEM;
	if (len >= st->tail_cap) {
		memcpy(st->tail, data + len - st->tail_cap, st->tail_cap);
		st->tail_pos = 0;
		st->tail_len = st->tail_cap;
		return 0;
	}
	size_t first = st->tail_cap - st->tail_pos;
	if (first > len)
		first = len;
	memcpy(st->tail + st->tail_pos, data, first);
	memcpy(st->tail, data + first, len - first);
	st->tail_pos = (st->tail_pos + len) % st->tail_cap;
	st->tail_len = st->tail_len + len > st->tail_cap ? st->tail_cap : st->tail_len + len;
	return 0;
}

/*
 * The stream as text: all of it, or the head, "[... N bytes omitted ...]" and the
 * tail (cut on UTF-8 character boundaries; the bytes of a cut character count as
 * omitted).
 */
static void
shell_stream_text(const struct shell_stream *st, struct shell_buf *b)
{
	size_t tl = st->tail_len, cap = st->tail_cap;
	char *tail = malloc(tl + 1);
	if (tail == NULL) {
		b->oom = 1;
		return;
	}
	size_t start = cap != 0 ? (st->tail_pos + cap - tl) % cap : 0;
	for (size_t i = 0; i < tl; i++)
		tail[i] = st->tail[(start + i) % cap];
	unsigned long long omitted = st->total - st->head_len - tl;
	if (omitted == 0) {
		/* head and tail are contiguous: one piece. */
		char *all = malloc(st->head_len + tl + 1);
		if (all == NULL) {
			free(tail);
			b->oom = 1;
			return;
		}
		if (st->head_len > 0)
			memcpy(all, st->head, st->head_len);
		memcpy(all + st->head_len, tail, tl);
		shell_buf_output(b, all, st->head_len + tl);
		free(all);
		free(tail);
		return;
	}
	size_t hl = st->head_len - shell_utf8_cut_end(st->head, st->head_len);
	size_t skip = shell_utf8_cut_start(tail, tl);
	omitted += (st->head_len - hl) + skip;
	shell_buf_output(b, st->head, hl);
	char note[64];
	snprintf(note, sizeof note, "%s[... %llu bytes omitted ...]\n",
		 hl > 0 && st->head[hl - 1] != '\n' ? "\n" : "", omitted);
	shell_buf_str(b, note);
	shell_buf_output(b, tail + skip, tl - skip);
	free(tail);
}

/* -------------------------------------------------------------- progress -- */

static void shell_update_cb(void *arg);

/*
 * Send what is pending to the clients as one update. Unless `final`, a character
 * cut at the end waits for its other bytes.
 */
static void
shell_flush(struct shell_run *r, int final)
{
	const struct hearth_host *h = r->sh->host;
	if (r->timer != NULL) {
		h->timer_stop(r->timer);
		r->timer = NULL;
	}
	r->last_update = h->now_ms(h);
	if (r->pending_len == 0 && r->pending_dropped == 0)
		return;
	struct shell_buf b = { 0 };
	size_t keep = r->pending_len, carry = 0;
	if (r->pending_dropped > 0 || !final)
		keep -= shell_utf8_cut_end(r->pending, keep);
	if (r->pending_dropped == 0)
		carry = r->pending_len - keep;
	shell_buf_output(&b, r->pending, keep);
	if (r->pending_dropped > 0) {
		char note[64];
		snprintf(note, sizeof note, "\n[... %llu bytes not shown ...]\n",
			 r->pending_dropped + (r->pending_len - keep));
		shell_buf_str(&b, note);
	}
	memmove(r->pending, r->pending + keep, carry);
	r->pending_len = carry;
	r->pending_dropped = 0;
	if (keep == 0 && carry > 0) {
		free(b.data);
		return;  /* nothing whole to send yet */
	}
	if (b.oom) {
		free(b.data);
		return;
	}
	json_t *u = json_pack("{s:[{s:s,s:{s:s,s:s%}}]}", "content", "type", "content", "content",
			      "type", "text", "text", b.data, b.len);
	free(b.data);
	if (u != NULL)
		h->tool_update(r->call, u);
	json_decref(u);
}

static void
shell_update_cb(void *arg)
{
	shell_flush(arg, 0);
}

static void
shell_output(struct shell_run *r, struct shell_stream *st, const char *data, size_t len)
{
	const struct hearth_host *h = r->sh->host;
	if (shell_stream_add(st, data, len) != 0)
		h->log(h, HEARTH_LOG_WARN, "out of memory capturing output of call %s",
		       r->call->id);
	size_t n = sizeof r->pending - r->pending_len;
	if (n > len)
		n = len;
	memcpy(r->pending + r->pending_len, data, n);
	r->pending_len += n;
	r->pending_dropped += len - n;
	if (r->timer != NULL)
		return;
	uint64_t now = h->now_ms(h), due = r->last_update + SHELL_UPDATE_MS;
	r->timer = h->timer_start(h, due > now ? due - now : 0, 0, shell_update_cb, r);
}

static int
shell_stdout_cb(void *arg, const char *data, size_t len)
{
	struct shell_run *r = arg;
	shell_output(r, &r->out, data, len);
	return 0;
}

static int
shell_stderr_cb(void *arg, const char *data, size_t len)
{
	struct shell_run *r = arg;
	shell_output(r, &r->err, data, len);
	return 0;
}

/* ---------------------------------------------------------------- results -- */

static void
shell_run_free(struct shell_run *r)
{
	struct shell *sh = r->sh;
	if (r->timer != NULL)
		sh->host->timer_stop(r->timer);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		sh->runs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	shell_stream_free(&r->out);
	shell_stream_free(&r->err);
	free(r);
}

static void
shell_section(struct shell_buf *b, const char *name, const struct shell_stream *st)
{
	if (st->total == 0)
		return;
	char tag[32];
	snprintf(tag, sizeof tag, "\n<%s>\n", name);
	shell_buf_str(b, tag);
	size_t before = b->len;
	shell_stream_text(st, b);
	if (!b->oom && b->len > before && b->data[b->len - 1] != '\n')
		shell_buf_str(b, "\n");
	snprintf(tag, sizeof tag, "</%s>", name);
	shell_buf_str(b, tag);
}

/* "120 s", or "1500 ms" when not whole seconds. */
static void
shell_duration(char *out, size_t size, uint32_t ms)
{
	if (ms % 1000 == 0)
		snprintf(out, size, "%u s", ms / 1000);
	else
		snprintf(out, size, "%u ms", ms);
}

/* The result, then the call ends and the run is freed. status is NULL for an exit. */
static void
shell_finish(struct shell_run *r, int exit_status, int term_signal, int timed_out,
	     const char *cancelled)
{
	const struct hearth_host *h = r->sh->host;
	struct hearth_tool_call *call = r->call;
	struct shell_buf b = { 0 };
	char line[128], sigbuf[24];
	const char *sig = NULL;
	if (term_signal != 0) {
		sig = shell_signal_name(term_signal);
		if (sig == NULL) {
			snprintf(sigbuf, sizeof sigbuf, "signal %d", term_signal);
			sig = sigbuf;
		}
	}
	if (cancelled != NULL)
		snprintf(line, sizeof line, "%s", cancelled);
	else if (term_signal != 0)
		snprintf(line, sizeof line, "killed by signal %s", sig);
	else
		snprintf(line, sizeof line, "exit status %d", exit_status);
	shell_buf_str(&b, line);
	if (timed_out) {
		char d[32];
		shell_duration(d, sizeof d, r->timeout_ms);
		snprintf(line, sizeof line, " (timed out after %s)", d);
		shell_buf_str(&b, line);
	}
	shell_section(&b, "stdout", &r->out);
	shell_section(&b, "stderr", &r->err);

	json_t *raw = json_pack("{s:o,s:o,s:b,s:I,s:I}",
				"exitCode", cancelled == NULL && term_signal == 0
					? json_integer(exit_status) : json_null(),
				"signal", sig != NULL ? json_string(sig) : json_null(),
				"timedOut", timed_out,
				"stdoutBytes", (json_int_t)r->out.total,
				"stderrBytes", (json_int_t)r->err.total);
	json_t *result;
	if (b.oom) {
		result = json_pack("{s:[{s:s,s:s}],s:b,s:o}", "content", "type", "text", "text",
				   "out of memory building the result", "isError", 1,
				   "rawOutput", raw);
	} else {
		int is_error = cancelled != NULL || timed_out || term_signal != 0 ||
			       exit_status != 0;
		result = json_pack("{s:[{s:s,s:s%}],s:b,s:o}", "content", "type", "text", "text",
				   b.data, b.len, "isError", is_error, "rawOutput", raw);
	}
	free(b.data);
	call->data = NULL;
	shell_run_free(r);
	h->tool_finish(call, result);
}

/* The command ended. Its handle is dead after this returns. */
static void
shell_exit_cb(void *arg, int exit_status, int term_signal, int timed_out)
{
	struct shell_run *r = arg;
	r->proc = NULL;
	/*
	 * A background child that let go of our pipes is still in the group: the
	 * call is over, so it goes. (The group id cannot be reused while a member
	 * lives; when none is left kill() finds nothing.)
	 */
	if (r->pid > 0 && kill(-r->pid, 0) == 0) {
		r->sh->host->log(r->sh->host, HEARTH_LOG_DEBUG,
				 "call %s: killing what is left of process group %d",
				 r->call->id, r->pid);
		kill(-r->pid, SIGKILL);
	}
	shell_flush(r, 1);
	shell_finish(r, exit_status, term_signal, timed_out, NULL);
}

/* -------------------------------------------------------------- the tool -- */

static void
shell_fail(const struct hearth_host *h, struct hearth_tool_call *call, const char *text)
{
	h->tool_finish(call, json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
				       text, "isError", 1));
}

static const char *
shell_error_name(int error)
{
	switch (error) {
	case HEARTH_ENOENT: return "no such file or directory";
	case HEARTH_EPERM: return "permission denied";
	case HEARTH_ENOMEM: return "out of memory";
	case HEARTH_ENOTSUP: return "processes are not available";
	case HEARTH_EINVAL: return "invalid argument";
	default: return "I/O error";
	}
}

static int
shell_run(void *state, struct hearth_tool_call *call)
{
	struct shell *sh = state;
	const struct hearth_host *h = sh->host;
	const json_t *jcmd = json_object_get(call->input, "command");
	const char *command = json_string_value(jcmd);
	if (command == NULL || command[0] == '\0') {
		shell_fail(h, call, "'command' must be a non-empty string");
		return 0;
	}
	if (strlen(command) != json_string_length(jcmd)) {
		shell_fail(h, call, "'command' must not contain a NUL character");
		return 0;
	}
	if (strlen(command) > SHELL_MAX_COMMAND) {
		char msg[96];
		snprintf(msg, sizeof msg, "'command' is too long: %zu bytes, at most %d",
			 strlen(command), SHELL_MAX_COMMAND);
		shell_fail(h, call, msg);
		return 0;
	}
	long long timeout = sh->timeout_ms;
	const json_t *jt = json_object_get(call->input, "timeout_ms");
	if (jt != NULL && !json_is_null(jt)) {
		if (!json_is_integer(jt) || json_integer_value(jt) < 1) {
			shell_fail(h, call, "'timeout_ms' must be a positive integer");
			return 0;
		}
		timeout = json_integer_value(jt);
	}
	if (timeout > sh->max_timeout_ms)
		timeout = sh->max_timeout_ms;

	struct shell_run *r = calloc(1, sizeof *r);
	if (r == NULL)
		return HEARTH_ENOMEM;
	r->sh = sh;
	r->call = call;
	r->timeout_ms = (uint32_t)timeout;
	r->last_update = h->now_ms(h);
	shell_stream_init(&r->out, (size_t)sh->max_output);
	shell_stream_init(&r->err, (size_t)sh->max_output);
	r->next = sh->runs;
	if (sh->runs != NULL)
		sh->runs->prev = r;
	sh->runs = r;
	call->data = r;

	const char *argv[] = { "sh", "-c", command, NULL };
	struct hearth_proc_options opt = {
		.struct_size = sizeof opt,
		.file = "/bin/sh",
		.argv = argv,
		.cwd = call->cwd,
		.flags = sh->keep_secrets ? HEARTH_PROC_KEEP_SECRETS : 0,
		.timeout_ms = r->timeout_ms,
		.on_stdout = shell_stdout_cb,
		.on_stderr = shell_stderr_cb,
		.on_exit = shell_exit_cb,
		.arg = r,
	};
	int error = 0;
	r->proc = h->proc_spawn(h, &opt, &error);
	if (r->proc == NULL) {
		char msg[512];
		snprintf(msg, sizeof msg, "could not start /bin/sh in '%s': %s",
			 call->cwd != NULL ? call->cwd : ".", shell_error_name(error));
		call->data = NULL;
		shell_run_free(r);
		shell_fail(h, call, msg);
		return 0;
	}
	r->pid = h->proc_pid(r->proc);
	return 0;
}

/* Kill the group (proc_release: SIGTERM, SIGKILL after a grace) and end the call now. */
static void
shell_cancel(void *state, struct hearth_tool_call *call)
{
	struct shell *sh = state;
	struct shell_run *r = call->data;
	if (r == NULL || r->proc == NULL)
		return;
	sh->host->proc_release(r->proc);
	r->proc = NULL;
	shell_finish(r, 0, 0, 0, "cancelled");
}

static json_t *
shell_describe(void *state, const struct hearth_tool_call *call)
{
	const char *command = json_string_value(json_object_get(call->input, "command"));
	if (command == NULL)
		return json_pack("{s:s,s:s}", "title", "shell", "kind", "execute");
	size_t n = strcspn(command, "\r\n");
	int cut = command[n] != '\0';
	if (n > SHELL_TITLE_MAX) {
		n = SHELL_TITLE_MAX;
		cut = 1;
	}
	n -= shell_utf8_cut_end(command, n);
	/* Control characters (a tab, an escape sequence) shown as names.h says. */
	char *shown = names_escape(command, n, NULL);
	if (shown == NULL)
		return NULL;
	char *title = malloc(strlen(shown) + 4);
	if (title == NULL) {
		free(shown);
		return NULL;
	}
	strcpy(title, shown);
	strcat(title, cut ? "..." : "");
	free(shown);
	json_t *d = json_pack("{s:s,s:s,s:s}", "title", title, "kind", "execute", "subject",
			      command);
	free(title);
	return d;
}

static size_t
shell_list(void *state, const struct hearth_tool_def **defs)
{
	*defs = shell_defs;
	return sizeof shell_defs / sizeof shell_defs[0];
}

/* The core's permission rules share the section (core/permission.h). */
static int
shell_permission_key(const char *key)
{
	static const char *const prefixes[] = { "allow.", "ask.", "deny.", "permission." };
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return strcmp(key, "allow_paths") == 0 || strcmp(key, "allow_write_paths") == 0;
}

static int
shell_init(const struct hearth_host *host, const json_t *config, void **state)
{
	static const char *const keys[] = { "timeout_ms", "max_timeout_ms", "max_output_bytes",
					    "keep_secrets" };
	struct shell *sh = calloc(1, sizeof *sh);
	if (sh == NULL)
		return HEARTH_ENOMEM;
	sh->host = host;
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)config, key, value) {
		size_t i = 0;
		while (i < sizeof keys / sizeof keys[0] && strcmp(key, keys[i]) != 0)
			i++;
		if (i == sizeof keys / sizeof keys[0] && !shell_permission_key(key))
			host->log(host, HEARTH_LOG_WARN, "unknown key '%s' ignored", key);
	}
	int rc = host->config_int(host, "max_timeout_ms", SHELL_DEFAULT_MAX_TIMEOUT_MS, 1,
				  UINT32_MAX, &sh->max_timeout_ms);
	if (rc == 0)
		rc = host->config_int(host, "timeout_ms", SHELL_DEFAULT_TIMEOUT_MS, 1, UINT32_MAX,
				      &sh->timeout_ms);
	if (rc == 0)
		rc = host->config_int(host, "max_output_bytes", SHELL_DEFAULT_MAX_OUTPUT,
				      SHELL_MIN_OUTPUT, SHELL_MAX_OUTPUT, &sh->max_output);
	if (rc == 0)
		rc = host->config_bool(host, "keep_secrets", 0, &sh->keep_secrets);
	if (rc != 0) {
		free(sh);
		return rc;
	}
	if (sh->timeout_ms > sh->max_timeout_ms) {
		host->log(host, HEARTH_LOG_WARN, "timeout_ms %lld is above max_timeout_ms %lld; "
			  "using %lld", sh->timeout_ms, sh->max_timeout_ms, sh->max_timeout_ms);
		sh->timeout_ms = sh->max_timeout_ms;
	}
	*state = sh;
	return 0;
}

static void
shell_fini(void *state)
{
	struct shell *sh = state;
	/* The core cancels its calls first; what is left goes without a callback. */
	while (sh->runs != NULL) {
		struct shell_run *r = sh->runs;
		sh->host->log(sh->host, HEARTH_LOG_WARN, "a command was still running at shutdown");
		if (r->proc != NULL)
			sh->host->proc_release(r->proc);
		r->call->data = NULL;
		shell_run_free(r);
	}
	free(sh);
}

static const struct hearth_tool shell_vtable = {
	.struct_size = sizeof(struct hearth_tool),
	.list = shell_list,
	.run = shell_run,
	.cancel = shell_cancel,
	.describe = shell_describe,
};

static const struct hearth_plugin shell_plugin = HEARTH_PLUGIN_INIT(
	.kind = HEARTH_KIND_TOOL, .name = "shell", .version = "1.0.0",
	.description = "the shell tool: commands in the project directory", .init = shell_init,
	.fini = shell_fini, .tool = &shell_vtable);

HEARTH_PLUGIN_EXPORT const struct hearth_plugin *
hearth_plugin_entry(void)
{
	return &shell_plugin;
}
