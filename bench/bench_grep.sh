#!/bin/sh
# bench_grep.sh BUILDDIR: the grep tool against ripgrep on the same large tree (three
# copies of /usr/include), cold and warm cache, for a literal, a case-insensitive
# literal and a regex with alternation. Prints both times and the ratio; asserts
# nothing. Cold runs drop the page cache when that is permitted (root), else say so.
set -eu
builddir=$(cd "${1:-.}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-grep-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3; do
	mkdir -p "$tmp/tree/copy$i"
	cp -r /usr/include/. "$tmp/tree/copy$i/" 2>/dev/null || true
done
files=$(find "$tmp/tree" -type f | wc -l)
bytes=$(du -sb "$tmp/tree" | cut -f1)
printf 'grep tool vs ripgrep: %d files, %d MB\n' "$files" $((bytes / 1000000))
have_rg=1
command -v rg >/dev/null 2>&1 || { have_rg=0; echo "(ripgrep not installed: apt-get install ripgrep)"; }

drop_caches() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches
		return 0
	fi
	return 1
}

ms_of() { # run a command, print its wall time in ms
	start=$(date +%s%N)
	"$@" >/dev/null 2>&1 || true
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

run_one() { # label, tool args..., -- rg args...
	label=$1; shift
	tool_i=$1; shift
	pattern=$1; shift
	for cache in cold warm; do
		if [ $cache = cold ] && ! drop_caches; then
			printf '  %-28s %-5s (cannot drop the page cache: not root)\n' "$label" $cache
			continue
		fi
		t=$("$builddir/bench/bench_grep" "$tmp/tree" "$pattern" $tool_i | awk '{print int($1)}')
		if [ $have_rg = 1 ]; then
			[ $cache = cold ] && drop_caches
			if [ "$tool_i" = i ]; then
				r=$(ms_of rg -c -i -e "$pattern" "$tmp/tree")
			else
				r=$(ms_of rg -c -e "$pattern" "$tmp/tree")
			fi
			ratio=$(echo "scale=2; $t / ($r + 0.001)" | bc)
			printf '  %-28s %-5s tool %6d ms   rg %6d ms   tool/rg %s\n' "$label" $cache \
				"$t" "$r" "$ratio"
		else
			printf '  %-28s %-5s tool %6d ms\n' "$label" $cache "$t"
		fi
	done
}

run_one "literal" "" "uint32_t"
run_one "case-insensitive literal" i "MAX_PATH"
run_one "regex with alternation" "" "struct (stat|timespec|sockaddr_in6)"
