import KernelTestSupport
import Testing
@testable import Kernel

/// Exact traces of task order on the virtual clock, compared with traces/*.exp.
@Suite struct TraceTests {
    @Test func yieldIsRoundRobinFIFO() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            for name in ["a", "b", "c"] {
                spawn(name) {
                    for i in 0..<3 {
                        t("\(name)\(i)")
                        try await yield()
                    }
                }
            }
            t("main spawned")
            try await sleep(ms: 1)
            t("main done")
            return t.lines
        }
        expectTrace(lines, "yield")
    }

    @Test func sleepsFireByDeadlineThenOrderSet() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            let hs = [("a", 30), ("b", 10), ("c", 10), ("d", 20), ("e", 0)].map { name, ms in
                spawn(name) {
                    t("\(name) sleeps \(ms)")
                    try await sleep(ms: ms)
                    t("\(name) woke")
                }
            }
            _ = try await gather(hs)
            return t.lines
        }
        expectTrace(lines, "sleep")
    }

    @Test func eventWakesAllWaitersInOrder() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            let e = Event()
            var hs: [TaskHandle<Void>] = []
            for name in ["w1", "w2", "w3"] {
                hs.append(spawn(name) {
                    t("\(name) waits")
                    try await e.wait()
                    t("\(name) woke")
                })
            }
            hs.append(spawn("setter") {
                try await sleep(ms: 5)
                t("setter sets")
                e.set()
                t("setter continues")
                try await e.wait()
                t("setter: wait on a set event returns at once")
            })
            _ = try await gather(hs)
            return t.lines
        }
        expectTrace(lines, "event")
    }

    @Test func channelBackpressure() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            let ch = Channel<Int>(capacity: 2, name: "numbers")
            let p = spawn("producer") {
                for i in 1...5 {
                    try await ch.send(i)
                    t("sent \(i)")
                }
                ch.close()
                t("closed")
            }
            let c = spawn("consumer") {
                while let v = try await ch.receive() {
                    t("got \(v)")
                    try await sleep(ms: 10)
                }
                t("drained")
            }
            _ = try await gather(p, c)
            do {
                try await ch.send(6)
            } catch {
                t("send after close: \(error)")
            }
            return t.lines
        }
        expectTrace(lines, "channel")
    }

    @Test func cancellationWakesSleepersAndWaiters() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            let e = Event()
            let sleeper = spawn("sleeper") {
                do {
                    try await sleep(ms: 1000)
                    t("sleeper woke normally")
                } catch is CancellationError {
                    t("sleeper cancelled")
                    throw CancellationError()
                }
            }
            let waiter = spawn("waiter") {
                do {
                    try await e.wait()
                } catch {
                    t("waiter: \(type(of: error))")
                }
                t("waiter: later waits throw too")
                do { try await sleep(ms: 1) } catch { t("waiter: \(type(of: error)) again") }
            }
            try await sleep(ms: 10)
            t("cancel both")
            sleeper.cancel()
            waiter.cancel()
            do { try await sleeper.value } catch { t("join sleeper: \(type(of: error))") }
            try await waiter.value
            t("waiter joined")
            #expect(e.waiting == 0)
            return t.lines
        }
        expectTrace(lines, "cancel")
    }

    @Test func timeouts() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            do {
                try await withTimeout(ms: 50) { try await sleep(ms: 100) }
            } catch let e as TimeoutError { t("plain: \(e)") }
            let r = try await withTimeout(ms: 50) { () async throws -> Int in
                try await sleep(ms: 20)
                return 7
            }
            t("in time: \(r)")
            do {
                try await withTimeout(ms: 30) {
                    try await withTimeout(ms: 100) { try await sleep(ms: 1000) }
                    t("unreachable")
                }
            } catch let e as TimeoutError { t("outer fired first: \(e)") }
            do {
                try await withTimeout(ms: 100) {
                    do {
                        try await withTimeout(ms: 20) { try await Event().wait() }
                    } catch let e as TimeoutError { t("inner fired first: \(e)") }
                    try await sleep(ms: 10)
                    t("outer still running")
                }
            } catch { t("unexpected \(error)") }
            // A timeout must not leave a timer behind: the kernel's heap is empty again.
            t("timers left: \(KernelExecutor.shared.timers.count)")
            return t.lines
        }
        expectTrace(lines, "timeout")
    }

    @Test func lockAndSemaphoreAreFIFO() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            let lock = AsyncLock()
            var hs: [TaskHandle<Void>] = []
            for name in ["a", "b", "c"] {
                hs.append(spawn(name) {
                    try await lock.withLock {
                        t("\(name) holds lock")
                        try await sleep(ms: 10)
                    }
                })
            }
            _ = try await gather(hs)
            let sem = Semaphore(value: 2)
            hs = []
            for name in ["p1", "p2", "p3", "p4", "p5"] {
                hs.append(spawn(name) {
                    try await sem.withPermit {
                        t("\(name) has permit")
                        try await sleep(ms: 10)
                    }
                })
            }
            _ = try await gather(hs)
            t("lock free: \(!lock.isLocked), permits: \(sem.value)")
            return t.lines
        }
        expectTrace(lines, "lock")
    }

    @Test func gatherFailureCancelsTheRest() throws {
        struct Boom: Error {}
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            let slow = spawn("slow") { () async throws -> Int in
                do { try await sleep(ms: 100) } catch { t("slow cancelled"); throw error }
                return 1
            }
            let bad = spawn("bad") { () async throws -> Int in
                try await sleep(ms: 10)
                t("bad fails")
                throw Boom()
            }
            do {
                _ = try await gather([slow, bad])
            } catch is Boom { t("gather threw Boom; slow done: \(slow.isDone)") }
            let (a, b) = try await gather(spawn("x") { 1 }, spawn("y") { "two" })
            t("mixed: \(a) \(b)")
            return t.lines
        }
        expectTrace(lines, "gather")
    }

    @Test func groupFailureCancelsSiblingsAndBody() throws {
        struct Boom: Error {}
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            do {
                try await withGroup("g") { g in
                    g.spawn("worker") {
                        do { try await sleep(ms: 100) } catch { t("worker cancelled"); throw error }
                    }
                    g.spawn("failer") {
                        try await sleep(ms: 10)
                        t("failer throws")
                        throw Boom()
                    }
                    do { try await sleep(ms: 50) } catch { t("body cancelled"); throw error }
                }
            } catch is Boom { t("group threw Boom") }
            let sum = try await withGroup("ok") { g -> Int in
                let a = g.spawn("a") { () async throws -> Int in try await sleep(ms: 5); return 2 }
                let b = g.spawn("b") { () async throws -> Int in try await sleep(ms: 3); return 3 }
                return try await a.value + b.value
            }
            t("group ok: \(sum)")
            // The caller is not cancelled by what happened inside the group.
            try await sleep(ms: 1)
            t("caller still fine")
            return t.lines
        }
        expectTrace(lines, "group")
    }

    @Test func tickerIsDriftFreeAndCountsMissedTicks() throws {
        let lines = try kernelTest { () async throws -> [String] in
            let t = Trace()
            let tick = every(ms: 100)
            for _ in 0..<3 {
                let n = try await tick.tick()
                t("tick \(n)")
                try await sleep(ms: 30)   // work that takes time must not shift later ticks
            }
            try await sleep(ms: 250)      // fall more than two periods behind
            let n = try await tick.tick()
            t("tick \(n) late, missed \(tick.missed)")
            let m = try await tick.tick()
            t("tick \(m)")
            return t.lines
        }
        expectTrace(lines, "ticker")
    }
}
