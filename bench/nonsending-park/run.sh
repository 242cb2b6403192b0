#!/usr/bin/env bash
# make test-nonsending-park: the stress in every combination (README.md); fails on a lost job.
set -euo pipefail
cd "$(dirname "$0")"
SWIFT=${SWIFT:-swift}
$SWIFT build -c release 2>&1 | grep -E "error|warning: " || true
bin=.build/release/nonsending-park
[ -x "$bin" ] || { echo "nonsending-park: the build failed"; exit 1; }
for executor in preference default; do
  for continuation in isolation inherit; do
    for cancellation in handler plain; do
      timeout 120 "$bin" "$executor" "$continuation" "$cancellation" 500 2000
    done
  done
done
