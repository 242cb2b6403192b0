#!/bin/sh
# make deb: deploy/deb/build.sh ARCH BINARY OUTDIR → OUTDIR/firmloop_<version>_<ARCH>.deb
#
# A binary package made with dpkg-deb (no debian/ source tree: the binary is Swift's static
# build), laid out as Debian's tools would lay it out:
#   /usr/bin/firmloop                              stripped; its debug info stays beside the .deb
#                                                  (firmloop_<version>_<ARCH>.debug, linked by
#                                                  .gnu_debuglink) for reading a crash
#   /usr/lib/systemd/system/firmloop.service       the same unit `make install` writes
#   /usr/lib/systemd/system/firmloop-update.{path,service}, /usr/lib/firmloop/firmloop-update
#                                                  the root side of an over-the-air update
#   /usr/lib/sysusers.d/firmloop.conf              the firmloop user (gpio, dialout)
#   /usr/lib/udev/rules.d/60-firmloop-gpiochip.rules
#   /usr/share/firmloop/boards/, firmloop.json     board files; the sample config
#   /etc/firmloop/firmloop.json                    the config, a conffile
#   /usr/share/doc/firmloop/, /usr/share/man/man1/ copyright, changelog, README; the man page
# The maintainer scripts are deploy/deb/{postinst,prerm,postrm}. The version is
# scripts/version.sh's and must be the one the binary was stamped with (checked here, so
# `firmloop --version` and `dpkg -s firmloop` agree). Depends comes from the binary's NEEDED
# entries and the newest glibc symbol version it uses.
set -eu
cd "$(dirname "$0")/../.."
ARCH=$1 BIN=$2 OUT=$3
fail() { echo "make deb: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "no binary at $BIN"
case $ARCH in
amd64) MACHINE="X86-64" ;;
arm64) MACHINE="AArch64" ;;
*) fail "ARCH=$ARCH: amd64 or arm64" ;;
esac
readelf -h "$BIN" | grep -q "Machine:.*$MACHINE" || fail "$BIN is not an $ARCH binary: $(readelf -h "$BIN" | grep Machine:)"
V=$(scripts/version.sh)
echo "$V" | grep -Eq '^[0-9][A-Za-z0-9.+~]*$' || fail "version '$V' is not a Debian version"
grep -aqF "$V" "$BIN" || fail "$BIN is not stamped $V (make buildinfo, then build it again)"

# Depends: the shared libraries the binary names, as Debian's packages ship them.
GLIBC=$(readelf -V "$BIN" | sed -n 's/.*Name: GLIBC_\([0-9.]*\).*/\1/p' | sort -t. -k1,1n -k2,2n | tail -n1)
DEPS="libc6 (>= $GLIBC)"
for lib in $(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case $lib in
    libc.so.6 | libm.so.6 | ld-linux-*) ;;
    libstdc++.so.6) DEPS="$DEPS, libstdc++6" ;;
    libgcc_s.so.1) DEPS="$DEPS, libgcc-s1" ;;
    libsqlite3.so.0) DEPS="$DEPS, libsqlite3-0" ;;
    libssl.so.3) DEPS="$DEPS, libssl3 | libssl3t64" ;;
    libcrypto.so.3) ;;                                  # in libssl3
    libgpiod.so.2) DEPS="$DEPS, libgpiod2" ;;
    libgpiod.so.3) DEPS="$DEPS, libgpiod3" ;;
    *) fail "$BIN needs $lib: add its Debian package to deploy/deb/build.sh" ;;
    esac
done
# deb-systemd-helper/-invoke in the maintainer scripts; systemd-sysusers and the unit's keys.
# openssl: the update installer checks signatures with the openssl command.
DEPS="$DEPS, init-system-helpers (>= 1.54~), systemd (>= 247), openssl"

W=$(mktemp -d "${TMPDIR:-/tmp}/firmloop-deb-XXXXXX")
trap 'rm -rf "$W"' EXIT
R=$W/root
mkdir -p "$OUT"
DEB=$OUT/firmloop_${V}_$ARCH.deb
DBG=$OUT/firmloop_${V}_$ARCH.debug
# umask 022 and fixed modes: what dpkg-deb packs is what lintian expects (0755 dirs, 0644 files).
umask 022
install -d "$R/usr/bin" "$R/usr/lib/systemd/system" "$R/usr/lib/sysusers.d" "$R/usr/lib/udev/rules.d" \
    "$R/usr/share/firmloop/boards/nmea" "$R/etc/firmloop" "$R/usr/share/doc/firmloop" "$R/usr/share/man/man1" "$R/DEBIAN"
llvm-objcopy --only-keep-debug "$BIN" "$DBG"
llvm-objcopy --strip-all --add-gnu-debuglink="$DBG" "$BIN" "$R/usr/bin/firmloop"
chmod 0755 "$R/usr/bin/firmloop"
# The README is compressed in the package (Debian's rule for docs).
sed -e "s|@BINDIR@|/usr/bin|g" -e "s|@PREFIX@/share/doc/firmloop/README.md|/usr/share/doc/firmloop/README.md.gz|" -e "s|@PREFIX@|/usr|g" \
    deploy/firmloop.service.in > "$R/usr/lib/systemd/system/firmloop.service"
install -m 0644 deploy/update/firmloop-update.path deploy/update/firmloop-update.service "$R/usr/lib/systemd/system/"
install -d "$R/usr/lib/firmloop"
install -m 0755 deploy/update/firmloop-update "$R/usr/lib/firmloop/"
install -m 0644 deploy/firmloop.sysusers "$R/usr/lib/sysusers.d/firmloop.conf"
install -m 0644 deploy/60-firmloop-gpiochip.rules "$R/usr/lib/udev/rules.d/"
install -m 0644 boards/*.json "$R/usr/share/firmloop/boards/"
install -m 0644 boards/nmea/* "$R/usr/share/firmloop/boards/nmea/"
install -m 0644 deploy/firmloop.json "$R/usr/share/firmloop/firmloop.json"
install -m 0644 deploy/firmloop.json "$R/etc/firmloop/firmloop.json"
install -m 0644 deploy/deb/copyright "$R/usr/share/doc/firmloop/copyright"
gzip -9n < README.md > "$R/usr/share/doc/firmloop/README.md.gz"
# A native package's changelog, in Debian's format, from the commit it was built at.
DATE=$(git log -1 --format=%aD 2>/dev/null || date -R)
{
    echo "firmloop ($V) unstable; urgency=medium"
    echo
    echo "  * Built from commit $(git log -1 --format=%h 2>/dev/null || echo '(no git)')."
    echo
    echo " -- Firmloop developers <${DEB_EMAIL:-firmloop@users.noreply.github.com}>  $DATE"
} | gzip -9n > "$R/usr/share/doc/firmloop/changelog.gz"
sed "s|@VERSION@|$V|" deploy/deb/firmloop.1 | gzip -9n > "$R/usr/share/man/man1/firmloop.1.gz"
chmod 0644 "$R/usr/share/doc/firmloop/"* "$R/usr/share/man/man1/firmloop.1.gz"

echo /etc/firmloop/firmloop.json > "$R/DEBIAN/conffiles"
install -m 0755 deploy/deb/postinst deploy/deb/prerm deploy/deb/postrm "$R/DEBIAN/"
SIZE=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
sed -e "s|@VERSION@|$V|" -e "s|@ARCH@|$ARCH|" -e "s|@SIZE@|$SIZE|" -e "s/@DEPENDS@/$DEPS/" \
    -e "s|@MAINTAINER_EMAIL@|<${DEB_EMAIL:-firmloop@users.noreply.github.com}>|" deploy/deb/control.in > "$R/DEBIAN/control"
(cd "$R" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' | sed 's|^\./||' | sort | xargs md5sum) > "$R/DEBIAN/md5sums"
chmod 0644 "$R/DEBIAN/control" "$R/DEBIAN/conffiles" "$R/DEBIAN/md5sums"
# Reproducible: every file dated at the commit, root-owned, packed with dpkg-deb's defaults.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
echo "$DEB"
