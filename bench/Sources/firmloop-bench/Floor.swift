// The Swift runtime's own floor (issue 28): what a switch and a spawn cost with no kernel code
// at all, in this binary and this run, so `yield` and `spawn` read as a ratio to it.
//
// `FloorExecutor` is the least an executor can be: a ring of jobs and continuations, `enqueue`
// appends, `drain` runs them in order on the calling thread. No timers, no epoll, no task
// table, no accounting, no cancellation, no budget. It becomes the process's default executor,
// exactly as the kernel does in the kernel's rows (Kernel/Core/DefaultExecutor.swift), so its
// tasks carry no executor preference either: the two differ only in the kernel's own code. A
// process is given one default executor, so the floor rows run in a process of their own
// (`FIRMLOOP_BENCH=floor_yield,floor_spawn`; bench/run.sh runs it right after the kernel's).
//
//   floor_yield: N tasks each suspend in `withUnsafeContinuation`, which puts the continuation
//                on the ring; the loop resumes it, the runtime enqueues the task's job, the loop
//                runs it: a bare continuation round trip, the runtime's part of every `yield()`.
//   floor_spawn: create a task that returns at once and join it (`await t.value`), in batches
//                of 1,000, as the kernel's `spawn` row does.

#if compiler(>=6.3)
@_spi(ExperimentalCustomExecutors) import _Concurrency
import CAllocCount
import CSystem

enum FloorEntry {
    case job(UnownedJob)
    case resume(UnsafeContinuation<Void, Never>)
}

final class FloorExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    // safety: used by one thread only: the bench's main thread enqueues (it is the only thread
    // running tasks while a floor row runs) and drains. The state is behind pointers, so no
    // access pays a dynamic exclusivity check (the kernel builds without them, Package.swift).
    static let shared = FloorExecutor()
    struct State {
        var head = 0, tail = 0
        /// Set while a continuation is resumed: its task's job comes back here to run at once.
        var resumeInPlace = false
        var inPlaceJob: UnownedJob? = nil
    }
    let capacity = 1 << 15
    let ring: UnsafeMutablePointer<FloorEntry>
    let state = UnsafeMutablePointer<State>.allocate(capacity: 1)

    init() {
        ring = .allocate(capacity: capacity)
        state.initialize(to: State())
    }

    @inline(__always) func push(_ e: FloorEntry) {
        precondition(state.pointee.tail &- state.pointee.head < capacity, "floor executor: more than \(capacity) entries ready")
        (ring + (state.pointee.tail & (capacity - 1))).initialize(to: e)
        state.pointee.tail &+= 1
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        if state.pointee.resumeInPlace {
            state.pointee.resumeInPlace = false
            state.pointee.inPlaceJob = j
        } else {
            push(.job(j))
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// Runs jobs and resumes continuations until nothing is ready. A resumed continuation's job
    /// runs at once (no second trip through the ring), as the kernel's `yield()` does: the least
    /// a round trip can cost.
    func drain() {
        while state.pointee.head != state.pointee.tail {
            let e = (ring + (state.pointee.head & (capacity - 1))).move()
            state.pointee.head &+= 1
            var job: UnownedJob
            switch e {
            case .job(let j): job = j
            case .resume(let c):
                state.pointee.resumeInPlace = true
                c.resume()
                state.pointee.resumeInPlace = false
                guard let j = state.pointee.inPlaceJob else { continue }
                state.pointee.inPlaceJob = nil
                job = j
            }
            job.runSynchronously(on: asUnownedTaskExecutor())   // nonisolated tasks: the generic executor, no hop
        }
    }
}

struct FloorExecutorFactory: ExecutorFactory {
    static var mainExecutor: any MainExecutor { PlatformExecutorFactory.mainExecutor }
    static var defaultExecutor: any TaskExecutor { FloorExecutor.shared }
}

/// Makes the floor the process's default executor (instead of the kernel): first thing in main.
func makeFloorDefaultExecutor() { _createExecutors(factory: FloorExecutorFactory.self) }

/// A bare continuation round trip (the runtime's part of a kernel `yield()`).
func floorYield() async {
    await _unsafeInheritExecutor_withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
        FloorExecutor.shared.push(.resume(c))
    }
}

/// The measured window, and what the tasks of a row share (one thread: see FloorExecutor).
final class FloorWindow: @unchecked Sendable {
    var t0: Int64 = 0, t1: Int64 = 0, m0: UInt64 = 0, m1: UInt64 = 0
    var left = 0
    func start() { m0 = alloccount_calls(); t0 = fl_monotonic_ns() }
    func stop() { t1 = fl_monotonic_ns(); m1 = alloccount_calls() }
}

func measureFloor(_ name: String, extra: [(String, String)] = [], ops: Int,
                  _ body: @escaping @Sendable (FloorWindow) async -> Void) {
    var ns: [Double] = [], mallocs: [Double] = []
    for _ in 0..<repeats {
        let w = FloorWindow()
        Task { await body(w) }
        FloorExecutor.shared.drain()
        precondition(w.t1 != 0, "floor row \(name): the executor ran dry before the row finished")
        ns.append(Double(w.t1 - w.t0) / Double(ops))
        mallocs.append(Double(w.m1 - w.m0) / Double(ops))
    }
    emit([("bench", str(name)), ("impl", str("swift-runtime"))] + extra
         + [("ns_per_op", num(median(ns))), ("mallocs_per_op", num(median(mallocs))), ("threads", "\(osThreads())")])
}

func runFloorRows() {
    for tasks in yieldTasks where selected("floor_yield") {
        let perTask = max(1000, 2_000_000 / tasks)
        measureFloor("floor_yield", extra: [("tasks", "\(tasks)")], ops: tasks * perTask) { w in
            w.left = tasks
            var ts: [Task<Void, Never>] = []
            ts.reserveCapacity(tasks)
            for _ in 0..<tasks {
                ts.append(Task {
                    for _ in 0..<2 { await floorYield() }   // warm, as the kernel's row
                    while w.t0 == 0 { await floorYield() }  // until every task is warm
                    for _ in 0..<perTask { await floorYield() }
                    w.left -= 1
                    if w.left == 0 { w.stop() }
                })
            }
            for _ in 0..<4 { await floorYield() }
            w.start()
            for t in ts { await t.value }
        }
    }
    if selected("floor_spawn") {
        measureFloor("floor_spawn", extra: [("tasks", "1")], ops: 200_000) { w in
            w.start()
            for _ in 0..<200 {
                var ts: [Task<Int, Never>] = []
                ts.reserveCapacity(1000)
                for i in 0..<1000 { ts.append(Task { i }) }
                for t in ts { _ = await t.value }
            }
            w.stop()
        }
    }
}
#else
func makeFloorDefaultExecutor() {}
func runFloorRows() {}   // the floor needs Swift 6.3's ExecutorFactory, as the kernel's default-executor mode does
#endif
