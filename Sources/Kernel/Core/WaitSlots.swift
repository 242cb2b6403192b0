// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).

/// What a parked task is waiting for. Used for wake-up bookkeeping and for the deadlock report.
enum WaitKind: UInt8 {
    case free
    /// `sleep`: only a timer can wake it.
    case timer
    /// Event, lock, semaphore, channel, join, group: another kernel task wakes it.
    case list
    /// `readable` / `writable`: epoll wakes it.
    case fd
    /// `Signal.wait`: any thread may wake it.
    case signal
}

/// One parked wait. Slots live in `WaitSlots` and are reused, so parking allocates nothing once
/// the table is warm.
///
/// State (the functions that make each transition):
/// ```
///   free ──prepare()──▶ armed ──park()──▶ parked ──wake()──▶ woken ──release()──▶ free
///                         │                          ▲
///                         └─────── park() sees a wake that came first (never: wakes need cont)
/// ```
/// `generation` changes on `release`, so a late cancel request for a reused slot is ignored.
struct Slot {
    var cont: UnsafeContinuation<Void, any Error>? = nil
    var generation: UInt32 = 0
    var kind: WaitKind = .free
    /// Task record index of the waiting task (for names in reports and its timeout scope).
    var task: Int32 = 0
    /// The wait's own deadline (sleep), or Int64.max. A timer earlier than this is the task's
    /// timeout scope expiring.
    var ownDeadline: Int64 = .max
    /// How late its timer may fire (ns): the loop wakes that much less early to watch the clock
    /// for it (`spinNanoseconds`), and not at all for one at least the spin window.
    var tolerance: Int64 = 0
    /// Wait-list membership (kind == .list): the list, and neighbours in it.
    var list: Unmanaged<WaitList>? = nil
    var prev: Int32 = -1
    var next: Int32 = -1
    /// fd waits: the descriptor.
    var fd: Int32 = -1
    /// Signal waits: the signal (unretained: the waiting task holds it).
    var signal: Unmanaged<Signal>? = nil
    /// A human description for deadlock reports, e.g. "Event.wait".
    var what: StaticString = ""
}

struct WaitSlots {
    private(set) var slots: [Slot] = []
    private var freeList: [Int32] = []
    /// Parked waits by kind, for idle and deadlock decisions.
    private(set) var inUse = 0
    var byKind: (timer: Int, list: Int, fd: Int, signal: Int) = (0, 0, 0, 0)

    init() {
        slots.reserveCapacity(256)
        freeList.reserveCapacity(256)
    }

    mutating func acquire(kind: WaitKind, task: Int32, what: StaticString) -> Int32 {
        let s: Int32
        if let f = freeList.popLast() {
            s = f
        } else {
            slots.append(Slot())
            s = Int32(slots.count - 1)
        }
        slots[Int(s)].kind = kind
        slots[Int(s)].task = task
        slots[Int(s)].what = what
        inUse += 1
        adjust(kind, +1)
        return s
    }

    mutating func release(_ s: Int32) {
        let g = slots[Int(s)].generation &+ 1
        adjust(slots[Int(s)].kind, -1)
        slots[Int(s)] = Slot()
        slots[Int(s)].generation = g
        inUse -= 1
        freeList.append(s)
    }

    private mutating func adjust(_ k: WaitKind, _ d: Int) {
        switch k {
        case .timer: byKind.timer += d
        case .list: byKind.list += d
        case .fd: byKind.fd += d
        case .signal: byKind.signal += d
        case .free: break
        }
    }

    subscript(_ s: Int32) -> Slot {
        _read { yield slots[Int(s)] }
        _modify { yield &slots[Int(s)] }
    }
}

/// A FIFO of parked slots, linked through the slots themselves (intrusive), so joining and
/// leaving a wait list never allocates. Each Event, lock, semaphore, channel and task handle
/// owns one or two.
public final class WaitList: @unchecked Sendable {
    var head: Int32 = -1
    var tail: Int32 = -1
    var count = 0
    init() {}
    var isEmpty: Bool { head < 0 }
}
