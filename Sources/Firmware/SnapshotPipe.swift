import Board
import Kernel

/// The one way a snapshot goes: requested (by the schedule, a press, a command, a fault), taken
/// and stored in the outbox (which numbers it), handed on towards the broker, removed once
/// delivered. The components on it (`Snapshots` takes and stores, `OutboxForwarding` feeds the
/// client and removes) know this pipe, not each other; what it holds are the outbox's facts as
/// the kernel last saw them. One per `Device` (`Device.pipe`).
@KernelActor
public final class SnapshotPipe {
    /// A press, a command or a fault asking for a snapshot now.
    public struct Request {
        public var reason: String
        public var run: CommandRun?
    }

    /// Press and command requests waiting at most; one more is dropped (counted, a command
    /// answered "busy").
    public nonisolated static let maxRequests = 16

    private unowned let device: Device
    private var outbox: Outbox { device.outbox }
    /// The last stored snapshot's sequence number.
    public private(set) var lastSeq: Int64 = 0
    /// The outbox's counts as the last append left them, less what was removed since.
    public private(set) var counts = Outbox.Counts(pending: 0, nextSeq: 1, dropped: 0)
    /// Snapshots that could not be stored since the last one that was (added to the outbox's
    /// on-disk `unstored` count by the next append that succeeds).
    public private(set) var unstoredSinceStored = 0
    /// Requests dropped because `maxRequests` were already waiting (or the device was stopping).
    public private(set) var requestsDropped = 0
    /// Requests waiting for the taker, oldest first (at most `maxRequests`).
    private(set) var requests: [Request] = []
    /// Set by the component that takes snapshots (`serve`); without one, requests fail.
    private var taker: Notify?
    /// Told of every stored message (the forwarder's `stored`).
    private var onStored: [(Outbox.Message) -> Void] = []

    init(device: Device) { self.device = device }

    /// Reads the outbox's counts (at start, before any component attaches).
    func open() async throws {
        counts = try await outbox.counts()
        lastSeq = counts.nextSeq - 1
        showDamage()
    }

    // MARK: requests

    /// The taker (`Snapshots`) says it serves requests, woken by `wake` when one comes.
    public func serve(wake: Notify) { taker = wake }

    /// Asks for a snapshot now (a press, a command); `run` is answered with its sequence number
    /// once it is stored. Without a taker, `run` fails.
    public func request(_ reason: String, for run: CommandRun? = nil) {
        guard let taker else {
            run?.fail("this firmware takes no snapshots")
            return
        }
        guard !device.stopping, requests.count < Self.maxRequests else {
            requestsDropped += 1
            run?.fail(device.stopping ? "stopping: no more snapshots" : "busy: \(Self.maxRequests) snapshots already waiting")
            return
        }
        requests.append(Request(reason: reason, run: run))
        taker.notifyAll()
    }

    /// The oldest waiting request, if any (for the taker).
    public func nextRequest() -> Request? { requests.isEmpty ? nil : requests.removeFirst() }

    /// Answers every waiting request (a stop).
    func failRequests(_ why: String) {
        for r in requests { r.run?.fail(why) }
        requests.removeAll()
    }

    // MARK: storing

    /// Stores `snapshot` under the next sequence number; tells the forwarder. A failure is the
    /// `outbox` fault (counted towards the next stored snapshot's `unstored`) and is thrown.
    public func store(_ snapshot: Snapshot) async throws -> Outbox.Message {
        do {
            let (m, counts) = try await outbox.append(topic: device.topics.snapshot, unstored: unstoredSinceStored) { seq, counts in
                snapshot.json(seq: seq, outbox: counts)
            }
            unstoredSinceStored = 0
            device.setFault("outbox", nil)
            lastSeq = m.seq
            let wasDamaged = self.counts.damaged
            self.counts = counts
            if counts.damaged != wasDamaged { showDamage(); request("fault") }
            for tell in onStored { tell(m) }
            return m
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            unstoredSinceStored += 1
            device.setFault("outbox", "\(error)")
            throw error
        }
    }

    /// `tell` hears of every stored message, in order, as it is stored.
    public func whenStored(_ tell: @escaping (Outbox.Message) -> Void) { onStored.append(tell) }

    /// `count` stored messages were removed (delivered).
    public func removed(_ count: Int) { counts.pending = max(0, counts.pending - count) }

    /// Snapshots that could not be stored, over the outbox's life (on disk, and since).
    public var unstored: Int64 { counts.unstored + Int64(unstoredSinceStored) }

    // MARK: damage

    /// Faults that stay until acknowledged by `{"clear_fault": part}` (`clearFault`), not cleared by
    /// the condition going away: the event is over, but someone should know it happened.
    public nonisolated static let acknowledgedFaults = ["outbox.damaged"]

    /// The outbox's unacknowledged damage as the `outbox.damaged` fault (the newest record's
    /// text, and how many before it); at start and whenever the outbox was made again.
    private func showDamage() {
        let records = outbox.damageNow()
        guard let last = records.last else { return device.setFault("outbox.damaged", nil) }
        let earlier = records.count > 1 ? " (and \(records.count - 1) time\(records.count == 2 ? "" : "s") before, not acknowledged)" : ""
        device.setFault("outbox.damaged", last.description + earlier, since: last.at)
    }

    /// Acknowledges an `acknowledgedFaults` part (kept on disk for the outbox's damage), then
    /// clears it; `run` is answered.
    func clearFault(_ part: String, for run: CommandRun) {
        guard device.faults[part] != nil else { return run.done() }   // nothing to clear: done already
        _ = spawn("clear_fault") {
            do {
                try await self.outbox.acknowledgeDamage()
                self.device.setFault(part, nil)
                run.done()
            } catch {
                run.fail("\(part) not acknowledged: \(error)")
            }
        }
    }
}
