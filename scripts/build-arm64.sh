#!/usr/bin/env bash
# make build-arm64: the static-stdlib release firmware for aarch64-unknown-linux-gnu (64-bit
# Raspberry Pi OS, bookworm or trixie, on a Pi 3, 4, 5 or Zero 2 W), cross-built on this x86_64
# machine with Debian's Swift 6.2.3 against a bookworm arm64 sysroot, everything from Debian's
# archive (scripts/arm64-sdk.sh, cached). Needs root: the compiler runs in a chroot (its glibc
# is sid's). Two binaries, as for x86_64: libgpiod v1 (bookworm's, shared) in .build-arm64, v2
# (static) in .build-arm64-gpiod2. Prints the first's path last. Exit 3: a prerequisite cannot
# be had here (it says which).
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
# build SCRATCH [env...]: the static firmware into SCRATCH/aarch64-unknown-linux-gnu/release.
build() {
    local scratch=$1
    shift
    env "$@" scripts/arm64-chroot.sh swift build -c release --static-swift-stdlib --product firmloop \
        --swift-sdks-path "$ARM64_CACHE/sdk" --swift-sdk firmloop-aarch64 --scratch-path "$scratch" 2>&1 \
        | grep -E "error|warning: |Build" >&2 || true
    [ -x "$scratch/aarch64-unknown-linux-gnu/release/firmloop" ] || { echo "build-arm64: the build into $scratch failed (above)" >&2; exit 1; }
}
# libgpiod v1 from bookworm's arm64 package (shared), and v2 linked in statically: the static
# build of scripts/libgpiod-v2.sh, cross-compiled with the root's clang for the sysroot.
build .build-arm64
# It goes into the sysroot, its .pc saying where as seen from there: pkg-config puts the sysroot
# in front of every path a .pc gives.
S=$ARM64_CACHE/sysroot
GPIOD2_PC=$(FIRMLOOP_GPIOD_CACHE=$S/usr/local/lib/firmloop-libgpiod GPIOD_TARGET=aarch64 \
    CC="scripts/arm64-chroot.sh clang --target=aarch64-linux-gnu --sysroot=$S" \
    AR="scripts/arm64-chroot.sh llvm-ar" scripts/libgpiod-v2.sh)
mkdir -p "$S/usr/local/lib/firmloop-libgpiod/pkgconfig"
sed "s|^prefix=$S|prefix=|" "$GPIOD2_PC/libgpiod.pc" > "$S/usr/local/lib/firmloop-libgpiod/pkgconfig/libgpiod.pc"
build .build-arm64-gpiod2 PKG_CONFIG_PATH_EXTRA="$S/usr/local/lib/firmloop-libgpiod/pkgconfig"
BIN=.build-arm64/aarch64-unknown-linux-gnu/release/firmloop
echo "build-arm64: $(file -b "$BIN" | cut -d, -f1-2) (libgpiod v1; on v2: .build-arm64-gpiod2/…/firmloop); parts $((t1 - t0)) s, builds $(($(date +%s) - t1)) s" >&2
echo "$BIN"
