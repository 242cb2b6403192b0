# 6. I2C and PWM (in the VM): a BME280 and an ADS1115 on the kernel's own i2c-stub, their
#    registers loaded with i2cset, read by the firmware binary, whose published values must
#    equal the datasheets' formulas computed here, independently (awk, in double precision),
#    from the same registers; the stub unloaded mid-run is a fault of both roles, loaded again
#    it clears. A fan on the project's pwm-sim chip: its period and duty read back from sysfs,
#    set by command, and disabled and unexported when the firmware exits.
if [ "$HIL_BACKEND" != vm ]; then
    say "skipped on a Pi: this scenario needs the VM's i2c-stub and pwm-sim (on a Pi, firmloop probe checks real sensors)"
    exit 0
fi
BUSES=$HIL_ROOT/boards/hil-buses.json
fw_running && fw_signal TERM >/dev/null

# The BME280's registers: chip id, calibration (the BMP280 datasheet's worked example for T
# and P, a bench part's H), and one measurement in the data registers (adc_P 415148,
# adc_T 519888, adc_H 28000).
BME="0xd0=0x60
0x88=0x70 0x89=0x6b 0x8a=0x43 0x8b=0x67 0x8c=0x18 0x8d=0xfc 0x8e=0x7d 0x8f=0x8e
0x90=0x43 0x91=0xd6 0x92=0xd0 0x93=0x0b 0x94=0x27 0x95=0x0b 0x96=0x8c 0x97=0x00
0x98=0xf9 0x99=0xff 0x9a=0x8c 0x9b=0x3c 0x9c=0xf8 0x9d=0xc6 0x9e=0x70 0x9f=0x17 0xa1=0x4b
0xe1=0x6a 0xe2=0x01 0xe3=0x00 0xe4=0x13 0xe5=0x29 0xe6=0x03 0xe7=0x1e
0xf7=0x65 0xf8=0x5a 0xf9=0xc0 0xfa=0x7e 0xfb=0xed 0xfc=0x00 0xfd=0x6d 0xfe=0x60"
ADS_CONVERSION=0x3412     # an SMBus word, low byte first: the ADS1115 sends 0x12 0x34, raw 0x1234

stub_bus() { for a in /sys/bus/i2c/devices/i2c-*; do [ "$(cat "$a/name" 2>/dev/null)" = "SMBus stub driver" ] && echo "${a##*-}"; done; }
stub_load() {
    modprobe i2c-stub chip_addr=0x76,0x48 || fail "modprobe i2c-stub"
    wait_until 5 "the i2c-stub adapter" test -n "$(stub_bus)"
    _b=$(stub_bus)
    for rv in $BME; do i2cset -y "$_b" 0x76 "${rv%=*}" "${rv#*=}" || fail "i2cset ${rv%=*} on bus $_b"; done
    i2cset -y "$_b" 0x48 0x00 $ADS_CONVERSION w || fail "i2cset the ADS1115's conversion register"
}
stub_unload() { rmmod i2c_stub 2>/dev/null; }

# What the registers say, by the datasheets' double-precision formulas (BME280 4.2.3, ADS1115 9.3.3).
expected() {
    echo "$BME" | tr ' ' '\n' | awk -F= -v ads=$ADS_CONVERSION '
        function hex(s,   i, v) { v = 0; s = tolower(substr(s, 3)); for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
        function u16(r) { return reg[r] + 256 * reg[r + 1] }
        function s16(r) { v = u16(r); return v >= 32768 ? v - 65536 : v }
        function s8(v) { return v >= 128 ? v - 256 : v }
        NF == 2 { reg[hex($1)] = hex($2) }
        END {
            T1 = u16(136); T2 = s16(138); T3 = s16(140)
            P1 = u16(142); P2 = s16(144); P3 = s16(146); P4 = s16(148); P5 = s16(150); P6 = s16(152); P7 = s16(154); P8 = s16(156); P9 = s16(158)
            H1 = reg[161]; H2 = s16(225); H3 = reg[227]; H4 = s8(reg[228]) * 16 + reg[229] % 16; H5 = s8(reg[230]) * 16 + int(reg[229] / 16); H6 = s8(reg[231])
            aP = reg[247] * 4096 + reg[248] * 16 + int(reg[249] / 16)
            aT = reg[250] * 4096 + reg[251] * 16 + int(reg[252] / 16)
            aH = reg[253] * 256 + reg[254]
            v1 = (aT / 16384 - T1 / 1024) * T2; d = aT / 131072 - T1 / 8192; v2 = d * d * T3
            tf = int(v1 + v2); t = (v1 + v2) / 5120
            v1 = tf / 2 - 64000; v2 = v1 * v1 * P6 / 32768; v2 += v1 * P5 * 2; v2 = v2 / 4 + P4 * 65536
            v1 = (P3 * v1 * v1 / 524288 + P2 * v1) / 524288; v1 = (1 + v1 / 32768) * P1
            p = 1048576 - aP; p = (p - v2 / 4096) * 6250 / v1; v1 = P9 * p * p / 2147483648; v2 = p * P8 / 32768; p += (v1 + v2 + P7) / 16
            h = tf - 76800
            h = (aH - (H4 * 64 + H5 / 16384 * h)) * (H2 / 65536 * (1 + H6 / 67108864 * h * (1 + H3 / 67108864 * h)))
            h *= 1 - H1 * h / 524288
            w = hex(ads); raw = (w % 256) * 256 + int(w / 256); if (raw >= 32768) raw -= 65536
            printf "%.4f %.4f %.4f %.5f\n", t, h, p / 100, raw * 4.096 / 32768
        }'
}
# near A B TOLERANCE: |A - B| <= TOLERANCE.
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
num() { sed -n "s/.*\"$1\":\([-0-9.e]*\).*/\1/p"; }

stub_load
set -- $(expected)
want_t=$1 want_h=$2 want_p=$3 want_v=$4
say "i2c-stub on bus $(stub_bus): BME280 at 0x76, ADS1115 at 0x48; the datasheets say $want_t °C, $want_h %RH, $want_p hPa, $want_v V"

"$FIRMLOOP" probe --board "$BUSES" > "$HIL_WORK/probe-buses.log" 2>&1 || fail "firmloop probe --board hil-buses.json: $(cat "$HIL_WORK/probe-buses.log")"
grep -q "(SMBus stub driver): 0x48 0x76" "$HIL_WORK/probe-buses.log" || fail "probe did not list 0x48 and 0x76 on the stub: $(grep '^I2C' "$HIL_WORK/probe-buses.log")"
say "probe: $(grep '^I2C' "$HIL_WORK/probe-buses.log"); $(grep -c ' ok$' "$HIL_WORK/probe-buses.log") roles ok"

HIL_BOARD=$BUSES fw_online
PWM=
for c in /sys/class/pwm/pwmchip*; do [ "$(basename "$(readlink "$c/device")")" = pwm-sim ] && PWM=$c/pwm0; done
[ -n "$PWM" ] && [ -d "$PWM" ] || fail "the firmware did not export pwm-sim's channel 0"
pwm_is() { [ "$(cat "$PWM/period")" = "$1" ] && [ "$(cat "$PWM/duty_cycle")" = "$2" ] && [ "$(cat "$PWM/enable")" = 1 ]; }
wait_until 5 "fan at 25 kHz, duty 0.25 in sysfs" pwm_is 40000 10000
say "fan: $PWM period $(cat "$PWM/period") ns, duty $(cat "$PWM/duty_cycle") ns, enabled"

# The readings, once both drivers have measured.
measured() { s=$(marker); snapshot_seq "$s" | grep -q '"a0":[-0-9]'; }
wait_until 20 "a snapshot with both sensors' readings" measured
snap=$(snapshot_seq "$s")
climate=$(echo "$snap" | field climate)
adc=$(echo "$snap" | field adc)
t=$(echo "$climate" | num temperature_c) h=$(echo "$climate" | num humidity_pct) p=$(echo "$climate" | num pressure_hpa) v=$(echo "$adc" | num a0)
# The published digits: 0.01 °C, %RH and hPa; 0.0001 V.
near "$t" "$want_t" 0.006 || fail "temperature $t °C, the datasheet says $want_t"
near "$h" "$want_h" 0.03 || fail "humidity $h %RH, the datasheet says $want_h"
near "$p" "$want_p" 0.006 || fail "pressure $p hPa, the datasheet says $want_p"
near "$v" "$want_v" 0.00006 || fail "ADS1115 a0 $v V, the datasheet says $want_v"
say "snapshot $s: climate $climate, adc $adc: equal to the datasheets' within the published digits"

id=$(new_id fan)
ack=$(cmd_ok "$id" "{\"id\":\"$id\",\"set\":{\"fan\":0.6}}")
pwm_is 40000 24000 || fail "set fan 0.6 acked ($ack) but sysfs has duty $(cat "$PWM/duty_cycle")"
id=$(new_id fan)
ack=$(cmd "$id" "{\"id\":\"$id\",\"set\":{\"fan\":1.5}}")
case "$ack" in *'"ok":false'*'duty 1.5 is out of range'*) ;; *) fail "set fan 1.5 answered $ack";; esac
pwm_is 40000 24000 || fail "a refused duty changed sysfs to $(cat "$PWM/duty_cycle")"
say "set fan 0.6 -> duty 24000 ns in sysfs; 1.5 refused ($ack), nothing changed"

# The stub unloaded mid-run: both roles fault, naming the bus; loaded again: cleared.
n=0
until stub_unload; do n=$((n + 1)); [ $n -lt 100 ] || fail "rmmod i2c_stub: still busy after 5 s"; sleep 0.05; done
faulted() { s=$(marker); snapshot_seq "$s" | grep -q '"role":"adc","error":"role .adc.: no I2C bus named .SMBus stub driver.' && snapshot_seq "$s" | grep -q '"role":"climate"'; }
wait_until 20 "a snapshot with the climate and adc faults" faulted
say "stub unloaded: snapshot $s: faults $(snapshot_seq "$s" | sed -n 's/.*"faults":\(\[[^]]*\]\).*/\1/p' | cut -c1-240)"
stub_load
cleared() { s=$(marker); snapshot_seq "$s" | grep -q '"faults":\[\]' && snapshot_seq "$s" | grep -q '"a0":[-0-9]'; }
wait_until 75 "the faults cleared after the stub came back" cleared
say "stub loaded again (bus $(stub_bus)): snapshot $s has no fault and $(snapshot_seq "$s" | field climate)"

# A clean exit releases the channel: disabled, then unexported.
rc=$(fw_signal TERM)
[ "$rc" = 0 ] || fail "firmloop run exited $rc on SIGTERM"
[ ! -d "$PWM" ] || fail "$PWM is still exported after the firmware exited"
en=$(cut -d, -f1 /sys/module/pwm_sim/parameters/enabled)
[ "$en" = N ] || fail "pwm-sim's channel 0 was left enabled ($en) when the firmware let it go"
say "SIGTERM: exit 0; pwm-sim channel 0 disabled (enabled=$en, last duty $(cut -d, -f1 /sys/module/pwm_sim/parameters/duty_ns) ns) and unexported"
stub_unload
