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
. bench/mosquitto.sh
port=$(free_port)
start_mosquitto "$dir" "$port"
trap 'kill $mosquitto_pid 2>/dev/null; rm -rf "$dir"' EXIT
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
