import CAllocCount
import Glibc
import KernelTestSupport
import Testing
@testable import Kernel

/// MicroPython's asyncio_heaplock test, for the kernel: once warm, switching tasks must not touch
/// the heap. The counter is a malloc interposer (CAllocCount) linked into the test runner; it
/// counts per thread, and the kernel runs on this test's thread, so other tests cannot disturb it.
///
/// Only release builds keep these paths off the heap (a debug build boxes closure contexts and
/// runs unspecialised generics), so the suite runs where `make test` runs it: `-c release`.
#if DEBUG
private let releaseBuild = false
#else
private let releaseBuild = true
#endif

@Suite(.enabled(if: releaseBuild, "allocation counts are meaningful in release builds only: run `make test`"))
struct AllocationTests {
    @Test func counterSeesRealMallocs() {
        let before = alloccount_calls()
        sink = [UInt8](repeating: 1, count: 4096)   // escapes, so the optimizer cannot drop it
        #expect(alloccount_calls() - before >= 1, "the interposer must count, or the zero checks below prove nothing")
    }

    @Test func yieldSleepAndTimeoutScopesDoNotAllocate() throws {
        let counts = try kernelTest { () async throws -> [String: UInt64] in
            // Other tasks yielding at the same time, so each yield really switches.
            let stop = Event()
            for i in 0..<10 { spawn("spinner\(i)") { while !stop.isSet { try await yield() } } }
            var r: [String: UInt64] = [:]
            r["yield"] = try await mallocs { try await yield() }
            stop.set()   // spinners keep virtual time still: stop them before sleeping
            r["sleep"] = try await mallocs { try await sleep(ms: 1) }
            r["withTimeout+sleep"] = try await mallocs { try await withTimeout(ms: 10) { try await sleep(ms: 1) } }
            return r
        }
        #expect(counts == ["yield": 0, "sleep": 0, "withTimeout+sleep": 0])
    }

    @Test func fdWakeDoesNotAllocate() throws {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        let count = try kernelTest { () async throws -> UInt64 in
            // An echo task on one end; each round trip is two fd wakes.
            let echo = spawn("echo") {
                var byte: UInt8 = 0
                while true {
                    try await readable(b)
                    guard read(b, &byte, 1) == 1 else { return }
                    _ = write(b, &byte, 1)
                }
            }
            var byte: UInt8 = 7
            let n = try await mallocs {
                _ = write(a, &byte, 1)
                try await readable(a)
                _ = read(a, &byte, 1)
            }
            echo.cancel()
            return n
        }
        #expect(count == 0)
    }

    @Test func eventAndChannelDoNotAllocate() throws {
        let counts = try kernelTest { () async throws -> [String: UInt64] in
            var r: [String: UInt64] = [:]
            // Event ping-pong between two tasks.
            let ping = Event(), pong = Event()
            let peer = spawn("peer") {
                while true {
                    try await ping.wait()
                    ping.clear()
                    pong.set()
                }
            }
            r["event"] = try await mallocs {
                ping.set()
                try await pong.wait()
                pong.clear()
            }
            peer.cancel()
            // Channel through a consumer that blocks on every receive (capacity 1: send waits too).
            let ch = Channel<Int>(capacity: 1)
            let consumer = spawn("consumer") { while try await ch.receive() != nil {} }
            r["channel"] = try await mallocs { try await ch.send(1) }
            ch.close()
            try await consumer.value
            // Lock hand-over between two tasks.
            let lock = AsyncLock()
            let other = spawn("other") { while true { try await lock.withLock { try await yield() } } }
            r["lock"] = try await mallocs { try await lock.withLock { try await yield() } }
            other.cancel()
            return r
        }
        #expect(counts == ["event": 0, "channel": 0, "lock": 0])
    }
}

/// Runs `body` `warm` times, then `n` times, and returns the malloc calls of the second batch.
@KernelActor
func mallocs(warm: Int = 500, n: Int = 5000, _ body: () async throws -> Void) async throws -> UInt64 {
    for _ in 0..<warm { try await body() }
    let before = alloccount_calls()
    for _ in 0..<n { try await body() }
    return alloccount_calls() - before
}

nonisolated(unsafe) private var sink: [UInt8] = []
