#!/bin/sh
# make install / make uninstall: deploy/install.sh install|uninstall BINARY
#
# Honours PREFIX (default /usr/local) and DESTDIR (a staging root or a target root filesystem).
#   $PREFIX/bin/firmloop                          the release binary (Swift's stdlib linked in),
#                                                 stripped: its debug info stays in the build,
#                                                 BINARY.debug (.gnu_debuglink), for reading a crash
#   $PREFIX/lib/systemd/system/firmloop.service   the unit (systemd reads /usr/local/lib too)
#   $PREFIX/lib/sysusers.d/firmloop.conf          the firmloop user, in the gpio and dialout groups
#   $PREFIX/share/firmloop/boards/                the board files (+ their NMEA logs)
#   $PREFIX/share/doc/firmloop/README.md
#   /etc/udev/rules.d/60-firmloop-gpiochip.rules  /dev/gpiochip* for the gpio group
#   /etc/firmloop/firmloop.json                   a sample config, never overwritten
# Then the user is made (systemd-sysusers, or --root=$DESTDIR when DESTDIR is a root
# filesystem, i.e. has etc/passwd) and, on a running system, systemd and udev reload.
# Uninstall removes all of that but the config, /var/lib/firmloop (the outbox) and the user.
set -eu
cd "$(dirname "$0")/.."
ACTION=$1
BIN=${2:-}
PREFIX=${PREFIX:-/usr/local}
D=${DESTDIR:-}
UNIT=$D$PREFIX/lib/systemd/system/firmloop.service
SYSUSERS=$D$PREFIX/lib/sysusers.d/firmloop.conf
RULE=$D/etc/udev/rules.d/60-firmloop-gpiochip.rules
CONF=$D/etc/firmloop/firmloop.json
say() { echo "install: $*"; }
# On the machine itself (no DESTDIR) with systemd running as PID 1.
live() { [ -z "$D" ] && [ -d /run/systemd/system ]; }

case $ACTION in
install)
    [ -x "$BIN" ] || { echo "install: no binary at '$BIN' (make install builds it)" >&2; exit 1; }
    # What a device needs is the stripped binary (9.8 MB, not 19.5); BINARY.debug is what
    # `gdb`/`addr2line -e` need to read its crash, and it stays here, not on the device.
    objcopy=$(command -v objcopy || command -v llvm-objcopy || true)
    [ -n "$objcopy" ] || { echo "install: objcopy is missing (apt install binutils)" >&2; exit 1; }
    stripped=$(mktemp "${TMPDIR:-/tmp}/firmloop-bin-XXXXXX")
    "$objcopy" --only-keep-debug "$BIN" "$BIN.debug"
    "$objcopy" --strip-all --add-gnu-debuglink="$BIN.debug" "$BIN" "$stripped"
    install -D -m 0755 "$stripped" "$D$PREFIX/bin/firmloop"
    rm -f "$stripped"
    say "$PREFIX/bin/firmloop stripped ($(wc -c < "$D$PREFIX/bin/firmloop") bytes); its debug info: $BIN.debug"
    mkdir -p "$(dirname "$UNIT")"
    sed -e "s|@BINDIR@|$PREFIX/bin|g" -e "s|@PREFIX@|$PREFIX|g" deploy/firmloop.service.in > "$UNIT"
    chmod 0644 "$UNIT"
    install -D -m 0644 deploy/firmloop.sysusers "$SYSUSERS"
    install -D -m 0644 deploy/60-firmloop-gpiochip.rules "$RULE"
    install -d -m 0755 "$D$PREFIX/share/firmloop/boards/nmea"
    install -m 0644 boards/*.json "$D$PREFIX/share/firmloop/boards/"
    install -m 0644 boards/nmea/* "$D$PREFIX/share/firmloop/boards/nmea/"
    install -D -m 0644 README.md "$D$PREFIX/share/doc/firmloop/README.md"
    if [ -e "$CONF" ]; then
        say "kept your $CONF (the sample is $D$PREFIX/share/firmloop/firmloop.json)"
    else
        install -D -m 0644 deploy/firmloop.json "$CONF"
        say "wrote a sample $CONF: set its board and broker"
    fi
    install -m 0644 deploy/firmloop.json "$D$PREFIX/share/firmloop/firmloop.json"
    # The user and groups.
    if [ -n "$D" ] && [ ! -f "$D/etc/passwd" ]; then
        say "DESTDIR has no etc/passwd: the firmloop user is made at boot by systemd-sysusers ($PREFIX/lib/sysusers.d/firmloop.conf)"
    elif command -v systemd-sysusers >/dev/null; then
        if [ -n "$D" ]; then systemd-sysusers --root="$D" "$SYSUSERS"; else systemd-sysusers "$SYSUSERS"; fi
        say "user firmloop in groups: $( (grep -E '^(gpio|dialout):' "$D/etc/group" | grep -E '[:,]firmloop(,|$)' | cut -d: -f1 | tr '\n' ' ') || true)"
    else
        R=${D:+--root $D}
        getent ${D:+-s files} group gpio >/dev/null 2>&1 || groupadd $R --system gpio
        id firmloop >/dev/null 2>&1 || useradd $R --system --home-dir /var/lib/firmloop --no-create-home \
            --shell /usr/sbin/nologin --user-group --groups gpio,dialout firmloop
    fi
    if live; then
        systemctl daemon-reload
        command -v udevadm >/dev/null && { udevadm control --reload; udevadm trigger --subsystem-match=gpio --action=change; } || true
        say "next: edit $CONF, check it with 'firmloop config check $CONF', then 'systemctl enable --now firmloop'"
    fi
    ;;
uninstall)
    if live; then systemctl disable --now firmloop 2>/dev/null || true; fi
    rm -f "$D$PREFIX/bin/firmloop" "$UNIT" "$SYSUSERS" "$RULE"
    rm -rf "$D$PREFIX/share/firmloop" "$D$PREFIX/share/doc/firmloop"
    if live; then systemctl daemon-reload; command -v udevadm >/dev/null && udevadm control --reload || true; fi
    say "removed firmloop; kept $D/etc/firmloop (your config), $D/var/lib/firmloop (the outbox) and the firmloop user"
    say "to remove those too: rm -r /etc/firmloop /var/lib/firmloop; userdel firmloop"
    ;;
*)
    echo "usage: deploy/install.sh install BINARY | uninstall" >&2; exit 2;;
esac
