#!/usr/bin/env bash
# bench_read.sh - sequential read of a 1 GiB FLAC (white noise encoded by
# ffmpeg through gen_library.py --payload-bytes, BENCH_READ_BYTES) with
# `cat FILE > /dev/null`, hyperfine, median of BENCH_RUNS (5):
#   warm  page cache warm for raw and for the mount (one untimed read each);
#   cold  `sync; echo 3 > /proc/sys/vm/drop_caches` before every run (this
#         drops the whole machine's page cache; it is what the bar means).
# Over the raw origin file, musicfs (default options), bindfs -r -o auto_cache
# and mergerfs (ro,cache.files=auto-full,...) for comparison.
# Bars (DESIGN.md section 5): musicfs warm >= 0.8x raw throughput, cold >= 0.5x
# raw (the design measured bindfs 0.72x warm, 0.5x cold; mergerfs 0.09x cold).
#
# usage: bench/bench_read.sh   (env: BENCH_READ_BYTES, BENCH_RUNS, BENCH_DIR, MUSICFS)
source "$(dirname "$0")/common.sh"
need ffmpeg fusermount3 mountpoint hyperfine bindfs mergerfs

BYTES=${BENCH_READ_BYTES:-1073741824}
RUNS=${BENCH_RUNS:-5}
MERGERFS_OPTS=ro,cache.files=auto-full,cache.entry=3600,cache.attr=3600,cache.readdir=true

echo "== bench_read: cat of a $((BYTES >> 20)) MiB FLAC, warm and cold (median of $RUNS, hyperfine)"
machine_info
LIB=$(library 1 "big-$BYTES" --formats flac --payload-bytes "$BYTES" --cover-fraction 0)

M1=$RUN/musicfs M2=$RUN/bindfs M3=$RUN/mergerfs
mkdir -p "$M1" "$M2" "$M3" "$RUN/cache"
start_musicfs "$M1" "$LIB" "$RUN/cache" "$RUN/musicfs.log"
note_mount "$M2"
bindfs -r -o auto_cache "$LIB" "$M2"
note_mount "$M3"
mergerfs -o "$MERGERFS_OPTS" "$LIB" "$M3"
wait_mounted "$M1"; wait_mounted "$M2"; wait_mounted "$M3"

RAWF=$(find "$LIB" -type f -name '*.flac')
REL=${RAWF#"$LIB"/}
declare -A F=([raw]=$RAWF [musicfs]=$(find "$M1" -type f -name '*.flac') [bindfs]=$M2/$REL [mergerfs]=$M3/$REL)
SIZE=$(stat -c %s "$RAWF")
for fs in raw musicfs bindfs mergerfs; do
	f=${F[$fs]}
	[ -f "$f" ] && [ "$(stat -c %s "$f")" = "$SIZE" ] || { echo "$fs: no file of $SIZE bytes at '$f'" >&2; exit 1; }
done
echo "  file: $SIZE bytes; through musicfs: ${F[musicfs]#"$M1"/}"
# identical bytes through the mount (also the untimed warm-up read)
[ "$(cmp "$RAWF" "${F[musicfs]}" && echo same)" = same ] || { echo "musicfs serves different bytes" >&2; exit 1; }

declare -A T
# read MODE FS: median seconds into T[MODE-FS]
read_bench() {
	local mode=$1 fs=$2 json=$RUN/hf-$1-$2.json f=${F[$2]}
	local args=(--style basic --runs "$RUNS" --export-json "$json")
	if [ "$mode" = warm ]; then
		args+=(--warmup 1)
	else
		args+=(--prepare 'sync; echo 3 > /proc/sys/vm/drop_caches')
	fi
	hyperfine "${args[@]}" "cat '$f'" >"$RUN/hf-$mode-$fs.txt" 2>&1 ||
		{ cat "$RUN/hf-$mode-$fs.txt" >&2; exit 1; }
	T[$mode-$fs]=$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.6f %.6f %.6f" % (r["median"], r["min"], r["max"]))' "$json")
	read -r med mn mx <<<"${T[$mode-$fs]}"
	printf '  %-4s %-9s median %7.3f s = %7.0f MiB/s  (min %.3f, max %.3f s)    [%s]\n' "$mode" "$fs" \
		"$med" "$("$PY" -c "print($SIZE / 1048576 / $med)")" "$mn" "$mx" "$(load_info | cut -c10-)"
}

for mode in warm cold; do
	for fs in raw musicfs bindfs mergerfs; do
		read_bench "$mode" "$fs"
	done
done

med() { echo "${T[$1]}" | cut -d' ' -f1; }
mibs() { "$PY" -c "print('%.0f' % ($SIZE / 1048576 / $1))"; }
echo
echo "== results (median of $RUNS; throughput ratio = raw time / fs time)"
printf '  %-5s %11s %11s %11s %11s | %-12s %-11s %-12s %s\n' mode raw musicfs bindfs mergerfs musicfs/raw bindfs/raw mergerfs/raw verdict
for mode in warm cold; do
	raw=$(med "$mode-raw") mf=$(med "$mode-musicfs") bf=$(med "$mode-bindfs") mg=$(med "$mode-mergerfs")
	r=$(ratio "$raw" "$mf")
	bar=0.8
	[ "$mode" = cold ] && bar=0.5
	printf '  %-5s %6s MiB/s %6s MiB/s %6s MiB/s %6s MiB/s | %-12s %-11s %-12s bar >= %sx: %s\n' "$mode" \
		"$(mibs "$raw")" "$(mibs "$mf")" "$(mibs "$bf")" "$(mibs "$mg")" \
		"${r}x" "$(ratio "$raw" "$bf")x" "$(ratio "$raw" "$mg")x" "$bar" "$(verdict "$r >= $bar")"
	printf '  %-5s musicfs throughput is %sx bindfs, %sx mergerfs\n' "" "$(ratio "$bf" "$mf")" "$(ratio "$mg" "$mf")"
done
load_info
