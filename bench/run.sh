#!/usr/bin/env bash
# make bench: ours and the peers, side by side in one run, then the ratios and the issue's floors.
# Expects `make bench` to have built .build/release/firmloop-bench, .build/alloccount.so and
# the venv with uvloop. Output: JSON lines on stdout (also saved to bench/out/latest.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
out=bench/out/latest.jsonl
py=.build/bench-venv/bin/python3
shim=$PWD/.build/alloccount.so
: > "$out"
if [ "$(cut -d' ' -f1 /proc/loadavg | cut -d. -f1)" -ge 1 ]; then
  echo "note: load average $(cut -d' ' -f1-3 /proc/loadavg): other work is running; figures will be noisy" >&2
fi
# Interleave: firmloop, CPython, uvloop, per benchmark group, so drift hits all three alike.
for group in yield spawn fd_pingpong sleep_lateness idle_cpu parked_task; do
  FIRMLOOP_BENCH=$group .build/release/firmloop-bench | tee -a "$out"
  LD_PRELOAD=$shim $py bench/asyncio_bench.py --impl cpython-asyncio --only $group | tee -a "$out"
  LD_PRELOAD=$shim $py bench/asyncio_bench.py --impl uvloop --only $group | tee -a "$out"
done
FIRMLOOP_BENCH=virtual_24h .build/release/firmloop-bench | tee -a "$out"
python3 bench/summary.py "$out"
