#!/bin/sh
# run.sh BUILDDIR CORPUSDIR NAME...: run each fuzzer fuzz_NAME for FUZZ_SECONDS on a
# copy of its seed corpus (the tree's corpus is not changed; new inputs go to a
# temporary directory). Fails, naming the fuzzer and the input it saved, on a crash,
# a leak, a timeout or an out-of-memory. FUZZ_ARTIFACTS (default BUILDDIR/artifacts)
# keeps what crashed.
set -u
build=$1 corpus=$2
shift 2
seconds=${FUZZ_SECONDS:-20}
artifacts=${FUZZ_ARTIFACTS:-$build/artifacts}
mkdir -p "$artifacts"
status=0
for name in "$@"; do
	work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-fuzz-$name.XXXXXX")
	seeds=$corpus/$name
	[ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; status=1; continue; }
	start=$(date +%s)
	if "$build/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
		"$work" "$seeds" >"$work.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
		echo "fuzz: $name: ${runs:-?} runs in $(( $(date +%s) - start )) s, no crash"
	else
		echo "fuzz: $name FAILED; its log:" >&2
		tail -n 60 "$work.log" >&2
		ls "$artifacts"/"$name"-* 2>/dev/null | sed 's/^/fuzz: saved input: /' >&2
		status=1
	fi
	rm -rf "$work" "$work.log"
done
exit $status
