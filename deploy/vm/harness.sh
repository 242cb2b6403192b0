#!/bin/sh
# In the deploy VM, before firmloop.service (firmloop-vm-harness.service): the hardware a Pi
# would have. A gpio-sim chip whose lines are named like the Pi header (GPIO0..GPIO27), the
# button released, /dev/serial0 -> the 16550 at ttyS1: the HIL's own harness (hil/scenarios).
set -eu
HIL_ROOT=/usr/local/lib/vmtest
HIL_BOARD=$HIL_ROOT/hil.json   # the test's copy: this runs before the package is installed
HIL_WORK=/run/vmtest
mkdir -p $HIL_WORK
. $HIL_ROOT/lib.sh
. $HIL_ROOT/harness-vm.sh
modprobe gpio-sim
harness_setup
# udev gives the new chip to the gpio group (make install's rule) before the service opens it.
udevadm settle
say "$(ls -l /dev/gpiochip* | awk '{print $1, $3, $4, $NF}' | tr '\n' ';')"
