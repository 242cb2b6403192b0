#!/usr/bin/env bash
# bench/mqtt_ab.sh [ROUNDS] BIN... — before/after for the MQTT drain: each firmloop-bench
# binary in turn, ROUNDS rounds, against one mosquitto of our own on a free loopback port
# (persistence off); each run drains a fresh 100,000-snapshot backlog. Prints each binary's
# msgs/s sorted, and the median. Alternating runs a few seconds apart: the fair comparison on a
# machine that drifts minute to minute. Example:
#   bench/mqtt_ab.sh 5 /tmp/before/firmloop-bench .build-static/release/firmloop-bench
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
if [[ ${1:-} =~ ^[0-9]+$ ]]; then rounds=$1; shift; fi
[ $# -ge 1 ] || { echo "usage: bench/mqtt_ab.sh [ROUNDS] BIN..." >&2; exit 2; }
dir=$(mktemp -d /tmp/firmloop-mqtt-ab.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$port" > "$dir/mosquitto.conf"
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
mpid=$!
trap 'kill $mpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export BENCH_MQTT_PORT=$port BENCH_MQTT_DIR=$dir
for _ in $(seq "$rounds"); do
  for bin in "$@"; do
    FIRMLOOP_BENCH=mqtt_backlog "$bin" > /dev/null
    echo "$bin $(FIRMLOOP_BENCH=mqtt_drain "$bin" | sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p')"
  done
done | python3 -c '
import sys, statistics
runs = {}
for line in sys.stdin:
    name, rate = line.rsplit(" ", 1)
    runs.setdefault(name, []).append(float(rate))
for name, rates in runs.items():
    each = ", ".join(format(r, ",.0f") for r in sorted(rates))
    print(f"{name}: median {statistics.median(rates):,.0f} msgs/s  ({each})")
'
