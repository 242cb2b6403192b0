import Board
import Kernel

/// The snapshot task: every interval on a drift-free schedule (the first at once), and at
/// once for a request on the pipe (a press, a command, a fault: `SnapshotPipe.request`),
/// samples every component into a `Snapshot` and stores it (`SnapshotPipe.store`: the outbox
/// gives it the next sequence number). Only this task stores, so numbers stay contiguous.
/// Answers `"snapshot": true`.
@KernelActor
public final class Snapshots: Component {
    private unowned var device: Device!
    private let wake = Notify()

    /// Snapshots stored (each got a sequence number), and those of them taken for a request.
    public private(set) var taken = 0
    public private(set) var extra = 0
    /// Snapshots that could not be stored (the outbox failed: the `outbox` fault).
    public private(set) var storeFailures = 0
    /// Periods skipped because the task fell behind (a snapshot took longer than the interval).
    public private(set) var missedPeriods = 0

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        device.pipe.serve(wake: wake)
        // After every other key's action, so the snapshot shows what the command did.
        device.commands.register("snapshot", order: .last) { [unowned device] value in
            Command.parseSnapshot(value).map { wanted -> CommandTable.Action? in
                guard wanted else { return nil }
                let action: CommandTable.Action = { run in device.pipe.request("command", for: run) }
                return action
            }
        }
    }

    public func start(in group: TaskGroupScope) {
        group.spawn("snapshot") { try await self.loop() }
    }

    public func willStop() { wake.notifyAll() }

    /// `seq 12  taken 12 (+1 extra)`, and `NOT STORED n` while any could not be stored.
    public func status(into line: inout StatusLine) {
        let pipe = device.pipe!
        line.add("seq \(pipe.lastSeq)")
        line.add("taken \(taken) (+\(extra) extra)")
        if pipe.unstored > 0 { line.add("NOT STORED \(pipe.unstored)") }
    }

    /// Diagnostic sensors from the snapshot: the outbox's backlog and the last sequence number;
    /// the outbox's faults (it cannot store; a damaged file was set aside) as problem sensors.
    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        a.addSnapshotSensor("outbox_backlog", name: "Outbox backlog", field: "outbox.pending", category: "diagnostic")
        a.addSnapshotSensor("last_seq", name: "Last snapshot", field: "seq", category: "diagnostic", stateClass: nil)
        a.addProblemSensor("outbox", name: "Outbox problem")
        a.addProblemSensor("outbox.damaged", name: "Outbox damaged")
    }

    private func loop() async throws {
        let pipe = device.pipe!
        let period = Int64(device.config.snapshotIntervalMilliseconds) * 1_000_000
        var next = Kernel.now   // the first at once
        var first = true
        while !device.stopping {
            let now = Kernel.now
            let request: SnapshotPipe.Request
            if now >= next {
                request = SnapshotPipe.Request(reason: first ? "start" : "period")
                first = false
                next += period
                if next <= now {   // fell behind: skip to the next slot of the schedule, counted
                    let missed = (now - next) / period + 1
                    missedPeriods += Int(missed)
                    next += missed * period
                }
            } else if let r = pipe.nextRequest() {
                request = r
                extra += 1
            } else {
                try await wake.wait(until: next, tolerance: Kernel.coarseTolerance)
                continue
            }
            try await take(request)
        }
        // Commands still waiting for a snapshot get an answer.
        pipe.failRequests("stopping: no more snapshots")
    }

    private func take(_ r: SnapshotPipe.Request) async throws {
        let snap = await device.sample(reason: r.reason)
        do {
            let m = try await device.pipe.store(snap)
            taken += 1
            r.run?.done(seq: m.seq)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            storeFailures += 1
            r.run?.fail("snapshot not stored: \(error)")
        }
    }
}
