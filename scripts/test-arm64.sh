#!/usr/bin/env bash
# make test-arm64 (and make test, --if-possible: skips, saying why, where it cannot run): the
# aarch64 build proven under qemu-user (sid's 11.x: older ones lack epoll_pwait2, and before
# the kernel's fallback the loop trapped on it):
#   1. `firmloop simulate --duration 24h --seed 1`, aarch64 and x86_64: the same digest (the
#      simulator's promise: a seed replays the same day on any machine);
#   2. the nonsending-park stress on the aarch64 runtime (its preference path: Debian's 6.2.3
#      has no ExecutorFactory);
#   3. the test suite built for aarch64 (release, -enable-testing, as on x86_64; the Swift
#      runtime shared: Swift Testing has no static library) and run under qemu-user on sid's
#      arm64 glibc, but for the suites that start the firmloop binary as a child process
#      (qemu-user cannot exec an aarch64 child without binfmt_misc, which would change this
#      machine for every program): DefaultExecutorTests, EpollFallbackTests, CommandTests,
#      ArgumentsTests, ServiceTests, FirmwareProcessTests, UpdateCommandTests;
# each with its time. TCG runs aarch64 code with x86's stronger memory order: a weak-ordering
# race cannot show here; only a real Pi can (hil/pi.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
IF_POSSIBLE=0
[ "${1:-}" = --if-possible ] && IF_POSSIBLE=1
skip() {
    [ "$IF_POSSIBLE" = 1 ] || { echo "ARM64: FAILED: $*" >&2; exit 1; }
    echo "ARM64: SKIPPED: $* (FIRMLOOP_ARM64=0 skips it on purpose)"
    exit 0
}
[ "${FIRMLOOP_ARM64:-1}" != 0 ] || skip "FIRMLOOP_ARM64=0 is set"
now() { date +%s%N; }
secs() { echo "$(( ($(now) - $1) / 1000000 ))" | sed 's/...$/.&/; s/^\./0./'; }
t=$(now)
set +e
BIN=$(scripts/build-arm64.sh)
rc=$?
set -e
[ $rc = 3 ] && skip "the cross build cannot run here (above)"
[ $rc = 0 ] || { echo "ARM64: FAILED: make build-arm64 (above)" >&2; exit 1; }
echo "ARM64: built $BIN in $(secs "$t") s"
export ARM64_CACHE=${FIRMLOOP_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firmloop-arm64}
Q="$ARM64_CACHE/qemu/bin/qemu-aarch64 -L $ARM64_CACHE/sysroot"
$Q "$BIN" --version | sed 's/^/ARM64: /'

# 1. the same day on both
X86=${X86_FIRMLOOP:-.build/release/firmloop}
[ -x "$X86" ] || { echo "ARM64: FAILED: no x86_64 firmloop at $X86 to compare with (make test-arm64 builds it)" >&2; exit 1; }
digest() { sed -n 's/.*digest: \([0-9a-f]*\).*/\1/p'; }
t=$(now); a=$($Q "$BIN" simulate --duration 24h --seed 1 | digest); ta=$(secs "$t")
t=$(now); x=$("$X86" simulate --duration 24h --seed 1 | digest); tx=$(secs "$t")
echo "ARM64: simulate --duration 24h --seed 1: digest $a on aarch64 (qemu-user, $ta s), $x on x86_64 ($tx s)"
[ -n "$a" ] && [ "$a" = "$x" ] || { echo "ARM64: FAILED: the simulated day differs between the architectures" >&2; exit 1; }

# 2. the nonsending park on the aarch64 runtime
t=$(now)
scripts/arm64-chroot.sh swift build --package-path bench/nonsending-park -c release --static-swift-stdlib \
    --swift-sdks-path "$ARM64_CACHE/sdk" --swift-sdk firmloop-aarch64 --scratch-path "$PWD/.build-arm64-park" 2>&1 | grep -E "error|warning: " || true
NONSENDING_PARK_BIN=$PWD/.build-arm64-park/aarch64-unknown-linux-gnu/release/nonsending-park RUNNER="$Q" EXECUTORS=preference \
    bench/nonsending-park/run.sh | sed 's/^/ARM64: nonsending-park /'
echo "ARM64: nonsending-park on aarch64 in $(secs "$t") s"

# 3. the tests on aarch64
t=$(now)
scripts/arm64-chroot.sh swift build -c release -Xswiftc -enable-testing -Xlinker --allow-shlib-undefined --build-tests \
    --swift-sdks-path "$ARM64_CACHE/sdk" --swift-sdk firmloop-aarch64 --scratch-path .build-arm64-tests 2>&1 | grep -E "error|warning: |Build" || true
TESTS=.build-arm64-tests/aarch64-unknown-linux-gnu/release/firmloopPackageTests.xctest
[ -x "$TESTS" ] || { echo "ARM64: FAILED: the aarch64 test build (above)" >&2; exit 1; }
echo "ARM64: tests built for aarch64 in $(secs "$t") s"
t=$(now)
set +e
LD_LIBRARY_PATH=$ARM64_CACHE/sysroot/usr/lib/swift/linux timeout 1800 "$ARM64_CACHE/qemu/bin/qemu-aarch64" -L "$ARM64_CACHE/runtime" \
    "$TESTS" --testing-library swift-testing --skip 'DefaultExecutorTests|EpollFallbackTests|CommandTests|ArgumentsTests|ServiceTests|FirmwareProcessTests|UpdateCommandTests' \
    > .build-arm64-tests/run.log 2>&1
rc=$?
set -e
sed 's/\x1b\[[0-9;]*m//g' .build-arm64-tests/run.log | grep -E "^✘|Test run with" | sed 's/^/ARM64: /' | tail -n 40
[ $rc = 0 ] || { echo "ARM64: FAILED: the tests on aarch64 (exit $rc; .build-arm64-tests/run.log)" >&2; exit 1; }
echo "ARM64: tests on aarch64 (qemu-user) in $(secs "$t") s"
echo "ARM64: PASSED"
