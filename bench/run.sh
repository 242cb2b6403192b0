#!/usr/bin/env bash
# make bench: ours and the peers, side by side in one run, then the ratios and the issue's floors.
# Expects `make bench` to have built .build-static/release/firmloop-bench, .build/alloccount.so
# and the venv with uvloop. Output: JSON lines on stdout (also saved to bench/out/latest.jsonl).
#
# The benchmark binary is the static build (--static-swift-stdlib), as `make install` puts
# firmloop on a device: with the runtime linked in, its thread-locals are reached directly, not
# through __tls_get_addr (the dynamic build is ~4% slower per yield, ~10% per simulated day).
# BENCH_BIN=.build/release/firmloop-bench measures a dynamic build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
out=bench/out/latest.jsonl
py=.build/bench-venv/bin/python3
bench=${BENCH_BIN:-.build-static/release/firmloop-bench}
shim=$PWD/.build/alloccount.so
: > "$out"
if [ "$(cut -d' ' -f1 /proc/loadavg | cut -d. -f1)" -ge 1 ]; then
  echo "note: load average $(cut -d' ' -f1-3 /proc/loadavg): other work is running; figures will be noisy" >&2
fi
# Not pinned to a CPU: tried (taskset -c 1), it made fd ping-pong and sleep lateness worse for
# all three loops on the 2-core VM this was measured on. PIN="taskset -c N" sets a pin.
pin=${PIN:-}
# ROUNDS rounds per group, firmloop then CPython then uvloop each round: the summary takes each
# round's ratios (pairs measured seconds apart) and reports their median.
# yield and spawn are followed by their floor rows (floor_yield, floor_spawn: the Swift runtime
# alone on a minimal executor, Floor.swift; a process of their own, the floor its default
# executor), so the summary reads both as ratios to it.
rounds=${ROUNDS:-3}
for group in yield spawn fd_pingpong sleep_lateness idle_cpu parked_task; do
  for round in $(seq "$rounds"); do
    [ "$group" = idle_cpu ] || [ "$group" = parked_task ] && [ "$round" -gt 1 ] && continue
    FIRMLOOP_BENCH=$group $pin $bench | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
    case $group in yield | spawn) FIRMLOOP_BENCH=floor_$group $pin $bench | sed "s/}\$/,\"round\":$round}/" | tee -a "$out" ;; esac
    LD_PRELOAD=$shim $pin $py bench/asyncio_bench.py --impl cpython-asyncio --only $group | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
    LD_PRELOAD=$shim $pin $py bench/asyncio_bench.py --impl uvloop --only $group | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
  done
done
FIRMLOOP_BENCH=virtual_24h,sim_24h,sim_24h_firmware $pin $bench | tee -a "$out"

# NMEA framing + parsing from memory (issue 17), ours and pynmea2's on the same bytes.
mkdir -p .build/bench-nmea
BENCH_NMEA_DIR=.build/bench-nmea FIRMLOOP_BENCH=nmea $pin $bench | tee -a "$out"
$pin $py bench/nmea_pynmea2.py .build/bench-nmea | tee -a "$out"

# MQTT (firmware issue): a mosquitto of our own on a free loopback port; a 100,000-snapshot
# backlog drained by the firmware (from its on-disk outbox) and the same payloads published by
# paho-mqtt, each round side by side; then one snapshot cycle's cost.
mq=$PWD/.build/bench-mqtt
mkdir -p "$mq"
. bench/mosquitto.sh
port=$(free_port)
tls_port=$(free_port)
# A TLS listener too, with a CA and server certificate made by openssl (the TLS tests' script).
rm -rf "$mq/certs"; mkdir -p "$mq/certs"; chmod 755 "$mq/certs"
sh Tests/TLSTests/make-certs.sh "$mq/certs"
start_mosquitto "$mq" "$port" "$(printf 'listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n' "$tls_port" "$mq/certs/ca.pem" "$mq/certs/server.pem" "$mq/certs/server.key")"
trap 'kill $mosquitto_pid 2>/dev/null' EXIT
export BENCH_MQTT_PORT=$port BENCH_MQTT_TLS_PORT=$tls_port BENCH_MQTT_DIR=$mq
for round in $(seq "$rounds"); do
  FIRMLOOP_BENCH=mqtt_backlog $bench
  FIRMLOOP_BENCH=mqtt_drain $pin $bench | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
  $pin $py bench/mqtt_paho.py --port "$port" --payloads "$mq/payloads.txt" | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
  $pin python3 bench/mqtt_mosquitto_pub.py --port "$port" --payloads "$mq/payloads.txt" | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
  # The same over TLS (issue 14): a fresh backlog, then both clients on the TLS listener.
  FIRMLOOP_BENCH=mqtt_backlog $bench
  FIRMLOOP_BENCH=mqtt_drain_tls $pin $bench | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
  $pin $py bench/mqtt_paho.py --port "$tls_port" --cafile "$mq/certs/ca.pem" --payloads "$mq/payloads.txt" | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
  $pin python3 bench/mqtt_mosquitto_pub.py --port "$tls_port" --cafile "$mq/certs/ca.pem" --payloads "$mq/payloads.txt" | sed "s/}\$/,\"round\":$round}/" | tee -a "$out"
done
FIRMLOOP_BENCH=snapshot_cycle $pin $bench | tee -a "$out"

# The whole firmware beside the Python firmware a Pi user would write instead (issue 28,
# bench/peers/python-firmware): NMEA from a pty at 9600 and 115200 baud, a snapshot every
# 100 ms and 2 s, CPU per hour, RSS, latency, start-up, a 10-minute backlog's drain. The
# static firmloop, as `make install` ships it.
$pin $py bench/firmware_side_by_side.py --firmloop "${BENCH_FIRMLOOP:-.build-static/release/firmloop}" --python "$py" | tee -a "$out"
# What an over-the-air update ships (issue 28): the static firmloop stripped, as the .deb and
# `make install` ship it, and whether Foundation or _StringProcessing is linked in; the
# aarch64 build's too when `make build-arm64` made one.
for bin in "${BENCH_FIRMLOOP:-.build-static/release/firmloop}" .build-arm64/aarch64-unknown-linux-gnu/release/firmloop; do
  [ -x "$bin" ] || continue
  s=$(mktemp)
  objcopy --strip-all "$bin" "$s" 2>/dev/null || llvm-objcopy --strip-all "$bin" "$s"
  case $(readelf -h "$bin" | sed -n 's/.*Machine: *//p') in *X86-64*) arch=x86_64 ;; *AArch64*) arch=aarch64 ;; *) arch=other ;; esac
  printf '{"bench":"binary_size","impl":"firmloop","arch":"%s","unstripped_bytes":%s,"stripped_bytes":%s,"foundation_symbols":%s}\n' \
    "$arch" "$(wc -c < "$bin")" "$(wc -c < "$s")" "$(readelf -sW "$bin" | grep -c 'FoundationEssentials\|17_StringProcessing' || true)" | tee -a "$out"
  rm -f "$s"
done
python3 bench/summary.py "$out"
