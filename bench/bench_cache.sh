#!/usr/bin/env bash
# bench_cache.sh - the chunk cache's store path over a 1 GiB file of random
# bytes (BENCH_CACHE_BYTES; made once with /dev/urandom and kept in
# BENCH_DIR), on one core, page cache warm for the input:
#   read    reading the file in 4 MiB windows (part of every figure below)
#   cdc     FastCDC boundaries alone
#   sha     SHA-256 alone (OpenSSL EVP, 64 KiB pieces)
#   cdcsha  FastCDC + SHA-256 of every chunk      bar >= 1 GB/s
#   store   cut + hash + write every chunk file   bar >= 400 MB/s
#           (cache_chunk_and_store: one disk flush per window; a fresh
#           cache dir on the same disk per run, `sync` before it)
#   put     the same with cache_store_put per chunk (a flush per chunk)
# cdc and cdcsha also with the portable kernel (--scalar).  Peers: the same
# file through `sha256sum` and `openssl dgst -sha256` (reading included).
# Median of BENCH_RUNS (3) runs, GB = 10^9 bytes.  The input is mapped
# before the clock starts, so only `read` counts reading.  Two figures per
# mode: wall clock, and CPU (bytes per CPU-second of the process: one
# core's throughput, whatever the neighbours take).  The chunking bar is
# judged on CPU, the store bar on wall clock (it waits for the disk).
# The store runs' cache dirs are removed only at exit: ext4 allocates
# inodes slowly next to inodes deleted minutes before.
#
# usage: bench/bench_cache.sh   (env: BENCH_CACHE_BYTES, BENCH_RUNS,
#                                BENCH_DIR)
source "$(dirname "$0")/common.sh"
need sha256sum openssl

BYTES=${BENCH_CACHE_BYTES:-1073741824}
RUNS=${BENCH_RUNS:-3}
BIN=$REPO/build-bench/bench/bench_cache
(cd "$REPO" && ninja -C build-bench bench/bench_cache >/dev/null)

echo "== bench_cache: FastCDC + SHA-256 + chunk files over $((BYTES >> 20)) MiB of random bytes (median of $RUNS)"
machine_info
INPUT=$WORK/random-$BYTES.bin
if [ "$(stat -c %s "$INPUT" 2>/dev/null || echo 0)" != "$BYTES" ]; then
	head -c "$BYTES" /dev/urandom >"$INPUT.tmp"
	mv "$INPUT.tmp" "$INPUT"
fi
cat "$INPUT" >/dev/null	# page cache warm

# field NAME LINE: the value of NAME=... in a bench_cache output line
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
gbs() { "$PY" -c "print('%.2f' % ($BYTES / $1 / 1e9))"; }

declare -A WALL CPU
# run LABEL ARGS...: median wall and CPU seconds of bench_cache ARGS
run() {
	local label=$1 w=() c=() i out cache
	shift
	for ((i = 0; i < RUNS; i++)); do
		cache=
		if [ "$1" = store ] || [ "$1" = put ]; then
			cache=$RUN/cache-$1-$i
			mkdir -p "$cache"
			sync
		fi
		out=$("$BIN" "$1" "$INPUT" ${cache:+"$cache"} "${@:2}")
		w+=("$(field wall "$out")")
		c+=("$(field cpu "$out")")
	done
	WALL[$label]=$(median "${w[@]}")
	CPU[$label]=$(median "${c[@]}")
	printf '  %-14s %6.2f GB/s wall  %6.2f GB/s cpu   (%s chunks, kernel %s)   [%s]\n' "$label" \
		"$(gbs "${WALL[$label]}")" "$(gbs "${CPU[$label]}")" "$(field chunks "$out")" \
		"$(field kernel "$out")" "$(load_info | cut -c10-)"
}

# peer LABEL COMMAND...: median wall seconds of a whole-file hasher
peer() {
	local label=$1 w=() i t0 t1
	shift
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s.%N)
		"$@" "$INPUT" >/dev/null
		t1=$(date +%s.%N)
		w+=("$("$PY" -c "print($t1 - $t0)")")
	done
	WALL[$label]=$(median "${w[@]}")
	printf '  %-14s %6.2f GB/s wall   [%s]\n' "$label" "$(gbs "${WALL[$label]}")" "$(load_info | cut -c10-)"
}

run read read
run cdc cdc
run cdc-scalar cdc --scalar
run sha sha
run sha-lanes shamany
run sha-openssl shamany --openssl
run cdcsha cdcsha
run cdcsha-scalar cdcsha --scalar
run store store
run put put
peer sha256sum sha256sum
peer openssl openssl dgst -sha256

echo
echo "== results (ratio = throughput / the peer's, wall clock)"
# verdict_line LABEL BAR BY: BY is cpu or wall
verdict_line() {
	local label=$1 bar=$2 by=$3 t
	t=${WALL[$label]}
	[ "$by" = cpu ] && t=${CPU[$label]}
	printf '  %-7s %5.2f GB/s by %-4s (wall %.2f, cpu %.2f)  bar >= %s GB/s: %s   vs sha256sum %sx, vs openssl dgst %sx\n' \
		"$label" "$(gbs "$t")" "$by" "$(gbs "${WALL[$label]}")" "$(gbs "${CPU[$label]}")" \
		"$bar" "$(verdict "$BYTES / $t / 1e9 >= $bar")" \
		"$(ratio "${WALL[sha256sum]}" "${WALL[$label]}")" "$(ratio "${WALL[openssl]}" "${WALL[$label]}")"
}
verdict_line cdcsha 1.0 cpu
verdict_line store 0.4 wall
echo "  checking the names of a read's chunks (64 KiB pieces, a window at a time):" \
	"two SHA-NI lanes $(gbs "${CPU[sha-lanes]}") GB/s, OpenSSL one by one" \
	"$(gbs "${CPU[sha-openssl]}") GB/s by cpu -> $(ratio "${CPU[sha-openssl]}" "${CPU[sha-lanes]}")x"
