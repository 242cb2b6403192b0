# 4. Restart: the firmware killed (SIGKILL, no clean-up) and started again keeps its lines
#    usable (nothing left busy) and its outbox: what was stored and not yet delivered is
#    delivered after the restart, and numbering goes on with no gap.
fw_online
s=$(marker)
rc=$(fw_signal KILL)
[ "$rc" = 137 ] || fail "firmloop run killed with SIGKILL ended with status $rc"
lines_free
say "killed (status 137) after snapshot $s reached the broker; probe: every line free"

# Started again without a broker: it stores snapshots that have nowhere to go.
fw_start
fw_exited "$(fw_n)" && fail "restart without a broker exited: $(fw_log)"
next2=$(fw_log | sed -n 's/^outbox .*, next seq \([0-9]*\).*/\1/p')
[ -n "$next2" ] || fail "no outbox line in: $(fw_log)"
sleep $((3 * INTERVAL_MS / 1000))       # its start snapshot and a couple of periodic ones
rc=$(fw_signal KILL)
[ "$rc" = 137 ] || fail "second firmloop run ended with status $rc on SIGKILL"
lines_free
say "restarted with no broker (outbox said next seq $next2), killed again after $((3 * INTERVAL_MS / 1000)) s; probe: every line free"

# And again with the broker: the stored snapshots go out first, then the new ones.
fw_online
line=$(fw_log | grep '^outbox ')
waiting=$(echo "$line" | sed -n 's/.*: \([0-9]*\) waiting.*/\1/p')
next3=$(echo "$line" | sed -n 's/.*next seq \([0-9]*\).*/\1/p')
say "third start: $line"
[ "$next3" -gt "$next2" ] || fail "the run without a broker stored nothing (next seq $next2 then $next3)"
[ "$waiting" -ge $((next3 - next2)) ] || fail "$((next3 - next2)) snapshots stored without a broker, but only $waiting waiting"
wait_until 30 "snapshot $next3 (the third start's first) at the broker" has_snapshot "$next3"
i=$((s + 1))
while [ $i -le "$next3" ]; do
    has_snapshot $i || fail "snapshot $i never reached the broker (seq $s .. $next3 should all have)"
    i=$((i + 1))
done
[ "$(snapshot_seq "$next2" | field reason)" = '"start"' ] || fail "snapshot $next2 (the second start's first) has reason $(snapshot_seq "$next2" | field reason)"
[ "$(snapshot_seq "$next3" | field reason)" = '"start"' ] || fail "snapshot $next3 has reason $(snapshot_seq "$next3" | field reason)"
say "all of $((s + 1))..$next3 arrived: $((next3 - next2)) from the run that had no broker, then the new start"

# The lines work after the restarts.
set_output relay true >/dev/null
[ "$(relay_level)" = 1 ] || fail "relay does not follow a set after the restarts"
set_output relay false >/dev/null
[ "$(relay_level)" = 0 ] || fail "relay does not go back to 0 after the restarts"
say "relay follows set commands after the restarts"

# "restore": true (boards/hil.json): the relay's last commanded value is on disk before the
# ack, so a kill -9 right after it does not lose it, and the restart requests the line at it.
set_output relay true >/dev/null
rc=$(fw_signal KILL)
[ "$rc" = 137 ] || fail "firmloop run killed with SIGKILL ended with status $rc"
fw_online
fw_log | grep -q '^restored from the outbox: relay on' || fail "no 'restored from the outbox: relay on' at the restart: $(fw_log | head -n 8)"
[ "$(relay_level)" = 1 ] || fail "relay reads $(relay_level) after the restart (restore: true, and it was on when killed)"
set_output relay false >/dev/null
[ "$(relay_level)" = 0 ] || fail "relay does not go back to 0 after the restore"
say "restore: the relay was on when killed, and on again at the restart before any command"

# A clean stop, for comparison: SIGTERM ends it with status 0 and a retained `offline`.
off=$(status_count offline)
rc=$(fw_signal TERM)
[ "$rc" = 0 ] || fail "SIGTERM: exit status $rc: $(fw_log | tail -n 5)"
wait_until 10 "'offline' status after SIGTERM" more_status offline "$off"
lines_free
say "SIGTERM: status 0, 'offline' published, lines free"
