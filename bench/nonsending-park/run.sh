#!/usr/bin/env bash
# make test-nonsending-park: the stress in every combination (README.md); fails on a lost job.
set -euo pipefail
cd "$(dirname "$0")"
SWIFT=${SWIFT:-swift}
# NONSENDING_PARK_BIN: an already built binary (the aarch64 one, make test-arm64); RUNNER runs it
# (qemu-aarch64); EXECUTORS: the executor modes (a 6.2 build has only preference).
if [ -z "${NONSENDING_PARK_BIN:-}" ]; then
    $SWIFT build -c release 2>&1 | grep -E "error|warning: " || true
fi
bin=${NONSENDING_PARK_BIN:-.build/release/nonsending-park}
[ -x "$bin" ] || { echo "nonsending-park: the build failed"; exit 1; }
for executor in ${EXECUTORS:-preference default}; do
  for continuation in isolation inherit; do
    for cancellation in handler plain; do
      timeout 120 ${RUNNER:-} "$bin" "$executor" "$continuation" "$cancellation" 500 2000
    done
  done
done
