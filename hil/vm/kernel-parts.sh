# Sourced by prepare.sh (amd64) and prepare-arm64.sh, in their work folder (the current
# directory) once the kernel is unpacked in kroot/ and its linux-headers, the amd64 linux-kbuild
# and linux-source .debs are there: the two steps both architectures share.

# build_gpiosim KVER [MAKE ARGS...]: gpio-sim.ko, out of tree (Debian's kernels do not enable
# it), with irq_sim.c linked in (not built into these kernels either), into gpiosim/.
build_gpiosim() {
    local kver=$1 kser src
    shift
    kser=$(echo "$kver" | cut -d. -f1,2)
    for d in linux-headers-*.deb linux-kbuild-*.deb; do dpkg -x "$d" hdr; done
    sed -i "s#^include /usr/src/#include $PWD/hdr/usr/src/#" "hdr/usr/src/linux-headers-$kver/Makefile"
    dpkg -x "linux-source-${kser}"_*.deb src
    src=linux-source-$kser
    tar -xaf "src/usr/src/$src.tar.xz" -C src "$src/drivers/gpio/gpio-sim.c" "$src/drivers/gpio/gpiolib.h" "$src/kernel/irq/irq_sim.c"
    mkdir gpiosim
    cp "src/$src/drivers/gpio/gpio-sim.c" gpiosim/gpio-sim-core.c
    cp "src/$src/drivers/gpio/gpiolib.h" "src/$src/kernel/irq/irq_sim.c" gpiosim/
    # irq_to_desc() is not exported to modules; generic_handle_domain_irq() does the same job.
    sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_domain_irq(work_ctx->domain, offset);/' gpiosim/irq_sim.c
    grep -q generic_handle_domain_irq gpiosim/irq_sim.c || { echo "irq_sim.c: the irq_to_desc patch did not apply to this kernel's source" >&2; exit 1; }
    printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' > gpiosim/Kbuild
    make -s -C "hdr/usr/src/linux-headers-$kver" M="$PWD/gpiosim" "$@" modules
    [ -f gpiosim/gpio-sim.ko ] || { echo "gpio-sim.ko was not built" >&2; exit 1; }
}

# pack_base KVER BUSYBOX STRIP: base.cpio.gz, the initramfs every boot starts from: BUSYBOX (a
# static one of the VM's architecture) with the applets of the host's busybox (the same
# version; a foreign one cannot run here to list its own), configfs (unless built in) and
# gpio-sim.ko (its debug info stripped with STRIP).
pack_base() {
    local kver=$1 busybox=$2 strip=$3 r=$PWD/rootfs m=kroot/lib/modules/$1 a f mod=kernel/fs/configfs/configfs.ko
    mkdir -p "$r"/bin "$r"/sbin "$r"/usr/bin "$r"/usr/sbin "$r"/dev "$r"/proc "$r"/sys "$r"/tmp "$r"/mnt "$r"/etc "$r"/run
    cp "$busybox" "$r/bin/busybox"
    for a in $(/bin/busybox --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
    /bin/busybox depmod -b kroot "$kver"                     # the .deb ships no modules.dep
    if ! grep -q "^$mod\$" "$m/modules.builtin"; then
        for f in $mod $(grep "^$mod:" "$m/modules.dep" | cut -d: -f2); do
            install -D -m644 "$m/$f" "$r/lib/modules/$kver/$f"
        done
    fi
    cp "$m/modules.builtin" "$m/modules.order" "$r/lib/modules/$kver/"   # modprobe knows built-ins from these
    install -D -m644 gpiosim/gpio-sim.ko "$r/lib/modules/$kver/extra/gpio-sim.ko"
    "$strip" --strip-debug "$r/lib/modules/$kver/extra/gpio-sim.ko"
    /bin/busybox depmod -b "$r" "$kver"
    (cd "$r" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -9) > base.cpio.gz
}
