import CAllocCount
import CSystem
import CTestSupport
import Glibc
import Synchronization
import KernelTestSupport
import Testing
@testable import Kernel

@Suite struct KernelTests {
    /// Found by a firmware stopped during its start-up: the group's body was awaiting an
    /// offload when the group was cancelled, went on when it completed, and spawned children
    /// that nobody cancelled; joining them waited for ever.
    @Test func aChildSpawnedAfterTheGroupWasCancelledIsCancelledToo() throws {
        let (joinedAt, lateCancelled) = try kernelTest { () async throws -> (Int64, Bool) in
            let lateWasCancelled = Event()
            let outer = spawn("outer") {
                try await withGroup("g") { g in
                    // Carries on after its cancellation, as a task whose offload completed does.
                    try? await sleep(ms: 10)
                    g.spawn("late") {
                        do { try await sleep(ms: 3_600_000) } catch { lateWasCancelled.set() }
                    }
                }
            }
            try await sleep(ms: 1)
            outer.cancel()
            await outer.join()
            return (Kernel.nowMilliseconds, lateWasCancelled.isSet)
        }
        #expect(joinedAt < 1000, "joined only after \(joinedAt) ms of virtual time: the late child was not cancelled")
        #expect(lateCancelled)
    }

    /// A handle keeps its task's value type-erased (issue 28): whatever the type (nothing,
    /// an optional that is nil, one nested in another, a value too big to keep inline, a
    /// class), `value` and `gather` give back exactly what the task returned, or rethrow.
    @Test func handlesGiveBackWhatTheirTasksReturnedWhateverTheType() throws {
        struct Big: Sendable, Equatable { var a = 1, b = 2, c = 3, d = 4, e = 5, f = 6 }   // more than Any keeps inline
        final class Ref: Sendable {}
        struct Boom: Error {}
        let ref = Ref()
        let r = try kernelTest { () async throws -> [String] in
            let none = spawn("none") { () -> Int? in nil }
            let some = spawn("some") { () -> Int? in 7 }
            let nested = spawn("nested") { () -> Int?? in .some(nil) }
            let big = spawn("big") { Big() }
            let obj = spawn("ref") { ref }
            let void = spawn("void") { () }
            let fails = spawn("fails") { () throws -> Int in throw Boom() }
            var out: [String] = []
            out.append("\(try await none.value as Any)")
            out.append("\(try await some.value as Any)")
            out.append("\(try await nested.value as Any)")
            out.append("\(try await big.value == Big())")
            out.append("\(try await obj.value === ref)")
            try await void.value
            do { _ = try await fails.value; out.append("no error") } catch is Boom { out.append("Boom") }
            #expect(fails.failure is Boom && none.failure == nil && none.isDone)
            let (a, b) = try await gather(none, nested)
            out.append("\(a as Any) \(b as Any)")
            out.append("\(try await gather([some, none]))")
            return out
        }
        #expect(r == ["nil", "Optional(7)", "Optional(nil)", "true", "true", "Boom", "nil Optional(nil)", "[Optional(7), nil]"])
    }

    @Test func runReturnsTheResultAndRethrows() throws {
        struct Boom: Error, Equatable {}
        #expect(try kernelTest { 42 } == 42)
        #expect(throws: Boom.self) { try kernelTest { () async throws -> Int in throw Boom() } }
    }

    /// Every primitive in one program: all task code runs on the thread that called Kernel.run,
    /// and nothing is enqueued on Swift's global pool from it.
    @Test func everythingRunsOnOneThreadAndNeverOnTheGlobalPool() throws {
        alloccount_install_global_enqueue_hook()
        let me = fl_gettid()
        let globalBefore = alloccount_global_enqueues()
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        let (tids, workerTid) = try kernelTest(virtual: false) { () async throws -> (Set<Int32>, Int32) in
            var tids: Set<Int32> = []
            func here() { tids.insert(fl_gettid()) }
            here()
            let e = Event(), lock = AsyncLock(), sem = Semaphore(value: 1), ch = Channel<Int>(capacity: 2)
            let sig = Signal()
            let h = spawn("child") { () async throws -> Int32 in
                try await e.wait()
                try await ch.send(5)
                return fl_gettid()
            }
            try await yield(); here()
            try await sleep(ms: 1); here()
            e.set()
            #expect(try await ch.receive() == 5); here()
            tids.insert(try await h.value)
            try await lock.withLock { here() }
            try await sem.withPermit { here() }
            let tick = every(ms: 1)
            _ = try await tick.tick(); here()
            do { try await withTimeout(ms: 1) { try await sleep(ms: 100) } } catch is TimeoutError { here() }
            var byte: UInt8 = 1
            _ = write(a, &byte, 1)
            try await readable(b); here()
            let workerTid = try await offload { () -> Int32 in
                sig.raise()   // from the worker thread
                return fl_gettid()
            }
            here()
            try await sig.wait(); here()
            _ = try await gather([spawn("g1") { 1 }, spawn("g2") { 2 }]); here()
            _ = try await withGroup { g in g.spawn("inner") { fl_gettid() } }; here()
            let victim = spawn("victim") { try await sleep(ms: 10_000) }
            victim.cancel()
            _ = try? await victim.value; here()
            return (tids, workerTid)
        }
        #expect(tids == [me])
        #expect(workerTid != me)
        #expect(alloccount_global_enqueues() - globalBefore == 0)
    }

    @Test func twentyFourVirtualHoursOfTickers() throws {
        let start = fl_monotonic_ns()
        let (ticks, end) = try kernelTest { () async throws -> ([Int], Int64) in
            let hs = (0..<3).map { i in
                spawn("ticker\(i)") { () async throws -> Int in
                    let t = every(ms: 1000)
                    while t.ticks < 86_400 { _ = try await t.tick() }
                    #expect(t.missed == 0)
                    return t.ticks
                }
            }
            return (try await gather(hs), Kernel.now)
        }
        let wall = fl_monotonic_ns() - start
        #expect(ticks == [86_400, 86_400, 86_400])
        #expect(end == 86_400 * 1_000_000_000, "virtual clock ends exactly at 24 h: no drift")
        print("24 virtual hours of three 1 s tickers (259,200 ticks) took \(wall / 1_000_000) ms of real time")
    }

    /// Waking early and spinning the last stretch (KernelOptions.spinMicroseconds) must never
    /// wake a sleeper before its deadline, while other tasks run and while none does.
    @Test func spinningBeforeADeadlineNeverWakesEarly() throws {
        for spin in [0, 5_000] {
            let early = try kernelTest(options: KernelOptions(clock: .monotonic, spinMicroseconds: spin)) { () async throws -> Int in
                let busy = spawn("busy") { while true { try await sleep(ms: 1) } }
                defer { busy.cancel() }
                var early = 0
                for i in 0..<40 {
                    let due = Kernel.now + Int64(1 + i % 3) * 1_000_000
                    try await sleep(until: due)
                    if Kernel.now < due { early += 1 }
                }
                return early
            }
            #expect(early == 0, "spin \(spin) us: \(early) of 40 sleeps ended before their deadline")
        }
    }

    /// A wait with a tolerance of at least the spin window blocks to its deadline: no CPU spent
    /// watching the clock, and still never before it. The kernel thread's own CPU time tells
    /// (a 150 ms spin window makes a precise wait's spin plain to see).
    @Test func aCoarseWaitBlocksToItsDeadlineInsteadOfSpinning() throws {
        func threadCPU() -> Int64 {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
        }
        let r = try kernelTest(options: KernelOptions(clock: .monotonic, spinMicroseconds: 150_000)) { () async throws -> [(cpu: Int64, early: Bool)] in
            let notify = Notify()
            var out: [(cpu: Int64, early: Bool)] = []
            for tolerance: Int64 in [0, 150_000_000] {
                let c0 = threadCPU()
                let due = Kernel.now + 200_000_000
                try await sleep(until: due, tolerance: tolerance)
                let due2 = Kernel.now + 200_000_000
                try await notify.wait(until: due2, tolerance: tolerance)
                out.append((threadCPU() - c0, Kernel.now < due2))
            }
            return out
        }
        #expect(r.allSatisfy { !$0.early }, "a wait ended before its deadline: \(r)")
        #expect(r[0].cpu > 60_000_000, "two precise waits spin up to 150 ms each: \(r[0].cpu / 1_000_000) ms of CPU")
        #expect(Kernel.coarseTolerance >= Int64(KernelOptions().spinMicroseconds) * 1000, "coarse waits never spin by default")
        #expect(r[1].cpu < 20_000_000, "waits as tolerant as the spin window block: \(r[1].cpu / 1_000_000) ms of CPU for two")
    }

    @Test func accountingCountsSwitchesAndReportsSelfishTasks() throws {
        let reports = Locked<[OverBudget]>([])
        let final = Locked<[TaskStats]>([])
        let opts = KernelOptions(clock: .monotonic, budgetMilliseconds: 20, onOverBudget: { r in
            reports.set(reports.get() + [r])
        }, onFinish: { final.set($0) })
        let stats = try kernelTest(options: opts) { () async throws -> [TaskStats] in
            let polite = spawn("polite") { for _ in 0..<9 { try await yield() } }
            let selfish = spawn("selfish") {
                let t0 = fl_monotonic_ns()
                while fl_monotonic_ns() - t0 < 30_000_000 {}   // 30 ms without awaiting
                try await yield()
            }
            try await polite.value
            try await selfish.value
            return Kernel.stats()
        }
        let polite = try #require(stats.first { $0.name == "polite" })
        #expect(polite.switches == 10, "9 yields = 10 stretches")
        #expect(polite.overBudget == 0)
        let selfish = try #require(stats.first { $0.name == "selfish" })
        #expect(selfish.longestNanoseconds >= 30_000_000)
        #expect(selfish.overBudget == 1)
        let r = reports.get()
        #expect(r.count == 1)
        #expect(r.first?.task == "selfish")
        #expect(r.first?.description.contains("task 'selfish' held the CPU for 3") == true)
        #expect(final.get().map(\.name) == ["main", "polite", "selfish"])
        #expect(final.get().first { $0.name == "polite" }?.switches == 10)
    }

    @Test func signalFromAnotherThreadWakesTheTask() throws {
        let woke = try kernelTest(virtual: false) { () async throws -> Int in
            let sig = Signal()
            var n = 0
            for _ in 0..<3 {
                let t = Thread { sig.raise() }
                try await sig.wait()
                t.join()
                n += 1
            }
            return n
        }
        #expect(woke == 3)
    }

    @Test func cancellationFromAnotherThreadWakesPromptly() throws {
        let result = try kernelTest(virtual: false) { () async throws -> String in
            let h = spawn("parked") { () async throws -> String in
                do { try await Event().wait() } catch is CancellationError { return "cancelled" }
                return "woke"
            }
            try await yield()
            let t = Thread { h.cancel() }   // TaskHandle.cancel() from another thread
            let r = try await h.value
            t.join()
            return r
        }
        #expect(result == "cancelled")
    }

    @Test func offloadRunsOffTheKernelAndVirtualTimeWaitsForIt() throws {
        let (value, kernelTid, workTid, elapsed) = try kernelTest { () async throws -> (Int, Int32, Int32, Int64) in
            let t0 = Kernel.now
            // A timer is pending: virtual time must not jump past it while the worker runs.
            let sleeper = spawn("sleeper") { try await sleep(ms: 1000) }
            let (v, tid) = try await offload { () -> (Int, Int32) in
                var x = 0
                for i in 0..<1_000_000 { x &+= i }
                return (x, fl_gettid())
            }
            let elapsed = Kernel.now - t0
            sleeper.cancel()
            return (v, fl_gettid(), tid, elapsed)
        }
        #expect(value == 499_999_500_000)
        #expect(kernelTid != workTid)
        #expect(elapsed == 0)
    }

    @Test func offloadedErrorsArriveOnTheKernel() throws {
        struct DiskFull: Error {}
        #expect(throws: DiskFull.self) {
            try kernelTest(virtual: false) { () async throws -> Int in try await offload { throw DiskFull() } }
        }
    }
}

/// A plain pthread for tests (no Foundation).
final class Thread: @unchecked Sendable {
    private var tid = pthread_t()
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let ctx = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&tid, nil, { arg in
            let t = Unmanaged<Thread>.fromOpaque(arg!).takeRetainedValue()
            t.body()
            return nil
        }, ctx)
    }
    func join() { pthread_join(tid, nil) }
}
