# 5. Errors: a board file naming a line the chip does not have fails at start with a message
#    naming the line and its role; likewise a serial device that is not there. Nothing is left
#    held afterwards.
fw_running && fw_signal TERM >/dev/null

# try_board NAME SED WANT...: the HIL board file edited by SED must make `firmloop run` exit 1
# with every WANT in its message.
try_board() {
    name=$1 edit=$2; shift 2
    sed "$edit" "$HIL_BOARD" > "$HIL_WORK/$name.json"
    cmp -s "$HIL_BOARD" "$HIL_WORK/$name.json" && fail "$edit changed nothing in $HIL_BOARD"
    rc=0
    timeout 60 "$FIRMLOOP" run --board "$HIL_WORK/$name.json" --device-id $DEV --outbox "$HIL_WORK/$name.outbox" \
        --broker "mqtt://127.0.0.1:$HIL_PORT" > "$HIL_WORK/$name.log" 2>&1 || rc=$?
    out=$(cat "$HIL_WORK/$name.log")
    [ $rc = 1 ] || fail "$name: exit status $rc, want 1: $out"
    for w in "$@"; do
        case "$out" in *"$w"*) ;; *) fail "$name: the message does not name $w: $out";; esac
    done
    say "$name: exit 1: $(echo "$out" | grep -i "$1" | tail -n1)"
}
try_board missing-line 's/"GPIO27"/"GPIO99"/' GPIO99 relay
try_board missing-serial 's#"/dev/serial0"#"/dev/ttyHIL7"#' /dev/ttyHIL7 gps_uart
lines_free
say "probe afterwards: every line free"

# A line another program holds: the error names the line, the role and the holder's consumer.
relay=$(role_line relay)
hold_line "$relay"
rc=0
timeout 60 "$FIRMLOOP" run --board "$HIL_BOARD" --device-id $DEV --outbox "$HIL_WORK/busy.outbox" \
    --broker "mqtt://127.0.0.1:$HIL_PORT" > "$HIL_WORK/busy.log" 2>&1 || rc=$?
release_line
out=$(cat "$HIL_WORK/busy.log")
[ $rc = 1 ] || fail "busy: exit status $rc, want 1: $out"
for w in "role 'relay'" "$relay" "in use by 'gpioset'"; do
    case "$out" in *"$w"*) ;; *) fail "busy: the message does not say $w: $out";; esac
done
say "busy: exit 1: $(echo "$out" | grep "in use by" | tail -n1)"
lines_free
