#!/usr/bin/env bash
# bench_formats.sh - the format layer's bars (issue 3), without a mount:
#   parse: >= 20,000 files/s on one core, FLAC/MP3/Ogg files with ~100 KiB
#          of tags and cover art, page cache warm; peer: mutagen.File()
#   synth: < 2 ms to synthesize the header of a file with a 1 MiB cover
# usage: bench/bench_formats.sh   (env: BENCH_FORMATS_N files per format,
#        default 1000; BUILD, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_FORMATS_N:-1000}
BUILD=${BUILD:-build}
PY=/usr/bin/python3
TOOL=$BUILD/bench/bench_formats
[ -x "$TOOL" ] || ninja -C "$BUILD" bench/bench_formats >/dev/null
work=$(mktemp -d /var/tmp/bench-formats.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== bench_formats: $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)"
noise_png() {	# noise_png SIDE OUT: an incompressible picture
	ffmpeg -v error -y -f lavfi -i "nullsrc=s=$1x$1,geq=random(1)*255:random(1)*255:random(1)*255" \
		-frames:v 1 "$2"
}
noise_png 190 "$work/c100.png"
noise_png 660 "$work/c1m.png"
comment=$($PY -c 'print("lyrics and notes " * 600)')	# ~10 KiB of tags
tagged() {	# tagged COVER OUT: a 1 s file with tags and an embedded cover
	local cover=$1 out=$2 art=()
	case "$out" in
	*.flac|*.mp3|*.m4a) art=(-i "$cover" -map 0:a -map 1:v -c:v copy -disposition:v attached_pic) ;;
	esac
	ffmpeg -v error -y -f lavfi -i "sine=duration=1" "${art[@]}" \
		-metadata title="Title" -metadata artist="Artist" -metadata album="Album" \
		-metadata comment="$comment" -metadata track=3/12 "$out"
	case "$out" in
	*.ogg) $PY - "$out" "$cover" <<'PYEOF'
import base64, sys
from mutagen.flac import Picture
from mutagen.oggvorbis import OggVorbis
f = OggVorbis(sys.argv[1]); p = Picture(); p.type = 3; p.mime = "image/png"
p.data = open(sys.argv[2], "rb").read()
f["METADATA_BLOCK_PICTURE"] = [base64.b64encode(p.write()).decode()]; f.save()
PYEOF
	;;
	esac
}
mkdir -p "$work/lib"
for ext in flac mp3 ogg; do
	tagged "$work/c100.png" "$work/one.$ext"
	echo "  one $ext file: $(stat -c %s "$work/one.$ext") bytes (cover $(stat -c %s "$work/c100.png") bytes, ~10 KiB of tags)"
	for i in $(seq 1 "$N"); do cp "$work/one.$ext" "$work/lib/$i.$ext"; done
done
cat "$work"/lib/* >/dev/null	# warm the page cache
mapfile -t files < <(ls "$work"/lib/* )

out=$(taskset -c 0 "$TOOL" parse 3 "${files[@]}")
mfs_rate=$(awk '/files_per_s/ {print $2}' <<<"$out")
failed=$(awk '/failed/ {print $2}' <<<"$out")
peer=$($PY - "${files[@]}" <<'PYEOF'
import sys, time, mutagen
files = sys.argv[1:]
t = time.monotonic()
for f in files:
    mutagen.File(f)
print("%.0f" % (len(files) / (time.monotonic() - t)))
PYEOF
)
verdict() { $PY -c "print('PASS' if ($1) else 'FAIL')"; }
echo "== results"
for ext in flac mp3 ogg; do
	r=$(taskset -c 0 "$TOOL" parse 3 "$work"/lib/*."$ext" | awk '/files_per_s/ {print $2}')
	echo "  parse $ext only: $r files/s"
done
echo "  parse: $mfs_rate files/s on one core ($((3 * ${#files[@]})) parses, $failed failed)   bar >= 20000 files/s: $(verdict "$mfs_rate >= 20000 and $failed == 0")"
echo "         mutagen.File: $peer files/s   ratio MusicFS/mutagen: $($PY -c "print('%.1fx' % ($mfs_rate / $peer))")"

for ext in flac mp3 ogg m4a; do
	tagged "$work/c1m.png" "$work/big.$ext"
	res=$("$TOOL" synth 200 "$work/big.$ext" || true)
	if grep -q ms_per_synth <<<"$res"; then
		ms=$(awk '/ms_per_synth/ {print $2}' <<<"$res")
		pic=$(awk '/picture_bytes/ {print $2}' <<<"$res")
		echo "  synth $ext, $pic-byte cover: $ms ms   bar < 2 ms: $(verdict "$ms < 2")"
	else
		echo "  synth $ext: $(awk '/synth_error/ {$1=""; print}' <<<"$res") (no synthesizer for it yet)"
	fi
done
