#!/usr/bin/env bash
# The hardware-in-loop suite in a VM: `make hil` (fails when it cannot run) and `make test`
# (hil/hil.sh --if-possible: skips, saying why, when the VM's prerequisites cannot be had).
#
#   1. host packages (qemu, busybox, libgpiod tools, mosquitto) from apt when missing;
#   2. Debian's amd64 kernel, gpio-sim built out of tree from Debian's linux-source (Debian's
#      kernels do not enable it) and a base initramfs, cached per kernel version in
#      $FIRMLOOP_HIL_CACHE (default ~/.cache/firmloop-hil/<version>);
#   3. the firmware built with --static-swift-stdlib (.build-hil);
#   4. one VM boot: the base initramfs plus an overlay with the firmware, mosquitto, the
#      scenarios (hil/scenarios, the same ones hil/pi.sh runs on a Pi) and hil/vm/init;
#      ttyS0 is the console, ttyS1 (/dev/serial0 in the VM) the GPS UART whose host end is
#      hil/vm/uart_peer.py. No network device: MQTT stays on the VM's loopback.
# Exit status: 0 when every scenario passed (or, with --if-possible, when skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IF_POSSIBLE=0
[ "${1:-}" = --if-possible ] && IF_POSSIBLE=1
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
START=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - START) / 1000000000 )) s"; }

# Prerequisites that cannot be had: skip (make test) or fail (make hil), saying which.
cannot() {
    if [ $IF_POSSIBLE = 1 ]; then
        echo "HIL: SKIPPED: $*"
        echo "HIL: (make hil runs it and fails instead of skipping; FIRMLOOP_HIL=0 skips it on purpose)"
        exit 0
    fi
    echo "HIL: cannot run: $*" >&2
    exit 1
}
die() { echo "HIL: FAILED: $*" >&2; exit 1; }

[ "${FIRMLOOP_HIL:-1}" != 0 ] || cannot "FIRMLOOP_HIL=0 is set"
[ "$(uname -m)" = x86_64 ] || cannot "the VM is Debian's amd64 kernel under qemu-system-x86_64 and this machine is $(uname -m); on a Raspberry Pi run the same scenarios with hil/pi.sh (hil/README.md)"

# ---- 1. host packages -------------------------------------------------------------------------
need=()
for x in qemu-system-x86_64:qemu-system-x86 gpioset:gpiod cpio:cpio python3:python3 \
         /usr/sbin/mosquitto:mosquitto mosquitto_sub:mosquitto-clients xz:xz-utils make:make gcc:gcc; do
    command -v "${x%%:*}" >/dev/null 2>&1 || need+=("${x#*:}")
done
# busybox must be the static one: it goes into the VM, which has no libc of its own for it.
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need+=(busybox-static); fi
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || cannot "missing ${need[*]} and no apt-get to install them"
    [ -z "$SUDO" ] || sudo -n true 2>/dev/null || cannot "missing ${need[*]}; installing needs root and sudo asks for a password"
    echo "HIL: installing ${need[*]}"
    $SUDO apt-get update -qq || cannot "apt-get update failed (no package mirror?)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
        || cannot "apt-get install ${need[*]} failed"
fi

# ---- 2. kernel, gpio-sim, base initramfs (cached per kernel version) ---------------------------
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$KPKG" ] || cannot "apt knows no linux-image-amd64 (not a Debian amd64 package source?)"
KVER=${KPKG#linux-image-}
CACHE=${FIRMLOOP_HIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firmloop-hil}/$KVER
if [ -f "$CACHE/ready" ]; then
    echo "HIL: kernel $KVER with gpio-sim from the cache ($CACHE)"
else
    echo "HIL: preparing kernel $KVER, gpio-sim and the base initramfs into $CACHE"
    hil/vm/prepare.sh "$KPKG" "$CACHE" || case $? in
        3) cannot "could not download Debian's kernel packages for $KVER (see above)";;
        *) die "preparing the kernel and gpio-sim failed (see above)";;
    esac
fi

# ---- 3. the firmware, static Swift stdlib ------------------------------------------------------
echo "HIL: building firmloop with --static-swift-stdlib (.build-hil)"
${SWIFT:-swift} build -c release --static-swift-stdlib --product firmloop --scratch-path .build-hil 2>&1 | tail -n 3
FW=.build-hil/release/firmloop
[ -x $FW ] || die "no $FW after the build"
# The same firmware on the libgpiod v2 backend, against a static libgpiod v2 built from PyPI's
# gpiod sources (scripts/libgpiod-v2.sh): the GPIO scenarios run with both in the same boot.
echo "HIL: building firmloop on libgpiod v2 (.build-hil-gpiod2)"
GPIOD2_PC=$(scripts/libgpiod-v2.sh) || die "building libgpiod v2 failed"
PKG_CONFIG_PATH=$GPIOD2_PC ${SWIFT:-swift} build -c release --static-swift-stdlib --product firmloop --scratch-path .build-hil-gpiod2 2>&1 | tail -n 3
FW2=.build-hil-gpiod2/release/firmloop
[ -x $FW2 ] || die "no $FW2 after the build"

# ---- 4. overlay and boot -----------------------------------------------------------------------
R=$ROOT/.build/hil
rm -rf "$R"; mkdir -p "$R"
hil/vm/overlay.sh "$R/overlay" "$FW" "$FW2" > "$R/overlay.cpio" || die "packing the overlay failed"
# The kernel reads an uncompressed cpio after a compressed one only at a 4-byte aligned
# offset ("invalid magic at start of compressed archive" otherwise); zeros in between are skipped.
{ cat "$CACHE/base.cpio.gz"; head -c $(( (4 - $(stat -c %s "$CACHE/base.cpio.gz") % 4) % 4 )) /dev/zero; cat "$R/overlay.cpio"; } > "$R/initrd"
echo "HIL: initramfs $(( $(stat -c %s "$R/initrd") / 1048576 )) MB ($(elapsed) so far)"

if grep -qE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
    ACCEL=(-accel kvm -cpu host); echo "HIL: KVM"
else
    ACCEL=(-accel tcg); echo "HIL: TCG (software emulation: no usable KVM here)"
fi
SOCK=$R/ttyS1.sock
python3 hil/vm/uart_peer.py "$SOCK" boards/nmea > "$R/peer.log" 2>&1 &
PEER=$!
echo "HIL: booting; console:"
set +e
timeout "${HIL_TIMEOUT:-900}" qemu-system-x86_64 "${ACCEL[@]}" -m 1024 -smp 2 \
    -nodefaults -no-user-config -display none -no-reboot -nic none \
    -kernel "$CACHE/vmlinuz" -initrd "$R/initrd" \
    -append "console=ttyS0 quiet panic=-1 hil.test=/firmloop/hil/scenarios/run.sh" \
    -serial stdio -serial unix:"$SOCK",server=on,wait=off </dev/null 2>&1 \
    | tr -d '\r' | tee "$R/console.log" | sed -u 's/^/  vm| /'
QRC=${PIPESTATUS[0]}
wait $PEER; PRC=$?
set -e
sed 's/^/  peer| /' "$R/peer.log"

RC=$(sed -n 's/^HIL-EXIT=\([0-9]*\).*/\1/p' "$R/console.log" | tail -n1)
echo
echo "HIL: scenarios:"
grep '^HIL-SCENARIO ' "$R/console.log" | sed 's/^HIL-SCENARIO /  /' || true
if [ -z "$RC" ]; then
    [ "$QRC" = 124 ] && why="timed out after ${HIL_TIMEOUT:-900} s" || why="qemu exited $QRC"
    die "no HIL-EXIT marker from the VM ($why; console in $R/console.log) after $(elapsed)"
fi
[ "$PRC" = 0 ] || die "the UART peer failed ($R/peer.log) after $(elapsed)"
[ "$RC" = 0 ] || die "scenarios failed (exit $RC) after $(elapsed)"
echo "HIL: PASSED in $(elapsed)"
