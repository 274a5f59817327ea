#!/bin/sh
# bench/run.sh: hearth's figures, printed, never asserted. Run from the build tree:
#     make bench        (or: sh bench/run.sh BUILDDIR)
# Measures, against a scripted provider (the fake Anthropic server when it is
# built, else the script_provider test module):
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

# The scripted turn, repeated for every run: read, echo, answer.
{
	printf '['
	i=0
	while [ $i -lt "$runs" ]; do
		[ $i -gt 0 ] && printf ','
		printf '[{"text":"Let me look."},{"tool_call":{"id":"a%d","name":"echo","input":{"text":"one"}}},{"finish":"tool_use"}],' $i
		printf '[{"tool_call":{"id":"b%d","name":"echo","input":{"text":"two"}}},{"finish":"tool_use"}],' $i
		printf '[{"text":"Done: both tools answered."},{"usage":{"input":100,"output":20}},{"finish":"end_turn"}]'
		i=$((i + 1))
	done
	printf ']\n'
} >"$tmp/script.json"
cat >"$conf" <<CONF
module_dir $builddir/tests/modules
module_dir $builddir/plugins
load frontend socket
load provider script_provider
load tool good_tool
[provider script_provider]
script = $tmp/script.json
CONF

HEARTH_DAEMON="$builddir/hearthd" "$hearth" --config "$conf" sessions >/dev/null
pid=$(pgrep -f "hearthd --config $conf" | head -n 1)
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
switches() { # voluntary + involuntary context switches of every thread
	cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ { n += $2 } END { print n }'
}
rss_start=$(rss "$pid")

# hearth run, timed by GNU time's format when present, else by the shell's clock.
total_wall=0; total_cpu=0; max_rss=0
i=0
while [ $i -lt "$runs" ]; do
	out=$( { /usr/bin/env time -f '%e %U %S %M' "$hearth" --config "$conf" run \
		--cwd "$tmp/project" "run the tools" >/dev/null; } 2>&1 | tail -n 1)
	set -- $out
	total_wall=$(echo "$total_wall + $1" | bc)
	total_cpu=$(echo "$total_cpu + $2 + $3" | bc)
	[ "$4" -gt "$max_rss" ] && max_rss=$4
	i=$((i + 1))
done
rss_after=$(rss "$pid")

sleep 1
s0=$(switches "$pid")
sleep "$idle_s"
s1=$(switches "$pid")

printf 'hearth run, three-step turn (%d runs):\n' "$runs"
printf '  wall time  %8.1f ms per run\n' "$(echo "$total_wall * 1000 / $runs" | bc -l)"
printf '  cpu time   %8.1f ms per run (user + system)\n' "$(echo "$total_cpu * 1000 / $runs" | bc -l)"
printf '  peak RSS   %8d KiB (largest run)\n' "$max_rss"
printf 'hearthd:\n'
printf '  RSS at start          %8d KiB\n' "$rss_start"
printf '  RSS after the runs    %8d KiB\n' "$rss_after"
printf '  wake-ups at idle      %8.2f per second (over %d s)\n' \
	"$(echo "($s1 - $s0) / $idle_s" | bc -l)" "$idle_s"
