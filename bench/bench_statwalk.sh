#!/usr/bin/env bash
# bench_statwalk.sh - warm stat walks over a BENCH_STAT_N-track (2000)
# library: `find DIR -printf '%s\n'` and `ls -lR DIR`, output to /dev/null,
# hyperfine (no shell, 1 untimed warm-up run, BENCH_RUNS=20 timed runs,
# median), over:
#   raw       the origin folder itself
#   musicfs   musicfs mount (default options), after its first scan
#   bindfs    bindfs -r ORIGIN
#   mergerfs  mergerfs -o ro,cache.files=auto-full,cache.entry=3600,
#             cache.attr=3600,cache.readdir=true ORIGIN   (2.33 option names)
# Bar (DESIGN.md section 5): musicfs within 1.2x of raw for both walks
# (for reference the design measured bindfs 2.7x/6.7x, tuned mergerfs
# 1.35x/1.17x).  The MusicFS tree has the same tracks plus one cover.jpg per
# album with a picture, in Artist/Album folders instead of the origin's.
#
# usage: bench/bench_statwalk.sh   (env: BENCH_STAT_N, BENCH_RUNS, BENCH_DIR, MUSICFS)
source "$(dirname "$0")/common.sh"
need ffmpeg fusermount3 mountpoint hyperfine bindfs mergerfs

N=${BENCH_STAT_N:-2000}
RUNS=${BENCH_RUNS:-20}
MERGERFS_OPTS=ro,cache.files=auto-full,cache.entry=3600,cache.attr=3600,cache.readdir=true

echo "== bench_statwalk: warm find -printf / ls -lR over $N tracks (median of $RUNS, hyperfine)"
machine_info
LIB=$(library "$N" "lib-$N")

M1=$RUN/musicfs M2=$RUN/bindfs M3=$RUN/mergerfs
mkdir -p "$M1" "$M2" "$M3" "$RUN/cache"
start_musicfs "$M1" "$LIB" "$RUN/cache" "$RUN/musicfs.log"
note_mount "$M2"
bindfs -r "$LIB" "$M2"
note_mount "$M3"
mergerfs -o "$MERGERFS_OPTS" "$LIB" "$M3"
wait_mounted "$M1"; wait_mounted "$M2"; wait_mounted "$M3"

echo "  entries (find | wc -l): raw $(find "$LIB" | wc -l), musicfs $(find "$M1" | wc -l), bindfs $(find "$M2" | wc -l), mergerfs $(find "$M3" | wc -l)"

declare -A T
walk() {	# walk NAME CMD...: median seconds into T[NAME]
	local name=$1 json=$RUN/hf-$1.json
	shift
	hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$json" "$*" >"$RUN/hf-$name.txt" 2>&1 ||
		{ cat "$RUN/hf-$name.txt" >&2; exit 1; }
	T[$name]=$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.6f %.6f %.6f" % (r["median"], r["min"], r["max"]))' "$json")
}

for kind in find ls; do
	for fs in raw musicfs bindfs mergerfs; do
		case $fs in
		raw) d=$LIB ;; musicfs) d=$M1 ;; bindfs) d=$M2 ;; mergerfs) d=$M3 ;;
		esac
		if [ "$kind" = find ]; then
			walk "$kind-$fs" "find '$d' -printf '%s\n'"
		else
			walk "$kind-$fs" "ls -lR '$d'"
		fi
		read -r med mn mx <<<"${T[$kind-$fs]}"
		printf '  %-4s %-9s median %8.2f ms  (min %.2f, max %.2f)    [%s]\n' "$kind" "$fs" \
			"$("$PY" -c "print($med*1000)")" "$("$PY" -c "print($mn*1000)")" "$("$PY" -c "print($mx*1000)")" \
			"$(load_info | cut -c10-)"
	done
done

med() { echo "${T[$1]}" | cut -d' ' -f1; }
echo
echo "== results (median of $RUNS, warm)"
printf '  %-22s %9s %9s %9s %9s | %-14s %-13s %-13s %-12s\n' walk raw musicfs bindfs mergerfs "musicfs/raw" "bindfs/raw" "mergerfs/raw" "verdict"
for kind in find ls; do
	raw=$(med "$kind-raw") mf=$(med "$kind-musicfs") bf=$(med "$kind-bindfs") mg=$(med "$kind-mergerfs")
	r=$(ratio "$mf" "$raw")
	label="find -printf '%s\n'"
	[ "$kind" = ls ] && label="ls -lR"
	printf '  %-22s %7.2fms %7.2fms %7.2fms %7.2fms | %-14s %-13s %-13s %s\n' "$label" \
		"$("$PY" -c "print($raw*1e3)")" "$("$PY" -c "print($mf*1e3)")" "$("$PY" -c "print($bf*1e3)")" "$("$PY" -c "print($mg*1e3)")" \
		"${r}x" "$(ratio "$bf" "$raw")x" "$(ratio "$mg" "$raw")x" "bar <= 1.2x: $(verdict "$r <= 1.2")"
	printf '  %-22s musicfs is %sx the time of bindfs, %sx the time of mergerfs\n' "" "$(ratio "$mf" "$bf")" "$(ratio "$mf" "$mg")"
done
load_info
