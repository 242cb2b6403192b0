# 2. GPIO input: the harness presses and releases the button line; each debounced press takes
#    one extra snapshot (reason input:button), a release none, and a burst of 5 flips inside
#    the debounce window counts once.
fw_online
DEB=$(role_debounce_ms button)
[ -n "$DEB" ] || fail "no debounce_ms for the button in $HIL_BOARD"
QUIET=$(awk "BEGIN { print $DEB * 4 / 1000 }")      # seconds: long enough for any debounce to settle
presses_above() { [ "$(count_reason input:button)" -gt "$1" ]; }

# press_and_check HOW: HOW presses (leaving the line pressed); then one press snapshot is
# awaited, the button released, and a marker snapshot proves no other press was taken.
press_and_check() {
    marker >/dev/null
    p0=$(count_reason input:button)
    "$@"
    wait_until 10 "press snapshot (reason input:button)" presses_above "$p0"
    sleep "$QUIET"
    button_release
    sleep "$QUIET"
    marker >/dev/null
    p1=$(count_reason input:button)
    [ "$p1" = $((p0 + 1)) ] || fail "$* took $((p1 - p0)) press snapshots, want 1"
    snap=$(snapshots | grep '"reason":"input:button"' | tail -n1)
    case "$(echo "$snap" | field gpio)" in *'"button":true'*) ;; *) fail "the press snapshot has gpio $(echo "$snap" | field gpio)";; esac
}

press_and_check button_press
say "clean press: 1 snapshot (button true in it), release: none"

burst() {   # 5 flips: press, release, press, release, press
    t0=$(now_ms)
    button_press; button_release; button_press; button_release; button_press
    t1=$(now_ms)
    echo "$((t1 - t0))" > "$HIL_WORK/burst.ms"
}
press_and_check burst
ms=$(cat "$HIL_WORK/burst.ms")
[ "$ms" -lt "$DEB" ] || fail "the harness took $ms ms for the 5 flips, not inside the ${DEB} ms debounce window: no verdict"
[ "$ms" = 0 ] && ms="under 10"                      # /proc/uptime counts in 10 ms steps
say "burst of 5 flips in $ms ms (debounce $DEB ms): 1 snapshot"

for i in 1 2 3; do press_and_check button_press; done
say "3 presses ${QUIET} s apart: 3 snapshots"
