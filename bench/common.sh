# shellcheck shell=bash
# Helpers sourced by the bench_*.sh scripts (not run on its own).
#
# Environment:
#   MUSICFS    the musicfs binary (default: build-bench/musicfs of this tree,
#              built with `meson setup build-bench --buildtype=release` and
#              ninja if missing)
#   BENCH_DIR  a work folder kept between runs: generated libraries are
#              reused from it (default: a temp dir, removed at exit)
#   BENCH_KEEP=1  keep the temp dir

set -euo pipefail
export LC_ALL=C.UTF-8

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_SRC/.." && pwd)
PY=/usr/bin/python3

need() {
	local miss=() c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || miss+=("$c")
	done
	if [ ${#miss[@]} -gt 0 ]; then
		echo "missing: ${miss[*]} (apt-get install hyperfine bindfs mergerfs beets ffmpeg python3-mutagen fuse3)" >&2
		exit 2
	fi
}

if [ -z "${MUSICFS:-}" ]; then
	MUSICFS=$REPO/build-bench/musicfs
	if [ ! -x "$MUSICFS" ]; then
		(cd "$REPO" && { [ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null; } &&
			ninja -C build-bench >/dev/null)
	fi
fi
[ -x "$MUSICFS" ] || { echo "no musicfs binary at $MUSICFS" >&2; exit 2; }

if [ -n "${BENCH_DIR:-}" ]; then
	mkdir -p "$BENCH_DIR"
	WORK=$(cd "$BENCH_DIR" && pwd)
	WORK_TEMP=0
else
	WORK=$(mktemp -d /var/tmp/musicfs-bench.XXXXXX)
	WORK_TEMP=1
fi
RUN=$(mktemp -d "$WORK/run.XXXXXX")	# mounts, caches, logs of this run

MOUNTS=()
PIDS=()

cleanup() {
	local rc=$? m p i
	set +e
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
		fi
	done
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -uz "$m" 2>/dev/null
	done
	if [ "$WORK_TEMP" = 1 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		rm -rf "$RUN"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

note_mount() { MOUNTS+=("$1"); }

# forget_pid PID: the process has exited, do not signal its id at exit
forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# wait_mounted DIR [TIMEOUT_S]
wait_mounted() {
	local i n=$(( ${2:-20} * 100 ))
	for ((i = 0; i < n; i++)); do
		mountpoint -q "$1" && return 0
		sleep 0.01
	done
	echo "timeout waiting for mount on $1" >&2
	return 1
}

# unmount DIR [PID]: unmount and wait for the daemon PID to exit
unmount() {
	local i
	mountpoint -q "$1" && fusermount3 -u "$1"
	if [ -n "${2:-}" ]; then
		for ((i = 0; i < 500; i++)); do
			if ! kill -0 "$2" 2>/dev/null; then
				forget_pid "$2"
				return 0
			fi
			sleep 0.02
		done
		echo "daemon $2 did not exit after unmount" >&2
		return 1
	fi
}

# library N NAME [gen_library options...]: path of a generated library,
# reused from BENCH_DIR if it was made with the same arguments
library() {
	local n=$1 name=$2 dir stamp want
	shift 2
	dir=$WORK/$name
	stamp=$WORK/$name.stamp
	want="$n $* $(md5sum "$BENCH_SRC/gen_library.py" | cut -c1-12)"
	if [ -d "$dir" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		echo "$dir"
		return
	fi
	rm -rf "$dir" "$stamp"
	"$PY" -u "$BENCH_SRC/gen_library.py" "$n" "$dir" "$@" >&2
	echo "$want" >"$stamp"
	echo "$dir"
}

# warm_cache DIR: read every file once
# start_musicfs MOUNT ORIGIN CACHE LOG [TIMEOUT_S]: mount in the foreground,
# wait until the daemon logs its first scan as done; sets MPID.
start_musicfs() {
	local mnt=$1 origin=$2 cache=$3 log=$4 limit=${5:-600} t0=$SECONDS
	note_mount "$mnt"
	"$MUSICFS" mount "$mnt" --origin "$origin" --cache-dir "$cache" -f 2>"$log" &
	MPID=$!
	PIDS+=("$MPID")
	until grep -q 'scan of .* done in' "$log" 2>/dev/null; do
		kill -0 "$MPID" 2>/dev/null || { echo "musicfs exited:" >&2; cat "$log" >&2; exit 1; }
		[ $((SECONDS - t0)) -lt "$limit" ] || { echo "scan timeout" >&2; cat "$log" >&2; exit 1; }
		sleep 0.1
	done
}

warm_cache() { find "$1" -type f -print0 | xargs -0 -r cat >/dev/null; }

# beets_fresh DIR [PLUGINS]: export BEETSDIR=DIR, an empty beets library
# there, configured to import tags only (no copy, no autotag, no writes)
beets_fresh() {
	export BEETSDIR=$1
	rm -rf "$BEETSDIR"
	mkdir -p "$BEETSDIR"
	cat >"$BEETSDIR/config.yaml" <<EOF
directory: $BEETSDIR/music
library: $BEETSDIR/library.db
plugins: [${2:-}]
import:
    copy: no
    move: no
    write: no
    autotag: no
    quiet: yes
    resume: no
    incremental: no
    log:
EOF
}

# beets_import DIR: import DIR into $BEETSDIR's library (exits on failure)
beets_import() {
	beet import -A -C -W -q "$1" >"$RUN/beets.log" 2>&1 ||
		{ echo "beet import failed:"; tail -20 "$RUN/beets.log"; exit 1; } >&2
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# machine / load report
machine_info() {
	echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, kernel $(uname -r)"
	echo "musicfs: $MUSICFS ($(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo ?)$(cd "$REPO" && git diff --quiet HEAD -- src 2>/dev/null || echo '+dirty src'))"
	load_info
}

load_info() {
	local busy
	busy=$(top -bn1 -w 200 | awk 'NR>7 && $9+0 >= 20 {printf "%s(%s%%) ", $12, $9}')
	echo "load:    $(cut -d' ' -f1-3 /proc/loadavg)${busy:+  busy now: $busy}"
}

# fmt_ratio A B -> "A/B" with 2 decimals
ratio() { "$PY" -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.2f" % (a/b) if b else "inf")' "$1" "$2"; }

# verdict OK_EXPR: PASS if the python expression is true
verdict() { "$PY" -c "import sys; print('PASS' if ($1) else 'FAIL')"; }

# median of the arguments
median() { "$PY" -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
