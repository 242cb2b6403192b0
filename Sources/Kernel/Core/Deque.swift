// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).

/// A FIFO ring buffer with power-of-two capacity that grows by doubling and never shrinks,
/// so a warm push/pop does not touch the heap.
struct Deque<Element>: ~Copyable {
    private var storage: UnsafeMutablePointer<Element>
    private var capacity: Int
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 16) {
        var c = 1
        while c < capacity { c <<= 1 }
        self.capacity = c
        self.storage = .allocate(capacity: c)
    }

    deinit {
        for i in 0..<count { (storage + ((head + i) & (capacity - 1))).deinitialize(count: 1) }
        storage.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    mutating func pushBack(_ e: consuming Element) {
        if count == capacity { grow() }
        (storage + ((head + count) & (capacity - 1))).initialize(to: e)
        count += 1
    }

    mutating func pushFront(_ e: consuming Element) {
        if count == capacity { grow() }
        head = (head - 1) & (capacity - 1)
        (storage + head).initialize(to: e)
        count += 1
    }

    mutating func popFront() -> Element? {
        if count == 0 { return nil }
        let e = (storage + head).move()
        head = (head + 1) & (capacity - 1)
        count -= 1
        return e
    }

    private mutating func grow() {
        let n = capacity * 2
        let s = UnsafeMutablePointer<Element>.allocate(capacity: n)
        for i in 0..<count { (s + i).moveInitialize(from: storage + ((head + i) & (capacity - 1)), count: 1) }
        storage.deallocate()
        storage = s
        capacity = n
        head = 0
    }
}
