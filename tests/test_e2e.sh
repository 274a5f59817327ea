#!/bin/sh
# test_e2e.sh: everything real but the vendor. The real hearth client starts the
# real hearthd (socket frontend, anthropic provider, good_tool test module) on a
# temporary socket and state directory; the fake Anthropic API answers over HTTP
# on loopback, its streams cut into random pieces down to one byte. A multi-step
# turn runs tool calls; the requests the fake got, the client's output, the store
# and the absence of the API key in it are checked.
set -u
# The tools this test needs beyond POSIX sh: without one it fails, naming it.
for tool in grep sed tr wc mktemp tail head; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is not installed"; exit 1; }
done
builddir=${HEARTH_TEST_BUILDDIR:?run me from make check}
[ -x "$builddir/hearth" ] || { echo "SKIP: no hearth client built"; exit 77; }
hearth="$builddir/hearth"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-e2e-XXXXXX")
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
export HEARTH_DAEMON="$builddir/hearthd"
key="sk-ant-test-secret-7f3a9c"
conf="$tmp/plugins.conf"
fake_pid=
cleanup() {
	"$hearth" --config "$conf" --no-start stop >/dev/null 2>&1
	"$hearth" --socket "$tmp/nokey/hearth.sock" --no-start stop >/dev/null 2>&1
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0
failed=0
check() { desc=$1; shift; n=$((n + 1)); if "$@"; then echo "ok $n - $desc"; else failed=$((failed + 1)); echo "not ok $n - $desc"; fi; }
has() { grep -qF -- "$2" "$1" || { echo "# $1 lacks: $2"; sed 's/^/#   /' "$1" | head -40; return 1; }; }
not_has() { ! grep -qF -- "$2" "$1" || { echo "# $1 has: $2"; return 1; }; }
same_text() { [ "$(cat "$1")" = "$2" ] || { echo "# $1 is not: $2"; sed 's/^/#   /' "$1"; return 1; }; }
lacks() { ! grep -qF -- "$2" "$1" || { echo "# $1 has: $2"; return 1; }; }

mkdir -p "$tmp/project"
cat >"$tmp/script.json" <<JSON
{"api_key": "$key",
 "models": [{"id": "claude-test-1", "display_name": "Claude Test One"}],
 "replies": [
 [{"type": "message_start"},
  {"type": "text", "text": ["I will ", "ask the tool."]},
  {"type": "tool_use", "id": "toolu_01", "name": "echo", "input": {"text": "first answer"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"},
  {"type": "thinking", "thinking": ["Once ", "more."], "signature": "sig-abc"},
  {"type": "tool_use", "id": "toolu_02", "name": "echo", "input": {"text": "second answer"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"},
  {"type": "ping"},
  {"type": "text", "text": ["All ", "done", "."]},
  {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"}, {"type": "text", "text": "Second prompt answered."},
  {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "http_error", "status": 401, "error_type": "authentication_error",
   "message": "invalid x-api-key"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_03", "name": "ask_echo", "input": {"text": "asked"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "Ran it."},
  {"type": "stop", "stop_reason": "end_turn"}],
 [{"type": "message_start"},
  {"type": "tool_use", "id": "toolu_04", "name": "echo", "input": {"text": "secret"}},
  {"type": "stop", "stop_reason": "tool_use"}],
 [{"type": "message_start"}, {"type": "text", "text": "Refused."},
  {"type": "stop", "stop_reason": "end_turn"}]
]}
JSON
"$builddir/tests/fake-anthropic" -w 5 -s 42 "$tmp/script.json" "$tmp/port" "$tmp/requests.jsonl" &
fake_pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$tmp/port")
export ANTHROPIC_BASE_URL="http://127.0.0.1:$port" ANTHROPIC_API_KEY="$key"
cat >"$conf" <<CONF
module_dir $builddir/tests/modules
module_dir $builddir/plugins
load frontend socket
load provider anthropic
load tool good_tool
[provider anthropic]
model = claude-test-1
CONF

# --- a multi-step turn, as JSON lines
"$hearth" --config "$conf" run --format json --cwd "$tmp/project" "use the tool twice" \
	>"$tmp/run1.out" 2>"$tmp/run1.err"
check "hearth run exits 0" test $? -eq 0
check "the first line is the init line" has "$tmp/run1.out" '{"type":"init","sessionId":"'
head -n 1 "$tmp/run1.out" >"$tmp/init1"
check "the init line names the model, the directory and the tools" has "$tmp/init1" \
	'"model":"anthropic/claude-test-1","cwd":"'"$tmp"'/project","tools":["echo"'
tail -n 1 "$tmp/run1.out" >"$tmp/result1"
check "the last line is the result" has "$tmp/result1" '{"type":"result","sessionId":"'
check "the result has the stop reason and the final text" has "$tmp/result1" \
	'"stopReason":"end_turn","text":"All done.","isError":false,"error":null,'
check "the result counts three model calls and two tool calls" has "$tmp/result1" \
	'"modelCalls":3,"toolCalls":2,'
check "the result has the turn's usage" grep -q '"usage":{"inputTokens":[1-9][0-9]*,"outputTokens":[1-9][0-9]*,' "$tmp/result1"
text=$(grep '"agent_message_chunk"' "$tmp/run1.out" | sed 's/.*"text":"\([^"]*\)".*/\1/' | tr -d '\n')
check "the answer streamed in order" test "$text" = "I will ask the tool.All done."
check "the thought streamed" has "$tmp/run1.out" '"agent_thought_chunk"'
check "tool call 1 completed with its output" has "$tmp/run1.out" \
	'"toolCallId":"toolu_01","status":"completed","content":[{"type":"content","content":{"type":"text","text":"first answer"}}]'
check "tool call 2 completed" has "$tmp/run1.out" '"toolCallId":"toolu_02","status":"completed"'
# Number 1 is the prompt's echo: stored, not sent back to the client that sent it.
check "updates carry sequence numbers" has "$tmp/run1.out" '"_meta":{"hearth":{"seq":2}}'
check "the prompt is not echoed to its sender" not_has "$tmp/run1.out" '"user_message_chunk"'
# The messages requests (the first session/new also asked for the model list).
grep '"target":"/v1/messages"' "$tmp/requests.jsonl" >"$tmp/messages.jsonl"
check "the fake got three messages requests" test "$(wc -l <"$tmp/messages.jsonl")" -eq 3
check "the daemon asked for the model list" has "$tmp/requests.jsonl" '"target":"/v1/models'
sed -n 2p "$tmp/messages.jsonl" >"$tmp/req2"
check "request 2 answers the tool call" has "$tmp/req2" \
	'"type":"tool_result","tool_use_id":"toolu_01","content":"first answer"'
check "requests name the configured model" has "$tmp/req2" '"model":"claude-test-1"'
sed -n 3p "$tmp/messages.jsonl" >"$tmp/req3"
check "the thinking block goes back with its signature" has "$tmp/req3" '{"type":"thinking","thinking":"Once more.","signature":"sig-abc"}'
check "the key reached the API (masked in the log)" lacks "$tmp/requests.jsonl" "$key"

# --- a second prompt continues the session, as text
"$hearth" --config "$conf" run --continue --cwd "$tmp/project" "and again" >"$tmp/run2.out" 2>"$tmp/run2.err"
check "the second run exits 0" test $? -eq 0
check "its answer is printed" has "$tmp/run2.out" "Second prompt answered."
grep '"target":"/v1/messages"' "$tmp/requests.jsonl" | sed -n 4p >"$tmp/req4"
check "--continue sent the whole history" has "$tmp/req4" 'use the tool twice'

"$hearth" --config "$conf" sessions --json >"$tmp/sessions.out" 2>&1
check "sessions lists one session" test "$(grep -o '"sessionId"' "$tmp/sessions.out" | wc -l)" -eq 1
check "sessions --json carries the session's usage" \
	grep -q '"usage":{"inputTokens":[1-9][0-9]*,"outputTokens":[1-9][0-9]*,' "$tmp/sessions.out"
"$hearth" --config "$conf" sessions >"$tmp/table.out" 2>&1
check "the sessions table has the usage columns" has "$tmp/table.out" "MSGS  TOKENS  COST  AGE"

# --- the models the provider lists (the fake's /v1/models)
"$hearth" --config "$conf" models >"$tmp/models.out" 2>"$tmp/models.err"
check "hearth models exits 0" test $? -eq 0
check "hearth models lists the fake's models" has "$tmp/models.out" "anthropic/claude-test-1  Claude Test One"
check "hearth models prints a header" test "$(head -n 1 "$tmp/models.out" | tr -s ' ')" = "MODEL NAME CONTEXT"

# --- a vendor error reaches the user with what to do, and a non-zero status
"$hearth" --config "$conf" run --continue --cwd "$tmp/project" "fail now" >"$tmp/run3.out" 2>"$tmp/run3.err"
check "an auth error fails the run" test $? -ne 0
check "the error names provider, status and remedy" has "$tmp/run3.err" \
	"anthropic: authentication failed (HTTP 401): invalid x-api-key (check the provider's API key)"

# --- this run's own permission rules, applied by the daemon
"$hearth" --config "$conf" run --continue --allow-all --cwd "$tmp/project" "ask away" \
	>"$tmp/run4.out" 2>"$tmp/run4.err" </dev/null
check "--allow-all: the run exits 0" test $? -eq 0
check "--allow-all: the asking tool ran without a question" has "$tmp/run4.err" \
	"• ask_echo asked: completed"
check "--allow-all: nobody was refused" lacks "$tmp/run4.err" "refused permission"
check "text output shows the tool's output under its line" has "$tmp/run4.err" \
	"• ask_echo asked: completed
    asked"
"$hearth" --config "$conf" run --continue --deny 'echo:sec*' --cwd "$tmp/project" "try it" \
	>"$tmp/run5.out" 2>"$tmp/run5.err" </dev/null
check "--deny: the run exits 0" test $? -eq 0
check "--deny: an allowed tool is refused, and the user sees why" has "$tmp/run5.err" \
	": failed: denied by a deny rule of this prompt"
grep '"target":"/v1/messages"' "$tmp/requests.jsonl" | tail -n 1 >"$tmp/req-last"
check "--deny: the model was told the same" has "$tmp/req-last" \
	'"content":"denied by a deny rule of this prompt","is_error":true'

# --- the key is in no file the daemon wrote
check "the API key is not in the store" sh -c "! grep -rqa -- '$key' '$tmp/state'"

# --- no key, no silence: a daemon whose providers have no credentials
cat >"$tmp/nokey.conf" <<CONF
module_dir $builddir/plugins
load frontend socket
load provider anthropic
load provider ollama
CONF
mkdir -p "$tmp/nokey" && chmod 700 "$tmp/nokey"
(
	unset ANTHROPIC_API_KEY OPENAI_API_KEY GEMINI_API_KEY GOOGLE_API_KEY OLLAMA_HOST
	export XDG_STATE_HOME="$tmp/nokey/state" # a store of its own
	export ANTHROPIC_BASE_URL="http://127.0.0.1:1" # nothing listens: no request leaves
	"$hearth" --config "$tmp/nokey.conf" --socket "$tmp/nokey/hearth.sock" run \
		--cwd "$tmp/project" hi >"$tmp/nokey.out" 2>"$tmp/nokey.err"
	echo $? >"$tmp/nokey.st"
	"$hearth" --socket "$tmp/nokey/hearth.sock" models >"$tmp/nokey-models.out" \
		2>"$tmp/nokey-models.err"
	echo $? >"$tmp/nokey-models.st"
	"$hearth" --socket "$tmp/nokey/hearth.sock" sessions >"$tmp/nokey-sessions.out" 2>&1
)
check "no key: run fails" test "$(cat "$tmp/nokey.st")" -eq 1
check "no key: run says which variables to set, at once" has "$tmp/nokey.err" \
	"hearth: no provider has credentials: set ANTHROPIC_API_KEY (anthropic), OLLAMA_HOST (ollama) in the daemon's environment"
check "no key: no session was made" has "$tmp/nokey-sessions.out" "no sessions"
check "no key: models names what is missing once" same_text "$tmp/nokey-models.err" \
	"hearth: left out for want of a key: set ANTHROPIC_API_KEY (anthropic), OLLAMA_HOST (ollama)"
check "no key: models exits 1 with nothing to list" test "$(cat "$tmp/nokey-models.st")" -eq 1
"$hearth" --socket "$tmp/nokey/hearth.sock" stop >/dev/null 2>&1

"$hearth" --config "$conf" stop >"$tmp/stop.out" 2>&1
check "hearth stop exits 0" test $? -eq 0
echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
