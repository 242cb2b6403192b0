import Board
import Kernel

/// The snapshot task: every interval on a drift-free schedule (the first at once), and at
/// once for a press or a command (`Device.requestSnapshot`), samples every component into a
/// `Snapshot` and stores it in the outbox, which gives it the next sequence number. Only this
/// task appends, so numbers stay contiguous. Caught up, a stored snapshot goes straight to the
/// MQTT client; otherwise `OutboxForwarding` reads it from disk. Answers `"snapshot": true`.
@KernelActor
public final class Snapshots: Component {
    struct Request {
        var reason: String
        var run: CommandRun?
    }

    /// Press and command requests waiting at most; one more is dropped (counted, a command
    /// answered "busy").
    public nonisolated static let maxRequests = 16

    private unowned var device: Device!
    /// Where a stored snapshot goes next (nil in a firmware without it).
    private weak var forwarding: OutboxForwarding?
    private var requests: [Request] = []
    private let wake = Notify()

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        forwarding = device.component(OutboxForwarding.self)
        // After every other key's action, so the snapshot shows what the command did.
        device.commands.register("snapshot", order: .last) { [unowned self] value in
            Command.parseSnapshot(value).map { wanted -> CommandTable.Action? in
                guard wanted else { return nil }
                let action: CommandTable.Action = { run in self.request("command", for: run) }
                return action
            }
        }
    }

    public func start(in group: TaskGroupScope) {
        group.spawn("snapshot") { try await self.loop() }
    }

    public func willStop() { wake.notifyAll() }

    func request(_ reason: String, for run: CommandRun?) {
        guard !device.stopping, requests.count < Self.maxRequests else {
            device.counters.requestsDropped += 1
            run?.fail(device.stopping ? "stopping: no more snapshots" : "busy: \(Self.maxRequests) snapshots already waiting")
            return
        }
        requests.append(Request(reason: reason, run: run))
        wake.notifyAll()
    }

    private func loop() async throws {
        let period = Int64(device.config.snapshotIntervalMilliseconds) * 1_000_000
        var next = Kernel.now   // the first at once
        var first = true
        while !device.stopping {
            let now = Kernel.now
            let request: Request
            if now >= next {
                request = Request(reason: first ? "start" : "period")
                first = false
                next += period
                if next <= now {   // fell behind: skip to the next slot of the schedule, counted
                    let missed = (now - next) / period + 1
                    device.counters.missedPeriods += Int(missed)
                    next += missed * period
                }
            } else if !requests.isEmpty {
                request = requests.removeFirst()
                device.counters.extra += 1
            } else {
                try await wake.wait(until: next)
                continue
            }
            try await take(request)
        }
        // Commands still waiting for a snapshot get an answer.
        for r in requests { r.run?.fail("stopping: no more snapshots") }
        requests.removeAll()
    }

    private func take(_ r: Request) async throws {
        let device = self.device!
        let snap = await device.sample(reason: r.reason)
        do {
            let (m, counts) = try await device.outbox.append(topic: device.topics.snapshot, unstored: device.counters.unstoredSinceStored) { seq, counts in
                snap.json(seq: seq, outbox: counts)
            }
            device.counters.unstoredSinceStored = 0
            device.setFault("outbox", nil)
            device.counters.taken += 1
            device.lastSeq = m.seq
            device.outboxCounts = counts
            forwarding?.stored(m)
            r.run?.done(seq: m.seq)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            device.counters.storeFailures += 1
            device.counters.unstoredSinceStored += 1
            device.setFault("outbox", "\(error)")
            r.run?.fail("snapshot not stored: \(error)")
        }
    }
}
