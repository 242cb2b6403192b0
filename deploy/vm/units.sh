# Sourced by deploy/vm/test.sh: the test's own units and files in the root filesystem $R (the
# product comes in as the .deb, which the test installs with apt inside the VM: $DEBS here).
T=$R/usr/local/lib/vmtest
mkdir -p "$R/etc/systemd/system/firmloop.service.d" "$R/etc/systemd/system/firmloop-update.service.d" "$T/debs"
# What a test changes in the unit, as an admin would: a drop-in (apt purge leaves it: it is not
# the package's). A short watchdog.
cat > "$R/etc/systemd/system/firmloop.service.d/vmtest.conf" <<'UNIT'
[Service]
WatchdogSec=3s
RestartSec=1s
UNIT
# A shorter health gate for the update installer: online within 30 s, then 5 s with no restart.
cat > "$R/etc/systemd/system/firmloop-update.service.d/vmtest.conf" <<'UNIT'
[Service]
Environment=FIRMLOOP_UPDATE_HEALTH_SECONDS=30 FIRMLOOP_UPDATE_SETTLE_SECONDS=5
UNIT
# The admin's edit of the conffile, after the install: the HIL board (its lines by name on the
# gpio-sim chip), the VM's mosquitto.
echo '{"board": "hil", "broker": "mqtt://127.0.0.1:1883", "device_id": "hil", "snapshot_interval": "1s", "log_level": "debug", "update_cafile": "/etc/firmloop/update-ca.pem"}' \
    > "$T/firmloop.json"
cat > "$R/etc/systemd/system/vmtest-harness.service" <<'UNIT'
[Unit]
Description=Deploy test: gpio-sim chip named like the Pi header, /dev/serial0
After=systemd-udevd.service systemd-modules-load.service sys-kernel-config.mount
Before=firmloop.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/vmtest/harness.sh

[Install]
WantedBy=multi-user.target
UNIT
cat > "$R/etc/systemd/system/vmtest.service" <<'UNIT'
[Unit]
Description=Deploy test runner
After=multi-user.target firmloop.service mosquitto.service
# In [Unit]: a crash or timeout of the runner powers off (it powers off by itself when done).
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/lib/vmtest/vmtest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=600

[Install]
WantedBy=multi-user.target
UNIT
install -m 0755 deploy/vm/vmtest.sh deploy/vm/harness.sh "$T/"
install -m 0644 hil/scenarios/lib.sh hil/scenarios/harness-vm.sh boards/hil.json "$T/"
cp "${DEBS[@]}" "$T/debs/"
mkdir -p "$T/tls" "$T/www"
cp "$W/tls/ca.pem" "$W/tls/server.pem" "$W/tls/server.key" "$T/tls/"
cp "$W/www/"* "$T/www/"
