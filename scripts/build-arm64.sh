#!/usr/bin/env bash
# make build-arm64: the static-stdlib release firmware for aarch64-unknown-linux-gnu (64-bit
# Raspberry Pi OS, bookworm or trixie, on a Pi 3, 4, 5 or Zero 2 W), cross-built on this x86_64
# machine with Debian's Swift 6.2.3 against a bookworm arm64 sysroot, everything from Debian's
# archive (scripts/arm64-sdk.sh, cached). Needs root: the compiler runs in a chroot (its glibc
# is sid's). Prints the binary's path last. Exit 3: a prerequisite cannot be had here (why).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -m)" = x86_64 ] || { echo "build-arm64: cross-builds from x86_64; this machine is $(uname -m) (on a Pi: make build-static)" >&2; exit 3; }
[ "$(id -u)" = 0 ] || { echo "build-arm64: the compiler runs in a chroot (unshare -m): run as root" >&2; exit 3; }
command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "build-arm64: needs apt-get and dpkg (Debian)" >&2; exit 3; }
t0=$(date +%s)
ARM64_CACHE=$(scripts/arm64-sdk.sh) || exit $?
export ARM64_CACHE
t1=$(date +%s)
scripts/buildinfo.sh "scripts/arm64-chroot.sh swift" cross
scripts/arm64-chroot.sh swift build -c release --static-swift-stdlib --product firmloop \
    --swift-sdks-path "$ARM64_CACHE/sdk" --swift-sdk firmloop-aarch64 --scratch-path .build-arm64 2>&1 \
    | grep -E "error|warning: |Compiling|Build" | grep -v "^\[" >&2 || true
BIN=.build-arm64/aarch64-unknown-linux-gnu/release/firmloop
[ -x "$BIN" ] || { echo "build-arm64: the build failed (above)" >&2; exit 1; }
echo "build-arm64: $(file -b "$BIN" | cut -d, -f1-2); parts $((t1 - t0)) s, build $(($(date +%s) - t1)) s" >&2
echo "$BIN"
