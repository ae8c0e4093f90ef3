#!/usr/bin/env bash
# bench_mount.sh - time from `musicfs mount` start to the first `ls MOUNT`
# that lists the root, with a catalog already present.
#
# For a catalog of BENCH_MOUNT_N tracks (100000; DESIGN.md's bar is stated
# for 1M, set BENCH_MOUNT_N=1000000 to try it) and of BENCH_MOUNT_SMALL
# tracks (1000): generate the library, mount once and wait for the first
# scan, unmount.  Then, BENCH_RUNS times (5, after one untimed run):
# launch `musicfs mount MNT --origin LIB --cache-dir CACHE -f` and run
# `ls MNT` in a tight loop until it prints the root's entries (the empty
# mountpoint folder underneath prints nothing), clock: CLOCK_MONOTONIC
# (ns); then unmount and wait for the daemon to exit.
# Bars: median < 100 ms, and large/small <= 1.2.
#
# usage: bench/bench_mount.sh   (env: BENCH_MOUNT_N, BENCH_MOUNT_SMALL,
#                                BENCH_RUNS, BENCH_DIR, MUSICFS,
#                                BENCH_MOUNT_GEN_OPTS: gen_library options for
#                                the large library, e.g. for 1M tracks
#                                "--seconds 0.1 --cover-fraction 0.02": ~5 GB)
source "$(dirname "$0")/common.sh"
need ffmpeg fusermount3 mountpoint

NL=${BENCH_MOUNT_N:-100000}
NS=${BENCH_MOUNT_SMALL:-1000}
RUNS=${BENCH_RUNS:-5}

echo "== bench_mount: musicfs mount -> first ls of the root, catalogs of $NL and $NS tracks"
machine_info

# prepare NAME N: library + scanned catalog in $RUN/cache-NAME; sets LIB
# (functions that mount set globals: a $(...) subshell would lose PIDS)
prepare() {
	local name=$1 n=$2 lib pid suffix=""
	shift 2
	[ $# -gt 0 ] && suffix=-$(echo "$*" | md5sum | cut -c1-6)
	lib=$(library "$n" "lib-$n$suffix" "$@")
	mkdir -p "$RUN/mnt-$name" "$RUN/cache-$name"
	start_musicfs "$RUN/mnt-$name" "$lib" "$RUN/cache-$name" "$RUN/prep-$name.log" 1800
	pid=$MPID
	echo "  catalog of $n tracks: $(grep -o 'scan of .* done in .*' "$RUN/prep-$name.log"), cache dir $(du -sh "$RUN/cache-$name" | cut -f1), $(ls "$RUN/mnt-$name" | wc -l) root entries"
	unmount "$RUN/mnt-$name" "$pid"
	LIB=$lib
}

# one_run NAME LIB: sets OUT="ms ls_calls root_entries live_ms second_ls_ms"
one_run() {
	local name=$1 lib=$2 out pidf=$RUN/pid-$name
	out=$("$PY" - "$MUSICFS" "$RUN/mnt-$name" "$lib" "$RUN/cache-$name" "$RUN/run-$name.log" "$pidf" <<'EOF'
import os, subprocess, sys, time
exe, mnt, lib, cache, log, pidf = sys.argv[1:]
lf = open(log, "wb")
pdev = os.stat(os.path.dirname(mnt)).st_dev
t0 = time.monotonic_ns()
p = subprocess.Popen([exe, "mount", mnt, "--origin", lib, "--cache-dir", cache, "-f"],
                     stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
open(pidf, "w").write(str(p.pid))
# the mount is live when the mountpoint is on another device (stat, no fork)
while os.stat(mnt).st_dev == pdev:
    if p.poll() is not None:
        sys.exit("musicfs exited (%d)" % p.returncode)
    if time.monotonic_ns() - t0 > 60e9:
        sys.exit("not mounted after 60 s")
tl = time.monotonic_ns()
tries = 0
while True:
    r = subprocess.run(["ls", mnt], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    tries += 1
    if r.returncode == 0 and r.stdout:
        t1 = time.monotonic_ns()
        break
    if p.poll() is not None:
        sys.exit("musicfs exited (%d)" % p.returncode)
    if time.monotonic_ns() - t0 > 60e9:
        sys.exit("no listing after 60 s")
r2 = subprocess.run(["ls", mnt], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
t2 = time.monotonic_ns()
print("%.2f %d %d %.2f %.2f" % ((t1 - t0) / 1e6, tries, r.stdout.count(b"\n"),
                                (tl - t0) / 1e6, (t2 - t1) / 1e6))
EOF
) || { [ -f "$pidf" ] && PIDS+=("$(cat "$pidf")"); return 1; }
	local pid
	pid=$(cat "$pidf")
	PIDS+=("$pid")
	unmount "$RUN/mnt-$name" "$pid"
	OUT=$out
}

measure() {
	local name=$1 lib=$2 n=$3 r ms tries ents live ls2
	local all=() lives=() ls2s=()
	one_run "$name" "$lib"	# untimed
	for r in $(seq "$RUNS"); do
		one_run "$name" "$lib"
		read -r ms tries ents live ls2 <<<"$OUT"
		all+=("$ms") lives+=("$live") ls2s+=("$ls2")
		echo "  $n tracks, run $r: $ms ms to the first listing (mount live at $live ms; $tries ls call(s); $ents root entries; a second, cached ls: $ls2 ms)    [$(load_info | cut -c10-)]"
	done
	MED=$(median "${all[@]}")
	MED_LIVE=$(median "${lives[@]}")
	MED_LS2=$(median "${ls2s[@]}")
	ENTS=$ents
}

# shellcheck disable=SC2086
prepare large "$NL" ${BENCH_MOUNT_GEN_OPTS:-}
LIBL=$LIB
prepare small "$NS"
LIBS=$LIB
echo
echo "-- timed runs (median of $RUNS after 1 untimed)"
measure large "$LIBL" "$NL"
ML=$MED LL=$MED_LIVE L2L=$MED_LS2 EL=$ENTS
measure small "$LIBS" "$NS"
MS=$MED LS=$MED_LIVE L2S=$MED_LS2 ES=$ENTS
R=$(ratio "$ML" "$MS")

echo
echo "== results"
printf '  mount -> first ls, %7d tracks: %7.2f ms (median)   bar < 100 ms: %s\n' "$NL" "$ML" "$(verdict "$ML < 100")"
printf '  mount -> first ls, %7d tracks: %7.2f ms (median)   bar < 100 ms: %s\n' "$NS" "$MS" "$(verdict "$MS < 100")"
printf '  ratio %d/%d tracks: %sx   bar <= 1.2x: %s\n' "$NL" "$NS" "$R" "$(verdict "$R <= 1.2")"
echo "  diagnostics (medians): the mount is live (mountpoint stat-able) after $LL ms / $LS ms (ratio $(ratio "$LL" "$LS")x);"
echo "    the root lists $EL / $ES entries; a second, cached ls takes $L2L / $L2S ms"
load_info
