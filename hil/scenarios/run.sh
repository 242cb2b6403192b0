#!/bin/sh
# Runs the HIL scenarios ([0-9]-*.sh, in order) against the real firmware binary and prints
# each one's verdict as "HIL-SCENARIO <n> <name> PASS|FAIL <seconds> s". Exit status: the
# number of scenarios that failed (0: all passed).
#
#   HIL_BACKEND=vm   in the VM (hil/vm/init sets it): gpio-sim and the host's UART peer
#   HIL_BACKEND=pi   on a Raspberry Pi with the loopback wiring (hil/pi.sh sets it up)
#
# Each scenario runs in its own shell with lib.sh and the harness loaded; they share one
# mosquitto (127.0.0.1:$HIL_PORT, started here), one mosquitto_sub log of firmloop/hil/# and
# the firmware's state in $HIL_WORK. A scenario needing the firmware starts it if need be.
HERE=$(cd "$(dirname "$0")" && pwd)
HIL_ROOT=${HIL_ROOT:-$(cd "$HERE/../.." && pwd)}
HIL_BACKEND=${HIL_BACKEND:-vm}
HIL_BOARD=${HIL_BOARD:-$HIL_ROOT/boards/hil.json}
HIL_PORT=${HIL_PORT:-18830}
HIL_WORK=${HIL_WORK:-/tmp/firmloop-hil}
FIRMLOOP=${FIRMLOOP:-firmloop}
HIL_ONLY=${HIL_ONLY:-}                  # scenario numbers to run ("1 2 4 5"); empty: all
# The libgpiod backend the binary was built on, for the verdict lines ("libgpiod v1").
GPIOLIB=$("$FIRMLOOP" --version 2>/dev/null | sed -n 's/.*GPIO through \(libgpiod v[0-9]*\).*/\1/p')
export HIL_ROOT HIL_BACKEND HIL_BOARD HIL_PORT HIL_WORK FIRMLOOP
rm -rf "$HIL_WORK"; mkdir -p "$HIL_WORK"
. "$HERE/lib.sh"

echo "HIL: $FIRMLOOP ($GPIOLIB) on $(uname -srm), board $HIL_BOARD, harness $HIL_BACKEND"
"$HIL_ROOT/scripts/mosquitto.sh" "$HIL_WORK" "$HIL_PORT" > "$HIL_WORK/mosquitto.log" 2>&1 &
BROKER=$!
broker_up() { mosquitto_pub -h 127.0.0.1 -p "$HIL_PORT" -t hil/up -m 1 2>/dev/null; }
wait_until 20 "mosquitto on 127.0.0.1:$HIL_PORT ($(cat "$HIL_WORK/mosquitto.log"))" broker_up
mosquitto_sub -h 127.0.0.1 -p "$HIL_PORT" -q 1 -v -t "firmloop/$DEV/#" > "$MQ" 2>&1 &
SUB=$!

failed=0
# shellcheck disable=SC1090
if ( . "$HERE/harness-$HIL_BACKEND.sh" && harness_setup ) > "$HIL_WORK/setup.log" 2>&1; then
    cat "$HIL_WORK/setup.log"
    "$FIRMLOOP" probe --board "$HIL_BOARD" | sed -n '/hil.json/,$p' | sed 's/^/  probe: /'
    for s in "$HERE"/[0-9]-*.sh; do
        n=$(basename "$s" .sh)
        case " ${HIL_ONLY:-${n%%-*}} " in *" ${n%%-*} "*) ;; *) continue;; esac
        echo "== scenario ${n%%-*}: ${n#*-} ($GPIOLIB)"
        t0=$(now_ms)
        ( set -u; . "$HERE/harness-$HIL_BACKEND.sh"; harness_init; . "$s" ); rc=$?
        t=$(( $(now_ms) - t0 ))
        verdict=PASS; [ $rc = 0 ] || { verdict=FAIL; failed=$((failed + 1)); }
        echo "HIL-SCENARIO ${n%%-*} ${n#*-} [$GPIOLIB, $(uname -m)] $verdict $((t / 1000)).$(( (t % 1000) / 100 )) s"
    done
else
    cat "$HIL_WORK/setup.log"
    echo "HIL: harness setup failed"
    failed=99
fi

fw_running && fw_signal TERM >/dev/null
( . "$HERE/harness-$HIL_BACKEND.sh"; harness_teardown )
kill $SUB $BROKER 2>/dev/null
wait $SUB $BROKER 2>/dev/null
if [ $failed != 0 ]; then
    echo "HIL: $failed failed; the firmware's output:"
    for f in "$HIL_WORK"/fw.*.log; do [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" | tail -n 15; done
    echo "HIL: the broker's messages (last 20):"
    tail -n 20 "$MQ" | cut -c1-300 | sed 's/^/  /'
fi
# In the VM, the GPIO scenarios again with the libgpiod v2 build, on the same gpio-sim chip
# (the UART scenario does not touch GPIO): a fresh work directory, broker and log.
if [ -z "${HIL_SECOND_PASS:-}" ] && [ "$HIL_BACKEND" = vm ] && command -v firmloop-gpiod2 >/dev/null; then
    HIL_SECOND_PASS=1 FIRMLOOP=firmloop-gpiod2 HIL_WORK=$HIL_WORK-gpiod2 HIL_ONLY="1 2 4 5" "$0"
    failed=$((failed + $?))
fi
exit $failed
