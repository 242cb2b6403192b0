/// A bounded FIFO channel between tasks. `send` waits while the channel is full (backpressure),
/// `receive` while it is empty. Storage is allocated once, at `init`.
///
/// After `close()`: `send` throws `KernelError.channelClosed`; `receive` returns what is still
/// buffered, then `nil`.
@KernelActor
public final class Channel<Element> {
    public let name: String
    public let capacity: Int
    // safety: initialised in the nonisolated init (before the channel is shared), touched only
    // from @KernelActor methods after that.
    nonisolated(unsafe) private var buffer: Deque<Element>
    let senders = WaitList()
    let receivers = WaitList()
    public private(set) var isClosed = false

    public nonisolated init(capacity: Int, name: String = "channel") {
        precondition(capacity >= 1, "Channel(capacity:) needs capacity >= 1, got \(capacity)")
        self.capacity = capacity
        self.name = name
        buffer = Deque(capacity: capacity)
    }

    public var count: Int { buffer.count }

    public func send(_ value: Element) async throws {
        let k = KernelExecutor.shared
        while true {
            if isClosed { throw KernelError.channelClosed(name: name) }
            if buffer.count < capacity {
                buffer.pushBack(value)
                k.wakeFirst(receivers)
                return
            }
            try await k.park(k.prepare(on: senders, "Channel.send"))
        }
    }

    /// Sends without waiting; false if the channel is full.
    public func trySend(_ value: Element) throws -> Bool {
        if isClosed { throw KernelError.channelClosed(name: name) }
        guard buffer.count < capacity else { return false }
        buffer.pushBack(value)
        KernelExecutor.shared.wakeFirst(receivers)
        return true
    }

    /// The next element, or nil once the channel is closed and drained.
    public func receive() async throws -> Element? {
        let k = KernelExecutor.shared
        while true {
            if let v = buffer.popFront() {
                k.wakeFirst(senders)
                // Pass the baton: if more is buffered and someone else waits, let them take it.
                if !buffer.isEmpty { k.wakeFirst(receivers) }
                return v
            }
            if isClosed { return nil }
            try await k.park(k.prepare(on: receivers, "Channel.receive"))
        }
    }

    public func close() {
        isClosed = true
        let k = KernelExecutor.shared
        k.wakeAll(receivers)
        k.wakeAll(senders)
    }
}
