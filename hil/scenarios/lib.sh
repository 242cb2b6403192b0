# Helpers the scenarios share (POSIX sh: busybox in the VM, dash or bash on a Pi).
# run.sh sets: HIL_ROOT, FIRMLOOP, HIL_BOARD, HIL_PORT, HIL_WORK, HIL_BACKEND; the harness
# (harness-vm.sh or harness-pi.sh) gives relay_level, button_press, button_release, feed_nmea.

DEV=hil
MQ=$HIL_WORK/mqtt.log                   # everything on firmloop/hil/#, as mosquitto_sub -v prints it
SNAP="firmloop/$DEV/snapshot"
INTERVAL_MS=1000

say()  { echo "  $*"; }
fail() { echo "  FAIL: $*"; exit 1; }

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 50 ms until it succeeds; fails naming
# WHAT after SECONDS. A deadline on an observable, not a sleep that hopes.
# (`local`, prefixed: COMMAND may wait_until too, and sees these names; busybox sh, dash and
# bash all have `local`.)
wait_until() {
    local _wu_t="$1" _wu_what="$2" _wu_end
    shift 2
    _wu_end=$(( $(now_ms) + _wu_t * 1000 ))
    until "$@"; do
        [ "$(now_ms)" -lt "$_wu_end" ] || fail "no $_wu_what within ${_wu_t} s"
        sleep 0.05
    done
}

# The line name a role of the board file uses ("relay" -> GPIO27); the file has one role a line.
role_line() { sed -n "s/.*\"$1\": *{[^}]*\"line\": *\"\([^\"]*\)\".*/\1/p" "$HIL_BOARD"; }
role_debounce_ms() { sed -n "s/.*\"$1\": *{[^}]*\"debounce_ms\": *\([0-9]*\).*/\1/p" "$HIL_BOARD"; }

# ---- what the broker saw -----------------------------------------------------------------------
snapshots() { grep "^$SNAP " "$MQ" | cut -d' ' -f2-; }
seq_of() { sed -n 's/^{"device":"[^"]*","seq":\([0-9]*\),.*/\1/p'; }
snapshot_seq() { snapshots | grep "^{\"device\":\"$DEV\",\"seq\":$1,"; }
has_snapshot() { snapshot_seq "$1" >/dev/null; }
count_reason() { snapshots | grep -c "\"reason\":\"$1\"" || true; }
status_count() { grep -c "^firmloop/$DEV/status $1\$" "$MQ" || true; }
# The first (top-level) field NAME of a JSON line: {"mode":3,...}, null, a number or a string.
field() { grep -o "\"$1\":\(null\|{[^}]*}\|\"[^\"]*\"\|[-0-9.e]*\)" | head -n1 | sed "s/^\"$1\"://"; }

# A command id never used before in this run: acks are found by id.
new_id() {
    local n=$(( $(cat "$HIL_WORK/ids" 2>/dev/null || echo 0) + 1 ))
    echo $n > "$HIL_WORK/ids"
    echo "$1-$n"
}

# cmd ID JSON: publishes a command and prints its ack once it comes (10 s).
cmd() {
    mosquitto_pub -h 127.0.0.1 -p "$HIL_PORT" -q 1 -t "firmloop/$DEV/cmd" -m "$2" || fail "mosquitto_pub of command $1"
    wait_until 10 "ack for command $1" grep -q "^firmloop/$DEV/ack {\"id\":\"$1\"" "$MQ"
    grep "^firmloop/$DEV/ack {\"id\":\"$1\"" "$MQ" | tail -n1 | cut -d' ' -f2-
}
cmd_ok() {
    _ack=$(cmd "$1" "$2")
    case "$_ack" in *'"ok":true'*) ;; *) fail "command $2 answered $_ack";; esac
    echo "$_ack"
}

# set_output ROLE true|false: the `set` command; prints its ack (fails unless ok).
set_output() {
    local id
    id=$(new_id "set-$1")
    cmd_ok "$id" "{\"id\":\"$id\",\"set\":{\"$1\":$2}}"
}

# marker: a snapshot command, and waits until that snapshot reached the broker. Snapshots go out
# in seq order, so every snapshot taken before it has arrived too. Prints its seq.
marker() {
    local id _s
    id=$(new_id mark)
    _s=$(cmd_ok "$id" "{\"id\":\"$id\",\"snapshot\":true}" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
    [ -n "$_s" ] || fail "snapshot command acked without a seq"
    wait_until 10 "snapshot $_s at the broker" has_snapshot "$_s"
    echo "$_s"
}

# ---- the firmware ------------------------------------------------------------------------------
# fw_start [ARGS]: firmloop run on the HIL board in the background, its output in
# $HIL_WORK/fw.N.log and, when it ends, its exit status in fw.N.rc.
fw_start() {
    _n=$(( $(cat "$HIL_WORK/fw.n" 2>/dev/null || echo 0) + 1 ))
    echo $_n > "$HIL_WORK/fw.n"
    (
        "$FIRMLOOP" run --board "$HIL_BOARD" --device-id $DEV --snapshot-interval $INTERVAL_MS \
            --outbox "$HIL_WORK/hil.outbox" "$@" > "$HIL_WORK/fw.$_n.log" 2>&1 &
        echo $! > "$HIL_WORK/fw.pid"
        wait $!
        echo $? > "$HIL_WORK/fw.$_n.rc"
    ) 2>/dev/null &                     # (the shell's own "Killed" when SIGKILL is the test)
    wait_until 10 "pid of firmloop run" test -s "$HIL_WORK/fw.pid"
    # The first lines: board, outbox (what a restart inherits), broker.
    wait_until 30 "firmloop run start-up (fw.$_n.log)" fw_started "$_n"
}
fw_started() { grep -q "^outbox " "$HIL_WORK/fw.$1.log" || fw_exited "$1"; }
fw_exited() { test -s "$HIL_WORK/fw.$1.rc"; }
fw_n() { cat "$HIL_WORK/fw.n"; }
fw_log() { cat "$HIL_WORK/fw.$(fw_n).log"; }
fw_running() { [ -s "$HIL_WORK/fw.n" ] && [ -s "$HIL_WORK/fw.pid" ] && ! fw_exited "$(fw_n)"; }

# fw_online: starts the firmware with the broker (unless running) and waits for its `online`.
fw_online() {
    fw_running && return 0
    _c=$(status_count online)
    fw_start --broker "mqtt://127.0.0.1:$HIL_PORT"
    fw_exited "$(fw_n)" && fail "firmloop run exited $(cat "$HIL_WORK/fw.$(fw_n).rc") at start: $(fw_log)"
    wait_until 30 "'online' status from the firmware" more_status online "$_c"
}
more_status() { [ "$(status_count "$1")" -gt "$2" ]; }

# fw_signal SIGNAL: signals the firmware, waits for it to end, prints its exit status.
fw_signal() {
    _n=$(fw_n)
    kill -"$1" "$(cat "$HIL_WORK/fw.pid")" 2>/dev/null || true
    wait_until 20 "exit of firmloop run after SIG$1" fw_exited "$_n"
    rm -f "$HIL_WORK/fw.pid"
    cat "$HIL_WORK/fw.$_n.rc"
}

# hold_line NAME: another program (gpioset, consumer "gpioset") holds line NAME, until
# release_line. libgpiod v1's tools take a chip and an offset; v2's find the line by name.
hold_line() {
    if gpioset --help 2>&1 | grep -q -- '--mode'; then
        # shellcheck disable=SC2046
        set -- "$1" $(gpiofind "$1")
        gpioset --mode=signal "$2" "$3=0" &
    else
        gpioset "$1=0" &
    fi
    echo $! > "$HIL_WORK/holder.pid"
    holding() { gpioinfo 2>/dev/null | grep "\"$1\"" | grep -q '"gpioset"'; }
    wait_until 10 "gpioset holding $1" holding "$1"
}
release_line() {
    kill "$(cat "$HIL_WORK/holder.pid")" 2>/dev/null
    wait "$(cat "$HIL_WORK/holder.pid")" 2>/dev/null
    return 0
}

# lines_free: `firmloop probe` finds every role of the board file and none in use.
lines_free() {
    "$FIRMLOOP" probe --board "$HIL_BOARD" > "$HIL_WORK/probe.log" 2>&1 \
        || fail "firmloop probe --board: $(sed -n '/^[^ ]*hil.json/,$p' "$HIL_WORK/probe.log")"
}
