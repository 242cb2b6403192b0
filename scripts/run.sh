#!/bin/bash
# make run: the firmware on the simulated board in real time, replaying a gpsd log on its GPS
# UART, publishing to a mosquitto on 127.0.0.1:1883 (this script starts one when nothing
# listens there, and stops it afterwards). Extra arguments go to `firmloop run`.
set -u
cd "$(dirname "$0")/.."
PORT=1883
STATE=.build/run
mkdir -p "$STATE"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

MPID=""
if listening; then
    echo "make run: using the MQTT broker already on 127.0.0.1:$PORT"
else
    # Its own session: Ctrl-C reaches the firmware only, which then still publishes "offline".
    setsid scripts/mosquitto.sh "$STATE" "$PORT" > "$STATE/mosquitto.log" 2>&1 &
    MPID=$!
    for _ in $(seq 50); do listening && break; sleep 0.1; done
    if ! listening; then echo "make run: mosquitto did not start (see $STATE/mosquitto.log)"; cat "$STATE/mosquitto.log"; exit 1; fi
    echo "make run: started mosquitto on 127.0.0.1:$PORT (log: $STATE/mosquitto.log)"
fi
stop_mosquitto() {
    [ -n "$MPID" ] || return 0
    kill "$MPID" 2>/dev/null
    # SIGKILL if it ignores SIGTERM (a parent may have left it blocked).
    for _ in $(seq 20); do kill -0 "$MPID" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$MPID" 2>/dev/null
}
trap stop_mosquitto EXIT
echo "make run: watch it with:  mosquitto_sub -h 127.0.0.1 -t 'firmloop/#' -v"
echo "make run: command it with: mosquitto_pub -h 127.0.0.1 -t firmloop/demo/cmd -m '{\"id\":\"c1\",\"set\":{\"relay\":true}}'"
.build/release/firmloop run --board boards/sim.json --broker "mqtt://127.0.0.1:$PORT" --device-id demo \
    --snapshot-interval 2000 --outbox "$STATE/demo.outbox" --nmea-replay boards/nmea/neo-m8n.log "$@"
