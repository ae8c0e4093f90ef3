#!/usr/bin/env bash
# bench_control.sh - what the control plane costs the file system.
#
#  1. FUSE stat latency with and without load on the control plane: 100
#     event subscribers on the gRPC socket and GET /metrics every 100 ms.
#     Each round drops the kernel's dentry cache, so every stat is a LOOKUP
#     answered by the daemon (a warm stat never reaches it).  Rounds of
#     both kinds alternate; the medians of their p99 are compared.
#     Bar: loaded p99 within 1.1x of unloaded.
#  2. Idle RSS of the daemon, control plane running, on a 100k-track
#     catalog.  Bar: < 30 MB.
#
# usage: bench/bench_control.sh   (root: it drops caches)
# env:   N_STAT (tracks for the stat test, 20000), ROUNDS (stat rounds per
#        measurement, 2), REPEAT (measurements of each kind, 9), N_IDLE
#        (tracks for the RSS test, 100000), SUBSCRIBERS (100), and those of
#        common.sh (MUSICFS, BENCH_DIR)
. "$(dirname "$0")/common.sh"
need fusermount3

N_STAT=${N_STAT:-20000}
ROUNDS=${ROUNDS:-2}
REPEAT=${REPEAT:-9}
N_IDLE=${N_IDLE:-100000}
SUBSCRIBERS=${SUBSCRIBERS:-100}
STAT_LATENCY=$(dirname "$MUSICFS")/bench/stat_latency
[ -x "$STAT_LATENCY" ] || { echo "no $STAT_LATENCY (ninja -C $(dirname "$MUSICFS"))" >&2; exit 2; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# mount_lib NAME LIB PORT: mount LIB with the metrics page on PORT; sets MPID
mount_lib() {
	local mnt=$RUN/mnt-$1 cache=$RUN/cache-$1 log=$RUN/$1.log t0=$SECONDS
	mkdir -p "$mnt"
	note_mount "$mnt"
	"$MUSICFS" mount "$mnt" --origin "$2" --cache-dir "$cache" -f \
		--grpc-port 0 --metrics-port "$3" 2>"$log" &
	MPID=$!
	PIDS+=("$MPID")
	until grep -q 'scan of .* done in' "$log" 2>/dev/null; do
		kill -0 "$MPID" 2>/dev/null || { cat "$log" >&2; exit 1; }
		[ $((SECONDS - t0)) -lt 900 ] || { echo "scan timeout" >&2; exit 1; }
		sleep 0.2
	done
}

p99_of() { sed -n 's/.* p99=\([0-9.]*\) .*/\1/p' <<<"$1"; }

machine_info
echo

# ---- 1. stat latency under control-plane load ---------------------------
lib=$(library "$N_STAT" "lib-$N_STAT")
port=$(free_port)
mount_lib stat "$lib" "$port"
find "$RUN/mnt-stat" -name '*.flac' -o -name '*.mp3' >"$RUN/paths"
stubs=$RUN/stubs
mkdir -p "$stubs"
"$PY" -m grpc_tools.protoc -I "$REPO/proto" --python_out="$stubs" \
	--grpc_python_out="$stubs" "$REPO/proto/musicfs.proto"
echo "stat: $(wc -l <"$RUN/paths") paths, $ROUNDS rounds per measurement (dentries dropped before each), $REPEAT measurements each way"

base=() loaded=()
for ((i = 1; i <= REPEAT; i++)); do
	out=$("$STAT_LATENCY" "$RUN/paths" "$ROUNDS")
	echo "  idle control plane:  $out"
	base+=("$(p99_of "$out")")
	coproc LOAD { "$PY" -u "$BENCH_SRC/control_load.py" "$stubs" \
		"$RUN/cache-stat/musicfs.sock" "$port" "$SUBSCRIBERS" 0.1; }
	read -r line <&"${LOAD[0]}"
	out=$("$STAT_LATENCY" "$RUN/paths" "$ROUNDS")
	subs=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^musicfs_event_subscribers /{print $2}')
	echo "  $SUBSCRIBERS subscribers ($subs open) + scrapes: $out"
	loaded+=("$(p99_of "$out")")
	exec {LOAD[1]}>&-
	read -r line <&"${LOAD[0]}" && echo "    $line"
	wait "$LOAD_PID" 2>/dev/null || true
done
b=$(median "${base[@]}")
l=$(median "${loaded[@]}")
r=$(ratio "$l" "$b")
echo "stat p99 (median of $REPEAT): idle $b us, loaded $l us -> ratio $r (bar <= 1.1: $(verdict "$r <= 1.1"))"
unmount "$RUN/mnt-stat" "$MPID"
echo

# ---- 2. idle RSS on a large catalog -------------------------------------
lib=$(library "$N_IDLE" "lib-$N_IDLE")
mount_lib idle "$lib" "$(free_port)"
sleep 5	# the scanner releases its caches once idle
rss=$(awk '/^VmRSS/{print $2}' "/proc/$MPID/status")
thr=$(awk '/^Threads/{print $2}' "/proc/$MPID/status")
ls -lR "$RUN/mnt-idle" >/dev/null
sleep 5
rss2=$(awk '/^VmRSS/{print $2}' "/proc/$MPID/status")
echo "idle RSS with $N_IDLE tracks: $((rss / 1024)) MB after the scan ($thr threads), $((rss2 / 1024)) MB after ls -lR of the whole tree (bar < 30 MB: $(verdict "$rss2 < 30 * 1024 and $rss < 30 * 1024"))"
unmount "$RUN/mnt-idle" "$MPID"
