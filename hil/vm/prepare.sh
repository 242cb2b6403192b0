#!/usr/bin/env bash
# prepare.sh KPKG CACHE: Debian's kernel KPKG (linux-image-6.1.0-NN-amd64), gpio-sim built out
# of tree from Debian's own linux-source against its headers, and the base initramfs (busybox,
# configfs and gpio-sim modules), into CACHE: vmlinuz, base.cpio.gz, ready. Nothing is
# installed on the host; the ~900 MB work folder is removed afterwards.
# Exit 3 when the packages cannot be downloaded, 1 on any other failure.
set -euo pipefail
KPKG=$1 CACHE=$2
KVER=${KPKG#linux-image-}                                      # 6.1.0-56-amd64
KDEB=$(apt-cache policy "$KPKG" | awk '/Candidate:/{print $2}')  # 6.1.192-2
KSER=$(echo "$KVER" | cut -d. -f1,2)                           # 6.1
W=$CACHE.work
rm -rf "$W" "$CACHE"; mkdir -p "$W"
cd "$W"
step() { echo "HIL: prepare: $*"; }

step "downloading $KPKG $KDEB, its headers, kbuild and linux-source-$KSER"
apt-get download "$KPKG" "linux-headers-$KVER" "linux-headers-${KVER%-amd64}-common" \
    "linux-kbuild-$KSER=$KDEB" "linux-source-$KSER=$KDEB" >/dev/null 2>apt.err || { cat apt.err >&2; exit 3; }

dpkg -x "${KPKG}"_*.deb kroot
grep -q '^CONFIG_GPIO_CDEV=y' "kroot/boot/config-$KVER" || { echo "kernel $KVER has no GPIO character device (CONFIG_GPIO_CDEV)" >&2; exit 1; }
grep -q '^CONFIG_SERIAL_8250=y' "kroot/boot/config-$KVER" || { echo "kernel $KVER has no built-in 8250 UART driver" >&2; exit 1; }

step "building gpio-sim.ko (with irq_sim.c, which this kernel does not build in)"
for d in linux-headers-*.deb linux-kbuild-*.deb; do dpkg -x "$d" hdr; done
sed -i "s#^include /usr/src/#include $W/hdr/usr/src/#" "hdr/usr/src/linux-headers-$KVER/Makefile"
dpkg -x "linux-source-${KSER}"_*.deb src
S=linux-source-$KSER
tar -xaf "src/usr/src/$S.tar.xz" -C src "$S/drivers/gpio/gpio-sim.c" "$S/drivers/gpio/gpiolib.h" "$S/kernel/irq/irq_sim.c"
mkdir gpiosim
cp "src/$S/drivers/gpio/gpio-sim.c" gpiosim/gpio-sim-core.c
cp "src/$S/drivers/gpio/gpiolib.h" "src/$S/kernel/irq/irq_sim.c" gpiosim/
# irq_to_desc() is not exported to modules; generic_handle_domain_irq() does the same job.
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_domain_irq(work_ctx->domain, offset);/' gpiosim/irq_sim.c
grep -q generic_handle_domain_irq gpiosim/irq_sim.c || { echo "irq_sim.c: the irq_to_desc patch did not apply to this kernel's source" >&2; exit 1; }
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' > gpiosim/Kbuild
make -s -C "hdr/usr/src/linux-headers-$KVER" M="$W/gpiosim" modules
[ -f gpiosim/gpio-sim.ko ] || { echo "gpio-sim.ko was not built" >&2; exit 1; }

step "packing the base initramfs"
R=$W/rootfs
mkdir -p $R/bin $R/sbin $R/usr/bin $R/usr/sbin $R/dev $R/proc $R/sys $R/tmp $R/mnt $R/etc $R/run
cp /bin/busybox $R/bin/
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
M=kroot/lib/modules/$KVER
/bin/busybox depmod -b kroot "$KVER"                     # the .deb ships no modules.dep
for m in kernel/fs/configfs/configfs.ko; do
    for f in $m $(grep "^$m:" "$M/modules.dep" | cut -d: -f2); do
        install -D -m644 "$M/$f" "$R/lib/modules/$KVER/$f"
    done
done
cp "$M/modules.builtin" "$M/modules.order" "$R/lib/modules/$KVER/"   # modprobe knows built-ins from these
install -D -m644 gpiosim/gpio-sim.ko "$R/lib/modules/$KVER/extra/gpio-sim.ko"
strip --strip-debug "$R/lib/modules/$KVER/extra/gpio-sim.ko"
/bin/busybox depmod -b "$R" "$KVER"
(cd $R && find . | cpio -o -H newc -R 0:0 --quiet | gzip -9) > base.cpio.gz

mkdir -p "$CACHE"
cp "kroot/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
mv base.cpio.gz "$CACHE/"
echo "$KPKG $KDEB" > "$CACHE/ready"
cd / && rm -rf "$W"
step "done: $(du -sh "$CACHE" | cut -f1) in $CACHE"
