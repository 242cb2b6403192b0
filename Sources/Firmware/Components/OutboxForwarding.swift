import Board
import Kernel
import MQTT

/// Outbox → broker: stored snapshots (`SnapshotPipe.whenStored`) are handed to the MQTT
/// client a window at a time (`FirmwareConfig.feedWindow`) and removed from the outbox once the
/// broker acknowledged them (QoS 1 PUBACK) — on disk before offered, gone only when delivered.
/// A clean stop waits, up to the grace period, for removals of what was acknowledged.
@KernelActor
public final class OutboxForwarding: Component {
    private unowned var device: Device!
    private let wake = Notify()
    /// Wakes the removal task (`acknowledged`).
    private let ackWake = Notify()
    private let idle = Notify()
    private var pipe: SnapshotPipe { device.pipe }
    /// Highest seq handed to the client (the highest stored is `pipe.lastSeq`).
    private var fedThrough: Int64 = 0
    /// Acknowledged, not yet removed: at most the outbox's capacity (each stored seq once).
    private var acked: [Int64] = []
    private var removing = false
    /// Stored messages read from the outbox ahead of the client's window, oldest first, from
    /// `readAheadNext` on: one read of up to `readAheadLimit` instead of one per half window
    /// (each read is an offloaded SQLite query: a thread hand-off both ways).
    private var readAhead: [Outbox.Message] = []
    private var readAheadNext = 0
    /// Bound of `readAhead`, in messages.
    public static let readAheadLimit = 256
    /// Least time between the starts of two removals (nanoseconds): acknowledged messages stay
    /// stored that much longer, at worst sent again after a power cut (QoS 1 allows duplicates).
    public nonisolated static let removeInterval: Int64 = 20_000_000
    /// Removed rows are collected (deleted from disk, `Outbox.collect`) once at least this many
    /// wait and the client is idle: nothing queued or in flight, nothing stored left to feed.
    public nonisolated static let collectAt = 1024

    /// Acknowledged by the broker (and removed from the outbox, or to be sent again after a
    /// restart if the removal failed).
    public private(set) var delivered = 0
    /// Removals from the outbox (a transaction each: at most one per `removeInterval`).
    public private(set) var removals = 0
    /// The most messages the MQTT client held at once (queued + in flight) as this fed it:
    /// bounded by the feed window plus command acks, whatever the backlog on disk.
    public private(set) var peakClientBacklog = 0

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        // Unowned: the client is the device's, and holding this would keep it alive for ever.
        device.client?.onAck = { [unowned self] id in self.acknowledged(id) }
        device.pipe.whenStored { [unowned self] m in self.stored(m) }
    }

    /// `delivered 40  outbox 2 (dropped 0)`.
    public func status(into line: inout StatusLine) {
        line.add("delivered \(delivered)")
        line.add("outbox \(pipe.counts.pending) (dropped \(pipe.counts.dropped))")
    }

    public func start(in group: TaskGroupScope) {
        if let client = device.client, device.network != nil {
            group.spawn("outbox") { try await self.forward(client) }
            group.spawn("outbox.remove") { try await self.removeAcknowledged() }
        }
    }

    public func willStop() {
        wake.notifyAll()
        ackWake.notifyAll()
    }

    public func finish(until deadline: Int64) async {
        while (removing || !acked.isEmpty) && Kernel.now < deadline {
            if !removing { ackWake.notifyAll() }
            try? await idle.wait(until: deadline, tolerance: Kernel.coarseTolerance)
        }
    }

    /// `m` was stored (already `pipe.lastSeq`): caught up, it goes straight to the client;
    /// otherwise the forwarding task reads it from disk.
    private func stored(_ m: Outbox.Message) {
        guard let client = device.client else { return }
        if fedThrough == m.seq - 1 && client.pending + client.inFlight < device.config.feedWindow {
            client.enqueue(id: UInt64(m.seq), topic: m.topic, payload: m.payload)
            fedThrough = m.seq
            notePeak(client)
        } else {
            wake.notifyAll()
        }
    }

    /// Removes what the broker acknowledged, in one transaction per batch: all the acks that
    /// came since the last one, which began at least `removeInterval` before (a commit is an
    /// fsync: at most 50 a second, however fast the broker acknowledges). Its own task, so a
    /// commit never holds up feeding the client from `readAhead`. A stop removes at once.
    ///
    /// Removing leaves the rows on disk (see `Outbox`); when idle, this task collects them.
    private func removeAcknowledged() async throws {
        let device = self.device!
        var lastRemoval = Int64.min / 2
        // Removed rows on disk, as the outbox last said (at start, unknown: a collection tells).
        var removedOnDisk = Self.collectAt
        while true {
            if acked.isEmpty {
                if removedOnDisk >= Self.collectAt && !device.stopping && clientIdle {
                    // On failure, not again until a removal says how many wait.
                    removedOnDisk = try await onDisk { try await device.outbox.collect() } ?? 0
                    continue
                }
                try await ackWake.wait()
                continue
            }
            if !device.stopping && Kernel.now < lastRemoval + Self.removeInterval {
                try await ackWake.wait(until: lastRemoval + Self.removeInterval, tolerance: Kernel.coarseTolerance)
                continue
            }
            lastRemoval = Kernel.now
            removals += 1
            let batch = acked
            acked.removeAll(keepingCapacity: true)
            let left = try await onDisk { try await device.outbox.remove(batch) }
            // Delivered either way: if the removal failed, still stored and sent again after a
            // restart (a duplicate, never a loss).
            delivered += batch.count
            if let left {
                removedOnDisk = left
                pipe.removed(batch.count)
            }
        }
    }

    /// One outbox call of this task's, `removing` meanwhile (a clean stop waits for it); nil
    /// if it failed, which is a fault.
    private func onDisk<T>(_ call: () async throws -> T) async throws -> T? {
        removing = true
        defer { removing = false; idle.notifyAll() }
        do {
            return try await call()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            device.setFault("outbox", "\(error)")
            return nil
        }
    }

    /// Nothing queued in the client or in flight, nothing stored that it has not been handed:
    /// a drain is over (or never began), and the disk is free for a collection.
    private var clientIdle: Bool {
        guard let client = device.client else { return true }
        return client.pending + client.inFlight == 0 && fedThrough >= pipe.lastSeq
    }

    private func forward(_ client: MQTTClient) async throws {
        let device = self.device!
        while true {
            // Topped up from `readAhead` whenever the window has room; once that is used up,
            // the outbox is read again (up to `readAheadLimit`) when half the window is free:
            // one read per half window at most, never one per message.
            let backlog = client.pending + client.inFlight
            let buffered = readAheadNext < readAhead.count
            if !device.stopping && fedThrough < pipe.lastSeq
                && (buffered ? backlog < device.config.feedWindow : backlog < device.config.feedWindow / 2) {
                if !buffered {
                    readAhead = try await device.outbox.pending(after: fedThrough, limit: Self.readAheadLimit)
                    readAheadNext = 0
                    if readAhead.isEmpty { fedThrough = pipe.lastSeq }   // dropped (outbox full) before we got to them
                }
                var room = device.config.feedWindow - (client.pending + client.inFlight)
                while room > 0 && readAheadNext < readAhead.count {
                    let m = readAhead[readAheadNext]
                    readAheadNext += 1
                    guard m.seq > fedThrough else { continue }
                    client.enqueue(id: UInt64(m.seq), topic: m.topic, payload: m.payload)
                    fedThrough = m.seq
                    room -= 1
                }
                if readAheadNext == readAhead.count { readAhead.removeAll(keepingCapacity: true); readAheadNext = 0 }
                notePeak(client)
                continue
            }
            try await wake.wait()
        }
    }

    private func notePeak(_ client: MQTTClient) {
        peakClientBacklog = max(peakClientBacklog, client.pending + client.inFlight)
    }

    private func acknowledged(_ id: UInt64) {
        if acked.isEmpty { ackWake.notifyAll() }   // (not while a removal is due anyway)
        acked.append(Int64(id))
        wake.notifyAll()   // the window has room again
    }
}
