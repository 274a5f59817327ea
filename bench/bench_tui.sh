#!/bin/sh
# bench/bench_tui.sh: the TUI's figures, printed, never asserted (run by `make bench`).
#     sh bench/bench_tui.sh BUILDDIR
# The TUI runs in tmux, loaded in-process by `hearthd --foreground` (until `hearth`
# loads frontends itself), so process figures are the daemon's and the TUI's together.
#   - launch to the first full frame on a session of $HEARTH_BENCH_TUI_MESSAGES (10000)
#     messages: from starting the process to the frame drawn after the replay;
#   - RSS with that session open;
#   - CPU and wake-ups at idle over $HEARTH_BENCH_TUI_IDLE seconds (20);
#   - keystroke to echo: send-keys to the character seen by capture-pane (tmux's own
#     round trips included, so an upper bound);
#   - CPU while an answer streams at 100 tokens a second (bench_tui_stream.py).
set -eu
builddir=$(cd "${1:-.}" && pwd)
srcdir=$(cd "$(dirname "$0")" && pwd)
messages=${HEARTH_BENCH_TUI_MESSAGES:-10000}
idle_s=${HEARTH_BENCH_TUI_IDLE:-20}
command -v tmux >/dev/null 2>&1 || { echo "bench_tui: tmux is not installed: skipped"; exit 0; }
command -v python3 >/dev/null 2>&1 || { echo "bench_tui: python3 is not installed: skipped"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-tui-XXXXXX")
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
T="tmux -S $tmp/tmux.sock -f /dev/null"
stream_pid=
cleanup() {
	$T kill-server >/dev/null 2>&1 || true
	[ -n "$stream_pid" ] && kill "$stream_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/project" "$tmp/state/hearth" "$tmp/run" && chmod 700 "$tmp/run"
project=$(cd "$tmp/project" && pwd -P)
"$builddir/bench/bench_tui_seed" "$tmp/state/hearth/hearth.db" "$project" "$messages" >/dev/null
python3 "$srcdir/bench_tui_stream.py" "$tmp/port" 1500 100 &
stream_pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
cat >"$tmp/plugins.conf" <<CONF
module_dir $builddir/plugins
load frontend tui
load provider anthropic
[provider anthropic]
model = claude-bench
CONF
cat >"$tmp/run.sh" <<RUN
#!/bin/sh
export XDG_CONFIG_HOME="$XDG_CONFIG_HOME" XDG_STATE_HOME="$XDG_STATE_HOME" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR"
export LANG=C.UTF-8 HEARTH_TUI_FRAME_FILE="$tmp/frame"
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$tmp/port")" ANTHROPIC_API_KEY=bench
cd "$project"
echo \$\$ >"$tmp/pid"
exec "$builddir/hearthd" --foreground --config "$tmp/plugins.conf" 2>>"$tmp/hearthd.err"
RUN
chmod +x "$tmp/run.sh"
now_ms() { date +%s%3N; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status | awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n }'; }
hz=$(getconf CLK_TCK)

# launch to the first full frame, three times
best=
for run in 1 2 3; do
	rm -f "$tmp/frame"
	t0=$(now_ms)
	if [ "$run" -eq 1 ]; then
		$T new-session -d -s tui -x 120 -y 40 "$tmp/run.sh"
		$T set-option -t tui remain-on-exit on >/dev/null
	else
		$T respawn-pane -k -t tui "$tmp/run.sh"
	fi
	i=0
	while [ ! -s "$tmp/frame" ] && [ $i -lt 600 ]; do sleep 0.01; i=$((i + 1)); done
	[ -s "$tmp/frame" ] || { echo "bench_tui: no frame"; cat "$tmp/hearthd.err"; exit 1; }
	ms=$(( $(cat "$tmp/frame") - t0 ))
	echo "tui: launch to first full frame, $messages messages: ${ms} ms (run $run)"
	if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
pid=$(cat "$tmp/pid")
sleep 1
$T capture-pane -p -t tui | grep -q "Answer $((messages / 2 - 1))" ||
	echo "tui: warning: the last answer is not on the screen"
echo "tui: RSS with the session open: $(awk '/^VmRSS/ { print $2 }' /proc/$pid/status) kB (daemon and TUI)"

# idle
c0=$(ticks "$pid"); w0=$(switches "$pid")
sleep "$idle_s"
c1=$(ticks "$pid"); w1=$(switches "$pid")
echo "tui: idle ${idle_s} s: CPU $(( (c1 - c0) * 1000 / hz )) ms, $(( w1 - w0 )) context switches"

# keystroke to echo
total=0; max=0; n=20; k=1
while [ $k -le $n ]; do
	t0=$(date +%s%N)
	$T send-keys -t tui -l "k"
	want=$(printf "%${k}s" | tr ' ' k)
	while ! $T capture-pane -p -t tui | grep -q "❯ $want\$"; do :; done
	d=$(( ($(date +%s%N) - t0) / 1000 ))
	total=$((total + d)); [ $d -gt $max ] && max=$d
	k=$((k + 1))
done
echo "tui: keystroke to echo (through tmux): mean $((total / n)) us, max $max us over $n keys"
$T send-keys -t tui C-u

# streaming at 100 tokens a second
$T send-keys -t tui "stream please" Enter
sleep 2
c0=$(ticks "$pid")
sleep 10
c1=$(ticks "$pid")
echo "tui: streaming 100 tokens/s: CPU $(( (c1 - c0) * 100 / hz / 10 ))% of a core ($(( (c1 - c0) * 1000 / hz )) ms in 10 s)"
echo "tui: opencode and claude are not installed here: no comparison"
