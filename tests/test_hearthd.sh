#!/bin/sh
# test_hearthd.sh: the real hearthd, end to end: options, --check on good and bad
# configurations, a foreground run stopped by SIGTERM (shutdown order checked),
# and the daemonizing start. Set HEARTH_VALGRIND=1 to run --check under valgrind.
set -u

builddir=${HEARTH_TEST_BUILDDIR:?run me from make check}
hearthd="$builddir/hearthd"
moddir="$builddir/tests/modules"
# The tools this test needs beyond POSIX sh and coreutils: without one it fails,
# naming it (it never passes for want of a tool). Processes are found through
# /proc and the daemon's own log line, so procps (pgrep, pkill) is not needed.
for tool in grep sed tr wc mktemp; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is not installed"; exit 1; }
done
[ -d /proc/self ] || { echo "FAIL: /proc is not mounted (needed to watch the daemon)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-hearthd-XXXXXX")

# Whether process $1 still runs (a zombie counts as gone).
alive() {
	[ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) [ZX] ' "/proc/$1/stat" 2>/dev/null
}
# The pids of the processes whose command line contains $1 (pgrep -f without procps).
pids_of() {
	for f in /proc/[0-9]*/cmdline; do
		tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -- "$1" || continue
		p=${f#/proc/}; p=${p%/cmdline}
		[ "$p" != "$$" ] && alive "$p" && echo "$p"
	done
}
# Every daemon this test starts has its pid in $tmp/pids; the exit trap stops
# each of them, waits, and kills one that does not stop.
daemons_stop() {
	[ -f "$tmp/pids" ] || return 0
	for pid in $(cat "$tmp/pids"); do
		kill -TERM "$pid" 2>/dev/null
		i=0
		while alive "$pid" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	rm -f "$tmp/pids"
}
trap 'daemons_stop; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
has() { grep -qF -- "$2" "$1" || { echo "# $1 lacks: $2"; sed 's/^/#   /' "$1"; return 1; }; }

# --- options
"$hearthd" --version >"$tmp/out" 2>&1
check "--version exits 0" test $? -eq 0
check "--version names the ABI" has "$tmp/out" "(plugin ABI 2, accepts 1 to 2)"
"$hearthd" --help >"$tmp/out" 2>&1
check "--help exits 0" test $? -eq 0
check "--help lists --check" has "$tmp/out" "--check"
"$hearthd" --frobnicate >"$tmp/out" 2>&1
check "an unknown option exits 2" test $? -eq 2
"$hearthd" stray >"$tmp/out" 2>&1
check "a stray argument exits 2" test $? -eq 2
check "a stray argument is named" has "$tmp/out" "unexpected argument 'stray'"

# --- --check with good modules of each kind
cat >"$tmp/good.conf" <<CONF
# every kind once
module_dir $moddir
load provider good_provider
load tool good_tool
load frontend good_frontend

[tool good_tool]
repeat = \${HEARTH_TEST_REPEAT:-2}
CONF
"$hearthd" --check -c "$tmp/good.conf" >"$tmp/out" 2>"$tmp/err"
check "--check on good modules exits 0" test $? -eq 0
check "--check prints one line per module" test "$(wc -l <"$tmp/out")" -eq 3
check "--check line for the provider" \
	has "$tmp/out" "provider good_provider    2.3.4      abi 2  $moddir/good_provider.la"
check "--check line for the tool" has "$tmp/out" "tool     good_tool        1.0.0      abi 2  "
check "--check line for the frontend" has "$tmp/out" "frontend good_frontend    0.9        abi 2  "

# --- a mistake on line 4 of plugins.conf
printf 'module_dir %s\nload tool good_tool\n\nlod tool x\n' "$moddir" >"$tmp/plugins.conf"
"$hearthd" --check -c "$tmp/plugins.conf" >"$tmp/out" 2>"$tmp/err"
check "a config mistake fails --check" test $? -ne 0
check "the mistake is reported as FILE:LINE" has "$tmp/err" "$tmp/plugins.conf:4: "

# --- the config is found in XDG_CONFIG_HOME
mkdir -p "$tmp/config/hearth"
printf 'module_dir %s\nload tool good_tool\n' "$moddir" >"$tmp/config/hearth/plugins.conf"
"$hearthd" --check >"$tmp/out" 2>"$tmp/err"
check "--check finds \$XDG_CONFIG_HOME/hearth/plugins.conf" has "$tmp/out" "good_tool"
rm "$tmp/config/hearth/plugins.conf"

# --- a module with the wrong ABI: refused, the others still listed
printf 'module_dir %s\nload tool good_tool\nload tool bad_abi\n' "$moddir" >"$tmp/abi.conf"
"$hearthd" --check -c "$tmp/abi.conf" >"$tmp/out" 2>"$tmp/err"
check "a wrong-ABI module fails --check" test $? -eq 1
check "the refusal names both numbers" \
	has "$tmp/err" "$moddir/bad_abi.la: module tool/bad_abi: built for plugin ABI 99, this hearthd accepts ABI 1 to 2"
check "the good module is still listed" has "$tmp/out" "good_tool"

# --- several broken modules: all reported in one run
printf 'module_dir %s\nload tool no_entry\nload tool no_callback\nload tool failing_init\n' \
	"$moddir" >"$tmp/bad.conf"
"$hearthd" --check -c "$tmp/bad.conf" >"$tmp/out" 2>"$tmp/err"
check "broken modules fail --check" test $? -eq 1
check "no entry symbol reported" has "$tmp/err" "not a hearth module (no hearth_plugin_entry symbol)"
check "missing callback reported" has "$tmp/err" "missing mandatory callback 'run'"
check "failing init reported" has "$tmp/err" "module tool/failing_init: init failed: invalid argument"

# --- foreground run, stopped by SIGTERM: frontends stop, then fini
cat >"$tmp/run.conf" <<CONF
module_dir $moddir
load tool good_tool
load frontend good_frontend
[frontend good_frontend]
trace = $tmp/trace
CONF
"$hearthd" --foreground -c "$tmp/run.conf" 2>"$tmp/err" &
pid=$!
echo $pid >>"$tmp/pids"
i=0
while [ "$(cat "$tmp/trace" 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
kill -TERM $pid
wait $pid
check "SIGTERM ends the daemon with status 0" test $? -eq 0
check "shutdown order: init, start, stop, fini" \
	test "$(tr '\n' ' ' <"$tmp/trace")" = "init start stop fini "
check "the log says it stopped" has "$tmp/err" "INFO  core: stopped"

# --- daemon mode: the parent returns once the daemon is ready
rm -f "$tmp/trace"
"$hearthd" -c "$tmp/run.conf" --log-file "$tmp/daemon.log" >"$tmp/out" 2>&1
check "starting the daemon returns 0" test $? -eq 0
check "the daemon started its frontend before the parent returned" has "$tmp/trace" "start"
# Found through /proc; no daemon found makes the checks below fail, never pass.
dpid=$(pids_of "hearthd -c $tmp/run.conf")
check "the daemon runs after the parent returned" test -n "$dpid"
if [ -n "$dpid" ]; then
	echo "$dpid" >>"$tmp/pids"
	kill -TERM "$dpid"
	i=0
	while alive "$dpid" && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	check "the daemon stops on SIGTERM" test $i -lt 100
else
	not_ok "the daemon stops on SIGTERM (no pid to signal)"
fi
check "the daemon logged to its log file" has "$tmp/daemon.log" "INFO  core: stopped"

# --- daemon mode with a fatal module error: the parent reports failure
printf 'module_dir %s\nstop_on_module_error yes\nload tool failing_init\n' "$moddir" >"$tmp/fatal.conf"
"$hearthd" -c "$tmp/fatal.conf" >"$tmp/out" 2>&1
check "a fatal module error makes the start fail" test $? -eq 1
check "the error reaches the terminal" has "$tmp/out" "init failed: invalid argument"

# --- valgrind, when asked for
if [ "${HEARTH_VALGRIND:-0}" = 1 ] && command -v valgrind >/dev/null; then
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 "$hearthd" --check -c "$tmp/good.conf" >/dev/null 2>"$tmp/vg"
	check "valgrind: --check is clean" test $? -eq 0
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 "$hearthd" -f -c "$tmp/run.conf" 2>"$tmp/vg" &
	pid=$!
	echo $pid >>"$tmp/pids"
	sleep 3
	kill -TERM $pid
	wait $pid
	check "valgrind: start and shutdown are clean" test $? -eq 0
fi

echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
