// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// Wait lists: the tasks waiting on an `Event`, a `Notify`, a channel, linked through their
// slots (no allocation to wait), woken first-come first-served.

extension KernelExecutor {
    func append(_ s: Int32, to list: WaitList) {
        slots[s].list = Unmanaged.passUnretained(list)
        slots[s].prev = list.tail
        slots[s].next = -1
        if list.tail >= 0 { slots[list.tail].next = s } else { list.head = s }
        list.tail = s
        list.count += 1
    }

    func unlink(_ s: Int32) {
        guard let u = slots[s].list else { return }
        u._withUnsafeGuaranteedRef { list in
            let p = slots[s].prev, n = slots[s].next
            if p >= 0 { slots[p].next = n } else { list.head = n }
            if n >= 0 { slots[n].prev = p } else { list.tail = p }
            list.count -= 1
        }
        slots[s].list = nil
        slots[s].prev = -1
        slots[s].next = -1
    }

    /// Wakes the longest waiter; false if none.
    @discardableResult
    func wakeFirst(_ list: WaitList, throwing error: (any Error)? = nil) -> Bool {
        guard list.head >= 0 else { return false }
        wake(list.head, throwing: error)
        return true
    }

    func wakeAll(_ list: WaitList, throwing error: (any Error)? = nil) {
        while list.head >= 0 { wake(list.head, throwing: error) }
    }

    /// A slot for the running task, at the end of `list`; `park` it.
    func prepare(on list: WaitList, _ what: StaticString) -> Int32 {
        let s = prepare(.list, what)
        append(s, to: list)
        return s
    }
}
