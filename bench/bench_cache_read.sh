#!/usr/bin/env bash
# bench_cache_read.sh - reads of a file fully held by the chunk cache.
#
# A 1 GiB FLAC (as bench_read.sh) is mounted with cache_local_origins =
# true and prefetched (`musicfs cache prefetch`), so every read is served
# from chunk files (each verified against its SHA-256 as it is read).
#  1. Sequential `cat` of the mounted file, kernel page cache dropped, chunk
#     files warm (read once after the drop), vs `cat` of the raw file with
#     its page cache dropped the same way and vs the raw file warm.
#     Bar: >= 0.7x raw.
#  2. The same with the mount's own pages warm (second read).  Bar: >= 0.9x
#     raw warm.
#  3. Random 4 KiB reads (fio, psync, direct=0, 4 jobs, 20 s) of the cached
#     file vs the raw file through `bindfs -r`.  Bar: >= 0.5x bindfs IOPS.
# Median of BENCH_RUNS (5) for 1 and 2 (hyperfine).
#
# usage: bench/bench_cache_read.sh   (env: BENCH_READ_BYTES, BENCH_RUNS, BENCH_DIR, MUSICFS)
source "$(dirname "$0")/common.sh"
need ffmpeg fusermount3 hyperfine bindfs fio

BYTES=${BENCH_READ_BYTES:-1073741824}
RUNS=${BENCH_RUNS:-5}
FIO_SECS=${FIO_SECS:-20}

echo "== bench_cache_read: a $((BYTES >> 20)) MiB file held by the chunk cache"
machine_info
LIB=$(library 1 "big-$BYTES" --formats flac --payload-bytes "$BYTES" --cover-fraction 0)
MNT=$RUN/musicfs BIND=$RUN/bindfs CACHE=$RUN/cache
mkdir -p "$MNT" "$BIND" "$CACHE"
printf '[cache]\ncache_local_origins = true\ncontent_cache_gb = 4\n' >"$RUN/config.toml"
note_mount "$MNT"
"$MUSICFS" mount "$MNT" --origin "$LIB" --cache-dir "$CACHE" -f --config "$RUN/config.toml" \
	--grpc-port 0 --metrics-port 0 2>"$RUN/musicfs.log" &
MPID=$!
PIDS+=("$MPID")
until grep -q 'scan of .* done in' "$RUN/musicfs.log"; do sleep 0.1; done
note_mount "$BIND"
bindfs -r "$LIB" "$BIND"
wait_mounted "$BIND"

RAWF=$(find "$LIB" -type f -name '*.flac')
MF=$(find "$MNT" -type f -name '*.flac')
BF=$BIND/${RAWF#"$LIB"/}
t0=$(date +%s.%N)
"$MUSICFS" cache prefetch "$MF" --cache-dir "$CACHE" >/dev/null
echo "prefetch (fetch, chunk, hash, store 1 GiB): $("$PY" -c "import sys; print('%.2f s' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")"
sleep 0.5	# the index writer commits
"$MUSICFS" cache stats --cache-dir "$CACHE" | sed 's/^/  /'
cmp "$RAWF" "$MF" && echo "bytes: identical to the origin"

# median seconds of hyperfine for a command, with a prepare command
timed() {
	hyperfine -N --runs "$RUNS" --prepare "$1" --export-json "$RUN/h.json" "$2" >/dev/null 2>&1 ||
		hyperfine --runs "$RUNS" --prepare "$1" --export-json "$RUN/h.json" "$2" >/dev/null
	"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$RUN/h.json"
}
mbps() { "$PY" -c 'import sys; print("%.0f" % (int(sys.argv[1]) / float(sys.argv[2]) / 1e6))' "$BYTES" "$1"; }

chunks_warm="sync; echo 3 > /proc/sys/vm/drop_caches; find $CACHE/chunks -type f -exec cat {} + > /dev/null"
raw_cold=$(timed "sync; echo 3 > /proc/sys/vm/drop_caches" "cat $RAWF")
cached_cold=$(timed "$chunks_warm" "cat '$MF'")
raw_warm=$(timed "cat $RAWF > /dev/null" "cat $RAWF")
cached_warm=$(timed "cat '$MF' > /dev/null" "cat '$MF'")
r1=$(ratio "$raw_cold" "$cached_cold")
r2=$(ratio "$raw_warm" "$cached_warm")
r1w=$(ratio "$raw_warm" "$cached_cold")
echo "sequential, mount pages dropped, chunks warm: $(mbps "$cached_cold") MB/s; raw cold $(mbps "$raw_cold") MB/s -> ${r1}x (bar >= 0.7: $(verdict "$r1 >= 0.7")); vs raw warm $(mbps "$raw_warm") MB/s -> ${r1w}x"
echo "sequential, warm: $(mbps "$cached_warm") MB/s; raw warm $(mbps "$raw_warm") MB/s -> ${r2}x (bar >= 0.9: $(verdict "$r2 >= 0.9"))"

fio_iops() {
	fio --name=rand --filename="$1" --rw=randread --bs=4k --ioengine=psync \
		--direct=0 --numjobs=4 --time_based --runtime="$FIO_SECS" \
		--group_reporting --output-format=json --readonly 2>/dev/null |
		"$PY" -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["jobs"][0]["read"]["iops"])'
}
sync; echo 3 >/proc/sys/vm/drop_caches
ci=$(fio_iops "$MF")
bi=$(fio_iops "$BF")
r3=$(ratio "$ci" "$bi")
echo "random 4 KiB (fio, 4 jobs, ${FIO_SECS} s): cached $ci IOPS, bindfs $bi IOPS -> ${r3}x (bar >= 0.5: $(verdict "$r3 >= 0.5"))"
