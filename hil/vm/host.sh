# Sourced by hil/hil.sh and deploy/vm/test.sh (from the repository's top, with the script's
# arguments): what both VMs need from this machine. The caller sets TAG (the prefix of every
# line it prints) and EXTRA_PACKAGES ("command:package" pairs beyond the common ones). Sets
# ROOT, IF_POSSIBLE (--if-possible: skip rather than fail when the VM cannot be had), SUDO,
# START and elapsed().
#   vm_host_packages   qemu, busybox (static), mosquitto, ... from apt when missing
#   vm_kernel_cache    Debian's amd64 kernel with gpio-sim and the HIL's base initramfs, cached
#                      per kernel version: sets KPKG, KVER, CACHE (HIL_ARCH=arm64: bookworm's
#                      arm64 kernel and guest programs, hil/vm/prepare-arm64.sh)
#   vm_accel           KVM where it is usable, else TCG: sets ACCEL

ROOT=$PWD
IF_POSSIBLE=0
[ "${1:-}" = --if-possible ] && IF_POSSIBLE=1
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
START=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - START) / 1000000000 )) s"; }

# Prerequisites that cannot be had: skip (make test) or fail (make hil / deploy-test), saying which.
cannot() {
    if [ "$IF_POSSIBLE" = 1 ]; then
        echo "$TAG: SKIPPED: $*"
        echo "$TAG: (run alone, it fails instead of skipping; FIRMLOOP_HIL=0 skips it on purpose)"
        exit 0
    fi
    echo "$TAG: cannot run: $*" >&2
    exit 1
}
die() { echo "$TAG: FAILED: $*" >&2; exit 1; }

vm_host_packages() {
    [ "${FIRMLOOP_HIL:-1}" != 0 ] || cannot "FIRMLOOP_HIL=0 is set"
    [ "$(uname -m)" = x86_64 ] || cannot "the VM is Debian's amd64 kernel under qemu-system-x86_64 and this machine is $(uname -m); on a Raspberry Pi run the same scenarios with hil/pi.sh (hil/README.md)"
    local need=() x qemu=qemu-system-x86_64:qemu-system-x86
    [ "${HIL_ARCH:-amd64}" = arm64 ] && qemu="qemu-system-aarch64:qemu-system-arm aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu"
    for x in $qemu cpio:cpio python3:python3 /usr/sbin/mosquitto:mosquitto \
             mosquitto_sub:mosquitto-clients xz:xz-utils make:make gcc:gcc ${EXTRA_PACKAGES:-}; do
        command -v "${x%%:*}" >/dev/null 2>&1 || need+=("${x#*:}")
    done
    # busybox must be the static one: it goes into the VM, which has no libc of its own for it.
    if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need+=(busybox-static); fi
    if [ ${#need[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || cannot "missing ${need[*]} and no apt-get to install them"
        [ -z "$SUDO" ] || sudo -n true 2>/dev/null || cannot "missing ${need[*]}; installing needs root and sudo asks for a password"
        echo "$TAG: installing ${need[*]}"
        $SUDO apt-get update -qq || cannot "apt-get update failed (no package mirror?)"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
            || cannot "apt-get install ${need[*]} failed"
    fi
}

vm_kernel_cache() {
    # The kernel's package from the host's lists (amd64), or from bookworm's arm64 lists (the
    # private apt state make build-arm64 made); then prepared once per kernel version.
    local apt=(apt-cache) prepare=(hil/vm/prepare.sh) what=kernel
    if [ "${HIL_ARCH:-amd64}" = arm64 ]; then
        local conf=${FIRMLOOP_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firmloop-arm64}/apt/bookworm-arm64/apt.conf
        [ -f "$conf" ] || cannot "no arm64 package lists yet (make build-arm64 makes them)"
        apt=(env APT_CONFIG="$conf" apt-cache) prepare=(hil/vm/prepare-arm64.sh) what="arm64 kernel"
    fi
    local arch=${HIL_ARCH:-amd64}
    KPKG=$("${apt[@]}" depends "linux-image-$arch" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    [ -n "$KPKG" ] || cannot "apt knows no linux-image-$arch (not a Debian package source for $arch?)"
    KVER=${KPKG#linux-image-}
    CACHE=${FIRMLOOP_HIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firmloop-hil}/$KVER
    local parts
    parts=$(. hil/vm/kernel-parts.sh && echo "$HIL_PARTS")
    if [ -f "$CACHE/ready" ] && grep -qF "$parts" "$CACHE/ready"; then
        echo "$TAG: $what $KVER with gpio-sim from the cache ($CACHE)"
    else
        echo "$TAG: preparing $what $KVER, gpio-sim, pwm-sim and the base initramfs into $CACHE ($parts)"
        # prepare.sh takes the package, prepare-arm64.sh the version.
        if [ "$arch" = arm64 ]; then set -- "$KVER"; else set -- "$KPKG"; fi
        "${prepare[@]}" "$1" "$CACHE" || case $? in
            3) cannot "could not download Debian's packages for $what $KVER (see above)";;
            *) die "preparing the $what and gpio-sim failed (see above)";;
        esac
    fi
}

vm_accel() {
    if [ "${HIL_ARCH:-amd64}" = arm64 ]; then
        ACCEL=(-accel tcg,thread=multi -cpu cortex-a72); echo "$TAG: TCG (aarch64 on x86_64: software emulation, x86's memory order)"
        return
    fi
    if grep -qE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
        ACCEL=(-accel kvm -cpu host); echo "$TAG: KVM"
    else
        ACCEL=(-accel tcg -cpu max); echo "$TAG: TCG (software emulation: no usable KVM here)"
    fi
}
