#!/usr/bin/env bash
# The hardware-in-loop suite in a VM: `make hil` (fails when it cannot run) and `make test`
# (hil/hil.sh --if-possible: skips, saying why, when the VM's prerequisites cannot be had).
#
#   1. host packages (qemu, busybox, libgpiod tools, mosquitto) from apt when missing;
#   2. Debian's amd64 kernel, gpio-sim built out of tree from Debian's linux-source (Debian's
#      kernels do not enable it) and a base initramfs, cached per kernel version in
#      $FIRMLOOP_HIL_CACHE (default ~/.cache/firmloop-hil/<version>);
#   3. the firmware built with --static-swift-stdlib (.build-static, shared with make install);
#   4. one VM boot: the base initramfs plus an overlay with the firmware, mosquitto, the
#      scenarios (hil/scenarios, the same ones hil/pi.sh runs on a Pi) and hil/vm/init;
#      ttyS0 is the console, ttyS1 (/dev/serial0 in the VM) the GPS UART whose host end is
#      hil/vm/uart_peer.py. No network device: MQTT stays on the VM's loopback.
#
# HIL_ARCH=arm64 (make hil ARCH=arm64; make test runs both): the same on aarch64, in
# qemu-system-aarch64 -M virt (TCG) with bookworm's arm64 kernel, its PL011 as the console and a
# PCI 16550 (ttyS0) as the GPS UART, the firmware cross-built (make build-arm64, both libgpiod
# backends) and the guest's programs from bookworm's arm64 packages (hil/vm/prepare-arm64.sh).
# Exit status: 0 when every scenario passed (or, with --if-possible, when skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${HIL_ARCH:-amd64}
TAG=HIL EXTRA_PACKAGES="gpioset:gpiod i2cset:i2c-tools"
[ "$ARCH" = arm64 ] && TAG=HIL-ARM64
. hil/vm/host.sh "$@"
vm_host_packages

if [ "$ARCH" = arm64 ]; then
    # ---- 2-3. the firmware, cross-built (this also makes the arm64 package lists) -------------
    set +e
    FW=$(scripts/build-arm64.sh)
    rc=$?
    set -e
    [ $rc = 3 ] && cannot "the aarch64 cross build cannot run here (above)"
    [ $rc = 0 ] || die "make build-arm64 failed (above)"
    FW2=.build-arm64-gpiod2/aarch64-unknown-linux-gnu/release/firmloop
    vm_kernel_cache
    export GUEST=$CACHE/guest STRIP=aarch64-linux-gnu-strip
else
vm_kernel_cache

# ---- 3. the firmware, static Swift stdlib ------------------------------------------------------
echo "HIL: building firmloop with --static-swift-stdlib (.build-static, as make install does)"
${SWIFT:-swift} build -c release --static-swift-stdlib --product firmloop --scratch-path .build-static 2>&1 | tail -n 3
FW=.build-static/release/firmloop
[ -x $FW ] || die "no $FW after the build"
# The same firmware on the libgpiod v2 backend, against a static libgpiod v2 built from PyPI's
# gpiod sources (scripts/libgpiod-v2.sh): the GPIO scenarios run with both in the same boot.
echo "HIL: building firmloop on libgpiod v2 (.build-hil-gpiod2)"
GPIOD2_PC=$(scripts/libgpiod-v2.sh) || die "building libgpiod v2 failed"
PKG_CONFIG_PATH=$GPIOD2_PC ${SWIFT:-swift} build -c release --static-swift-stdlib --product firmloop --scratch-path .build-hil-gpiod2 2>&1 | tail -n 3
FW2=.build-hil-gpiod2/release/firmloop
[ -x $FW2 ] || die "no $FW2 after the build"
fi

# ---- 4. overlay and boot -----------------------------------------------------------------------
R=$ROOT/.build/hil; [ "$ARCH" = arm64 ] && R=$ROOT/.build/hil-arm64
rm -rf "$R"; mkdir -p "$R"
hil/vm/overlay.sh "$R/overlay" "$FW" "$FW2" > "$R/overlay.cpio" || die "packing the overlay failed"
# The kernel reads an uncompressed cpio after a compressed one only at a 4-byte aligned
# offset ("invalid magic at start of compressed archive" otherwise); zeros in between are skipped.
{ cat "$CACHE/base.cpio.gz"; head -c $(( (4 - $(stat -c %s "$CACHE/base.cpio.gz") % 4) % 4 )) /dev/zero; cat "$R/overlay.cpio"; } > "$R/initrd"
echo "$TAG: initramfs $(( $(stat -c %s "$R/initrd") / 1048576 )) MB ($(elapsed) so far)"

vm_accel
SOCK=$R/uart.sock
python3 hil/vm/uart_peer.py "$SOCK" boards/nmea > "$R/peer.log" 2>&1 &
PEER=$!
if [ "$ARCH" = arm64 ]; then
    # The PL011 is the console; the GPS UART a 16550 on PCI (ttyS0), its far end the peer's socket.
    VM=(qemu-system-aarch64 -M virt "${ACCEL[@]}" -chardev socket,id=gps,path="$SOCK",server=on,wait=off -device pci-serial,chardev=gps)
    APPEND="console=ttyAMA0 quiet panic=-1 hil.uart=ttyS0"
else
    VM=(qemu-system-x86_64 "${ACCEL[@]}" -serial unix:"$SOCK",server=on,wait=off)
    APPEND="console=ttyS0 quiet panic=-1"
fi
echo "$TAG: booting; console:"
set +e
# -serial stdio first: the console is the board's first UART on both machines.
timeout "${HIL_TIMEOUT:-900}" "${VM[0]}" -serial stdio "${VM[@]:1}" -m 1024 -smp 2 \
    -nodefaults -no-user-config -display none -no-reboot -nic none \
    -kernel "$CACHE/vmlinuz" -initrd "$R/initrd" \
    -append "$APPEND hil.test=/firmloop/hil/scenarios/run.sh" </dev/null 2>&1 \
    | tr -d '\r' | tee "$R/console.log" | sed -u 's/^/  vm| /'
QRC=${PIPESTATUS[0]}
wait $PEER; PRC=$?
set -e
sed 's/^/  peer| /' "$R/peer.log"

RC=$(sed -n 's/^HIL-EXIT=\([0-9]*\).*/\1/p' "$R/console.log" | tail -n1)
echo
echo "$TAG: scenarios:"
grep '^HIL-SCENARIO ' "$R/console.log" | sed 's/^HIL-SCENARIO /  /' || true
if [ -z "$RC" ]; then
    [ "$QRC" = 124 ] && why="timed out after ${HIL_TIMEOUT:-900} s" || why="qemu exited $QRC"
    die "no HIL-EXIT marker from the VM ($why; console in $R/console.log) after $(elapsed)"
fi
[ "$PRC" = 0 ] || die "the UART peer failed ($R/peer.log) after $(elapsed)"
[ "$RC" = 0 ] || die "scenarios failed (exit $RC) after $(elapsed)"
echo "$TAG: PASSED in $(elapsed)"
