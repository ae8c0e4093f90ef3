#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan+UBSan) and run each for a short
# time, seeded from the test data, as part of `make test`.  A crash, a
# sanitizer report or a leak fails the run.  Longer campaigns:
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
build=build-fuzz
if [ ! -f $build/build.ninja ]; then
	CC=clang meson setup $build -Dfuzzers=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C $build fuzz/fuzz_toml fuzz/fuzz_formats fuzz/fuzz_synth \
	fuzz/fuzz_cdc fuzz/fuzz_query >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
	local name=$1 seeds=$2 extra=()
	[ -f "fuzz/$name.dict" ] && extra=(-dict="fuzz/$name.dict")
	mkdir -p "$work/$name"
	echo "fuzz: $name for ${seconds}s"
	UBSAN_OPTIONS=halt_on_error=1 "$build/fuzz/$name" -max_total_time="$seconds" "${extra[@]}" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/$name-" "$work/$name" "$seeds" 2>&1 |
		grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Done)' || true
	if ls "$work/$name-"* >/dev/null 2>&1; then
		echo "fuzz: $name found a crash: $(ls "$work/$name-"*)" >&2
		exit 1
	fi
}
run fuzz_toml tests/data/toml-test
run fuzz_formats tests/data/corpus
run fuzz_synth tests/data/corpus
run fuzz_cdc tests/data/corpus
run fuzz_query tests/data/search
echo "fuzz: no finding"
