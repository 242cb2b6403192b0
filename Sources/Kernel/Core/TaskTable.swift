// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).

import CSystem

/// Always-on accounting for one task (or, summed, for all tasks of one name).
public struct TaskStats: Sendable, Equatable {
    public var name: String
    /// Tasks with this name (alive or finished) in this run.
    public var instances: Int = 0
    /// Times the task was given the CPU (jobs run).
    public var switches: Int = 0
    /// CPU time spent running, in nanoseconds.
    public var runNanoseconds: Int64 = 0
    /// The longest stretch between two awaits, in nanoseconds.
    public var longestNanoseconds: Int64 = 0
    /// Stretches longer than the kernel's budget.
    public var overBudget: Int = 0

    public init(name: String) { self.name = name }

    mutating func add(_ o: TaskStats) {
        instances += o.instances
        switches += o.switches
        runNanoseconds += o.runNanoseconds
        longestNanoseconds = max(longestNanoseconds, o.longestNanoseconds)
        overBudget += o.overBudget
    }
}

/// Nanoseconds per accounting tick (see fl_ticks), measured once per process.
let nanosecondsPerTick: Double = fl_ticks_init()

struct TaskRecord {
    var stats: TaskStats
    /// Run time and longest stretch in ticks (converted to `stats` nanoseconds when read).
    var runTicks: UInt64 = 0
    var longestTicks: UInt64 = 0

    /// `stats` with the tick counters converted.
    var current: TaskStats {
        var s = stats
        s.runNanoseconds = Int64(Double(runTicks) * nanosecondsPerTick)
        s.longestNanoseconds = Int64(Double(longestTicks) * nanosecondsPerTick)
        return s
    }
    /// The Swift task's address (its jobs carry the same address), 0 before it first runs.
    var address: UInt = 0
    /// What the task runs (its handle, for a spawn), which holds the Swift task: for its
    /// first job to find (`KernelExecutor.start`) and for shutdown to cancel; let go at retire.
    var runner: TaskRunner? = nil
    var finished = false
    /// The slot the task is parked in (its continuation stored), -1 when it is not: where a
    /// cancellation of the task wakes it.
    var parked: Int32 = -1
    /// Cancelled (set by `KernelExecutor.cancelTask`, on the kernel thread): what waits and
    /// `yield()` check, instead of asking the runtime (`Task.isCancelled` retains the task).
    var cancelled = false
    /// Tells this task from a later one given the same record (a cancellation request
    /// carries it).
    var generation: UInt32 = 0
    /// Timeout scope: the earliest deadline of the `withTimeout` blocks the task is inside, and
    /// the id of the scope that owns it.
    var scopeDeadline: Int64 = .max
    var scopeID: UInt64 = 0
    var live: Bool = false
}

/// Records of live tasks, indexed by small integers; index 0 stands for work the kernel did not
/// spawn (the runtime's own jobs), so accounting never has to branch on "unknown".
struct TaskTable {
    static let unknown: Int32 = 0
    private(set) var records: [TaskRecord] = []
    private var freeList: [Int32] = []
    private var byAddress = PointerMap()
    private(set) var liveCount = 0
    /// Stats of finished tasks, by name.
    private(set) var finishedByName: [String: TaskStats] = [:]

    init() {
        records.reserveCapacity(128)
        records.append(TaskRecord(stats: TaskStats(name: "(runtime)")))
    }

    mutating func create(name: String) -> Int32 {
        var r = TaskRecord(stats: TaskStats(name: name))
        r.stats.instances = 1
        r.live = true
        liveCount += 1
        if let f = freeList.popLast() {
            r.generation = records[Int(f)].generation &+ 1
            records[Int(f)] = r
            return f
        }
        records.append(r)
        return Int32(records.count - 1)
    }

    mutating func bind(_ i: Int32, address: UInt) {
        records[Int(i)].address = address
        byAddress.set(address, i)
    }

    @inline(__always) func lookup(_ address: UInt) -> Int32 {
        byAddress.get(address, missing: TaskTable.unknown)
    }

    /// Folds a finished task's stats into its name's totals and frees its index.
    mutating func retire(_ i: Int32) {
        let r = records[Int(i)]
        if r.address != 0 { byAddress.remove(r.address) }
        finishedByName[r.stats.name, default: TaskStats(name: r.stats.name)].add(r.current)
        records[Int(i)] = TaskRecord(stats: TaskStats(name: ""))
        records[Int(i)].generation = r.generation
        freeList.append(i)
        liveCount -= 1
    }

    subscript(_ i: Int32) -> TaskRecord {
        _read { yield records[Int(i)] }
        _modify { yield &records[Int(i)] }
    }

    /// Live and finished tasks, summed by name, sorted by name.
    func statsByName() -> [TaskStats] {
        var all = finishedByName
        for r in records.dropFirst() where r.live {
            all[r.stats.name, default: TaskStats(name: r.stats.name)].add(r.current)
        }
        if records[0].stats.switches > 0 { all[records[0].stats.name] = records[0].current }
        return all.values.sorted { $0.name < $1.name }
    }

    func liveNames() -> [String] { records.dropFirst().filter(\.live).map(\.stats.name) }

    /// Drops every live record (shutdown gave up on them).
    mutating func abandonAll() {
        for i in records.indices.dropFirst() where records[i].live {
            finishedByName[records[i].stats.name, default: TaskStats(name: records[i].stats.name)].add(records[i].current)
        }
        let finished = finishedByName
        self = TaskTable()
        finishedByName = finished
    }

    mutating func reset() {
        precondition(liveCount == 0)
        self = TaskTable()
    }
}
