#!/usr/bin/env bash
# The aarch64 cross build's parts, from Debian's archive only, into a cache (nothing of it is
# committed, nothing of the host's apt sources or packages is changed: every package is
# fetched with a private apt state and unpacked with dpkg -x). Prints the cache's path.
#
#   sysroot/     bookworm's arm64 -dev packages (glibc 2.36: one binary for Raspberry Pi OS
#                bookworm and trixie): libc, libgcc, libstdc++, libgpiod (v1), SQLite, OpenSSL,
#                zlib; usr-merged, absolute links made relative; plus sid's aarch64 Swift 6.2.3
#                runtime and stdlib (usr/lib/swift, usr/lib/swift_static), and glibc238.o;
#   compiler/    a root unpacked from sid's amd64 packages: Debian's Swift 6.2.3 compiler (the
#                only one that reads that runtime's binary modules) with git and its glibc 2.42,
#                where `swift build` runs (scripts/arm64-swift.sh: unshare + chroot);
#   runtime/     sid's arm64 glibc (2.42) and libraries: the root the aarch64 tests run on under
#                qemu-user (their Swift runtime is sid's shared one);
#   qemu/        sid's static qemu-aarch64 (11.x), which make test-arm64 runs the binary under;
#   sdk/         firmloop-aarch64.artifactbundle, the Swift SDK over sysroot/.
#
# FIRMLOOP_ARM64_CACHE (default ~/.cache/firmloop-arm64) moves the cache; a part is made once
# (its .ready file) and reused. Exit 3: Debian's archive could not be reached.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FIRMLOOP_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firmloop-arm64}
MIRROR=${FIRMLOOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$CACHE"
log() { echo "arm64-sdk: $*" >&2; }

. "$ROOT/scripts/arm64/apt.sh"

# usr_merge DIR: lib, bin, sbin and lib64 under usr/ as Debian 12 has them, absolute symbolic
# links made relative (bookworm's libm.so -> /lib/... would otherwise resolve on the host, and
# the linker fall back to libm.a without a word).
usr_merge() {
    local r=$1 d
    for d in lib bin sbin lib64; do
        if [ -d "$r/$d" ] && [ ! -L "$r/$d" ]; then
            mkdir -p "$r/usr/$d"
            cp -a "$r/$d/." "$r/usr/$d/"
            rm -rf "${r:?}/$d"
        fi
        [ -e "$r/$d" ] || ln -s "usr/$d" "$r/$d"
    done
    find "$r" -type l -lname '/*' | while read -r l; do
        local t
        t=$(readlink "$l")
        ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$r$t")" "$l"
    done
}

# ---- the target's sysroot ----------------------------------------------------------------------
S=$CACHE/sysroot
if [ ! -f "$S/.ready-2" ]; then   # 2: with bookworm-updates and -security
    log "sysroot: bookworm arm64 -dev packages and sid's aarch64 Swift 6.2.3 runtime into $S"
    rm -rf "$S" "$CACHE/swift-arm64"
    fetch bookworm arm64 "$S" libc6-dev libgcc-12-dev libstdc++-12-dev libgpiod-dev libsqlite3-dev libssl-dev zlib1g-dev
    fetch sid arm64 "$CACHE/swift-arm64" swiftlang libswiftlang
    usr_merge "$S"
    # The runtime: shared (usr/lib/swift) and static (usr/lib/swift_static), as the SDK names them.
    for d in swift swift_static; do
        rm -rf "$S/usr/lib/$d"
        cp -a "$CACHE/swift-arm64/usr/libexec/swift/lib/$d" "$S/usr/lib/$d"
    done
    rm -rf "$CACHE/swift-arm64"
    # Their clang headers: the compiler's own, as the root it runs in has them.
    for d in swift swift_static; do ln -sfn /usr/libexec/swift/lib/clang/17 "$S/usr/lib/$d/clang"; done
    touch "$S/.ready-2"
fi

# ---- the compiler: Debian's 6.2.3 in a root of sid's ---------------------------------------------
C=$CACHE/compiler
if [ ! -f "$C/.ready" ]; then
    log "compiler: sid amd64 swiftlang 6.2.3 (and git) into $C"
    rm -rf "$C"
    fetch sid amd64 "$C" swiftlang libswiftlang libc6-dev libstdc++-16-dev git ca-certificates coreutils dash bash pkgconf findutils grep sed
    usr_merge "$C"
    mkdir -p "$C/proc" "$C/dev" "$C/tmp" "$C/etc"
    touch "$C/.ready"
fi

# glibc238.o, made with the root's clang for the sysroot (again whenever glibc238.c changes).
G=$S/usr/lib/aarch64-linux-gnu/firmloop-glibc238.o
if [ ! -f "$G" ] || [ "$ROOT/scripts/arm64/glibc238.c" -nt "$G" ]; then
    cp "$ROOT/scripts/arm64/glibc238.c" "$S/glibc238.c"
    ARM64_CACHE=$CACHE "$ROOT/scripts/arm64-chroot.sh" clang --target=aarch64-linux-gnu --sysroot="$S" -O2 -fPIC -c "$S/glibc238.c" -o "$G"
fi

# Debian ships _Testing_Foundation's module without its library: a test build links once an
# empty one of that name is there.
TF=$S/usr/lib/swift/linux/lib_Testing_Foundation.so
if [ ! -f "$TF" ]; then
    echo 'void firmloop_no_testing_foundation(void) {}' > "$S/testing-foundation.c"
    ARM64_CACHE=$CACHE "$ROOT/scripts/arm64-chroot.sh" clang --target=aarch64-linux-gnu --sysroot="$S" -fuse-ld=lld -shared -fPIC -nostdlib \
        -o "$TF" "$S/testing-foundation.c"
fi

# ---- the tests' runtime root ---------------------------------------------------------------------
# The test build links Swift's runtime dynamically (Swift Testing exists only as a shared
# library), and sid's libswiftCore.so needs glibc 2.38 or later: under qemu-user the tests run
# on sid's arm64 libc (qemu-aarch64 -L runtime), with bookworm's libgpiod v1 beside it.
RT=$CACHE/runtime
if [ ! -f "$RT/.ready" ]; then
    log "runtime: sid's arm64 glibc, libstdc++, SQLite, OpenSSL for the tests into $RT"
    rm -rf "$RT"
    fetch sid arm64 "$RT" libc6 libstdc++6 libgcc-s1 libsqlite3-0 libssl3t64 zlib1g
    cp -a "$S"/usr/lib/aarch64-linux-gnu/libgpiod.so.2* "$RT/usr/lib/aarch64-linux-gnu/"
    [ -e "$RT/lib" ] || ln -s usr/lib "$RT/lib"
    touch "$RT/.ready"
fi

# ---- qemu-user ----------------------------------------------------------------------------------
Q=$CACHE/qemu
if [ ! -f "$Q/.ready" ]; then
    log "qemu: sid's qemu-user (static) into $Q"
    rm -rf "$Q"
    fetch sid amd64 "$Q/root" qemu-user
    mkdir -p "$Q/bin"
    cp "$(find "$Q/root" -name 'qemu-aarch64' -type f | head -n1)" "$Q/bin/qemu-aarch64"
    rm -rf "$Q/root"
    touch "$Q/.ready"
fi

# ---- the Swift SDK --------------------------------------------------------------------------------
B=$CACHE/sdk/firmloop-aarch64.artifactbundle
if [ ! -f "$B/.ready" ]; then
    rm -rf "$B"
    mkdir -p "$B/sdk"
    ln -s "$S" "$B/sdk/sysroot"
    cat > "$B/info.json" <<'EOF'
{"schemaVersion": "1.0",
 "artifacts": {"firmloop-aarch64": {"type": "swiftSDK", "version": "6.2.3",
   "variants": [{"path": "sdk", "supportedTriples": ["x86_64-unknown-linux-gnu", "x86_64-pc-linux-gnu"]}]}}}
EOF
    cat > "$B/sdk/swift-sdk.json" <<'EOF'
{"schemaVersion": "4.0",
 "targetTriples": {"aarch64-unknown-linux-gnu": {
   "sdkRootPath": "sysroot",
   "swiftResourcesPath": "sysroot/usr/lib/swift",
   "swiftStaticResourcesPath": "sysroot/usr/lib/swift_static",
   "toolsetPaths": ["toolset.json"]}}}
EOF
    # lld, glibc238.o on every link; FIRMLOOP_CROSS_SDK for the build stamp (scripts/buildinfo.sh).
    cat > "$B/sdk/toolset.json" <<EOF
{"schemaVersion": "1.0",
 "swiftCompiler": {"extraCLIOptions": ["-use-ld=lld", "-Xlinker", "$S/usr/lib/aarch64-linux-gnu/firmloop-glibc238.o"]},
 "cCompiler": {"extraCLIOptions": ["-DFIRMLOOP_CROSS_SDK"]}}
EOF
    touch "$B/.ready"
fi
echo "$CACHE"
