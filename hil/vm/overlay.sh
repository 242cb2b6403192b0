#!/usr/bin/env bash
# overlay.sh DIR FIRMLOOP [FIRMLOOP_GPIOD2]: builds the per-run part of the VM's initramfs in DIR and writes it
# to stdout as an uncompressed cpio (the kernel takes it appended to the cached, gzipped base):
# our init, the scenarios, the board file and NMEA answers under /firmloop (the repository's
# layout, so the scenarios find them as they do on a Pi), the firmware, mosquitto and the
# libgpiod tools with the shared libraries they load. GUEST (the aarch64 VM): a root of the
# guest's own packages (hil/vm/prepare-arm64.sh) to take those programs and libraries from,
# found by the ELF headers (readelf) since ldd cannot read a foreign binary; STRIP: its strip.
set -euo pipefail
D=$1 FW=$2 FW2=${3:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$D"; mkdir -p "$D"
install -m755 "$ROOT/hil/vm/init" "$D/init"
mkdir -p "$D/firmloop/hil" "$D/firmloop/boards/nmea" "$D/usr/local/bin" "$D/etc"
cp -r "$ROOT/hil/scenarios" "$D/firmloop/hil/"
mkdir -p "$D/firmloop/scripts" && cp "$ROOT/scripts/mosquitto.sh" "$D/firmloop/scripts/"
cp "$ROOT/boards/hil.json" "$ROOT/boards/hil-buses.json" "$D/firmloop/boards/"
cp "$ROOT"/boards/nmea/* "$D/firmloop/boards/nmea/"
GUEST=${GUEST:-}
STRIP=${STRIP:-strip}
$STRIP -o "$D/usr/local/bin/firmloop" "$FW"

# Every shared library ldd says BIN loads, at the same paths in the VM.
libs_of() {
    for l in $(ldd "$1" | grep -o '/[^ ]*'); do
        [ -e "$D$l" ] || install -D -m755 "$(readlink -f "$l")" "$D$l"   # the loader must be executable
    done
}
# Host programs at the same paths, with their libraries.
with_libs() { for b in "$@"; do install -D -m755 "$b" "$D$b"; libs_of "$b"; done; }

if [ -n "$GUEST" ]; then
    # The loader and every NEEDED library of BIN, transitively, from the guest's root.
    libs_of() {
        local i n dir
        i=$(readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
        if [ -n "$i" ] && [ ! -e "$D$i" ]; then install -D -m755 "$(readlink -f "$GUEST$i")" "$D$i"; fi
        for n in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            for dir in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu; do
                [ -e "$GUEST$dir/$n" ] || continue
                if [ ! -e "$D$dir/$n" ]; then
                    install -D -m755 "$(readlink -f "$GUEST$dir/$n")" "$D$dir/$n"
                    libs_of "$GUEST$dir/$n"
                fi
                continue 2
            done
            echo "overlay: $1 needs $n, which $GUEST does not have" >&2
            exit 1
        done
    }
    # The guest's programs at their own paths.
    with_libs() { for b in "$@"; do install -D -m755 "$GUEST$b" "$D$b"; libs_of "$GUEST$b"; done; }
fi
# Where a libgpiod tool is (the guest's, or this machine's).
tool() { if [ -n "$GUEST" ]; then echo "/usr/bin/$1"; else command -v "$1"; fi; }

# The firmware: Swift stdlib static; glibc, libstdc++, libgpiod and libsqlite3 shared.
libs_of "$FW"
# The same firmware on the libgpiod v2 backend (libgpiod v2 linked statically), if built.
if [ -n "$FW2" ]; then
    $STRIP -o "$D/usr/local/bin/firmloop-gpiod2" "$FW2"
    libs_of "$FW2"
fi
with_libs /usr/sbin/mosquitto /usr/bin/mosquitto_sub /usr/bin/mosquitto_pub
for t in gpiodetect gpioinfo gpioget gpioset gpiomon gpiofind; do with_libs "$(tool $t)"; done
# i2c-tools (scenario 6 loads the i2c-stub's registers with i2cset).
if [ -n "$GUEST" ]; then with_libs /usr/sbin/i2cset /usr/sbin/i2cget /usr/sbin/i2cdetect; else with_libs "$(command -v i2cset)" "$(command -v i2cget)" "$(command -v i2cdetect)"; fi

printf 'root:x:0:0:root:/root:/bin/sh\nmosquitto:x:100:101:mosquitto:/tmp:/bin/false\n' > "$D/etc/passwd"
printf 'root:x:0:\nmosquitto:x:101:\n' > "$D/etc/group"
printf '127.0.0.1 localhost hil\n::1 localhost\n' > "$D/etc/hosts"
(cd "$D" && find . | cpio -o -H newc -R 0:0 --quiet)
