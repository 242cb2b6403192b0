# 3. UART in: a gpsd regression log written into the UART (by the host into the VM's 16550; on
#    a Pi through the TX->RX loop), one epoch every 300 ms as a receiver sends it, shows up as
#    the fix in published snapshots, lat/lon/alt as gpsd decoded them (boards/nmea/NAME.chk is
#    gpsd's own output for the log).
LOG=neo-m8n.log
NMEA=$HIL_ROOT/boards/nmea
PACE_MS=300
fw_online
s=$(marker)
[ "$(snapshot_seq "$s" | field gps)" = null ] || fail "snapshot $s has a fix before any NMEA was written: $(snapshot_seq "$s" | field gps)"

# gpsd's fixes, "hh:mm:ss lat lon alt" (gpsd's dates differ from the receiver's: it applies a
# week-rollover guess; the time of day is the key). The firmware publishes whole epochs, as
# gpsd reports them, so every fix it publishes must be one of these, up to gpsd's last (the
# log's final epoch is cut short, and neither reports it).
# The log's first epoch has a position but no date yet (a GLL before the first RMC): gpsd gives
# that TPV no time, the firmware the time of day only; both are "undated" here.
grep '"class":"TPV"' "$NMEA/$LOG.chk" | grep '"lat"' | while read -r tpv; do
    t=$(echo "$tpv" | field time | cut -c13-20)
    echo "${t:-undated} $(echo "$tpv" | field lat) $(echo "$tpv" | field lon) $(echo "$tpv" | field alt)"
done > "$HIL_WORK/gpsd.fixes"
[ -s "$HIL_WORK/gpsd.fixes" ] || fail "no TPV with a position in $LOG.chk"
log_end=$(tail -n1 "$HIL_WORK/gpsd.fixes" | cut -d' ' -f1)

# A snapshot's fix as "hh:mm:ss lat lon alt seq", or "undated ..." for a time of day with no
# date (one sed over all the lines given).
fixes_of() {
    sed -n -e 's/^{"device":"[^"]*","seq":\([0-9]*\),.*"gps":{"mode":[0-9]*,"lat":\([-0-9.e]*\),"lon":\([-0-9.e]*\),"alt":\([-0-9.enul]*\),[^}]*"time":"....-..-..T\(..:..:..\)[^}]*}.*/\5 \2 \3 \4 \1/p' \
           -e 's/^{"device":"[^"]*","seq":\([0-9]*\),.*"gps":{"mode":[0-9]*,"lat":\([-0-9.e]*\),"lon":\([-0-9.e]*\),"alt":\([-0-9.enul]*\),[^}]*"time":"..:..:..\.[0-9]*"[^}]*}.*/undated \2 \3 \4 \1/p'
}
# A snapshot now (besides the periodic ones): has gpsd's last fix reached the published one?
reached_end() {
    snapshot_seq "$(marker)" | fixes_of | grep -q "^$log_end "
}
feed_nmea $LOG $PACE_MS
say "writing $LOG into the UART, one epoch every $PACE_MS ms; gpsd decoded $(wc -l < "$HIL_WORK/gpsd.fixes") fixes, the last at $log_end"
wait_until 90 "snapshot with gpsd's last fix ($log_end)" reached_end
snapshots | fixes_of | awk -v after="$s" '$5 > after' > "$HIL_WORK/fixes"

# Compare: every published fix must be gpsd's of the same time, to 1e-6 degree and 1 cm.
verdict=$(awk 'NR == FNR { lat[$1] = $2; lon[$1] = $3; alt[$1] = $4; next }
    function off(x, y, eps) { return x - y > eps || y - x > eps }
    !($1 in lat) { print "snapshot " $5 " has a fix at " $1 ", a time gpsd reported no fix for"; bad = 1; exit }
    off($2, lat[$1], 1e-6) || off($3, lon[$1], 1e-6) || off($4, alt[$1], 0.01) {
        print "snapshot " $5 " at " $1 ": " $2 " " $3 " " $4 ", gpsd: " lat[$1] " " lon[$1] " " alt[$1]; bad = 1; exit }
    !($1 in seen) { seen[$1] = 1; n++ }
    END { if (!bad) print "ok " n + 0 }' "$HIL_WORK/gpsd.fixes" "$HIL_WORK/fixes")
case "$verdict" in ok*) ;; *) fail "$verdict";; esac
n=${verdict#ok }
[ "$n" -ge 5 ] || fail "only $n of gpsd's epochs were published while the log went in; want at least 5 to compare"
say "$(wc -l < "$HIL_WORK/fixes") snapshots with a fix, $n different epochs: each is gpsd's fix of its time"
last=$(grep "^$log_end " "$HIL_WORK/fixes" | tail -n1)
say "gpsd's last fix ($log_end): $(echo "$last" | cut -d' ' -f2-4), in snapshot $(echo "$last" | cut -d' ' -f5); uart $(snapshot_seq "$(echo "$last" | cut -d' ' -f5)" | field uart)"
