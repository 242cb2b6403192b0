# The Raspberry Pi's loopback harness (hil/README.md has the wiring):
#   relay  GPIO27 (pin 13) -> GPIO5 (pin 29), read here;
#   button GPIO22 (pin 15) <- GPIO6 (pin 31), driven here (low = pressed);
#   UART   GPIO14 TXD (pin 8) -> GPIO15 RXD (pin 10): what is written to the port comes back
#          in, so NMEA written here arrives at the firmware as from a GPS receiver.
# Uses the libgpiod v1 tools (Debian's gpiod package). Runs as root: the firmware opens the
# UART exclusively (TIOCEXCL), which only root may open beside it.

RELAY_SENSE=${HIL_RELAY_SENSE:-GPIO5}
BUTTON_DRIVE=${HIL_BUTTON_DRIVE:-GPIO6}
HIL_SERIAL=${HIL_SERIAL:-/dev/serial0}

# gpioset --mode=signal holds the line until killed; a new one replaces it.
drive_button() {
    if [ -s "$HIL_WORK/drive.pid" ]; then
        _p=$(cat "$HIL_WORK/drive.pid")
        kill "$_p" 2>/dev/null
        wait "$_p" 2>/dev/null                                    # reaps it if it is ours
        while kill -0 "$_p" 2>/dev/null; do sleep 0.001; done   # until the line is released
    fi
    # shellcheck disable=SC2046
    set -- $(gpiofind "$BUTTON_DRIVE") "$1"
    gpioset --mode=signal "$1" "$2=$3" &
    echo $! > "$HIL_WORK/drive.pid"
}

# In every scenario's shell: where the wires' far ends are (no side effects).
harness_init() {
    RELAY_AT=$(gpiofind "$RELAY_SENSE") || fail "no GPIO line named $RELAY_SENSE (the relay's sense input)"
}

# Once per run: the lines found, the button released, the wiring checked.
harness_setup() {
    harness_init
    gpiofind "$BUTTON_DRIVE" >/dev/null || fail "no GPIO line named $BUTTON_DRIVE (the button's driver)"
    [ -e "$HIL_SERIAL" ] || fail "no $HIL_SERIAL: enable the header UART (hil/README.md)"
    drive_button 1
    # The wiring, checked before the firmware runs: relay line high and low, seen on the sense line.
    # shellcheck disable=SC2046
    set -- $(gpiofind "$(role_line relay)")
    for v in 1 0; do
        gpioset --mode=signal "$1" "$2=$v" &
        sleep 0.1
        # shellcheck disable=SC2086
        got=$(gpioget $RELAY_AT)
        kill $! && wait $! 2>/dev/null
        [ "$got" = $v ] || fail "relay $(role_line relay) driven to $v but $RELAY_SENSE reads $got: is pin 13 wired to pin 29?"
    done
    # shellcheck disable=SC2046
    set -- $(gpiofind "$(role_line button)")
    for v in 0 1; do
        drive_button $v
        sleep 0.1
        got=$(gpioget "$1" "$2")
        [ "$got" = $v ] || fail "$BUTTON_DRIVE driven to $v but button $(role_line button) reads $got: is pin 31 wired to pin 15?"
    done
    # The UART: what goes out on TX comes back on RX.
    stty -F "$HIL_SERIAL" 9600 raw -echo || fail "stty on $HIL_SERIAL"
    ( timeout 3 head -c 13 "$HIL_SERIAL" > "$HIL_WORK/loop.txt" ) &
    sleep 0.3
    printf 'HIL-LOOPBACK\n' > "$HIL_SERIAL"
    wait $!
    [ "$(cat "$HIL_WORK/loop.txt")" = HIL-LOOPBACK ] || fail "wrote HIL-LOOPBACK to $HIL_SERIAL, read back '$(cat "$HIL_WORK/loop.txt")': is pin 8 wired to pin 10?"
    say "harness: relay $(role_line relay) -> $RELAY_SENSE, button $(role_line button) <- $BUTTON_DRIVE, UART $HIL_SERIAL looped TX->RX"
}

harness_teardown() {
    [ -s "$HIL_WORK/drive.pid" ] && kill "$(cat "$HIL_WORK/drive.pid")" 2>/dev/null
    rm -f "$HIL_WORK/drive.pid"
}

# shellcheck disable=SC2086
relay_level() { gpioget $RELAY_AT; }
button_press()   { drive_button 0; }
button_release() { drive_button 1; }
# feed_nmea NAME PACE_MS: writes boards/nmea/NAME into the looped UART, one epoch every
# PACE_MS, in the background (as the VM's host does).
feed_nmea() { python3 "$HIL_ROOT/hil/nmea_feed.py" "$HIL_ROOT/boards/nmea/$1" "$2" > "$HIL_SERIAL" & }
