#!/usr/bin/env bash
# bench_scan.sh - first scan of a local library with a warm page cache.
#
#   MusicFS: files/s from `musicfs mount` start to the daemon's
#            "scan of N origin(s) done in X s" line (wall clock, and the
#            daemon's own X for reference), on BENCH_SCAN_N files (20000).
#            Bar: >= 5000 files/s on 2 cores (DESIGN.md section 5).
#   beets:   `beet import -A -C -W -q` (no autotag, no copy, no write) into
#            a throwaway library (BEETSDIR in the run dir) on BENCH_BEETS_N
#            files (2000) made by the same generator; MusicFS is also timed
#            on that library, so the ratio is given both ways.
#   rescan:  the daemon restarted on the same cache dir, nothing changed:
#            files/s to the "scan ... done" line.
#
# usage: bench/bench_scan.sh     (env: BENCH_SCAN_N, BENCH_BEETS_N, BENCH_RUNS,
#                                 BENCH_DIR, MUSICFS; see common.sh)
source "$(dirname "$0")/common.sh"
need ffmpeg fusermount3 mountpoint beet

N=${BENCH_SCAN_N:-20000}
NB=${BENCH_BEETS_N:-2000}
RUNS=${BENCH_RUNS:-3}
BAR=5000

echo "== bench_scan: first scan of $N files (warm page cache); beets import of $NB files"
machine_info

LIB=$(library "$N" "lib-$N")
LIBB=$(library "$NB" "beets-lib-$NB" --seed 7)
count_audio() { find "$1" -type f \( -iname '*.flac' -o -iname '*.mp3' \) | wc -l; }
NF=$(count_audio "$LIB")
NFB=$(count_audio "$LIBB")

# timed_mount MNT ORIGIN CACHE LOG: start musicfs -f, wait for the scan-done
# line; sets DPID, WALL (launch -> line, s), DSCAN (the daemon's own figure)
timed_mount() {
	local out pidf=$RUN/pid.$$
	mkdir -p "$1" "$3"
	note_mount "$1"
	out=$("$PY" - "$MUSICFS" "$1" "$2" "$3" "$4" "$pidf" <<'EOF'
import re, subprocess, sys, time
exe, mnt, origin, cache, log, pidf = sys.argv[1:]
lf = open(log, "wb")
t0 = time.monotonic()
p = subprocess.Popen([exe, "mount", mnt, "--origin", origin, "--cache-dir", cache, "-f"],
                     stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
open(pidf, "w").write(str(p.pid))
pat = re.compile(rb"scan of \d+ origin\(s\) done in ([0-9.]+) s")
with open(log, "rb") as r:
    buf = b""
    while True:
        chunk = r.read()
        if chunk:
            buf += chunk
            m = pat.search(buf)
            if m:
                t1 = time.monotonic()
                print("%.4f %s" % (t1 - t0, m.group(1).decode()))
                break
        if p.poll() is not None:
            sys.exit("musicfs exited with %d before the scan finished: %s"
                     % (p.returncode, buf.decode(errors="replace")[-2000:]))
        if time.monotonic() - t0 > 1800:
            sys.exit("timeout waiting for the scan")
        time.sleep(0.002)
EOF
) || { DPID=$(cat "$pidf" 2>/dev/null || true); [ -n "$DPID" ] && PIDS+=("$DPID"); return 1; }
	DPID=$(cat "$pidf")
	PIDS+=("$DPID")
	read -r WALL DSCAN <<<"$out"
}

fps() { "$PY" -c 'import sys; print("%.0f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }

# ---------------------------------------------------------------- MusicFS
echo
echo "-- MusicFS first scan, $NF files (catalog deleted before each run; median of $RUNS)"
first=() firstd=() rescan=() rescand=()
for r in $(seq "$RUNS"); do
	warm_cache "$LIB"
	rm -rf "$RUN/cache"
	timed_mount "$RUN/mnt" "$LIB" "$RUN/cache" "$RUN/scan.log"
	n_virtual=$(find "$RUN/mnt" -type f -name '*.*' ! -name 'cover.*' | wc -l)
	unmount "$RUN/mnt" "$DPID"
	[ "$n_virtual" = "$NF" ] || { echo "mount shows $n_virtual tracks, expected $NF" >&2; exit 1; }
	first+=("$WALL") firstd+=("$DSCAN")
	echo "  run $r: launch->scan done ${WALL} s (daemon says ${DSCAN} s) = $(fps "$NF" "$WALL") files/s    [$(load_info | cut -c10-)]"

	timed_mount "$RUN/mnt" "$LIB" "$RUN/cache" "$RUN/rescan.log"
	unmount "$RUN/mnt" "$DPID"
	rescan+=("$WALL") rescand+=("$DSCAN")
	echo "         rescan unchanged: ${WALL} s (daemon says ${DSCAN} s) = $(fps "$NF" "$WALL") files/s"
done
T=$(median "${first[@]}")
TD=$(median "${firstd[@]}")
TR=$(median "${rescan[@]}")
TRD=$(median "${rescand[@]}")
MFPS=$(fps "$NF" "$T")

# ---------------------------------------------------------------- beets
echo
echo "-- beets $(beet version 2>/dev/null | head -1 | awk '{print $3}') import -A -C -W -q, $NFB files (fresh library each run; median of $RUNS)"
beets=() mb=()
for r in $(seq "$RUNS"); do
	beets_fresh "$RUN/beets"
	warm_cache "$LIBB"
	t0=$EPOCHREALTIME
	beets_import "$LIBB"
	t1=$EPOCHREALTIME
	got=$(beet ls 2>/dev/null | wc -l)
	[ "$got" = "$NFB" ] || { echo "beets imported $got of $NFB files" >&2; exit 1; }
	bt=$("$PY" -c "print('%.4f' % ($t1 - $t0))")
	beets+=("$bt")
	echo "  run $r: ${bt} s = $(fps "$NFB" "$bt") files/s    [$(load_info | cut -c10-)]"
	unset BEETSDIR

	# MusicFS on the very same files
	warm_cache "$LIBB"
	rm -rf "$RUN/cacheb"
	timed_mount "$RUN/mntb" "$LIBB" "$RUN/cacheb" "$RUN/scanb.log"
	unmount "$RUN/mntb" "$DPID"
	mb+=("$WALL")
	echo "         MusicFS on the same $NFB files: ${WALL} s = $(fps "$NFB" "$WALL") files/s"
done
TB=$(median "${beets[@]}")
TMB=$(median "${mb[@]}")
BFPS=$(fps "$NFB" "$TB")
MBFPS=$(fps "$NFB" "$TMB")

# ---------------------------------------------------------------- summary
echo
echo "== results (median of $RUNS)"
printf '  first scan, %d files:     %8s files/s  (%.2f s launch->done; daemon: %.2f s = %s files/s)  bar >= %d files/s: %s\n' \
	"$NF" "$MFPS" "$T" "$TD" "$(fps "$NF" "$TD")" "$BAR" "$(verdict "$MFPS >= $BAR")"
printf '  rescan unchanged, %d:     %8s files/s  (%.2f s launch->done; daemon: %.2f s)\n' \
	"$NF" "$(fps "$NF" "$TR")" "$TR" "$TRD"
printf '  beets import, %d files:    %8s files/s  (%.2f s)\n' "$NFB" "$BFPS" "$TB"
printf '  MusicFS, same %d files:    %8s files/s  (%.2f s)\n' "$NFB" "$MBFPS" "$TMB"
printf '  ratio MusicFS/beets (files/s):  %sx (MusicFS on %d files vs beets on %d);  %sx on the same %d files\n' \
	"$(ratio "$MFPS" "$BFPS")" "$NF" "$NFB" "$(ratio "$MBFPS" "$BFPS")" "$NFB"
load_info
