#!/bin/sh
# test_client.sh: the hearth client end to end, against tests/fake_acpd (a fake
# daemon with canned answers): options and usage errors, run (text and JSON output
# byte for byte, exit statuses, --continue, --session, --model, permission
# answers, SIGINT), sessions, attach, acp bridging, stop, starting the daemon
# (one start for two racing clients, --no-start, failing daemons) and doctor.
set -u
# The tools this test needs beyond POSIX sh: without one it fails, naming it.
for tool in grep sed tr wc cmp diff stat mktemp cut head tail; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is not installed"; exit 1; }
done

builddir=${HEARTH_TEST_BUILDDIR:?run me from make check}
hearth="$builddir/hearth"
fake="$builddir/tests/fake_acpd"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-client-XXXXXX")
tmp=$(cd "$tmp" && pwd -P)

# Whether process $1 still runs (a daemonized fake's zombie may wait a while for
# its reaper: that counts as gone).
alive() {
	[ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) [ZX] ' "/proc/$1/stat" 2>/dev/null
}
# Stop every fake daemon this test started (their pids are in $tmp/pids).
fake_stop() {
	[ -f "$tmp/pids" ] || return 0
	for pid in $(cat "$tmp/pids"); do
		kill "$pid" 2>/dev/null
		i=0
		while alive "$pid" && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
	done
	rm -f "$tmp/pids"
}
# The real daemon of the last section is stopped too (stop never starts one).
trap 'fake_stop; "$hearth" --socket "$tmp/r/run/hearth/hearth.sock" stop >/dev/null 2>&1; rm -rf "$tmp"' EXIT

unset HEARTH_SOCKET HEARTH_DAEMON ANTHROPIC_API_KEY OPENAI_API_KEY GEMINI_API_KEY \
	GOOGLE_API_KEY OLLAMA_HOST
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
export HOME="$tmp" TZ=UTC
sock="$tmp/run/hearth/hearth.sock"
log="$tmp/log"
mkdir -p "$tmp/proj" "$tmp/other" "$tmp/empty" "$tmp/fresh"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
has() { grep -qF -- "$2" "$1" || { echo "# $1 lacks: $2"; sed 's/^/#   /' "$1"; return 1; }; }
lacks() { ! grep -qF -- "$2" "$1" || { echo "# $1 has: $2"; return 1; }; }
# same FILE TEXT: FILE holds exactly TEXT (printf-style escapes allowed in TEXT).
same() {
	printf "$2" >"$tmp/expected"
	cmp -s "$1" "$tmp/expected" || {
		echo "# $1 differs from what was expected:"; diff "$tmp/expected" "$1" | sed 's/^/#   /'
		return 1
	}
}
status_is() { [ "$1" -eq "$2" ] || { echo "# exit status $1, expected $2"; return 1; }; }
# wait_for FILE TEXT: until FILE contains TEXT (at most 10 s).
wait_for() {
	i=0
	while ! grep -qF -- "$2" "$1" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	grep -qF -- "$2" "$1" 2>/dev/null
}
fake_start() { # fake_start [fake_acpd options]: a fresh fake daemon on $sock
	fake_stop
	rm -f "$log"
	mkdir -p "$tmp/run/hearth" && chmod 700 "$tmp/run" "$tmp/run/hearth"
	"$fake" --daemonize --socket "$sock" --pidfile "$tmp/pids" --log "$log" "$@"
}
run() { # run ARGS...: hearth ARGS with stdin from /dev/null, into $tmp/out and $tmp/err
	"$hearth" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	st=$?
}
run_with() { # run_with VAR=VALUE... ARGS...: run, with those variables set
	env "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	st=$?
}

# Seeded sessions, newest first, with the history attach replays. Their ages are
# 10 minutes, 2 hours and 3 days (a minute's slack before the table changes).
now=$(date +%s)
t_new=$((now - 600)) t_old=$((now - 7200)) t_other=$(((now - 3 * 86400) * 1000))
cat >"$tmp/state.json" <<EOF
[
 {"sessionId": "s-new", "title": "Fix the build", "cwd": "$tmp/proj",
  "model": "anthropic/claude-sonnet-4-5", "status": "idle", "messages": 4,
  "updatedAt": $t_new, "usage": {"inputTokens": 12000, "outputTokens": 345,
  "reasoningTokens": 0, "cacheReadTokens": 0, "cacheWriteTokens": 0, "costMicros": 41175},
  "history": [
   {"sessionId": "s-new", "update": {"sessionUpdate": "user_message_chunk",
    "content": {"type": "text", "text": "make fails"}}, "_meta": {"hearth": {"seq": 1}}},
   {"sessionId": "s-new", "update": {"sessionUpdate": "agent_message_chunk",
    "content": {"type": "text", "text": "Fixed it.\\n"}}, "_meta": {"hearth": {"seq": 2}}}]},
 {"sessionId": "s-old", "title": "Old work", "cwd": "$tmp/proj", "model": "openai/gpt-5",
  "status": "interrupted", "messages": 12, "updatedAt": $t_old},
 {"sessionId": "s-other",
  "title": "Elsewhere with a very long title that goes past forty characters",
  "cwd": "$tmp/other", "model": "ollama/llama3", "status": "error", "messages": 0,
  "updatedAt": $t_other}
]
EOF

# ------------------------------------------------------------------ options --
run --version
check "--version exits 0" status_is $st 0
check "--version names the program" has "$tmp/out" "hearth "
run -V
check "-V exits 0" status_is $st 0
check "-V prints the version" same "$tmp/out" "hearth $(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$builddir/config.h")\n"
run version
check "version exits 0" status_is $st 0
check "version prints the same" same "$tmp/out" "hearth $(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$builddir/config.h")\n"
run version extra
check "version with an argument exits 2" status_is $st 2
run help
check "help exits 0" status_is $st 0
check "help lists the commands" has "$tmp/out" "  doctor    check config, modules, keys, socket and store"
check "help lists itself" has "$tmp/out" "  help      describe the commands, or one"
run help run
check "help run exits 0" status_is $st 0
check "help run shows run's usage" has "$tmp/out" "usage: hearth run [--model PROVIDER/MODEL]"
run help frob
check "help of an unknown command exits 2" status_is $st 2
check "help of an unknown command says so" has "$tmp/err" "hearth: help: unknown command 'frob'"
run --help
check "--help exits 0" status_is $st 0
check "--help lists the commands" has "$tmp/out" "  doctor    check config, modules, keys, socket and store"
run
check "no command exits 2" status_is $st 2
check "no command is said" has "$tmp/err" "hearth: no command given"
run frobnicate
check "an unknown command exits 2" status_is $st 2
check "the unknown command is named" has "$tmp/err" "hearth: unknown command 'frobnicate'"
run --frobnicate sessions
check "an unknown global option exits 2" status_is $st 2
run run
check "run without a prompt exits 2" status_is $st 2
check "run without a prompt says so" has "$tmp/err" "hearth: run needs a PROMPT (- reads it from stdin)"
run run --session a --continue hi
check "--session with --continue exits 2" status_is $st 2
check "--session with --continue is refused" has "$tmp/err" "hearth: --session and --continue exclude each other"
run run --format yaml hi
check "a bad --format exits 2" status_is $st 2
check "a bad --format is named" has "$tmp/err" "hearth: --format must be text or json, not 'yaml'"
run run --cwd "$tmp/nowhere" hi
check "a missing --cwd exits 2" status_is $st 2
check "a missing --cwd is named" has "$tmp/err" "hearth: --cwd $tmp/nowhere: No such file or directory"
run run "   "
check "an empty prompt exits 2" status_is $st 2
run attach
check "attach without an ID exits 2" status_is $st 2
run sessions extra
check "a stray argument exits 2" status_is $st 2
run run --help
check "run --help exits 0" status_is $st 0
check "run --help shows its usage" has "$tmp/out" "usage: hearth run [--model PROVIDER/MODEL]"
check "no daemon was started by any of that" test ! -e "$sock"

# ------------------------------------------------------------- --no-start --
run --no-start sessions
check "--no-start without a daemon exits 1" status_is $st 1
check "--no-start says why" same "$tmp/err" "hearth: no daemon is running on $sock (and --no-start was given)\n"
check "--no-start started nothing" test ! -e "$sock"

# ---------------------------------------------------------------- sessions --
fake_start --state "$tmp/state.json"
run sessions
check "sessions exits 0" status_is $st 0
check "sessions prints the table" same "$tmp/out" \
"ID       TITLE                                     DIRECTORY  MODEL                        STATUS       MSGS  TOKENS   COST  AGE
s-new    Fix the build                             ~/proj     anthropic/claude-sonnet-4-5  idle            4   12.3k  \$0.04  10m
s-old    Old work                                  ~/proj     openai/gpt-5                 interrupted    12       -      -   2h
s-other  Elsewhere with a very long title that g…  ~/other    ollama/llama3                error           0       -      -   3d
"
run sessions --json
check "sessions --json exits 0" status_is $st 0
check "sessions --json prints the array on one line" same "$tmp/out" \
"[{\"sessionId\":\"s-new\",\"title\":\"Fix the build\",\"cwd\":\"$tmp/proj\",\"model\":\"anthropic/claude-sonnet-4-5\",\"status\":\"idle\",\"messages\":4,\"updatedAt\":$t_new,\"usage\":{\"inputTokens\":12000,\"outputTokens\":345,\"reasoningTokens\":0,\"cacheReadTokens\":0,\"cacheWriteTokens\":0,\"costMicros\":41175}},\
{\"sessionId\":\"s-old\",\"title\":\"Old work\",\"cwd\":\"$tmp/proj\",\"model\":\"openai/gpt-5\",\"status\":\"interrupted\",\"messages\":12,\"updatedAt\":$t_old},\
{\"sessionId\":\"s-other\",\"title\":\"Elsewhere with a very long title that goes past forty characters\",\"cwd\":\"$tmp/other\",\"model\":\"ollama/llama3\",\"status\":\"error\",\"messages\":0,\"updatedAt\":$t_other}]\n"
check "the client began with initialize" same "$log" \
"initialize {\"protocolVersion\":1,\"clientCapabilities\":{\"fs\":{\"readTextFile\":false,\"writeTextFile\":false},\"terminal\":false},\"clientInfo\":{\"name\":\"hearth\",\"version\":\"$("$hearth" --version | cut -d' ' -f2)\"}}
_hearth/sessions {}
initialize {\"protocolVersion\":1,\"clientCapabilities\":{\"fs\":{\"readTextFile\":false,\"writeTextFile\":false},\"terminal\":false},\"clientInfo\":{\"name\":\"hearth\",\"version\":\"$("$hearth" --version | cut -d' ' -f2)\"}}
_hearth/sessions {}
"

# Unique prefixes name a session; an ambiguous one is refused naming the candidates.
run attach s-o
check "an ambiguous prefix exits 1" status_is $st 1
check "an ambiguous prefix names the candidates" same "$tmp/err" \
	"hearth: session id 's-o' is ambiguous: 2 sessions start with it (s-old, s-other)\n"
run sessions rename s-ne Build fixed
check "sessions rename with a prefix exits 0" status_is $st 0
check "sessions rename sent the whole id and the words as one title" has "$log" \
	'_hearth/rename {"sessionId":"s-new","title":"Build fixed"}'
run sessions rename s-new
check "sessions rename without a title exits 2" status_is $st 2
run sessions prune
check "sessions prune without --older-than exits 2" status_is $st 2
check "and says what it needs" has "$tmp/err" "sessions prune needs --older-than SPAN (for example 30d)"
run sessions prune --older-than soon
check "a bad span exits 2" status_is $st 2
run sessions prune --older-than 1d --dry-run
check "prune --dry-run exits 0" status_is $st 0
check "prune --dry-run names what it would remove" same "$tmp/out" "would remove s-other\n"
check "prune --dry-run removes nothing" lacks "$log" "session/delete"
run sessions prune --older-than 1h
check "prune exits 0" status_is $st 0
check "prune removes the sessions older than the span" same "$tmp/out" "removed s-old\nremoved s-other\n"
run sessions rm s-n nonesuch
check "sessions rm with one unknown id exits 1" status_is $st 1
check "sessions rm removed the one it knew, by prefix" same "$tmp/out" "removed s-new\n"
check "and the daemon's refusal of the other is shown" has "$tmp/err" "hearth: unknown session 'nonesuch'"
run sessions
check "after rm and prune no session is left" same "$tmp/out" "no sessions\n"
fake_start --state "$tmp/state.json"

long=$(printf '%0200d' 0)
run --socket "$tmp/$long.sock" sessions
check "a socket path too long for connect(2) exits 1" status_is $st 1
check "a socket path too long is said" same "$tmp/err" \
	"hearth: cannot connect to $tmp/$long.sock: File name too long\n"

# --------------------------------------------------------------------- run --
(cd "$tmp/empty" && "$hearth" run hello there </dev/null >"$tmp/out" 2>"$tmp/err"); st=$?
check "run exits 0 on end_turn" status_is $st 0
check "run prints the answer text, and a final newline" same "$tmp/out" "Hello, world.\n"
check "run prints tool calls on stderr, thoughts not off a terminal" same "$tmp/err" \
	"• Read README\n• Read README: completed\n"
check "run created a session in the current directory" \
	has "$log" "session/new {\"cwd\":\"$tmp/empty\",\"mcpServers\":[]}"
check "run sent the words as one text prompt" \
	has "$log" "session/prompt {\"sessionId\":\"new-1\",\"prompt\":[{\"type\":\"text\",\"text\":\"hello there\"}]}"

run run --cwd "$tmp/empty" --format json hi
check "run --format json exits 0" status_is $st 0
# The duration varies: it is checked to be a number, then masked.
check "the result's duration is a number of ms" grep -q '"durationMs":[0-9][0-9]*,' "$tmp/out"
sed 's/"durationMs":[0-9]*,/"durationMs":D,/' "$tmp/out" >"$tmp/out.masked" && mv "$tmp/out.masked" "$tmp/out"
check "run --format json prints an init line, each update as received, then the result" same "$tmp/out" \
'{"type":"init","sessionId":"new-2","model":"fake/default","cwd":"'"$tmp"'/empty","tools":[]}
{"sessionId":"new-2","update":{"sessionUpdate":"user_message_chunk","content":{"type":"text","text":"hi"}},"_meta":{"hearth":{"seq":1}}}
{"sessionId":"new-2","update":{"sessionUpdate":"agent_thought_chunk","content":{"type":"text","text":"Let me look."}},"_meta":{"hearth":{"seq":2}}}
{"sessionId":"new-2","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Hello, "}},"_meta":{"hearth":{"seq":3}}}
{"sessionId":"new-2","update":{"sessionUpdate":"tool_call","toolCallId":"call-1","title":"Read README","kind":"read","status":"pending"},"_meta":{"hearth":{"seq":4}}}
{"sessionId":"new-2","update":{"sessionUpdate":"tool_call_update","toolCallId":"call-1","status":"completed"},"_meta":{"hearth":{"seq":5}}}
{"sessionId":"new-2","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"world."}},"_meta":{"hearth":{"seq":6}}}
{"type":"result","sessionId":"new-2","stopReason":"end_turn","text":"world.","isError":false,"error":null,"durationMs":D,"modelCalls":0,"toolCalls":1,"usage":{"inputTokens":0,"outputTokens":0,"reasoningTokens":0,"cacheReadTokens":0,"cacheWriteTokens":0},"costUsd":0.0}
'
check "run --format json keeps stderr empty" same "$tmp/err" ""

run run --cwd "$tmp/empty" --model openai/gpt-5 hi
check "run --model on a new session exits 0" status_is $st 0
check "run --model creates the session with it" has "$log" \
	"session/new {\"cwd\":\"$tmp/empty\",\"mcpServers\":[],\"_meta\":{\"hearth\":{\"model\":\"openai/gpt-5\"}}}"

printf 'from\nstdin' | "$hearth" run --cwd "$tmp/empty" - >"$tmp/out" 2>"$tmp/err"
check "run - reads the prompt from stdin" has "$log" "\"text\":\"from\\nstdin\"}]}"

rm -f "$log"
run run --cwd "$tmp/proj" --continue again
check "run --continue exits 0" status_is $st 0
check "run --continue asks for the sessions of the directory, resumes the newest" same "$log" \
"initialize {\"protocolVersion\":1,\"clientCapabilities\":{\"fs\":{\"readTextFile\":false,\"writeTextFile\":false},\"terminal\":false},\"clientInfo\":{\"name\":\"hearth\",\"version\":\"$("$hearth" --version | cut -d' ' -f2)\"}}
_hearth/sessions {\"cwd\":\"$tmp/proj\"}
_hearth/status {\"sessionId\":\"s-new\"}
session/resume {\"sessionId\":\"s-new\",\"cwd\":\"$tmp/proj\",\"mcpServers\":[],\"_meta\":{\"hearth\":{\"lastSeq\":2}}}
session/prompt {\"sessionId\":\"s-new\",\"prompt\":[{\"type\":\"text\",\"text\":\"again\"}]}
"
check "run --continue shows only the new turn" same "$tmp/out" "Hello, world.\n"

run run --cwd "$tmp/fresh" --continue first
check "run --continue in a directory without sessions exits 0" status_is $st 0
check "run --continue says it starts one" has "$tmp/err" "hearth: no session in $tmp/fresh yet: starting a new one"
check "run --continue made a new session there" has "$log" "session/new {\"cwd\":\"$tmp/fresh\",\"mcpServers\":[]}"

rm -f "$log"
run run --session s-old --model anthropic/claude-opus-4 go
check "run --session --model exits 0" status_is $st 0
check "run --session resumes in the session's own directory" has "$log" \
	"session/resume {\"sessionId\":\"s-old\",\"cwd\":\"$tmp/proj\",\"mcpServers\":[],\"_meta\":{\"hearth\":{\"lastSeq\":0}}}"
check "run --model on an existing session sends set_config_option" has "$log" \
	"session/set_config_option {\"sessionId\":\"s-old\",\"configId\":\"model\",\"value\":\"anthropic/claude-opus-4\"}"
check "run --session prompts that session" has "$log" "session/prompt {\"sessionId\":\"s-old\""
run sessions --json
check "the model changed" has "$tmp/out" "\"sessionId\":\"s-old\",\"title\":\"Old work\",\"cwd\":\"$tmp/proj\",\"model\":\"anthropic/claude-opus-4\""

run run --session nope hi
check "run --session with an unknown session exits 1" status_is $st 1
check "the daemon's error is printed" same "$tmp/err" "hearth: unknown session 'nope'\n"

# A turn that stops early, or fails.
for reason in max_tokens refusal max_turn_requests; do
	fake_start --stop-reason $reason
	run run --cwd "$tmp/empty" hi
	check "stopReason $reason exits 0" status_is $st 0
	check "stopReason $reason is noted on stderr" has "$tmp/err" "($reason)"
done
fake_start --stop-reason cancelled
run run --cwd "$tmp/empty" --format json hi
check "stopReason cancelled exits 130" status_is $st 130
check "the JSON ends with the result and its stop reason" \
	test "$(tail -n 1 "$tmp/out" | grep -c '^{"type":"result","sessionId":"new-1","stopReason":"cancelled","text":"world.","isError":false,"error":null,')" -eq 1
fake_start --prompt-error "session new-1 is busy"
run run --cwd "$tmp/empty" hi
check "an error answer to the prompt exits 1" status_is $st 1
check "the error is printed as hearth: MESSAGE" same "$tmp/err" "hearth: session new-1 is busy\n"
run run --cwd "$tmp/empty" --format json hi
check "--format json: an error answer exits 1 too" status_is $st 1
check "--format json: the result carries the error" has "$tmp/out" \
	'"stopReason":null,"text":"","isError":true,"error":"session new-1 is busy",'
run --no-start --socket "$tmp/nowhere.sock" run --format json hi
check "--format json: no daemon exits 1" status_is $st 1
check "--format json: a run that never reached its turn still ends with a result" \
	test "$(grep -c '^{"type":"result","sessionId":null,"stopReason":null,"text":"","isError":true,"error":"no daemon is running' "$tmp/out")" -eq 1

# The daemon dropped an update: the client resumes from the last one it saw.
fake_start --resync
run run --cwd "$tmp/empty" hi
check "after a resync the turn still ends" status_is $st 0
check "after a resync the client resumed from its last update" has "$log" \
	"session/resume {\"sessionId\":\"new-1\",\"cwd\":\"$tmp/empty\",\"mcpServers\":[],\"_meta\":{\"hearth\":{\"lastSeq\":3}}}"
check "after a resync nothing is shown twice" same "$tmp/out" "Hello, world.\n"
check "after a resync the dropped update is shown" same "$tmp/err" "• Read README\n• Read README: completed\n"
run run --cwd "$tmp/empty" --format json hi
check "after a resync each JSON update is printed once, in order" \
	test "$(grep -o '"seq":[0-9]*' "$tmp/out" | tr '\n' ' ')" = '"seq":1 "seq":2 "seq":3 "seq":4 "seq":5 "seq":6 '

# Permission requests.
fake_start --permission
run run --cwd "$tmp/empty" hi
check "a refused permission still ends the turn" status_is $st 0
check "without a terminal, permission is refused once" has "$log" \
	'response {"outcome":{"outcome":"selected","optionId":"reject"}}'
check "the refusal leaves stdout alone" same "$tmp/out" "Hello, world.\n"
check "and the refusal is explained" same "$tmp/err" \
"• Read README
hearth: refused permission for Read README: stdin is not a terminal, so nobody can be asked
• Read README: failed
"
fake_start --permission
run run --cwd "$tmp/empty" --format json hi
check "with --format json the refusal names the tool too" has "$tmp/err" \
	"hearth: refused permission for Read README: stdin is not a terminal"
# script(1) gives the client a terminal: it is in bsdutils (always installed), and
# needs a pseudo-terminal, which a bare chroot may lack (no /dev/pts mounted).
if ! command -v script >/dev/null 2>&1; then
	not_ok "on a terminal the question is asked (script(1), from bsdutils, is not installed)"
elif ! script -qec true /dev/null >/dev/null 2>&1; then
	n=$((n + 1)); echo "ok $n - # SKIP the terminal questions: no pseudo-terminal (is /dev/pts mounted?)"
else
	fake_start --permission
	printf 'a\n' | script -qec "'$hearth' run --cwd '$tmp/empty' hi" /dev/null >"$tmp/out" 2>&1
	# The typed answer is echoed wherever the terminal happens to be: check the
	# question's start, whose place does not depend on that race.
	check "on a terminal the question is asked" has "$tmp/out" \
		"hearth: allow Read README? [y]es once / [a]lways / [n]o"
	check "on a terminal the answer is sent by its kind" has "$log" \
		'response {"outcome":{"outcome":"selected","optionId":"always"}}'
	check "the allowed tool completed" has "$tmp/out" "• Read README: completed"
fi

# SIGINT cancels the turn; a second one quits.
fake_start --hang
rm -f "$tmp/out" "$tmp/err" # wait_for must not see the last test's output
"$hearth" run --cwd "$tmp/empty" hi </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/err" "• Read README"
kill -INT $pid
wait $pid
st=$?
check "SIGINT during a turn exits 130" status_is $st 130
check "SIGINT sends session/cancel" has "$log" 'session/cancel {"sessionId":"new-1"}'
check "SIGINT says what it does" has "$tmp/err" "hearth: cancelling the turn (interrupt again to quit)"
check "the cancelled turn is reported" has "$tmp/err" "hearth: the turn was cancelled"
fake_start --hang --ignore-cancel
rm -f "$tmp/out" "$tmp/err" # wait_for must not see the last test's output
"$hearth" run --cwd "$tmp/empty" hi </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/err" "• Read README"
kill -INT $pid
wait_for "$tmp/err" "interrupt again to quit"
kill -INT $pid
wait $pid
st=$?
check "a second SIGINT quits with 130" status_is $st 130
check "cancel was sent once" test "$(grep -c 'session/cancel' "$log")" -eq 1

# ------------------------------------------------------------------ attach --
fake_start --state "$tmp/state.json" --live "Still here." --close-after-load
run attach s-new
check "attach replays, then shows live updates" same "$tmp/out" "> make fails\n\nFixed it.\nStill here.\n"
check "attach loaded the session in its directory" has "$log" \
	"session/load {\"sessionId\":\"s-new\",\"cwd\":\"$tmp/proj\",\"mcpServers\":[]}"
check "attach exits 1 when the daemon goes away" status_is $st 1
check "and says so" same "$tmp/err" "hearth: the daemon closed the connection\n"
fake_start --state "$tmp/state.json" --live "Still here."
rm -f "$tmp/out" "$tmp/err"
"$hearth" attach s-new </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_for "$tmp/out" "Still here."
kill -INT $pid
wait $pid
st=$?
check "attach ends with status 0 on SIGINT" status_is $st 0
check "attach printed the replay and the live text" same "$tmp/out" "> make fails\n\nFixed it.\nStill here.\n"
run attach zzz
check "attach to an unknown session exits 1" status_is $st 1
check "attach names the unknown session" same "$tmp/err" "hearth: unknown session 'zzz'\n"

# --------------------------------------------------------------------- acp --
fake_start
printf '%s\n' \
	'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"clientInfo":{"name":"zed","version":"1"}}}' \
	'{"jsonrpc":"2.0","id":"two","method":"session/new","params":{"cwd":"/work","mcpServers":[]}}' \
	'{"jsonrpc":"2.0","id":3,"method":"session/prompt","params":{"sessionId":"new-1","prompt":[{"type":"text","text":"yo"}]}}' \
	'{"jsonrpc":"2.0","id":4,"method":"nonsense"}' \
	| "$hearth" acp >"$tmp/out" 2>"$tmp/err"
st=$?
check "acp exits 0 when the daemon hangs up after stdin ends" status_is $st 0
check "acp passes the daemon's frames through unchanged" same "$tmp/out" \
'{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1,"agentCapabilities":{"loadSession":true},"agentInfo":{"name":"hearth","version":"0.0-fake"}}}
{"jsonrpc":"2.0","id":"two","result":{"sessionId":"new-1"}}
{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"new-1","update":{"sessionUpdate":"user_message_chunk","content":{"type":"text","text":"yo"}},"_meta":{"hearth":{"seq":1}}}}
{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"new-1","update":{"sessionUpdate":"agent_thought_chunk","content":{"type":"text","text":"Let me look."}},"_meta":{"hearth":{"seq":2}}}}
{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"new-1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Hello, "}},"_meta":{"hearth":{"seq":3}}}}
{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"new-1","update":{"sessionUpdate":"tool_call","toolCallId":"call-1","title":"Read README","kind":"read","status":"pending"},"_meta":{"hearth":{"seq":4}}}}
{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"new-1","update":{"sessionUpdate":"tool_call_update","toolCallId":"call-1","status":"completed"},"_meta":{"hearth":{"seq":5}}}}
{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"new-1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"world."}},"_meta":{"hearth":{"seq":6}}}}
{"jsonrpc":"2.0","id":3,"result":{"stopReason":"end_turn"}}
{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"method not found: nonsense"}}
'
check "acp writes nothing on stderr" same "$tmp/err" ""
check "acp left the handshake to the editor" same "$log" \
'initialize {"protocolVersion":1,"clientInfo":{"name":"zed","version":"1"}}
session/new {"cwd":"/work","mcpServers":[]}
session/prompt {"sessionId":"new-1","prompt":[{"type":"text","text":"yo"}]}
nonsense {}
'
# The editor answers a permission request through the bridge.
fake_start --permission
printf '%s\n' \
	'{"jsonrpc":"2.0","id":1,"method":"session/new","params":{"cwd":"/w","mcpServers":[]}}' \
	'{"jsonrpc":"2.0","id":2,"method":"session/prompt","params":{"sessionId":"new-1","prompt":[]}}' \
	'{"jsonrpc":"2.0","id":"perm-1","result":{"outcome":{"outcome":"selected","optionId":"allow"}}}' \
	| "$hearth" acp >"$tmp/out" 2>"$tmp/err"
check "acp carries the editor's answers to the daemon" has "$log" \
	'response {"outcome":{"outcome":"selected","optionId":"allow"}}'
check "acp carries the daemon's requests to the editor" has "$tmp/out" \
	'{"jsonrpc":"2.0","id":"perm-1","method":"session/request_permission","params":{"sessionId":"new-1","toolCall":{"toolCallId":"call-1"},"options":[{"optionId":"allow","name":"Allow once","kind":"allow_once"}'

# -------------------------------------------------------------------- stop --
run stop
check "stop exits 0" status_is $st 0
check "stop sent _hearth/shutdown" has "$log" "_hearth/shutdown {}"
check "after stop nothing accepts connections" test ! -S "$sock"
pid=$(tail -n 1 "$tmp/pids")
i=0
while alive "$pid" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
check "the daemon process is gone" test $i -lt 100
rm -f "$tmp/pids"
export HEARTH_DAEMON="$tmp/no-such-daemon"
run stop
check "stop without a daemon exits 0" status_is $st 0
check "stop without a daemon says so" same "$tmp/out" "no daemon is running on $sock\n"
check "stop never starts a daemon" test ! -e "$sock"
unset HEARTH_DAEMON

# -------------------------------------------------------------- auto-start --
cat >"$tmp/start-fake" <<EOF
#!/bin/sh
# A stand-in for hearthd: counts its starts, then starts the fake daemon.
if [ "\${1:-}" = --check ]; then
	echo "provider fake             1.0        abi 1  /fake/fake.la"
	exit 0
fi
echo "start \$*" >>"$tmp/starts"
echo "the daemon's own stdout"
sleep 0.3 # a second start, were there one, would come now
exec "$fake" --daemonize --socket "\$HEARTH_SOCKET" --pidfile "$tmp/pids" --log "$log"
EOF
chmod +x "$tmp/start-fake"
export HEARTH_DAEMON="$tmp/start-fake"
rm -rf "$tmp/starts" "$tmp/run" # the client makes the socket's directory
run --config "$tmp/some.conf" sessions
check "sessions starts a daemon when none runs" status_is $st 0
check "the started daemon answered" same "$tmp/out" "no sessions\n"
check "the daemon got --config" same "$tmp/starts" "start --config $tmp/some.conf\n"
check "the daemon's stdout went to our stderr" same "$tmp/err" "the daemon's own stdout\n"
check "the socket directory is private" test "$(stat -c %a "$tmp/run/hearth")" = 700
run sessions
check "a running daemon is not started again" test "$(wc -l <"$tmp/starts")" -eq 1
"$hearth" stop >/dev/null 2>&1
rm -f "$tmp/starts" "$tmp/pids"
"$hearth" sessions >"$tmp/out1" 2>"$tmp/err1" &
p1=$!
"$hearth" sessions >"$tmp/out2" 2>"$tmp/err2" &
p2=$!
wait $p1; st1=$?
wait $p2; st2=$?
check "two clients racing: both succeed" test $st1 -eq 0 -a $st2 -eq 0
check "two clients racing: both got the answer" test "$(cat "$tmp/out1" "$tmp/out2")" = "no sessions
no sessions"
check "two clients racing: exactly one daemon was started" same "$tmp/starts" "start \n"
"$hearth" stop >/dev/null 2>&1
rm -f "$tmp/pids"
"$hearth" run --cwd "$tmp/empty" --format json hi </dev/null >"$tmp/out" 2>"$tmp/err"
check "an auto-started daemon's output stays off stdout" lacks "$tmp/out" "the daemon's own stdout"
check "the JSON output is only JSON" test "$(grep -vc '^{' "$tmp/out")" -eq 0
"$hearth" stop >/dev/null 2>&1
rm -f "$tmp/pids" "$tmp/starts"
run --socket "$tmp/alt.sock" sessions
check "--socket: the daemon is started on that socket" test -S "$tmp/alt.sock"
check "--socket: the lock sits next to it" test -e "$tmp/alt.sock.lock"
HEARTH_SOCKET="$tmp/alt.sock" "$hearth" stop >"$tmp/out" 2>&1
check "HEARTH_SOCKET names the socket" test ! -e "$tmp/alt.sock"
rm -f "$tmp/pids"
run_with HEARTH_DAEMON=false "$hearth" sessions
check "a daemon that fails to start: exit 1" status_is $st 1
check "a daemon that fails to start: said" same "$tmp/err" \
	"hearth: the daemon did not start: false exited with status 1\n"
run_with HEARTH_DAEMON="$tmp/no-such-daemon" "$hearth" sessions
check "a daemon that cannot run: exit 1" status_is $st 1
check "a daemon that cannot run: said" same "$tmp/err" \
"hearth: cannot run $tmp/no-such-daemon: No such file or directory
hearth: cannot start the daemon: $tmp/no-such-daemon did not run
"
run_with HEARTH_DAEMON=true "$hearth" sessions
check "a daemon that never listens: exit 1" status_is $st 1
check "a daemon that never listens: said" has "$tmp/err" \
	"hearth: the daemon started but $sock does not answer: "
unset HEARTH_DAEMON

# ------------------------------------------------------------------ doctor --
# Fresh, empty XDG directories: no config, no daemon, no store, no keys.
export XDG_CONFIG_HOME="$tmp/d/config" XDG_STATE_HOME="$tmp/d/state" XDG_RUNTIME_DIR="$tmp/d/run"
export HEARTH_DAEMON="$tmp/start-fake"
dsock="$tmp/d/run/hearth/hearth.sock"
db="$tmp/d/state/hearth/hearth.db"
run doctor
check "doctor before any daemon ran exits 0" status_is $st 0
check "doctor on a bare system" same "$tmp/out" \
"ok    config: built-in default (no plugins.conf found)
ok    modules: 1 loaded by $tmp/start-fake --check
      provider fake             1.0        abi 1  /fake/fake.la
warn  keys: ANTHROPIC_API_KEY absent, OPENAI_API_KEY absent, GEMINI_API_KEY/GOOGLE_API_KEY absent, OLLAMA_HOST absent (no provider can be reached without one)
warn  socket: $dsock: no daemon is running (no socket); the first command that needs one starts it
warn  socket directory: $tmp/d/run/hearth does not exist (made when a daemon starts)
warn  store: $db does not exist yet (made when the daemon first runs)
"
check "doctor starts no daemon" test ! -e "$dsock"
run doctor --json
check "doctor --json exits 0 too" status_is $st 0
check "doctor --json is one object" test "$(wc -l <"$tmp/out")" -eq 1
check "doctor --json: the verdict" has "$tmp/out" '{"ok":true,"checks":[{"check":"config","verdict":"ok","detail":"built-in default (no plugins.conf found)","details":[]},'
check "doctor --json: a check with details" has "$tmp/out" \
	'{"check":"modules","verdict":"ok","detail":"1 loaded by '"$tmp"'/start-fake --check","details":["provider fake             1.0        abi 1  /fake/fake.la"]}'
check "doctor --json: the socket" has "$tmp/out" '{"check":"socket","verdict":"warn","detail":"'"$dsock"': no daemon is running (no socket); the first command that needs one starts it","details":[]}'

mkdir -p "$tmp/d/config/hearth" "$tmp/d/state/hearth" "$tmp/d/run/hearth"
chmod 700 "$tmp/d/run" "$tmp/d/run/hearth"
printf 'log_level info\n' >"$tmp/d/config/hearth/plugins.conf"
: >"$db"
"$fake" --daemonize --socket "$dsock" --pidfile "$tmp/pids" --version 9.9.9
run_with ANTHROPIC_API_KEY=sk-very-secret GOOGLE_API_KEY=g-secret "$hearth" doctor
check "doctor with everything in place exits 0" status_is $st 0
check "doctor: config found" has "$tmp/out" "ok    config: $tmp/d/config/hearth/plugins.conf (0 modules)"
check "doctor: keys present" has "$tmp/out" \
	"ok    keys: ANTHROPIC_API_KEY present, OPENAI_API_KEY absent, GEMINI_API_KEY/GOOGLE_API_KEY present, OLLAMA_HOST absent"
check "doctor never prints a key" lacks "$tmp/out" "secret"
check "doctor: the daemon answers" has "$tmp/out" "ok    socket: $dsock: hearthd 9.9.9 answers (pid "
check "doctor: the socket directory is private" has "$tmp/out" "ok    socket directory: $tmp/d/run/hearth (mode 0700)"
check "doctor: an empty store is sound" has "$tmp/out" "ok    store: $db (0 bytes, quick_check ok)"

printf 'load tool x\nlod tool y\n' >"$tmp/d/config/hearth/plugins.conf"
chmod 755 "$tmp/d/run/hearth"
head -c 4096 /dev/zero | tr '\0' 'x' >"$db"
run doctor
check "doctor with a bad config exits 1" status_is $st 1
check "doctor: the config's errors are counted" has "$tmp/out" "fail  config: $tmp/d/config/hearth/plugins.conf: 1 error"
check "doctor: and listed" has "$tmp/out" "      $tmp/d/config/hearth/plugins.conf:2: "
check "doctor: an open socket directory fails" has "$tmp/out" \
	"fail  socket directory: $tmp/d/run/hearth is mode 0755: others can reach the daemon (chmod 700 it)"
check "doctor: a damaged store fails" has "$tmp/out" "fail  store: $db (4 KiB): file is not a database"
run doctor --json
check "doctor --json with failures exits 1" status_is $st 1
check "doctor --json says not ok" has "$tmp/out" '{"ok":false,"checks":['
check "doctor --json lists the config error" has "$tmp/out" '"details":["'"$tmp"'/d/config/hearth/plugins.conf:2: '
run doctor --frob
check "doctor: an unknown option exits 2" status_is $st 2
chmod 700 "$tmp/d/run/hearth"
fake_stop

# The real hearthd --check, through --config.
export HEARTH_DAEMON="$builddir/hearthd"
printf 'module_dir %s\nload tool good_tool\n' "$builddir/tests/modules" >"$tmp/good.conf"
run --config "$tmp/good.conf" doctor
check "doctor: hearthd --check passes" has "$tmp/out" "ok    modules: 1 loaded by $builddir/hearthd --check"
check "doctor: the module is listed" has "$tmp/out" "      tool     good_tool        1.0.0      abi 2  "
printf 'module_dir %s\nload tool failing_init\n' "$builddir/tests/modules" >"$tmp/bad.conf"
run --config "$tmp/bad.conf" doctor
check "doctor: hearthd --check fails" has "$tmp/out" "fail  modules: $builddir/hearthd --check failed (exit status 1)"
check "doctor: with the reason" has "$tmp/out" "init failed: invalid argument"
run_with HEARTH_DAEMON="$tmp/no-such-daemon" "$hearth" doctor
check "doctor: a daemon that cannot run fails" has "$tmp/out" \
	"fail  modules: $tmp/no-such-daemon --check failed (exit status 127)"
check "doctor: and says why" has "$tmp/out" "      cannot run $tmp/no-such-daemon: No such file or directory"

# ------------------------------------------------------------ the real hearthd --
# No HEARTH_DAEMON: the client starts the hearthd next to it, with a scripted model.
unset HEARTH_DAEMON
export XDG_CONFIG_HOME="$tmp/r/config" XDG_STATE_HOME="$tmp/r/state" XDG_RUNTIME_DIR="$tmp/r/run"
rsock="$tmp/r/run/hearth/hearth.sock"
mkdir -p "$tmp/r"
cat >"$tmp/r/script.json" <<'JSON'
[
 [{"text": "Hello "}, {"text": "from the script."}, {"finish": "end_turn"}],
 [{"text": "Again."}, {"finish": "end_turn"}]
]
JSON
cat >"$tmp/r/plugins.conf" <<CONF
module_dir $builddir/tests/modules
module_dir $builddir/plugins
load frontend socket
load provider script_provider
[provider script_provider]
script = $tmp/r/script.json
CONF
run --config "$tmp/r/plugins.conf" run --cwd "$tmp/proj" hi
check "real daemon: run starts hearthd and exits 0" status_is $st 0
check "real daemon: the answer streams to stdout" same "$tmp/out" "Hello from the script.\n"
check "real daemon: it listens on the default socket" test -S "$rsock"
run run --cwd "$tmp/proj" --continue --format json again
check "real daemon: run --continue exits 0" status_is $st 0
check "real daemon: the first turn is not printed again" lacks "$tmp/out" '"text":"hi"'
check "real daemon: the continued session answered" has "$tmp/out" '"text":"Again."'
check "real daemon: the JSON ends with the result" has "$tmp/out" \
	'{"type":"result","sessionId":"'
check "real daemon: which ended the turn" has "$tmp/out" '"stopReason":"end_turn","text":"Again.","isError":false,"error":null,'
check "real daemon: the init line lists the tools" has "$tmp/out" '"tools":['

run sessions --json
check "real daemon: one session, in the project" has "$tmp/out" "\"cwd\":\"$tmp/proj\""
check "real daemon: with both turns" has "$tmp/out" '"messages":4'
rid=$(sed -n 's/^\[{"sessionId":"\([^"]*\)".*/\1/p' "$tmp/out")
run sessions fork "$(printf '%s' "$rid" | cut -c1-10)"
check "real daemon: sessions fork by prefix exits 0" status_is $st 0
fid=$(cat "$tmp/out")
check "real daemon: the fork has an id of its own" test -n "$fid" -a "$fid" != "$rid"
run sessions --json
check "real daemon: the fork has the history" has "$tmp/out" "{\"sessionId\":\"$fid\",\"cwd\":\"$tmp/proj\""
check "real daemon: two sessions now" test "$(grep -o '"messages":4' "$tmp/out" | wc -l)" -eq 2
run sessions rename "$fid" The fork
check "real daemon: sessions rename exits 0" status_is $st 0
run sessions rm "$fid"
check "real daemon: sessions rm exits 0" status_is $st 0
check "real daemon: says what it removed" same "$tmp/out" "removed $fid\n"
run sessions rm "$fid"
check "real daemon: removing it again exits 1" status_is $st 1
check "real daemon: saying why" same "$tmp/err" "hearth: no session '$fid'\n"
run stop
check "real daemon: stop exits 0" status_is $st 0
check "real daemon: the socket is gone" test ! -e "$rsock"

echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
