// Usage: nonsending-park (preference|default) (isolation|inherit) (handler|plain) [tasks] [parks]
//
// `tasks` tasks each park `parks` times in a `nonisolated(nonsending)` function; the loop wakes
// every parked task each turn, in a seeded random order, and cancels one task in 64 once. A
// wake-up whose job never comes back (the resumed task never runs again) shows as a loop with
// nothing queued, nothing parked and tasks unfinished: the program says so and exits 1.
//   preference: tasks prefer the loop's executor (Task(executorPreference:)).
//   default:    the loop is the process's default executor (ExecutorFactory, SPI).
//   isolation:  withUnsafeThrowingContinuation(isolation: #isolation) (the caller's actor).
//   inherit:    _unsafeInheritExecutor_withUnsafeContinuation (whatever executor is running).
//   handler:    each park inside withTaskCancellationHandler; plain: none.

@_spi(ExperimentalCustomExecutors) import _Concurrency
import Glibc
import Synchronization

final class Loop: SerialExecutor, TaskExecutor, @unchecked Sendable {
    static let shared = Loop()
    let queue = Mutex<[UnownedJob]>([])
    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        queue.withLock { $0.append(j) }
    }
    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
    /// Runs what is queued now; how many jobs ran.
    func drain() -> Int {
        let batch = queue.withLock { q in defer { q.removeAll(keepingCapacity: true) }; return q }
        for j in batch { j.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor()) }
        return batch.count
    }
}

// Swift 6.3's hook; a 6.2 compiler (Debian's, for aarch64) has only the preference path.
#if compiler(>=6.3)
struct LoopFactory: ExecutorFactory {
    static var mainExecutor: any MainExecutor { PlatformExecutorFactory.mainExecutor }
    static var defaultExecutor: any TaskExecutor { Loop.shared }
}
#endif

@globalActor actor LoopActor {
    static let shared = LoopActor()
    nonisolated var unownedExecutor: UnownedSerialExecutor { Loop.shared.asUnownedSerialExecutor() }
}

let args = CommandLine.arguments
let useDefault = args.count > 1 && args[1] == "default"
let inherit = args.count > 2 && args[2] == "inherit"
let handler = args.count > 3 && args[3] == "handler"
let taskCount = args.count > 4 ? Int(args[4])! : 200
let parksPerTask = args.count > 5 ? Int(args[5])! : 2000
#if compiler(>=6.3)
if useDefault { _createExecutors(factory: LoopFactory.self) }
#else
precondition(!useDefault, "default: needs Swift 6.3's ExecutorFactory; this compiler is older")
#endif

// The loop's state: touched only on the main thread (the loop's one thread). A stress, not a
// product: plain globals, with the loop's thread as their owner.
enum Parked { case throwing(UnsafeContinuation<Void, any Error>), plain(UnsafeContinuation<Void, Never>) }
nonisolated(unsafe) var parked: [Int: Parked] = [:]
nonisolated(unsafe) var cancelledIDs: Set<Int> = []
nonisolated(unsafe) var resumed = 0, returned = 0, finished = 0, cancelled = 0
nonisolated(unsafe) var handles: [Task<Void, Never>] = []
nonisolated(unsafe) let loopThread = pthread_self()
func onLoopThread() -> Bool { pthread_equal(pthread_self(), loopThread) != 0 }

@inline(never) func store(_ id: Int, _ c: Parked) {
    precondition(onLoopThread(), "parked off the loop's thread")
    parked[id] = c
}

nonisolated(nonsending) func park(_ id: Int) async throws {
    if inherit {
        // The executor-inheriting form has no throwing variant: the loop marks a cancel.
        await _unsafeInheritExecutor_withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in store(id, .plain(c)) }
        if cancelledIDs.remove(id) != nil { throw CancellationError() }
    } else {
        try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<Void, any Error>) in store(id, .throwing(c)) }
    }
}

nonisolated(nonsending) func wait(_ id: Int) async throws {
    if handler {
        try await withTaskCancellationHandler { try await park(id) } onCancel: {}
    } else {
        try await park(id)
    }
}

@LoopActor func body(_ id: Int) async {
    for _ in 0..<parksPerTask {
        do { try await wait(id) } catch { break }
        precondition(onLoopThread(), "resumed off the loop's thread")
        returned += 1
    }
    finished += 1
}

for id in 0..<taskCount {
    handles.append(useDefault
        ? Task { @LoopActor in await body(id) }
        : Task(executorPreference: Loop.shared) { @LoopActor in await body(id) })
}

nonisolated(unsafe) var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
func next() -> UInt64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }
var idle = 0
var turns = 0
while finished < taskCount {
    let ran = Loop.shared.drain()
    turns += 1
    var ids = Array(parked.keys)
    for i in ids.indices.reversed() { ids.swapAt(i, Int(next() % UInt64(i + 1))) }
    for id in ids {
        let c = parked.removeValue(forKey: id)!
        resumed += 1
        let cancel = id % 64 == 0 && next() % 500 == 0   // one task in 64, at some point
        if cancel { cancelled += 1; handles[id].cancel() }
        switch c {
        case .throwing(let t): if cancel { t.resume(throwing: CancellationError()) } else { t.resume() }
        case .plain(let p): if cancel { cancelledIDs.insert(id) }; p.resume()
        }
    }
    idle = ran == 0 && ids.isEmpty ? idle + 1 : 0
    if idle > 1000 {
        print("LOST: \(resumed) wake-ups, \(returned + cancelled) came back; \(taskCount - finished) tasks never finished")
        exit(1)
    }
}
print("ok: \(args.dropFirst().prefix(3).joined(separator: " ")): \(taskCount) tasks, \(resumed) wake-ups, all came back (\(cancelled) cancelled), \(turns) turns")
