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

# build_pwmsim KVER [MAKE ARGS...]: the project's own pwm-sim.ko (hil/vm/pwm-sim: a PWM chip
# with nothing behind it, the real sysfs PWM interface in front), into pwmsim/, against the
# headers build_gpiosim unpacked.
build_pwmsim() {
    local kver=$1
    shift
    mkdir pwmsim
    cp "$HERE/pwm-sim/pwm-sim.c" "$HERE/pwm-sim/Kbuild" pwmsim/
    make -s -C "hdr/usr/src/linux-headers-$kver" M="$PWD/pwmsim" "$@" modules
    [ -f pwmsim/pwm-sim.ko ] || { echo "pwm-sim.ko was not built" >&2; exit 1; }
}

# build_i2cstub KVER [MAKE ARGS...]: the kernel's own i2c-stub.ko, out of tree from the
# linux-source build_gpiosim unpacked, where the kernel does not build it (Debian's arm64
# kernel; amd64's has it as a module), into i2cstub/.
build_i2cstub() {
    local kver=$1 kser src
    shift
    grep -q '^CONFIG_I2C_STUB=[ym]' "kroot/boot/config-$kver" && return 0
    kser=$(echo "$kver" | cut -d. -f1,2)
    src=linux-source-$kser
    tar -xaf "src/usr/src/$src.tar.xz" -C src "$src/drivers/i2c/i2c-stub.c"
    mkdir i2cstub
    cp "src/$src/drivers/i2c/i2c-stub.c" i2cstub/
    echo 'obj-m := i2c-stub.o' > i2cstub/Kbuild
    make -s -C "hdr/usr/src/linux-headers-$kver" M="$PWD/i2cstub" "$@" modules
    [ -f i2cstub/i2c-stub.ko ] || { echo "i2c-stub.ko was not built" >&2; exit 1; }
}

# check_config KVER: the kernel options the HIL needs beyond GPIO and the UARTs: I2C with its
# character device (the stub is built when the kernel lacks it: build_i2cstub), PWM with its
# sysfs interface.
check_config() {
    local c=kroot/boot/config-$1 want
    for want in CONFIG_I2C=[ym] CONFIG_I2C_CHARDEV=[ym] CONFIG_PWM=y CONFIG_PWM_SYSFS=y; do
        grep -q "^$want\$" "$c" || { echo "kernel $1 lacks ${want%=*} (the HIL's I2C and PWM scenario needs it)" >&2; exit 1; }
    done
}

# The parts' version, in CACHE/ready: a cache made by older parts is made again.
HIL_PARTS="parts 2 (gpio-sim, i2c-dev, i2c-stub, pwm-sim)"

# pack_base KVER BUSYBOX STRIP: base.cpio.gz, the initramfs every boot starts from: BUSYBOX (a
# static one of the VM's architecture) with the applets of the host's busybox (the same
# version; a foreign one cannot run here to list its own), configfs, i2c-dev and i2c-stub
# (unless built in, with what they depend on), gpio-sim.ko, pwm-sim.ko and, where the kernel
# lacks it, our build of i2c-stub.ko (their debug info stripped with STRIP).
pack_base() {
    local kver=$1 busybox=$2 strip=$3 r=$PWD/rootfs m=kroot/lib/modules/$1 a f mod
    mkdir -p "$r"/bin "$r"/sbin "$r"/usr/bin "$r"/usr/sbin "$r"/dev "$r"/proc "$r"/sys "$r"/tmp "$r"/mnt "$r"/etc "$r"/run
    cp "$busybox" "$r/bin/busybox"
    for a in $(/bin/busybox --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
    /bin/busybox depmod -b kroot "$kver"                     # the .deb ships no modules.dep
    for mod in kernel/fs/configfs/configfs.ko kernel/drivers/i2c/i2c-dev.ko kernel/drivers/i2c/i2c-stub.ko; do
        grep -q "^$mod\$" "$m/modules.builtin" && continue
        [ -f "$m/$mod" ] || continue                           # not built by this kernel: ours (below)
        for f in $mod $(grep "^$mod:" "$m/modules.dep" | cut -d: -f2); do
            install -D -m644 "$m/$f" "$r/lib/modules/$kver/$f"
        done
    done
    cp "$m/modules.builtin" "$m/modules.order" "$r/lib/modules/$kver/"   # modprobe knows built-ins from these
    for f in gpiosim/gpio-sim.ko pwmsim/pwm-sim.ko i2cstub/i2c-stub.ko; do
        [ -f "$f" ] || continue
        install -D -m644 "$f" "$r/lib/modules/$kver/extra/${f#*/}"
        "$strip" --strip-debug "$r/lib/modules/$kver/extra/${f#*/}"
    done
    /bin/busybox depmod -b "$r" "$kver"
    (cd "$r" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -9) > base.cpio.gz
}
