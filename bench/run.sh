#!/bin/sh
# bench/run.sh: hearth's figures, printed, never asserted. Run from the build tree:
#     make bench        (or: sh bench/run.sh BUILDDIR)
# Measures, against the fake Anthropic API (tests/fake-anthropic) on loopback:
#   - `hearth run` for a three-step turn (two tool calls, then the answer): wall
#     time, user+system CPU time and peak RSS of the client, over several runs;
#   - the daemon: RSS after start, RSS after the runs, and its wake-ups per second
#     at idle (context switches of all its threads over a quiet interval).
set -eu
builddir=$(cd "${1:-.}" && pwd)
runs=${HEARTH_BENCH_RUNS:-20}
idle_s=${HEARTH_BENCH_IDLE:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-XXXXXX")
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
hearth="$builddir/hearth"
conf="$tmp/plugins.conf"
cleanup() { "$hearth" --config "$conf" --no-start stop >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/project"

# The scripted turn, repeated for every run: text and a tool call, a second tool
# call, then the answer; served by the fake Anthropic API over HTTP on loopback.
{
	printf '{"api_key": "bench-key", "replies": ['
	i=0
	while [ $i -le "$runs" ]; do
		[ $i -gt 0 ] && printf ','
		printf '[{"type":"message_start"},{"type":"text","text":["Let ","me ","look."]},{"type":"tool_use","id":"a%d","name":"echo","input":{"text":"one"}},{"type":"stop","stop_reason":"tool_use"}],' $i
		printf '[{"type":"message_start"},{"type":"tool_use","id":"b%d","name":"echo","input":{"text":"two"}},{"type":"stop","stop_reason":"tool_use"}],' $i
		printf '[{"type":"message_start"},{"type":"text","text":["Done: ","both ","tools ","answered."]},{"type":"stop","stop_reason":"end_turn"}]'
		i=$((i + 1))
	done
	printf ']}\n'
} >"$tmp/script.json"
"$builddir/tests/fake-anthropic" -w 0 "$tmp/script.json" "$tmp/port" "$tmp/requests.jsonl" &
fake=$!
trap 'kill $fake 2>/dev/null; cleanup' EXIT
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$tmp/port")" ANTHROPIC_API_KEY=bench-key
cat >"$conf" <<CONF
module_dir $builddir/tests/modules
module_dir $builddir/plugins
load frontend socket
load provider anthropic
load tool good_tool
CONF

HEARTH_DAEMON="$builddir/hearthd" "$hearth" --config "$conf" sessions >/dev/null
pid=$(pgrep -f "hearthd --config $conf" | head -n 1)
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
switches() { # voluntary + involuntary context switches of every thread
	cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ { n += $2 } END { print n }'
}
rss_start=$(rss "$pid")
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)

# One warm-up run (it also gives the peak RSS of one client), then the timed runs:
# the shell's own children are timed as a batch, for a resolution finer than 10 ms.
max_rss=$( { /usr/bin/env time -f '%M' "$hearth" --config "$conf" run --cwd "$tmp/project" \
	"run the tools" >/dev/null; } 2>&1 | tail -n 1)
d0=$(cpu_ticks "$pid")
batch=$( { /usr/bin/env time -f '%e %U %S' sh -c '
	i=0
	while [ $i -lt '"$runs"' ]; do
		"$0" --config "$1" run --cwd "$2" "run the tools" >/dev/null || exit 1
		i=$((i + 1))
	done' "$hearth" "$conf" "$tmp/project"; } 2>&1 | tail -n 1)
set -- $batch
total_wall=$1
total_cpu=$(echo "$2 + $3" | bc)
d1=$(cpu_ticks "$pid")
rss_after=$(rss "$pid")

sleep 1
s0=$(switches "$pid")
sleep "$idle_s"
s1=$(switches "$pid")

printf 'hearth run, three-step turn (%d runs):\n' "$runs"
printf '  wall time  %8.1f ms per run\n' "$(echo "$total_wall * 1000 / $runs" | bc -l)"
printf '  cpu time   %8.1f ms per run (user + system)\n' "$(echo "$total_cpu * 1000 / $runs" | bc -l)"
printf '  peak RSS   %8d KiB (of the client)\n' "$max_rss"
printf "  requests served by the fake API: %d\n" "$(wc -l <"$tmp/requests.jsonl")"
printf 'hearthd:\n'
printf '  cpu time              %8.1f ms per run\n' "$(echo "($d1 - $d0) * 1000 / $hz / $runs" | bc -l)"
printf '  RSS at start          %8d KiB\n' "$rss_start"
printf '  RSS after the runs    %8d KiB\n' "$rss_after"
printf '  wake-ups at idle      %8.2f per second (over %d s)\n' \
	"$(echo "($s1 - $s0) / $idle_s" | bc -l)" "$idle_s"
