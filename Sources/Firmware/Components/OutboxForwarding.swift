import Board
import Kernel

/// Outbox → broker: stored snapshots are handed to the MQTT client a window at a time
/// (`FirmwareConfig.feedWindow`) and removed from the outbox once the broker acknowledged them
/// (QoS 1 PUBACK) — on disk before offered, gone only when delivered. A clean stop waits, up to
/// the grace period, for removals of what was acknowledged.
@KernelActor
public final class OutboxForwarding: Component {
    private unowned var device: Device!
    private let wake = Notify()
    private let idle = Notify()
    /// Highest seq handed to the client (the highest stored is `device.lastSeq`).
    private var fedThrough: Int64 = 0
    private var acked: [Int64] = []
    private var removing = false

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        // Unowned: the client is the device's, and holding this would keep it alive for ever.
        device.client?.onAck = { [unowned self] id in self.acknowledged(id) }
    }

    public func start(in group: TaskGroupScope) {
        if let client = device.client, device.network != nil {
            group.spawn("outbox") { try await self.forward(client) }
        }
    }

    public func willStop() { wake.notifyAll() }

    public func finish(until deadline: Int64) async {
        while (removing || !acked.isEmpty) && Kernel.now < deadline {
            if !removing { wake.notifyAll() }
            try? await idle.wait(until: deadline)
        }
    }

    /// The snapshot task stored `m` (already `device.lastSeq`): caught up, it goes straight to the client; otherwise the
    /// forwarding task reads it from disk.
    func stored(_ m: Outbox.Message) {
        guard let client = device.client else { return }
        if fedThrough == m.seq - 1 && client.pending + client.inFlight < device.config.feedWindow {
            client.enqueue(id: UInt64(m.seq), topic: m.topic, payload: m.payload)
            fedThrough = m.seq
            device.notePeak(client)
        } else {
            wake.notifyAll()
        }
    }

    private func forward(_ client: MQTTClient) async throws {
        let device = self.device!
        while true {
            if !acked.isEmpty {
                let batch = acked
                acked.removeAll(keepingCapacity: true)
                removing = true
                defer { removing = false; idle.notifyAll() }
                do {
                    try await device.outbox.remove(batch)
                    device.counters.delivered += batch.count
                    device.outboxCounts.pending = max(0, device.outboxCounts.pending - batch.count)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // Delivered but still stored: sent again after a restart (a duplicate,
                    // never a loss).
                    device.counters.delivered += batch.count
                    device.setFault("outbox", "\(error)")
                }
                continue
            }
            let backlog = client.pending + client.inFlight
            if !device.stopping && fedThrough < device.lastSeq && backlog < device.config.feedWindow / 2 {
                let limit = device.config.feedWindow - backlog
                let batch = try await device.outbox.pending(after: fedThrough, limit: limit)
                for m in batch where m.seq > fedThrough {
                    client.enqueue(id: UInt64(m.seq), topic: m.topic, payload: m.payload)
                    fedThrough = m.seq
                }
                if batch.isEmpty { fedThrough = device.lastSeq }   // dropped (outbox full) before we got to them
                device.notePeak(client)
                continue
            }
            try await wake.wait()
        }
    }

    private func acknowledged(_ id: UInt64) {
        guard id < MessageID.direct else { return }   // an ack, a state, a discovery config
        acked.append(Int64(id))
        wake.notifyAll()
    }
}
