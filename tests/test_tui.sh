#!/bin/sh
# test_tui.sh: the TUI frontend driven in tmux (send-keys, capture-pane) against the
# real hearthd, the real anthropic provider over HTTP to tests/fake-anthropic, and the
# real edit tool. Until `hearth` loads frontends itself, the TUI is loaded in-process
# by `hearthd --foreground` (an in-process connection is the same core connection a
# socket client gets); a second client is the `hearth` CLI over the socket.
set -u
builddir=${HEARTH_TEST_BUILDDIR:?run me from make check}
command -v tmux >/dev/null 2>&1 || { echo "SKIP: tmux is not installed (apt-get install tmux)"; exit 77; }
[ -f "$builddir/plugins/frontends/tui.la" ] || { echo "SKIP: the tui module is not built"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-tui-XXXXXX")
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
export HEARTH_SOCKET="$tmp/run/hearth.sock"
mkdir -p "$tmp/run" "$tmp/project" && chmod 700 "$tmp/run"
T="tmux -S $tmp/tmux.sock -f /dev/null"
fake_pid=
cleanup() {
	$T kill-server >/dev/null 2>&1
	[ -f "$tmp/hearthd.pid" ] && kill "$(cat "$tmp/hearthd.pid")" 2>/dev/null
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	[ -n "${HEARTH_TEST_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
# A killed test (make check timing out) still stops what it started.
trap 'exit 1' INT TERM HUP

n=0
failed=0
check() { desc=$1; shift; n=$((n + 1)); if "$@"; then echo "ok $n - $desc"; else failed=$((failed + 1)); echo "not ok $n - $desc"; fi; }
# The screen as text, with what changes run to run (ids, times) masked.
screen() { $T capture-pane -p -t tui | sed 's/ses_[a-z0-9]*/SID/g; s/[0-9][0-9]*\.[0-9]s/N.Ns/g; s/[[:space:]]*$//'; }
# Wait until the screen shows $1 (a fixed string); the bound is generous, never a measure.
wait_for() {
	i=0
	while [ $i -lt 200 ]; do
		screen >"$tmp/screen.txt"
		grep -qF -- "$1" "$tmp/screen.txt" && return 0
		sleep 0.05
		i=$((i + 1))
	done
	echo "# the screen never showed: $1"
	sed 's/^/#   |/' "$tmp/screen.txt"
	return 1
}
shows() { grep -qF -- "$1" "$tmp/screen.txt" || { echo "# the screen lacks: $1"; sed 's/^/#   |/' "$tmp/screen.txt"; return 1; }; }
lacks() { ! grep -qF -- "$1" "$tmp/screen.txt" || { echo "# the screen has: $1"; sed 's/^/#   |/' "$tmp/screen.txt"; return 1; }; }
# Compare rows FROM..TO of the screen with the file $3.
rows_are() {
	sed -n "$1,$2p" "$tmp/screen.txt" >"$tmp/rows.txt"
	diff -u "$3" "$tmp/rows.txt" >"$tmp/rows.diff" && return 0
	sed 's/^/#   /' "$tmp/rows.diff"
	return 1
}
# The screen shows exactly $1 lines matching the basic regex $2.
count_is() {
	c=$(grep -c -- "$2" "$tmp/screen.txt")
	[ "$c" -eq "$1" ] && return 0
	echo "# $c lines match $2, not $1"
	sed 's/^/#   |/' "$tmp/screen.txt"
	return 1
}
# Wait until the process in the pane has exited.
pane_dies() {
	i=0
	while [ "$($T display-message -p -t tui '#{pane_dead}')" != 1 ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ $i -lt 200 ] || { echo "# the pane's process is still running"; return 1; }
}
keys() { $T send-keys -t tui "$@"; }

printf 'alpha\nbeta\ngamma\n' >"$tmp/project/notes.txt"
cat >"$tmp/script.json" <<'JSON'
{"api_key": "sk-tui",
 "models": [{"id": "claude-test-1", "display_name": "Claude Test One"},
            {"id": "claude-test-2", "display_name": "Claude Test Two"}],
 "replies": [
 [{"type": "message_start"},
  {"type": "text", "text": ["# Plan\n\nSome **bold**, *italic* and `code` with a ", "[link](https://example.org).\n\n",
                            "- first item\n- second item that is long enough to wrap around the screen edge\n\n",
                            "1. one\n2. two\n\n> quoted\n\n```c\nint x = 1;\n```\n"]},
  {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_r1", "name": "read", "input": {"path": "notes.txt"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_e1", "name": "edit", "input": {"path": "notes.txt", "old_string": "beta", "new_string": "BETA"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "Edited."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_a1", "name": "ask_echo", "input": {"text": "once"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "Rejected then."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_a2", "name": "ask_echo", "input": {"text": "twice"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "Allowed always."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_a3", "name": "ask_echo", "input": {"text": "twice"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "No question asked."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_w1", "name": "write", "input": {"path": "new.txt", "content": "x\n"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "Rejected always."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_c1", "name": "echo", "input": {"text": "bad\u001b[2J\u0007title\u009b"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "Echoed."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"}, {"type": "text", "text": "From the CLI."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_e2", "name": "edit", "input": {"path": "notes.txt", "old_string": "gamma", "new_string": "GAMMA"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "The CLI answered."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "http_error", "status": 529, "error_type": "overloaded_error", "message": "Overloaded", "retry_after": "3"}],
 [{"type": "message_start"}, {"type": "text", "text": "Retried fine."}, {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"}, {"type": "text", "text": "A big paste."}, {"type": "stop", "stop_reason": "end_turn"}]
]}
JSON
"$builddir/tests/fake-anthropic" "$tmp/script.json" "$tmp/port" "$tmp/requests.jsonl" \
	>"$tmp/fake.log" 2>&1 &
fake_pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
cat >"$tmp/plugins.conf" <<CONF
module_dir $builddir/tests/modules
module_dir $builddir/plugins
load frontend socket
load frontend tui
load provider anthropic
load tool edit
load tool good_tool
[provider anthropic]
model = claude-test-1
CONF
cat >"$tmp/run.sh" <<RUN
#!/bin/sh
export XDG_CONFIG_HOME="$XDG_CONFIG_HOME" XDG_STATE_HOME="$XDG_STATE_HOME" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR"
export HEARTH_SOCKET="$HEARTH_SOCKET" LANG=C.UTF-8 LC_ALL=C.UTF-8
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$tmp/port")" ANTHROPIC_API_KEY=sk-tui
cd "$tmp/project"
echo \$\$ >"$tmp/hearthd.pid"
exec "$builddir/hearthd" --foreground --config "$tmp/plugins.conf" 2>>"$tmp/hearthd.err"
RUN
chmod +x "$tmp/run.sh"
$T new-session -d -s tui -x 80 -y 24 "$tmp/run.sh"
$T set-option -t tui remain-on-exit on >/dev/null

# --- opening a session: none here yet, so a new one
check "a new session opens" wait_for "· new session SID in $tmp/project"
check "the status line shows the model and the state" shows " ready"
check "the status line names the model" shows "anthropic/claude-test-1"
check "the editor has its prompt" shows "❯"

# --- streaming text, rendered as Markdown
keys 'show markdown' Enter
check "the answer arrives" wait_for "int x = 1;"
cat >"$tmp/md.txt" <<'TXT'
❯ show markdown

# Plan

Some bold, italic and code with a link (https://example.org).

• first item
• second item that is long enough to wrap around the screen edge

1. one
2. two

│ quoted

  int x = 1;
TXT
first=$(grep -n '^❯ show markdown' "$tmp/screen.txt" | cut -d: -f1)
check "the Markdown screen" rows_are "$first" $((first + 14)) "$tmp/md.txt"
check "the turn is over" wait_for " ready"

# --- a tool block with its diff, after a permission question answered with y
keys 'edit the file' Enter
check "the permission question comes up" wait_for "y allow once  a always allow  n reject  r always reject"
check "the read tool block ran first" shows "▾ read Read notes.txt  completed N.Ns"
check "the question shows the edit as a diff" shows "  -beta"
check "with the line it adds" shows "  +BETA"
keys y
check "the edit runs after y" wait_for "Edited."
check "the question records the answer" shows "answered: Allow once"
check "the edit tool block is completed" shows "▾ edit Edit notes.txt  completed N.Ns"
check "the block shows the unified diff" shows "  @@ -1,3 +1,3 @@"
check "the file changed" grep -qx BETA "$tmp/project/notes.txt"

# --- the other three keys
keys 'ask once' Enter
check "ask_echo asks" wait_for "Permission: edit ask_echo once"
keys n
check "n rejects" wait_for "Rejected then."
check "n is recorded" shows "answered: Reject"
keys 'ask twice' Enter
check "asks again" wait_for "Permission: edit ask_echo twice"
keys a
check "a allows" wait_for "Allowed always."
check "a is recorded" shows "answered: Always allow"
keys 'ask thrice' Enter
check "allowed always: no question" wait_for "No question asked."
check "ask_echo ran twice" test "$(grep -c "▾ edit ask_echo twice  completed" "$tmp/screen.txt")" -eq 2
keys 'write a file' Enter
check "write asks" wait_for "Permission: edit Write new.txt"
keys r
check "r rejects always" wait_for "Rejected always."
check "r is recorded" shows "answered: Always reject"
check "nothing was written" test ! -e "$tmp/project/new.txt"

# --- control characters in a tool title never reach the terminal
keys 'echo it' Enter
check "the echo ran" wait_for "Echoed."
check "the title's control characters are shown as U+FFFD" shows "bad�[2J�title�"
check "the screen was not cleared by the title" shows "Rejected always."

# --- a second client: the CLI over the socket, on the same session
sid=$(grep -o 'ses_[a-z0-9]*' "$tmp/hearthd.err" | head -n 1)
timeout 60 "$builddir/hearth" --no-start run --session "$sid" "prompt from the cli" \
	</dev/null >"$tmp/cli1.out" 2>&1
check "the CLI's prompt shows in the TUI" wait_for "❯ prompt from the cli"
check "and its answer" wait_for "From the CLI."
# The CLI's own rule refuses the edit (without one, a CLI with no terminal would
# leave the question to the TUI).
timeout 60 "$builddir/hearth" --no-start run --deny edit --session "$sid" "edit from the cli" \
	</dev/null >"$tmp/cli2.out" 2>&1
check "the CLI's run ended by itself" test $? -eq 0
check "the CLI's rule refused the edit" wait_for "The CLI answered."
check "the TUI sees the other client's turn end" wait_for " ready"
check "so the edit did not run" grep -qx gamma "$tmp/project/notes.txt"

# --- the model picker
keys '/model' Enter
check "the model picker opens" wait_for "Model:"
check "it lists the first model, current" shows "anthropic/claude-test-1  Claude Test One  (current)"
check "and the second" shows "anthropic/claude-test-2  Claude Test Two"
keys Down Enter
check "choosing switches the model" wait_for "· model: anthropic/claude-test-2"
check "the status line follows" wait_for "anthropic/claude-test-2 ·"

# --- the session picker
keys '/new' Enter
check "/new opens another session" wait_for "· new session SID"
keys '/sessions' Enter
check "the session picker opens" wait_for "Session:"
check "it lists both sessions of this project" count_is 2 'msgs'
keys Down Enter
check "choosing the older one replays it" wait_for "From the CLI."
check "the status line names its model again" shows "anthropic/claude-test-2"

# --- unknown commands, /help
keys '/frobnicate' Enter
check "an unknown command says so" wait_for "✗ unknown command /frobnicate (/help lists them)"
keys '/help' Enter
check "/help lists the commands" wait_for "commands: /model /sessions /new /rename TITLE /cancel /help /quit"

# --- scrollback by keys
keys PPage
check "PgUp scrolls back" wait_for "lines (PgDn)"
keys NPage NPage NPage
check "PgDn comes back to the bottom" wait_for "commands: /model"

# --- resize, down to 10x3 and back
$T resize-window -t tui -x 50 -y 20
check "after a resize the status line fits" wait_for "ready"
screen >"$tmp/screen.txt"
check "no line is wider than 50 columns" test "$(LC_ALL=C.UTF-8 wc -L <"$tmp/screen.txt")" -le 50
$T resize-window -t tui -x 10 -y 3
sleep 0.3
screen >"$tmp/screen.txt"
check "a 10x3 terminal still shows the editor" shows "❯"
check "and three rows" test "$(wc -l <"$tmp/screen.txt")" -le 3
$T resize-window -t tui -x 80 -y 24
check "back to 80x24" wait_for "commands: /model"

# --- the status line while the provider is retried
keys 'retry please' Enter
check "the status line counts down the retry" wait_for "retrying in 3s (attempt 1/"
check "and says why" shows "overloaded (HTTP 529): Overloaded"
check "the retry succeeds" wait_for "Retried fine."
check "and the status line is back to ready" wait_for " ready"

# --- colours: used where the terminal has them
$T capture-pane -e -p -t tui >"$tmp/escapes.txt"
check "colours are used" grep -qE '\[[0-9;]*3[0-7]m|38;5;' "$tmp/escapes.txt"

# --- a 1 MB bracketed paste
awk 'BEGIN { for (i = 0; i < 16384; i++) printf "line %05d of a very large paste, sixty-four bytes long ....\n", i }' \
	>"$tmp/paste.txt"
$T load-buffer -b big "$tmp/paste.txt"
$T paste-buffer -p -b big -t tui
check "the paste lands in the editor" wait_for "line 16383 of a very large paste"
keys Enter
check "the pasted prompt is sent and answered" wait_for "A big paste."
check "the request carried all of it" grep -q 'line 16383 of a very large paste' "$tmp/requests.jsonl"

# --- a daemon restart: the latest session of the project opens with its history
keys '/quit' Enter
check "/quit ends the process carrying the TUI" pane_dies
screen >"$tmp/screen.txt"
check "the terminal is given back (no TUI left on it)" lacks "❯"
$T respawn-pane -k -t tui "env NO_COLOR=1 $tmp/run.sh"
check "restarted, the latest session opens with its history" wait_for "A big paste."

$T capture-pane -e -p -t tui >"$tmp/escapes.txt"
check "NO_COLOR: no colour at all" test "$(grep -cE '\[[0-9;]*3[0-7]m|38;5;' "$tmp/escapes.txt")" -eq 0

# --- a crash: the terminal is restored by the signal handler
pid=$(cat "$tmp/hearthd.pid")
kill -SEGV "$pid"
check "SIGSEGV ends it" pane_dies
screen >"$tmp/screen.txt"
check "after SIGSEGV the terminal is restored" lacks "❯"

echo "1..$n"
[ "$failed" -eq 0 ]
