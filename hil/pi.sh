#!/bin/sh
# The HIL scenarios on a Raspberry Pi 4/5 with the loopback wiring of hil/README.md:
#   swift build -c release --product firmloop     (as your user; or FIRMLOOP=path/to/firmloop)
#   sudo hil/pi.sh
# Root: the firmware opens the UART exclusively (TIOCEXCL) and the harness writes NMEA into
# the same port (TX looped to RX), which only root may do beside it.
# Env: FIRMLOOP, HIL_SERIAL (default /dev/serial0; /dev/ttyAMA0 on a Pi 5 with
# dtparam=uart0=on), HIL_RELAY_SENSE (GPIO5), HIL_BUTTON_DRIVE (GPIO6), HIL_PORT (18830).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "$(id -u)" = 0 ] || { echo "hil/pi.sh: run it as root (sudo hil/pi.sh): see the header"; exit 2; }
FIRMLOOP=${FIRMLOOP:-$ROOT/.build/release/firmloop}
[ -x "$FIRMLOOP" ] || { echo "hil/pi.sh: no $FIRMLOOP: build it first (swift build -c release --product firmloop) or set FIRMLOOP"; exit 2; }
missing=""
for p in gpioset:gpiod mosquitto:mosquitto mosquitto_sub:mosquitto-clients python3:python3; do
    command -v "${p%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${p%%:*}" ] || missing="$missing ${p#*:}"
done
if [ -n "$missing" ]; then
    echo "hil/pi.sh: installing$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
PATH=$PATH:/usr/sbin
HIL_SERIAL=${HIL_SERIAL:-/dev/serial0}
if grep -qE "console=(serial0|$(basename "$(readlink -f "$HIL_SERIAL")"))" /proc/cmdline; then
    echo "hil/pi.sh: the kernel console is on $HIL_SERIAL: remove it from /boot/firmware/cmdline.txt (hil/README.md)"
    exit 2
fi
HIL_WORK=${HIL_WORK:-/tmp/firmloop-hil}
mkdir -p "$HIL_WORK.board"
# The HIL board file, with the UART this Pi uses.
sed "s#\"/dev/serial0\"#\"$HIL_SERIAL\"#" boards/hil.json > "$HIL_WORK.board/hil.json"
HIL_BOARD=$HIL_WORK.board/hil.json HIL_ROOT=$ROOT HIL_BACKEND=pi HIL_SERIAL=$HIL_SERIAL HIL_WORK=$HIL_WORK FIRMLOOP=$FIRMLOOP \
    exec hil/scenarios/run.sh
