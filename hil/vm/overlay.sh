#!/usr/bin/env bash
# overlay.sh DIR FIRMLOOP [FIRMLOOP_GPIOD2]: builds the per-run part of the VM's initramfs in DIR and writes it
# to stdout as an uncompressed cpio (the kernel takes it appended to the cached, gzipped base):
# our init, the scenarios, the board file and NMEA answers under /firmloop (the repository's
# layout, so the scenarios find them as they do on a Pi), the firmware, mosquitto and the
# libgpiod tools with the shared libraries they load.
set -euo pipefail
D=$1 FW=$2 FW2=${3:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$D"; mkdir -p "$D"
install -m755 "$ROOT/hil/vm/init" "$D/init"
mkdir -p "$D/firmloop/hil" "$D/firmloop/boards/nmea" "$D/usr/local/bin" "$D/etc"
cp -r "$ROOT/hil/scenarios" "$D/firmloop/hil/"
cp "$ROOT/boards/hil.json" "$D/firmloop/boards/"
cp "$ROOT"/boards/nmea/* "$D/firmloop/boards/nmea/"
strip -o "$D/usr/local/bin/firmloop" "$FW"

# Every shared library ldd says BIN loads, at the same paths in the VM.
libs_of() {
    for l in $(ldd "$1" | grep -o '/[^ ]*'); do
        [ -e "$D$l" ] || install -D -m755 "$(readlink -f "$l")" "$D$l"   # the loader must be executable
    done
}
# Host programs at the same paths, with their libraries.
with_libs() { for b in "$@"; do install -D -m755 "$b" "$D$b"; libs_of "$b"; done; }

# The firmware: Swift stdlib static; glibc, libstdc++, libgpiod and libsqlite3 shared.
libs_of "$FW"
# The same firmware on the libgpiod v2 backend (libgpiod v2 linked statically), if built.
if [ -n "$FW2" ]; then
    strip -o "$D/usr/local/bin/firmloop-gpiod2" "$FW2"
    libs_of "$FW2"
fi
with_libs /usr/sbin/mosquitto /usr/bin/mosquitto_sub /usr/bin/mosquitto_pub
for t in gpiodetect gpioinfo gpioget gpioset gpiomon gpiofind; do with_libs "$(command -v $t)"; done

printf 'root:x:0:0:root:/root:/bin/sh\nmosquitto:x:100:101:mosquitto:/tmp:/bin/false\n' > "$D/etc/passwd"
printf 'root:x:0:\nmosquitto:x:101:\n' > "$D/etc/group"
printf '127.0.0.1 localhost hil\n::1 localhost\n' > "$D/etc/hosts"
(cd "$D" && find . | cpio -o -H newc -R 0:0 --quiet)
