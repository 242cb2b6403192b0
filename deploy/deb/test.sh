#!/bin/sh
# make test-deb: deploy/deb/test.sh AMD64_BINARY [ARM64_BINARY]
# Packages each binary that is there (the arm64 one is the cross build `make test` makes where it
# can: it says so when it is missing) and checks the package: its architecture and the binary's
# (`file`), the version the binary was stamped with, the files and the conffile, Depends, and
# lintian with no error and no warning (the info tags left are explained in the README's
# "Install from the .deb"). Installing, upgrading and purging it is the deploy VM's job.
set -eu
cd "$(dirname "$0")/../.."
AMD64=$1 ARM64=${2:-}
V=$(scripts/version.sh)
W=$(mktemp -d "${TMPDIR:-/tmp}/firmloop-test-deb-XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "test-deb: FAILED: $*" >&2; exit 1; }
for s in deploy/deb/postinst deploy/deb/prerm deploy/deb/postrm; do sh -n "$s" || fail "$s: syntax"; done

check() {   # check ARCH BINARY FILE-SAYS
    arch=$1 bin=$2 says=$3
    deb=$(deploy/deb/build.sh "$arch" "$bin" "$W/$arch") || fail "deploy/deb/build.sh $arch $bin"
    [ "$(basename "$deb")" = "firmloop_${V}_$arch.deb" ] || fail "named $(basename "$deb")"
    [ "$(dpkg-deb -f "$deb" Version)" = "$V" ] || fail "$deb: Version $(dpkg-deb -f "$deb" Version), the tree is $V"
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture)"
    dpkg-deb -x "$deb" "$W/$arch/x"
    dpkg-deb -e "$deb" "$W/$arch/x/DEBIAN"
    f=$(file -b "$W/$arch/x/usr/bin/firmloop")
    case "$f" in *"$says"*stripped*) case "$f" in *"not stripped"*) fail "$arch: the binary is not stripped: $f";; esac;;
        *) fail "$arch: file says '$f', not $says, stripped";; esac
    # What an over-the-air update ships (issue 28): at most 10 MB stripped, with no Foundation
    # (or its Unicode tables, or _StringProcessing) linked in: a stray import or a String API
    # from those libraries brings them back (readelf reads either architecture's symbols).
    size=$(stat -c %s "$W/$arch/x/usr/bin/firmloop")
    [ "$size" -le 10000000 ] || fail "$arch: /usr/bin/firmloop is $size bytes stripped, more than 10 MB"
    for lib in FoundationEssentials _FoundationCollections 17_StringProcessing 12_RegexParser; do
        n=$(readelf -sW "$bin" | grep -c "$lib" || true)
        [ "$n" -eq 0 ] || fail "$arch: $bin links $lib ($n symbols): what uses it? (nm -u .build-static/release/*.build/*.o | grep $lib)"
    done
    for p in usr/bin/firmloop usr/lib/systemd/system/firmloop.service usr/lib/sysusers.d/firmloop.conf \
             usr/lib/udev/rules.d/60-firmloop-gpiochip.rules usr/share/firmloop/boards/raspberrypi-5.json \
             usr/share/firmloop/boards/nmea/neo-m8n.log usr/share/firmloop/firmloop.json etc/firmloop/firmloop.json \
             usr/share/doc/firmloop/copyright usr/share/doc/firmloop/changelog.gz usr/share/man/man1/firmloop.1.gz; do
        [ -f "$W/$arch/x/$p" ] || fail "$arch: the package has no /$p"
    done
    [ "$(cat "$W/$arch/x/DEBIAN/conffiles")" = /etc/firmloop/firmloop.json ] || fail "$arch: conffiles: $(cat "$W/$arch/x/DEBIAN/conffiles")"
    grep -q '^ExecStart=/usr/bin/firmloop run --config /etc/firmloop/firmloop.json$' "$W/$arch/x/usr/lib/systemd/system/firmloop.service" \
        || fail "$arch: ExecStart: $(grep ExecStart "$W/$arch/x/usr/lib/systemd/system/firmloop.service")"
    for u in firmloop.service firmloop-update.service; do
        doc=$(sed -n 's|^Documentation=file:||p' "$W/$arch/x/usr/lib/systemd/system/$u")
        [ -f "$W/$arch/x$doc" ] || fail "$arch: $u's Documentation= names $doc, which the package does not have"
    done
    deps=$(dpkg-deb -f "$deb" Depends)
    for d in "libc6 (>= 2." libgpiod2 libsqlite3-0 "libssl3 | libssl3t64" init-system-helpers systemd; do
        case "$deps" in *"$d"*) ;; *) fail "$arch: Depends has no $d: $deps";; esac
    done
    out=$(lintian --display-info --fail-on error,warning "$deb" 2>&1) || { echo "$out" >&2; fail "$arch: lintian (above)"; }
    tags=$(echo "$out" | grep '^I: ' | sed 's/^I: firmloop: \([a-z0-9.-]*\).*/\1/' | sort -u | tr '\n' ' ')
    echo "test-deb: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB; $says, stripped, the binary $size bytes): lintian: no error, no warning; info: $tags"
}
check amd64 "$AMD64" "x86-64"
# What the binary says and what the package says are one version.
"$AMD64" --version | head -n1 | grep -qF "firmloop $V " || fail "firmloop --version says '$("$AMD64" --version | head -n1)', the package $V"
echo "test-deb: 'firmloop --version' and the package both say $V"
if [ -n "$ARM64" ] && [ -x "$ARM64" ] && grep -aqF "$V" "$ARM64"; then
    check arm64 "$ARM64" "ARM aarch64"
else
    echo "test-deb: arm64: SKIPPED (no cross build of this version at '${ARM64:-}': make build-arm64, which make test runs where it can)"
fi
echo "test-deb: PASSED"
