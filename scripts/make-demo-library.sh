#!/usr/bin/env bash
# Make a small demo music library with ffmpeg: a few artists and albums in
# FLAC and MP3, with tags, an embedded cover, a multi-disc album and a
# deliberately messy folder layout (MusicFS reorganizes it by tags).
# Usage: scripts/make-demo-library.sh DIR
set -euo pipefail
dir=${1:?usage: make-demo-library.sh DIR}
[ -e "$dir/.musicfs-demo" ] && exit 0
mkdir -p "$dir/incoming/misc" "$dir/rips" "$dir/old stuff"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ffmpeg -loglevel error -y -f lavfi -i "color=c=0x3060a0:s=300x300" -frames:v 1 "$tmp/cover.jpg"

# track FILE FREQ TITLE ARTIST ALBUM YEAR TRACK [DISC] [ALBUMARTIST]
track() {
	local out=$1 freq=$2 title=$3 artist=$4 album=$5 year=$6 tr=$7
	local disc=${8:-} aa=${9:-}
	local meta=(-metadata "title=$title" -metadata "artist=$artist"
		-metadata "album=$album" -metadata "date=$year" -metadata "track=$tr")
	[ -n "$disc" ] && meta+=(-metadata "disc=$disc")
	[ -n "$aa" ] && meta+=(-metadata "album_artist=$aa")
	local art=()
	case "$out" in
	*.flac|*.mp3) art=(-i "$tmp/cover.jpg" -map 0:a -map 1:v -c:v copy
		-disposition:v attached_pic -metadata:s:v comment="Cover (front)") ;;
	esac
	ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=$freq:duration=3" \
		"${art[@]}" "${meta[@]}" "$dir/$out"
}

track "rips/a1.flac" 440 "Overkill" "Motörhead" "Overkill" 1979 1
track "rips/a2.flac" 494 "Stay Clean" "Motörhead" "Overkill" 1979 2
track "incoming/t1.mp3" 523 "Gunjou Biyori" "東京事変" "Kyouiku" 2004 1
track "incoming/t2.mp3" 587 "Sounan" "東京事変" "Kyouiku" 2004 2
track "old stuff/d1.flac" 659 "Side One" "The Band" "Double Live" 1995 1 1
track "old stuff/d2.flac" 698 "Side Two" "The Band" "Double Live" 1995 1 2
track "incoming/misc/v1.mp3" 784 "Opening" "Someone" "Summer Mix" 2001 1 "" "Various Artists"
track "incoming/misc/v2.mp3" 880 "Closing" "Someone Else" "Summer Mix" 2001 2 "" "Various Artists"
ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=330:duration=2" "$dir/incoming/untagged recording.flac"
touch "$dir/.musicfs-demo"
echo "demo library made in $dir"
