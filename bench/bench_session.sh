#!/bin/sh
# bench/bench_session.sh: what one step of a turn costs the daemon in a new session
# and in a session of 10,000 messages. Printed, never asserted. Run from the build
# tree: sh bench/bench_session.sh BUILDDIR (make bench runs it).
#
# The daemon runs the script_provider test module (no HTTP: the figure is the
# core's own work per step: building the request from the history, storing the
# reply and the tool result with their updates) and good_tool's echo. The long
# session is built through the daemon's API: one turn of 5,000 tool-call steps
# (two messages each). A step is then timed as the daemon's CPU time (utime +
# stime from /proc) over a turn of STEPS tool-call steps, divided by STEPS: in the
# long session twice, right after building it (its writes still in the WAL) and
# after the daemon's idle checkpoint (session.h's SESSION_CHECKPOINT_DELAY_MS, 30 s;
# HEARTH_BENCH_CHECKPOINT_WAIT=0 skips that figure).
set -eu
builddir=$(cd "${1:-.}" && pwd)
steps=${HEARTH_BENCH_STEPS:-500}
build=${HEARTH_BENCH_MESSAGES:-10000}
wait_s=${HEARTH_BENCH_CHECKPOINT_WAIT:-32}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-session-XXXXXX")
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
hearth="$builddir/hearth"
conf="$tmp/plugins.conf"
cleanup() { "$hearth" --config "$conf" --no-start stop >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/new" "$tmp/long"

# A reply that calls echo (one step), and one that ends the turn.
call='[{"tool_call":{"id":"c","name":"echo","input":{"text":"x"}}},{"finish":"tool_use"}]'
answer='[{"text":"done"},{"finish":"end_turn"}]'
replies() { # $1 tool-call steps, then the answer
	i=0
	while [ "$i" -lt "$1" ]; do printf '%s,' "$call"; i=$((i + 1)); done
	printf '%s' "$answer"
}
# In the order the daemon asks: a turn in a new session, the long session's
# building turn, then two turns in the long session.
{
	printf '['
	replies "$steps"; printf ','
	replies $((build / 2 - 1)); printf ','
	replies "$steps"; printf ','
	replies "$steps"
	printf ']\n'
} >"$tmp/script.json"
cat >"$conf" <<CONF
module_dir $builddir/tests/modules
module_dir $builddir/plugins
max_steps 10000
load frontend socket
load provider script_provider
load tool good_tool
[provider script_provider]
script = $tmp/script.json
CONF

HEARTH_DAEMON="$builddir/hearthd" "$hearth" --config "$conf" sessions >/dev/null
pid=$(pgrep -f "hearthd --config $conf" | head -n 1)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)
per_step() { echo "($2 - $1) * 1000 / $hz / $steps" | bc -l; }

t0=$(cpu_ticks "$pid")
"$hearth" --config "$conf" run --cwd "$tmp/new" "go" >/dev/null 2>&1
t1=$(cpu_ticks "$pid")
"$hearth" --config "$conf" run --cwd "$tmp/long" "build" >/dev/null 2>&1
messages=$("$hearth" --config "$conf" sessions --json 2>/dev/null |
	   sed -n 's/.*"cwd":"[^"]*\/long"[^}]*"messages":\([0-9]*\).*/\1/p' | head -n 1)
t2=$(cpu_ticks "$pid")
"$hearth" --config "$conf" run --continue --cwd "$tmp/long" "go on" >/dev/null 2>&1
t3=$(cpu_ticks "$pid")
if [ "$wait_s" -gt 0 ]; then
	sleep "$wait_s"
	t4=$(cpu_ticks "$pid")
	"$hearth" --config "$conf" run --continue --cwd "$tmp/long" "go on" >/dev/null 2>&1
	t5=$(cpu_ticks "$pid")
fi

new=$(per_step "$t0" "$t1")
long=$(per_step "$t2" "$t3")
printf 'hearthd, one tool-call step (script provider, %d steps timed):\n' "$steps"
printf '  new session          %8.3f ms of CPU per step\n' "$new"
printf '  session of %s messages %8.3f ms of CPU per step (%.2fx), right after building it\n' \
	"${messages:-?}" "$long" "$(echo "if ($new > 0) $long / $new else 0" | bc -l)"
if [ "$wait_s" -gt 0 ]; then
	after=$(per_step "$t4" "$t5")
	printf '  session of %s messages %8.3f ms of CPU per step (%.2fx), after the checkpoint\n' \
		"${messages:-?}" "$after" "$(echo "if ($new > 0) $after / $new else 0" | bc -l)"
fi
printf '  building it          %8.1f s of CPU for %d steps\n' \
	"$(echo "($t2 - $t1) / $hz" | bc -l)" $((build / 2 - 1))
