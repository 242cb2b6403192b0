#!/usr/bin/env bash
# `scripts/arm64-chroot.sh swift build ...`: a command (Debian's Swift 6.2.3, the compiler the
# aarch64 runtime matches, or its clang) in the root scripts/arm64-sdk.sh unpacked from sid: a
# private mount namespace (unshare -m, so nothing is left mounted), /proc, /dev, this tree, the
# cache and the package mirror bound at their own paths, then chroot. Needs root (CAP_SYS_ADMIN).
# ARM64_CACHE: scripts/arm64-sdk.sh's output. pkg-config looks in the sysroot (and first in
# PKG_CONFIG_PATH_EXTRA: the libgpiod v2 build's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ARM64_CACHE:?ARM64_CACHE: run scripts/arm64-sdk.sh first}
C=$CACHE/compiler
[ -f "$C/.ready" ] || { echo "arm64-chroot: no compiler root in $C (scripts/arm64-sdk.sh)" >&2; exit 1; }
cp /etc/gitconfig "$C/etc/gitconfig" 2>/dev/null || true   # github.com read from the package mirror, if there is one
exec unshare -m --propagation private bash -c '
    set -e
    C=$1 ROOT=$2 CACHE=$3; shift 3
    mount --rbind /proc "$C/proc"
    mount --rbind /dev "$C/dev"
    mount -t tmpfs tmpfs "$C/tmp"
    for d in "$ROOT" "$CACHE" /opt/swift-packages; do
        [ -d "$d" ] || continue
        mkdir -p "$C$d"
        mount --bind "$d" "$C$d"
    done
    cd "$ROOT"
    exec chroot "$C" /usr/bin/env -i HOME=/root PATH=/usr/libexec/swift/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb \
        PKG_CONFIG_SYSROOT_DIR="$CACHE/sysroot" PKG_CONFIG_PATH="${PKG_CONFIG_PATH_EXTRA:+$PKG_CONFIG_PATH_EXTRA:}$CACHE/sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$CACHE/sysroot/usr/share/pkgconfig" PKG_CONFIG_LIBDIR="$CACHE/sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$CACHE/sysroot/usr/share/pkgconfig" \
        sh -c "cd \"$ROOT\" && exec \"\$@\"" sh "$@"
' arm64-chroot "$C" "$ROOT" "$CACHE" "$@"
