#!/bin/sh
# test_acp_sdk.sh: `hearth acp` (and through it the real hearthd on a temporary
# socket) driven by the official ACP SDK from npm, as a client. The SDK is a test
# peer installed by .ci/run (npm install --prefix tests/peers); without node or the
# SDK the test is skipped (exit 77).
set -u
builddir=${HEARTH_TEST_BUILDDIR:?run me from make check}
srcdir=${HEARTH_TEST_SRCDIR:?run me from make check}
peers="$srcdir/peers"
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
[ -d "$peers/node_modules/@agentclientprotocol/sdk" ] ||
	{ echo "SKIP: run 'npm install --prefix $peers' for the ACP SDK"; exit 77; }
[ -x "$builddir/hearth" ] || { echo "SKIP: no hearth client built"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-sdk-XXXXXX")
export XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" XDG_RUNTIME_DIR="$tmp/run"
trap '"$builddir/hearth" --config "$tmp/plugins.conf" --no-start stop >/dev/null 2>&1; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
mkdir -p "$tmp/project"
cat >"$tmp/script.json" <<'JSON'
[
 [{"text": "Hello "}, {"text": "from the script."}, {"finish": "end_turn"}],
 [{"tool_call": {"id": "perm1", "name": "ask_echo", "input": {"text": "x"}}}, {"finish": "tool_use"}],
 [{"text": "Used it."}, {"finish": "end_turn"}],
 [{"text": "Working..."}, {"part_end": null}, {"hang": true}]
]
JSON
cat >"$tmp/plugins.conf" <<CONF
module_dir $builddir/tests/modules
module_dir $builddir/plugins
load frontend socket
load provider script_provider
load tool good_tool
[provider script_provider]
script = $tmp/script.json
CONF
HEARTH_DAEMON="$builddir/hearthd" node "$peers/acp_sdk_client.mjs" "$builddir/hearth" \
	"$tmp/plugins.conf" "$tmp/project"
