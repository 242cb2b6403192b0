import KernelTestSupport
import Testing
@testable import Kernel

@Suite struct NotifyTests {
    @Test func notifyAllWakesEveryWaiterAndDeadlinesWakeTheirOwn() throws {
        let log = try kernelTest { () async throws -> [String] in
            let n = Notify()
            var log: [String] = []
            let a = spawn("a") { try await n.wait(); log.append("a woke t=\(Kernel.nowMilliseconds)") }
            let b = spawn("b") { try await n.wait(until: 100_000_000); log.append("b woke t=\(Kernel.nowMilliseconds)") }
            let c = spawn("c") { try await n.wait(until: 30_000_000); log.append("c woke t=\(Kernel.nowMilliseconds)") }
            try await sleep(ms: 50)
            #expect(n.waiting == 2)
            n.notifyAll()
            _ = try await gather(a, b, c)
            try await n.wait(until: Kernel.now)   // a deadline already passed returns at once
            log.append("past deadline t=\(Kernel.nowMilliseconds)")
            return log
        }
        #expect(log == ["c woke t=30", "a woke t=50", "b woke t=50", "past deadline t=50"])
    }

    @Test func aNotifyNobodyWillSignalIsADeadlock() throws {
        #expect(throws: KernelError.deadlock(waiting: ["'main' (Notify.wait)"])) {
            try kernelTest { try await Notify().wait() }
        }
    }

    @Test func cancellationWakesAWaiter() throws {
        let r = try kernelTest { () async throws -> String in
            let n = Notify()
            let h = spawn("w") { try await n.wait() }
            try await sleep(ms: 5)
            h.cancel()
            do { try await h.value; return "no error" } catch { return "\(type(of: error))" }
        }
        #expect(r == "CancellationError")
    }
}
