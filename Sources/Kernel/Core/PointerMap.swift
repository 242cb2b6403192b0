// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).

/// Open-addressing map from a task's address to its record index: the loop looks up every job
/// it runs here (one probe, no allocation), so accounting always knows which task ran.
/// Linear probing with backward-shift deletion: no tombstones.
struct PointerMap {
    private var keys: [UInt]
    private var values: [Int32]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 256) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        keys = Array(repeating: 0, count: c)
        values = Array(repeating: 0, count: c)
        mask = c - 1
    }

    @inline(__always) private func home(_ k: UInt) -> Int {
        Int(truncatingIfNeeded: (k >> 4) &* 0x9E37_79B9_7F4A_7C15 >> 20) & mask
    }

    /// The value for `key`, or `missing`.
    @inline(__always) func get(_ key: UInt, missing: Int32) -> Int32 {
        var i = home(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == 0 { return missing }
            i = (i + 1) & mask
        }
    }

    mutating func set(_ key: UInt, _ value: Int32) {
        precondition(key != 0)
        if (count + 1) * 2 > keys.count { grow() }
        var i = home(key)
        while keys[i] != 0 && keys[i] != key { i = (i + 1) & mask }
        if keys[i] == 0 { count += 1 }
        keys[i] = key
        values[i] = value
    }

    mutating func remove(_ key: UInt) {
        var i = home(key)
        while keys[i] != key {
            if keys[i] == 0 { return }
            i = (i + 1) & mask
        }
        count -= 1
        // Backward-shift: pull later members of the probe run into the hole.
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            let k = keys[j]
            if k == 0 { break }
            let h = home(k)
            let between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
            if !between {
                keys[hole] = k
                values[hole] = values[j]
                hole = j
            }
        }
        keys[hole] = 0
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = Array(repeating: 0, count: oldKeys.count * 2)
        values = Array(repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for (i, k) in oldKeys.enumerated() where k != 0 { set(k, oldValues[i]) }
    }
}
