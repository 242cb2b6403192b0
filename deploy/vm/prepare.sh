#!/usr/bin/env bash
# prepare.sh KPKG HIL_CACHE CACHE: what the deploy VM needs once per kernel, into CACHE:
#   vmlinuz            Debian's kernel (the HIL cache's copy)
#   initrd.cpio.gz     busybox + virtio/ext4 modules: mounts /dev/vda and switch_roots to systemd
#   modules/           the modules the root filesystem adds (configfs, autofs4, gpio-sim) + metadata
#   base/              a minimal Debian 12 root filesystem (debootstrap): systemd, udev, mosquitto,
#                      what the .deb depends on (deploy/vm/packages), apt to install it
#   ready              the kernel and the package list it was made with (test.sh remakes the
#                      cache when either changes)
# gpio-sim.ko is the one hil/vm/prepare.sh built for this kernel (taken from its initramfs).
# Exit 3 when packages cannot be downloaded, 1 on any other failure.
set -euo pipefail
KPKG=$1 HIL=$2 CACHE=$3
KVER=${KPKG#linux-image-}
W=$CACHE.work
PACKAGES=$(grep -v '^#' "$(dirname "$0")/packages" | tr '\n' ' ' | sed 's/ *$//')
rm -rf "$W" "$CACHE"; mkdir -p "$W"
cd "$W"
step() { echo "DEPLOY: prepare: $*"; }

step "downloading $KPKG (for its modules)"
apt-get download "$KPKG" >/dev/null 2>apt.err || { cat apt.err >&2; exit 3; }
dpkg -x "${KPKG}"_*.deb kroot
rm -f "${KPKG}"_*.deb
M=kroot/lib/modules/$KVER
/bin/busybox depmod -b kroot "$KVER"                      # the .deb ships no modules.dep
with_deps() { for m in "$@"; do echo "$m"; grep "^$m:" "$M/modules.dep" | cut -d: -f2 | tr ' ' '\n' | sed '/^$/d'; done | sort -u; }

step "initramfs: busybox, virtio, ext4"
R=$W/initrd.d
mkdir -p $R/bin $R/dev $R/proc $R/sys $R/newroot
cp /bin/busybox $R/bin/
for a in sh mount umount modprobe switch_root cat sleep; do ln -s busybox $R/bin/$a; done
for f in $(with_deps kernel/drivers/virtio/virtio_pci.ko kernel/drivers/block/virtio_blk.ko \
                     kernel/crypto/crc32c_generic.ko kernel/fs/ext4/ext4.ko); do
    install -D -m644 "$M/$f" "$R/lib/modules/$KVER/$f"
done
cp "$M/modules.builtin" "$M/modules.order" "$R/lib/modules/$KVER/"
/bin/busybox depmod -b $R "$KVER"
cat > $R/init <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
modprobe virtio_pci; modprobe virtio_blk; modprobe crc32c_generic; modprobe ext4   # ext4 needs crc32c, not auto-loaded here
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -b /dev/vda ] && break; sleep 0.1; done
mount -t ext4 -o rw /dev/vda /newroot || { echo "INITRD: cannot mount /dev/vda"; exec sh; }
mount --move /dev /newroot/dev; umount /sys /proc
exec switch_root /newroot /sbin/init
INIT
chmod 755 $R/init
(cd $R && find . | cpio -o -H newc -R 0:0 --quiet | gzip -9) > initrd.cpio.gz

step "modules for the root filesystem: configfs, autofs4, gpio-sim"
MOD=$W/modules/lib/modules/$KVER
for f in $(with_deps kernel/fs/configfs/configfs.ko kernel/fs/autofs/autofs4.ko); do install -D -m644 "$M/$f" "$MOD/$f"; done
cp "$M/modules.builtin" "$M/modules.builtin.modinfo" "$M/modules.order" "$MOD/"
mkdir -p "$MOD/extra"
(cd "$MOD/extra" && zcat "$HIL/base.cpio.gz" | cpio -i --quiet --to-stdout "lib/modules/$KVER/extra/gpio-sim.ko" > gpio-sim.ko)
[ -s "$MOD/extra/gpio-sim.ko" ] || { echo "no gpio-sim.ko for $KVER in $HIL/base.cpio.gz" >&2; exit 1; }
rm -rf kroot

# Debian's mirror as apt is configured on this machine.
MIRROR=$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
[ -n "$MIRROR" ] || MIRROR=$(sed -n 's/^deb \(\[[^]]*\] \)\?\([^ ]*\/debian\)\/* bookworm .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
step "Debian 12 root filesystem from $MIRROR (debootstrap, about a minute)"
debootstrap --variant=minbase \
    --include="$(echo "$PACKAGES" | tr ' ' ',')" \
    bookworm base "$MIRROR" > debootstrap.log 2>&1 || { tail -n 20 debootstrap.log >&2; exit 3; }
rm -rf base/var/cache/apt/archives/*.deb base/var/lib/apt/lists/*

mkdir -p "$CACHE"
cp "$HIL/vmlinuz" "$CACHE/vmlinuz"
mv initrd.cpio.gz modules base "$CACHE/"
echo "$KPKG bookworm $PACKAGES" > "$CACHE/ready"
cd / && rm -rf "$W"
step "done: $(du -sh "$CACHE" | cut -f1) in $CACHE"
