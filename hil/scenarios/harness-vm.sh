# The VM's harness: a gpio-sim chip stands in for the Pi's header, and the UART's far end is
# the host (hil/vm/uart_peer.py).
#
# The chip has one bank of 28 lines named GPIO0..GPIO27 at offsets 0..27, as the Pi names its
# header lines, so boards/hil.json finds its lines by the same names here and on a Pi. Its
# sysfs attributes are the other end of the wires: `value` shows what the firmware drives on
# an output, and `pull` sets what an input reads (gpio-sim turns a change into an edge).

GPIOSIM_CFG=/sys/kernel/config/gpio-sim/hil
HIL_UART=${HIL_UART:-ttyS1}   # the UART whose far end is the host: ttyS1 (x86_64's 16550), ttyS0 (aarch64's PCI 16550)
GPIOSIM_LINES=28

# Once per run: the chip, the button released, /dev/serial0.
harness_setup() {
    if [ ! -d $GPIOSIM_CFG ]; then
        mkdir $GPIOSIM_CFG $GPIOSIM_CFG/bank0
        echo $GPIOSIM_LINES > $GPIOSIM_CFG/bank0/num_lines
        echo hil-header > $GPIOSIM_CFG/bank0/label
        i=0
        while [ $i -lt $GPIOSIM_LINES ]; do
            mkdir $GPIOSIM_CFG/bank0/line$i && echo GPIO$i > $GPIOSIM_CFG/bank0/line$i/name
            i=$((i + 1))
        done
        echo 1 > $GPIOSIM_CFG/live
    fi
    harness_init
    [ -f "$RELAY_SIM/value" ] && [ -f "$BUTTON_SIM/pull" ] || fail "gpio-sim has no line for relay or button ($RELAY_SIM, $BUTTON_SIM)"
    echo pull-up > "$BUTTON_SIM/pull"                  # the button is not pressed (active low)
    ln -sf "$HIL_UART" /dev/serial0                     # the Pi's name for the header UART
    say "gpio-sim: $(cat $GPIOSIM_CFG/bank0/chip_name) [hil-header] GPIO0..GPIO$((GPIOSIM_LINES - 1)); relay -> $RELAY_SIM/value, button <- $BUTTON_SIM/pull; /dev/serial0 -> $HIL_UART"
}

# In every scenario's shell: where the wires' far ends are (no side effects).
harness_init() {
    GPIOSIM_SYS=/sys/devices/platform/$(cat $GPIOSIM_CFG/dev_name)/$(cat $GPIOSIM_CFG/bank0/chip_name)
    RELAY_SIM=$GPIOSIM_SYS/sim_gpio$(role_line relay | sed 's/^GPIO//')
    BUTTON_SIM=$GPIOSIM_SYS/sim_gpio$(role_line button | sed 's/^GPIO//')
}

harness_teardown() { :; }

# What the relay line is at (0 or 1): gpio-sim's value of the line the firmware drives.
relay_level() { cat "$RELAY_SIM/value"; }

# Press (line low: the button is active low) and release (line back high).
button_press()   { echo pull-down > "$BUTTON_SIM/pull"; }
button_release() { echo pull-up > "$BUTTON_SIM/pull"; }

# feed_nmea NAME PACE_MS: asks the host, on the UART's TX, to write boards/nmea/NAME into the RX
# one epoch every PACE_MS (it returns at once; the host goes on writing).
feed_nmea() { printf 'HIL-FEED %s %s\n' "$1" "$2" > "/dev/$HIL_UART"; }
