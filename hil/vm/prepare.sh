#!/usr/bin/env bash
# prepare.sh KPKG CACHE: Debian's kernel KPKG (linux-image-6.1.0-NN-amd64), gpio-sim built out
# of tree from Debian's own linux-source against its headers, the project's pwm-sim (hil/vm/
# pwm-sim), and the base initramfs (busybox; configfs, i2c-dev, i2c-stub, gpio-sim and pwm-sim
# modules), into CACHE: vmlinuz, base.cpio.gz, ready. Nothing is
# installed on the host; the ~900 MB work folder is removed afterwards.
# Exit 3 when the packages cannot be downloaded, 1 on any other failure.
set -euo pipefail
KPKG=$1 CACHE=$2
KVER=${KPKG#linux-image-}                                      # 6.1.0-56-amd64
KDEB=$(apt-cache policy "$KPKG" | awk '/Candidate:/{print $2}')  # 6.1.192-2
KSER=$(echo "$KVER" | cut -d. -f1,2)                           # 6.1
W=$CACHE.work
rm -rf "$W" "$CACHE"; mkdir -p "$W"
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$W"
. "$HERE/kernel-parts.sh"
step() { echo "HIL: prepare: $*"; }

step "downloading $KPKG $KDEB, its headers, kbuild and linux-source-$KSER"
apt-get download "$KPKG" "linux-headers-$KVER" "linux-headers-${KVER%-amd64}-common" \
    "linux-kbuild-$KSER=$KDEB" "linux-source-$KSER=$KDEB" >/dev/null 2>apt.err || { cat apt.err >&2; exit 3; }

dpkg -x "${KPKG}"_*.deb kroot
grep -q '^CONFIG_GPIO_CDEV=y' "kroot/boot/config-$KVER" || { echo "kernel $KVER has no GPIO character device (CONFIG_GPIO_CDEV)" >&2; exit 1; }
grep -q '^CONFIG_SERIAL_8250=y' "kroot/boot/config-$KVER" || { echo "kernel $KVER has no built-in 8250 UART driver" >&2; exit 1; }

step "building gpio-sim.ko (with irq_sim.c, which this kernel does not build in)"
build_gpiosim "$KVER"

check_config "$KVER"
build_i2cstub "$KVER"
step "building pwm-sim.ko (hil/vm/pwm-sim)"
build_pwmsim "$KVER"

step "packing the base initramfs"
pack_base "$KVER" /bin/busybox strip

mkdir -p "$CACHE"
cp "kroot/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
mv base.cpio.gz "$CACHE/"
echo "$KPKG $KDEB $HIL_PARTS" > "$CACHE/ready"
cd / && rm -rf "$W"
step "done: $(du -sh "$CACHE" | cut -f1) in $CACHE"
