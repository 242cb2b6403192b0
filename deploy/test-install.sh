#!/bin/sh
# make test-install: `make install` into a staging DESTDIR, checked the way systemd would:
# every file in place, the unit passes `systemd-analyze verify` with no warning (its exit status
# is 0 even for unknown keys, so any output about the unit fails), the sample config passes
# `firmloop config check` with the installed binary and board files, a second install keeps an
# edited config, and `make uninstall` removes all but the config. The installed binary is
# stripped, its debug info left beside BINARY as BINARY.debug. Usage: test-install.sh BINARY
set -eu
cd "$(dirname "$0")/.."
BIN=$1
D=$(mktemp -d /tmp/firmloop-install-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }
DESTDIR=$D PREFIX=/usr/local deploy/install.sh install "$BIN" >/dev/null
for f in usr/local/bin/firmloop usr/local/lib/systemd/system/firmloop.service usr/local/lib/sysusers.d/firmloop.conf \
         usr/local/share/firmloop/boards/raspberrypi-4b.json usr/local/share/firmloop/boards/nmea/neo-m8n.log \
         etc/udev/rules.d/60-firmloop-gpiochip.rules etc/firmloop/firmloop.json; do
    [ -e "$D/$f" ] || fail "make install left no /$f"
done
# The installed binary is stripped, and names the debug file it left in the build (issue 28).
! readelf -SW "$D/usr/local/bin/firmloop" | grep -Eq '\.(symtab|debug_info) ' || fail "the installed binary is not stripped: $(readelf -SW "$D/usr/local/bin/firmloop" | grep -E '\.(symtab|debug_)')"
readelf -p .gnu_debuglink "$D/usr/local/bin/firmloop" 2>/dev/null | grep -qF "$(basename "$BIN").debug" || fail "the installed binary has no .gnu_debuglink to $(basename "$BIN").debug"
readelf -S "$BIN.debug" | grep -q '\.debug_info' || fail "$BIN.debug holds no debug info"
U=$D/usr/local/lib/systemd/system/firmloop.service
grep -q '^ExecStart=/usr/local/bin/firmloop run --config /etc/firmloop/firmloop.json$' "$U" || fail "ExecStart: $(grep ExecStart "$U")"
for k in Type=notify WatchdogSec= Restart=on-failure StateDirectory=firmloop ConfigurationDirectory=firmloop \
         After=network-online.target NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes; do
    grep -q "^$k" "$U" || fail "the unit has no $k"
done
! grep -q '^PrivateDevices=' "$U" || fail "PrivateDevices= would hide /dev/gpiochip* and the serial port"
# systemd-analyze checks ExecStart= on this machine's root: point it at the staged binary.
V=$D/verify/firmloop.service
mkdir -p "$D/verify"
sed "s|^ExecStart=/usr/local/bin/firmloop|ExecStart=$D/usr/local/bin/firmloop|" "$U" > "$V"
out=$(systemd-analyze verify "$V" 2>&1) || fail "systemd-analyze verify: $out"
case "$out" in *firmloop*) fail "systemd-analyze verify warned: $out";; esac
echo "test-install: systemd-analyze verify: clean"
# The installed binary finds the installed board file by name.
out=$(cd / && "$D/usr/local/bin/firmloop" config check "$D/etc/firmloop/firmloop.json") || fail "config check of the sample: $out"
echo "$out" | grep -q "board file $D/usr/local/share/firmloop/boards/sim.json: sim" || fail "board by name: $out"
echo "test-install: the sample config checks, its board found by name under share/firmloop/boards"
echo '{"board": "hil"}' > "$D/etc/firmloop/firmloop.json"
DESTDIR=$D deploy/install.sh install "$BIN" | grep -q "kept your" || fail "a second install did not say it kept the config"
grep -q '"hil"' "$D/etc/firmloop/firmloop.json" || fail "a second install overwrote the config"
DESTDIR=$D deploy/install.sh uninstall >/dev/null
left=$(cd "$D" && find . -type f ! -path './verify/*' | sort | tr '\n' ' ')
[ "$left" = "./etc/firmloop/firmloop.json " ] || fail "after uninstall: $left"
echo "test-install: PASSED (install, verify, reinstall keeps the config, uninstall keeps only the config)"
