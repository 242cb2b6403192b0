#!/usr/bin/env bash
# prepare-arm64.sh KVER OUT: the aarch64 HIL's parts, as prepare.sh makes the amd64 ones, from
# Debian's archive through the private apt states of scripts/arm64/apt.sh (nothing installed on
# the host): bookworm's arm64 kernel linux-image-KVER; gpio-sim built out of tree from Debian's
# linux-source against the arm64 headers, with the amd64 linux-kbuild's tools and
# aarch64-linux-gnu-gcc (Debian's cross compiler, the kernel's own gcc 12); the base initramfs
# (arm64 busybox, configfs, gpio-sim); and guest/, the arm64 userland the overlay takes its
# programs and libraries from (mosquitto, its clients, the gpiod tools, the firmware's libraries).
# Into OUT: vmlinuz, base.cpio.gz, guest/, ready. Exit 3: the packages cannot be downloaded.
set -euo pipefail
KVER=$1 OUT=$2                                               # 6.1.0-57-arm64
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/hil/vm
CACHE=${FIRMLOOP_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firmloop-arm64}   # the apt states
MIRROR=${FIRMLOOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "HIL: prepare: $*" >&2; }
. "$ROOT/scripts/arm64/apt.sh"
. "$ROOT/hil/vm/kernel-parts.sh"
KSER=$(echo "$KVER" | cut -d. -f1,2)                         # 6.1
W=$OUT.work
rm -rf "$W" "$OUT"; mkdir -p "$W"
cd "$W"

log "downloading linux-image-$KVER, its headers, busybox (arm64), linux-kbuild and linux-source-$KSER"
apt_get bookworm arm64 update || exit 3
apt_get bookworm amd64 update || exit 3
KDEB=$(APT_CONFIG=$CACHE/apt/bookworm-arm64/apt.conf apt-cache policy "linux-image-$KVER" | awk '/Candidate:/{print $2}')
apt_get bookworm arm64 download "linux-image-$KVER" "linux-headers-$KVER" "linux-headers-${KVER%-arm64}-common" busybox-static \
    >/dev/null 2>apt.err || { cat apt.err >&2; exit 3; }
apt_get bookworm amd64 download "linux-kbuild-$KSER=$KDEB" "linux-source-$KSER=$KDEB" >/dev/null 2>apt.err || { cat apt.err >&2; exit 3; }

dpkg -x linux-image-"$KVER"_*.deb kroot
C=kroot/boot/config-$KVER
for want in CONFIG_GPIO_CDEV=y CONFIG_SERIAL_AMBA_PL011=y CONFIG_SERIAL_8250_PCI=y; do
    grep -q "^$want" "$C" || { echo "kernel $KVER lacks $want (the HIL needs it)" >&2; exit 1; }
done

log "building gpio-sim.ko for arm64 (with irq_sim.c, which this kernel does not build in)"
build_gpiosim "$KVER" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-

check_config "$KVER"
build_i2cstub "$KVER" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
log "building pwm-sim.ko for arm64 (hil/vm/pwm-sim)"
build_pwmsim "$KVER" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-

log "packing the base initramfs"
dpkg -x busybox-static_*.deb bb
pack_base "$KVER" bb/bin/busybox aarch64-linux-gnu-strip

log "the guest's programs and libraries (bookworm arm64)"
fetch bookworm arm64 "$W/guest" mosquitto mosquitto-clients gpiod libgpiod2 i2c-tools libi2c0 libsqlite3-0 libssl3 libstdc++6 libgcc-s1

mkdir -p "$OUT"
cp "kroot/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
mv base.cpio.gz "$OUT/"
mv "$W/guest" "$OUT/guest"
echo "linux-image-$KVER $KDEB $HIL_PARTS" > "$OUT/ready"
cd / && rm -rf "$W"
log "done: $(du -sh "$OUT" | cut -f1) in $OUT"
