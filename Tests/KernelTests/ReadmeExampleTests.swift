import KernelTestSupport
import Testing
@testable import Kernel

/// The README's example, compiled and run (on the virtual clock), so the docs cannot rot.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleRuns() throws {
        let printed = Locked<[String]>([])
        @Sendable func print(_ x: Any) { printed.set(printed.get() + ["\(x)"]) }
        @Sendable func readSensorBlocking() -> Double { 21.5 }

        try kernelTest {
            let readings = Channel<Double>(capacity: 16)  // asyncio.Queue(16): send waits when full

            spawn("sensor") {                             // asyncio.create_task(...)
                let tick = every(ms: 1000)                // drift-free: tick n at start + n s
                while true {
                    _ = try await tick.tick()
                    try await readings.send(try await offload { readSensorBlocking() })   // run_in_executor
                }
            }
            let logger = spawn("logger") {
                while let r = try await readings.receive() { print(r) }
            }

            do {
                try await withTimeout(ms: 4500) { try await logger.value }   // asyncio.timeout(4.5)
            } catch is TimeoutError {
                print(Kernel.stats())                     // per task: switches, run time, longest stretch
            }
        }
        let lines = printed.get()
        #expect(lines.count == 5, "four readings at 1-4 s, then the stats when the timeout ends the wait at 4.5 s")
        #expect(lines.prefix(4).allSatisfy { $0 == "21.5" })
        #expect(lines.last?.contains("logger") == true)
    }
}
