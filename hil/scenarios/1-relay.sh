# 1. GPIO output: a `set` command over MQTT drives the relay line; the far end of the line
#    (gpio-sim's value in the VM, the wired sense input on a Pi) shows it.
fw_online
[ "$(relay_level)" = 0 ] || fail "relay line reads $(relay_level) before any command (the board file says initial false)"
for v in true false true false; do
    want=0; [ $v = true ] && want=1
    ack=$(set_output relay $v)
    got=$(relay_level)
    [ "$got" = $want ] || fail "set relay $v acked ($ack) but the line reads $got"
    say "set relay $v -> ack $ack, line reads $got"
done
set_output relay true >/dev/null
s=$(marker)
gpio=$(snapshot_seq "$s" | field gpio)
case "$gpio" in *'"relay":true'*) ;; *) fail "snapshot $s after set relay true has gpio $gpio";; esac
say "snapshot $s reports it: gpio $gpio"
# An input is not an output: refused, and nothing moves.
ack=$(cmd relay-bad '{"id":"relay-bad","set":{"relay":false,"button":true}}')
case "$ack" in *'"ok":false'*button*) ;; *) fail "set button (an input) answered $ack";; esac
[ "$(relay_level)" = 1 ] || fail "a refused command moved the relay"
say "set relay+button -> $ack; relay still 1"
set_output relay false >/dev/null
[ "$(relay_level)" = 0 ] || fail "relay did not go back to 0"
