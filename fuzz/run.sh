#!/usr/bin/env bash
# make fuzz: each target under libFuzzer with AddressSanitizer (fuzz/README.md).
#   FUZZ_RUNS=N      executions per target (default 10,000,000: the long form)
#   FUZZ_SECONDS=S   seconds per target instead (make test runs 15 s each: one minute in all)
#   FUZZ_TARGETS     a subset of: mqtt nmea json command
# New inputs go to .build-fuzz/corpus/<target> (kept between runs, never committed); the seeds
# in fuzz/corpus are only read. A crash or a broken invariant leaves its input in
# .build-fuzz/crashes/ and fails; replay it with `.build/release/firmloop-fuzz TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
out=.build-fuzz
# One combined -sanitize= for swiftc, last on its command line: the driver keeps only the last
# -sanitize= it is given, and SwiftPM orders its own --sanitize flags at random (a set). Given as
# two flags, half the builds had ASan without coverage and libFuzzer ran blind. (SwiftPM still
# needs --sanitize=fuzzer itself: it then leaves `main` to libFuzzer.)
$SWIFT build -c release --scratch-path "$out" --product firmloop-fuzz --sanitize=address --sanitize=fuzzer \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 \
  | grep -vE '^\[[0-9]+/[0-9]+\]|^Building|^Build complete|warning:|^ *[0-9]* \||^ *\||^$' || true
bin="$out/release/firmloop-fuzz"
[ -x "$bin" ] || { echo "fuzz: the libFuzzer build failed"; exit 1; }
# Coverage, or the run proves nothing: the decoder's module must carry libFuzzer's counters.
# (Into a file, not a pipe: grep -q would stop objdump with SIGPIPE, and pipefail fails it.)
objdump -h "$out/release/MQTT.build/Codec.swift.o" > "$out/sections.txt" 2>&1 || true
grep -q __sancov_cntrs "$out/sections.txt" \
  || { echo "fuzz: the Swift modules were built without coverage (no __sancov_cntrs): libFuzzer would run blind"; exit 1; }
if [ -n "${FUZZ_SECONDS:-}" ]; then limit=(-max_total_time="$FUZZ_SECONDS"); else limit=(-runs="${FUZZ_RUNS:-10000000}"); fi
mkdir -p "$out/crashes"
for t in ${FUZZ_TARGETS:-mqtt nmea json command}; do
  mkdir -p "$out/corpus/$t"
  log="$out/$t.log"
  start=$(date +%s)
  if ! FIRMLOOP_FUZZ=$t "$bin" "${limit[@]}" -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/crashes/$t-" \
       "$out/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz $t: FAILED (input in $out/crashes/)"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz $t: $runs executions in $(( $(date +%s) - start )) s, 0 crashes, corpus $(ls "$out/corpus/$t" | wc -l) inputs"
done
