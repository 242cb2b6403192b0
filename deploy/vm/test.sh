#!/usr/bin/env bash
# make deploy-test (fails when it cannot run) and make test (deploy/vm/test.sh --if-possible:
# skips, saying why, where the VM cannot be had): the service on a VM that boots real systemd.
#
#   1. host packages and Debian's kernel with gpio-sim, shared with the HIL (hil/vm/host.sh);
#   2. once per kernel, cached in $FIRMLOOP_DEPLOY_CACHE (default ~/.cache/firmloop-deploy/<kver>):
#      a Debian 12 root filesystem (debootstrap), an initramfs that mounts it (deploy/vm/prepare.sh);
#   3. per run: `make deb`, and newer ones (the same source stamped <version>+vmtest1, +vmtest2,
#      and +vmtest3 whose binary exits at start), a key pair, the updates signed; a copy of that
#      root with the packages, the test's drop-ins, config and harness in it (deploy/vm/units.sh),
#      an ext4 image;
#   4. one qemu run, no network device: boot 1 installs the package with apt and runs checks 1-6,
#      then reboots the VM; boot 2 runs checks 7-12 (the reboot, a damaged outbox, the apt
#      upgrade, over-the-air updates: installed, refused, rolled back) and resets the VM in the
#      middle of an update; boot 3 runs checks 13-14 (the interrupted update rolled back; remove
#      and purge) and powers off (deploy/vm/vmtest.sh). Each check prints a verdict line.
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=DEPLOY EXTRA_PACKAGES="debootstrap:debootstrap mkfs.ext4:e2fsprogs"
. hil/vm/host.sh "$@"
[ -z "$SUDO" ] || cannot "the root filesystem is made and packed as root (debootstrap, chroot depmod); run as root"
vm_host_packages
vm_kernel_cache
DCACHE=${FIRMLOOP_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firmloop-deploy}/$KVER
if [ "$(cat "$DCACHE/ready" 2>/dev/null)" = "$KPKG bookworm $(grep -v '^#' deploy/vm/packages | tr '\n' ' ' | sed 's/ *$//')" ]; then
    echo "DEPLOY: Debian 12 root filesystem and initramfs from the cache ($DCACHE)"
else
    echo "DEPLOY: preparing the Debian 12 root filesystem and initramfs into $DCACHE"
    deploy/vm/prepare.sh "$KPKG" "$CACHE" "$DCACHE" || case $? in
        3) cannot "could not download Debian's packages (see above)";;
        *) die "preparing the root filesystem failed (see above)";;
    esac
fi

# ---- 3. the packages and the image -------------------------------------------------------------
# The .deb of this tree (`make deb`), and newer ones: the same source stamped $V+vmtest1 (for the
# apt upgrade) and $V+vmtest2 (an over-the-air update; scripts/buildinfo.sh: only the stamp
# recompiles), then the stamp put back; $V+vmtest3 is the second with a binary that exits at start.
V=$(scripts/version.sh)
# The test's own packages, apart from the user's .build/deb.
D=.build/deploy-vm-deb
rm -rf "$D"
echo "DEPLOY: make deb ($V), and $V+vmtest1, +vmtest2 for the upgrades"
for v in "$V" "$V+vmtest1" "$V+vmtest2"; do
    FIRMLOOP_VERSION=$v make --no-print-directory deb DEB_DIR="$D" SWIFT="${SWIFT:-swift}" 2>&1 | grep -v '^\[' | sed 's/^/  /' | tail -n 1
    [ "${PIPESTATUS[0]}" = 0 ] && [ -f "$D/firmloop_${v}_amd64.deb" ] || die "make deb ($v) failed"
done
make --no-print-directory build-static SWIFT="${SWIFT:-swift}" >/dev/null 2>&1 || die "make build-static (the stamp put back) failed"
W=$ROOT/.build/deploy-vm
R=$W/rootfs
rm -rf "$W"; mkdir -p "$W"
STATIC_FIRMLOOP=.build-static/release/firmloop
C=$W/crash
dpkg-deb -R "$D/firmloop_${V}+vmtest2_amd64.deb" "$C"
printf '#!/bin/sh\necho "firmloop test build: exits at start" >&2\nexit 1\n' > "$C/usr/bin/firmloop"
sed -i "s/^Version: .*/Version: $V+vmtest3/" "$C/DEBIAN/control"
(cd "$C" && sed -i "s|^[0-9a-f]*  usr/bin/firmloop\$|$(md5sum usr/bin/firmloop)|" DEBIAN/md5sums)
dpkg-deb --root-owner-group --build "$C" "$D/firmloop_${V}+vmtest3_amd64.deb" >/dev/null || die "the test build that exits at start"
# The key the devices trust, and another one, both from `firmloop keygen`; the updates signed.
rm -rf "$W/keys" "$W/other"; mkdir -p "$W/keys" "$W/other"
$STATIC_FIRMLOOP keygen "$W/keys" >/dev/null && $STATIC_FIRMLOOP keygen "$W/other" >/dev/null || die "firmloop keygen"
cp "$D/firmloop_${V}+vmtest2_amd64.deb" "$D/badsig.deb"
for f in "firmloop_${V}+vmtest2_amd64.deb" "firmloop_${V}+vmtest3_amd64.deb"; do
    $STATIC_FIRMLOOP sign "$D/$f" --key "$W/keys/update-key" >/dev/null || die "firmloop sign $f"
done
$STATIC_FIRMLOOP sign "$D/badsig.deb" --key "$W/other/update-key" >/dev/null || die "firmloop sign (the other key)"
# An https server for the update command in the VM: `openssl s_server -HTTP` sends each file as
# the whole response it holds, so the truncated one says the full Content-Length.
rm -rf "$W/tls" "$W/www"; mkdir -p "$W/tls" "$W/www"
sh Tests/TLSTests/make-certs.sh "$W/tls" || die "the test certificates"
response() { printf 'HTTP/1.1 200 OK\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' "$(stat -c %s "$1")"; head -c "${2:-$(stat -c %s "$1")}" "$1"; }
response "$D/firmloop_${V}+vmtest2_amd64.deb" > "$W/www/good.deb"
response "$D/badsig.deb" > "$W/www/badsig.deb"
response "$D/firmloop_${V}+vmtest2_amd64.deb" $(( $(stat -c %s "$D/firmloop_${V}+vmtest2_amd64.deb") / 2 )) > "$W/www/half.deb"
DEBS=("$D/firmloop_${V}_amd64.deb" "$D/firmloop_${V}+vmtest1_amd64.deb" "$D"/firmloop_"${V}"+vmtest[23]_amd64.deb* "$D"/badsig.deb* "$W/keys/update-key.pem")
W=$ROOT/.build/deploy-vm
cp -a "$DCACHE/base" "$R"
mkdir -p "$R/lib/modules"; cp -a "$DCACHE/modules/lib/modules/." "$R/lib/modules/"
chroot "$R" depmod "$KVER"
. deploy/vm/units.sh
echo vm > "$R/etc/hostname"; printf '127.0.0.1 localhost\n127.0.1.1 vm\n' > "$R/etc/hosts"
echo '# the root is mounted rw by the initramfs' > "$R/etc/fstab"
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\n' > "$R/etc/systemd/journald.conf.d/vm.conf"
# What would prompt on the console, wait for a network or cost boot time without use here.
systemctl --root="$R" mask getty@tty1.service serial-getty@ttyS0.service systemd-firstboot.service \
    systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-pstore.service remote-fs.target \
    systemd-hwdb-update.service ldconfig.service systemd-journal-catalog-update.service \
    systemd-update-done.service systemd-journal-flush.service 2>/dev/null
# The test's units (the package enables its own when apt installs it in the VM).
systemctl --root="$R" enable vmtest-harness.service vmtest.service 2>/dev/null
mkfs.ext4 -q -F -L firmloop-vm -d "$R" "$W/root.img" 1G
rm -rf "$R"
echo "DEPLOY: image ready ($(elapsed) so far)"

CHECKS=$(grep -c '^    check [0-9]* "' deploy/vm/vmtest.sh)
# ---- 4. boot (twice: the VM reboots itself between the two halves) -----------------------------
vm_accel
echo "DEPLOY: booting; console:"
set +e
timeout "${DEPLOY_TIMEOUT:-900}" qemu-system-x86_64 "${ACCEL[@]}" -m 1024 -smp 2 \
    -nodefaults -no-user-config -display none -nic none \
    -kernel "$DCACHE/vmlinuz" -initrd "$DCACHE/initrd.cpio.gz" \
    -drive file="$W/root.img",if=virtio,format=raw,cache=unsafe \
    -append "console=ttyS0 root=/dev/vda rw quiet loglevel=3 systemd.show_status=0 panic=-1" \
    -serial stdio -serial null </dev/null 2>&1 \
    | tr -d '\r' | tee "$W/console.log" | grep --line-buffered -E 'VMTEST|DEPLOY-CHECK|\[check|INITRD|Kernel panic' \
    | sed -u 's/^\[ *[0-9.]*\] [^:]*: //; s/^/  vm| /'
QRC=${PIPESTATUS[0]}
set -e
echo
echo "DEPLOY: checks:"
sed -n 's/.*DEPLOY-CHECK /  /p' "$W/console.log" | sort -n -k1,1 -s
RC=$(sed -n 's/.*VMTEST-EXIT=\([0-9]*\).*/\1/p' "$W/console.log" | tail -n1)
if [ -z "$RC" ]; then
    [ "$QRC" = 124 ] && why="timed out after ${DEPLOY_TIMEOUT:-900} s" || why="qemu exited $QRC"
    die "no VMTEST-EXIT marker from the VM ($why; console in $W/console.log) after $(elapsed)"
fi
n=$(grep -c 'DEPLOY-CHECK [0-9]* PASS' "$W/console.log" || true)
[ "$RC" = 0 ] && [ "$n" = "$CHECKS" ] || die "$n of $CHECKS checks passed (exit $RC; console in $W/console.log) after $(elapsed)"
echo "DEPLOY: PASSED, $CHECKS of $CHECKS checks, in $(elapsed)"
