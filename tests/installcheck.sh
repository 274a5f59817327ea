#!/bin/sh
# installcheck.sh HEARTHD PKGCONFIGDIR SRCDIR: build a module out of tree against the
# installed headers with pkg-config, load it in the installed hearthd --check; then
# the same module built for another ABI version must be refused naming both numbers.
set -eu
hearthd=$1
export PKG_CONFIG_PATH="$2${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
src="$3/oot/oot_tool.c"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-oot-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME="$tmp" XDG_STATE_HOME="$tmp" XDG_RUNTIME_DIR="$tmp"
cc=${CC:-cc}

mkdir -p "$tmp/modules/tools"
printf 'module_dir %s/modules\nload tool oot_tool\n' "$tmp" >"$tmp/plugins.conf"

$cc -shared -fPIC -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter -Werror $(pkg-config --cflags hearth-plugin) \
	"$src" -o "$tmp/modules/tools/oot_tool.so" $(pkg-config --libs hearth-plugin)
"$hearthd" --check -c "$tmp/plugins.conf" >"$tmp/out" 2>"$tmp/err" || {
	echo "FAIL: the out-of-tree module was not accepted"; cat "$tmp/out" "$tmp/err"; exit 1; }
grep -q "^tool     oot_tool         0.0.1      abi 2  $tmp/modules/tools/oot_tool.so" "$tmp/out" || {
	echo "FAIL: unexpected --check output"; cat "$tmp/out"; exit 1; }
grep -q "tool/oot_tool: hello from out of tree" "$tmp/err" || {
	echo "FAIL: the module's log line is missing"; cat "$tmp/err"; exit 1; }
echo "ok: out-of-tree module loads in the installed hearthd"

$cc -shared -fPIC -fvisibility=hidden -DOOT_ABI=3 $(pkg-config --cflags hearth-plugin) \
	"$src" -o "$tmp/modules/tools/oot_tool.so" $(pkg-config --libs hearth-plugin)
if "$hearthd" --check -c "$tmp/plugins.conf" >"$tmp/out" 2>"$tmp/err"; then
	echo "FAIL: a module built for ABI 3 was accepted"; exit 1
fi
grep -qF "$tmp/modules/tools/oot_tool.so: module tool/oot_tool: built for plugin ABI 3, this hearthd accepts ABI 1 to 2" "$tmp/err" || {
	echo "FAIL: the refusal does not name both numbers"; cat "$tmp/err"; exit 1; }
echo "ok: the same module built for ABI 3 is refused"
