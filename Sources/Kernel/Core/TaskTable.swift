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
    /// The task's name's index in `TaskTable.totals`.
    var nameID: Int32 = 0
}

/// Records of live tasks, indexed by small integers; index 0 stands for work the kernel did not
/// spawn (the runtime's own jobs), so accounting never has to branch on "unknown".
struct TaskTable {
    static let unknown: Int32 = 0
    private(set) var records: [TaskRecord] = []
    private var freeList: [Int32] = []
    private var byAddress = PointerMap()
    private(set) var liveCount = 0
    /// Every task name this run has spawned, each given an index at its first spawn; `totals`
    /// holds the finished tasks' stats by that index and `byName` the indices in name order.
    /// A retire folds into an array element and a read sorts nothing: a snapshot reads the
    /// stats every few seconds, and hashing and sorting every name cost ~59,000 instructions
    /// a read (callgrind, issue 28).
    private var nameIDs: [String: Int32] = [:]
    private var totals: [TaskStats] = []
    private var byName: [Int32] = []

    init() {
        records.reserveCapacity(128)
        records.append(TaskRecord(stats: TaskStats(name: "(runtime)")))
    }

    mutating func create(name: String) -> Int32 {
        var r = TaskRecord(stats: TaskStats(name: name))
        r.stats.instances = 1
        r.live = true
        r.nameID = nameID(name)
        liveCount += 1
        if let f = freeList.popLast() {
            r.generation = records[Int(f)].generation &+ 1
            records[Int(f)] = r
            return f
        }
        records.append(r)
        return Int32(records.count - 1)
    }

    private mutating func nameID(_ name: String) -> Int32 {
        // Tasks are mostly spawned in runs of one name (a loop spawning workers): the last
        // name is compared first, which for the same literal is one comparison of its bits.
        if lastName.id >= 0 && lastName.name == name { return lastName.id }
        let id = lookUpName(name)
        lastName = (name, id)
        return id
    }

    private var lastName: (name: String, id: Int32) = ("", -1)

    private mutating func lookUpName(_ name: String) -> Int32 {
        if let id = nameIDs[name] { return id }
        let id = Int32(totals.count)
        nameIDs[name] = id
        totals.append(TaskStats(name: name))
        let at = byName.firstIndex { totals[Int($0)].name > name } ?? byName.count
        byName.insert(id, at: at)
        return id
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
        // In place: the record is not copied out (a copy retains its name and runner).
        let (address, nameID, generation) = (records[Int(i)].address, records[Int(i)].nameID, records[Int(i)].generation)
        if address != 0 { byAddress.remove(address) }
        totals[Int(nameID)].add(records[Int(i)].current)
        records[Int(i)] = TaskRecord(stats: TaskStats(name: ""))
        records[Int(i)].generation = generation
        freeList.append(i)
        liveCount -= 1
    }

    subscript(_ i: Int32) -> TaskRecord {
        _read { yield records[Int(i)] }
        _modify { yield &records[Int(i)] }
    }

    /// Live and finished tasks, summed by name, sorted by name.
    func statsByName() -> [TaskStats] {
        var all = totals
        for r in records.dropFirst() where r.live { all[Int(r.nameID)].add(r.current) }
        var out = byName.map { all[Int($0)] }
        let runtime = records[0]
        if runtime.stats.switches > 0 {
            out.insert(runtime.current, at: out.firstIndex { $0.name > runtime.stats.name } ?? out.count)
        }
        return out
    }

    func liveNames() -> [String] { records.dropFirst().filter(\.live).map(\.stats.name) }

    /// Drops every live record (shutdown gave up on them), folded into their names' totals.
    mutating func abandonAll() {
        for r in records.dropFirst() where r.live { totals[Int(r.nameID)].add(r.current) }
        let kept = (nameIDs, totals, byName)
        self = TaskTable()
        (nameIDs, totals, byName) = kept
    }

    mutating func reset() {
        precondition(liveCount == 0)
        self = TaskTable()
    }
}
