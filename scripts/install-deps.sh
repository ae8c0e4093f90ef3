#!/usr/bin/env bash
# Install the Debian 12 packages MusicFS needs to build, run and test.
# Only missing packages are installed; apt-get update runs first when any
# is missing.  Usage: scripts/install-deps.sh [run|test]
set -euo pipefail

run_pkgs=(meson ninja-build pkg-config gcc libfuse3-dev fuse3 libsqlite3-dev
	libgrpc-dev protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
	grpc-proto libprotobuf-dev
	libmicrohttpd-dev libsystemd-dev libssl-dev
	libutf8proc-dev libjansson-dev libstdc++-12-dev libxxhash-dev ffmpeg)
test_pkgs=(clang libclang-rt-14-dev libcmocka-dev python3-pytest python3-mutagen
	flac attr bindfs mergerfs beets python3-grpcio python3-grpc-tools
	python3-prometheus-client)

want=("${run_pkgs[@]}")
if [ "${1:-run}" = test ]; then
	want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
	sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
