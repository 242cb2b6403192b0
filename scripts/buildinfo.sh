#!/bin/sh
# Stamps the build with its version: Sources/CBuildInfo/generated/buildinfo.h, rewritten only
# when it changes (so an unchanged tree rebuilds nothing). The version is scripts/version.sh's
# (the .deb's too: $FIRMLOOP_VERSION, else VERSION plus the commit). Usage: scripts/buildinfo.sh [SWIFT [cross]]: `cross` writes generated/buildinfo-cross.h,
# which the aarch64 cross build (its SDK defines FIRMLOOP_CROSS_SDK) reads instead, so the two
# builds' stamps do not rebuild each other.
set -eu
cd "$(dirname "$0")/.."
SWIFT=${1:-swift}
V=$(scripts/version.sh)
S=$($SWIFT --version 2>/dev/null | sed -n '/Swift version/{s/^.*\(Swift version [^ ]* ([^)]*)\).*$/\1/p;q}')
esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
OUT=Sources/CBuildInfo/generated/buildinfo${2:+-$2}.h
mkdir -p "$(dirname "$OUT")"
NEW=$(printf '#define FIRMLOOP_VERSION "%s"\n#define FIRMLOOP_SWIFT "%s"\n' "$(esc "$V")" "$(esc "$S")")
[ -f "$OUT" ] && [ "$(cat "$OUT")" = "$NEW" ] || printf '%s\n' "$NEW" > "$OUT"
