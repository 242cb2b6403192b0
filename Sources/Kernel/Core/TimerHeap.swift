// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).

/// Timers: an indexed binary min-heap of (deadline, sequence) → wait slot.
///
/// Ties fire in the order they were set (the sequence number breaks them), and a slot's
/// position is tracked so a cancelled or woken wait leaves the heap in O(log n) at once:
/// no tombstones, so memory stays bounded however many timeouts are abandoned.
struct TimerHeap {
    struct Entry {
        var deadline: Int64
        var seq: UInt64
        var slot: Int32
        @inline(__always) func before(_ o: Entry) -> Bool {
            deadline < o.deadline || (deadline == o.deadline && seq < o.seq)
        }
    }

    private var heap: [Entry] = []
    /// position[slot] = index in `heap`, or -1.
    private var position: [Int32] = []
    private var nextSeq: UInt64 = 0

    init() {
        heap.reserveCapacity(256)
        position.reserveCapacity(256)
    }

    var count: Int { heap.count }
    /// The earliest timer (its deadline, and its slot's tolerance for the run loop).
    var next: Entry? { heap.first }

    func contains(_ slot: Int32) -> Bool {
        Int(slot) < position.count && position[Int(slot)] >= 0
    }

    mutating func insert(slot: Int32, deadline: Int64) {
        while position.count <= Int(slot) { position.append(-1) }
        nextSeq &+= 1
        heap.append(Entry(deadline: deadline, seq: nextSeq, slot: slot))
        position[Int(slot)] = Int32(heap.count - 1)
        siftUp(heap.count - 1)
    }

    /// Removes and returns the earliest slot if its deadline is at or before `now`.
    mutating func popDue(now: Int64) -> Int32? {
        guard let top = heap.first, top.deadline <= now else { return nil }
        removeAt(0)
        return top.slot
    }

    mutating func remove(slot: Int32) {
        guard contains(slot) else { return }
        removeAt(Int(position[Int(slot)]))
    }

    private mutating func removeAt(_ i: Int) {
        let slot = heap[i].slot
        position[Int(slot)] = -1
        let last = heap.removeLast()
        if i < heap.count {
            heap[i] = last
            position[Int(last.slot)] = Int32(i)
            siftDown(i)
            siftUp(i)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        let e = heap[i]
        while i > 0 {
            let p = (i - 1) / 2
            guard e.before(heap[p]) else { break }
            heap[i] = heap[p]
            position[Int(heap[i].slot)] = Int32(i)
            i = p
        }
        heap[i] = e
        position[Int(e.slot)] = Int32(i)
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let e = heap[i]
        let n = heap.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var c = l
            if l + 1 < n && heap[l + 1].before(heap[l]) { c = l + 1 }
            guard heap[c].before(e) else { break }
            heap[i] = heap[c]
            position[Int(heap[i].slot)] = Int32(i)
            i = c
        }
        heap[i] = e
        position[Int(e.slot)] = Int32(i)
    }
}
