import Board
import Firmware
import Glibc
import Kernel
import MQTT
import SimBoard
import SimWorld
import TLS

/// The real firmware on the simulated board in virtual time, against the in-process broker and
/// the board's seeded faults, and the invariants that must hold at the end:
///
/// - **no snapshot lost**: every sequence number the firmware stored reached the broker, is
///   still in the outbox, or was dropped by the outbox's stated policy (full: oldest first);
/// - **memory bounded**: the MQTT client never held more than the feed window (plus command
///   acks), whatever the backlog on disk.
///
/// Duplicates (QoS 1 re-sends the broker had already seen) are counted, not failures.
public struct FirmwareSimulation: Sendable {
    public var simulation: Simulation
    public var firmware: FirmwareConfig
    /// ":memory:" (the default) or a file; either way called inline, so runs are reproducible.
    public var outboxPath = ":memory:"
    public var outboxCapacity = 100_000
    /// Sequence numbers the check pretends the broker never received: how the tests show the
    /// loss check can fail.
    public var forgetAtBroker: Set<Int64> = []
    /// The firmware's components (the stock firmware unless yours).
    public var composition: Composition = .stock
    /// The device's TLS client context when the world's broker speaks TLS.
    var tlsContext: TLSContext?

    public init(simulation: Simulation, firmware: FirmwareConfig? = nil) throws {
        self.simulation = simulation
        var f = firmware ?? FirmwareConfig(deviceID: "sim")
        if f.broker == nil {
            // The world's broker (the first endpoint it listens on).
            let world = try WorldConfig.parse(simulation.board)
            f.broker = try BrokerAddress.parse(world.brokerEndpoints.first ?? "127.0.0.1:1883")
            // A TLS broker: the device dials it with mqtts:// and trusts the world's CA.
            if let tls = world.brokerTLS {
                f.broker?.tls = true
                tlsContext = try TLSContext(TLSSettings(caFile: tls.ca))
            }
        }
        f.taskTimes = false
        f.seed = simulation.seed
        self.firmware = f
    }

    public struct Summary: Sendable {
        public var taken = 0
        public var extra = 0
        public var storeFailures = 0
        /// Distinct sequence numbers the broker received, and receptions beyond the first.
        public var delivered = 0
        /// The lowest sequence number the broker received in this run (nil: none).
        public var firstDelivered: Int64?
        public var duplicates = 0
        /// Acknowledged and removed from the outbox (as the firmware counted).
        public var acked = 0
        /// Dropped by the outbox when full during this run; still in it at the end.
        public var dropped = 0
        public var pending = 0
        /// Stored, never delivered, not in the outbox at the end (at most `dropped` of these are
        /// the drop policy's: the client may still deliver a dropped message it already held).
        public var undelivered = 0
        /// Undelivered beyond what the drops account for.
        public var lost = 0
        public var firstLost: [Int64] = []
        public var mqtt = MQTTClient.Stats()
        public var commands = 0
        public var commandErrors = 0
        public var uart = (bytes: 0, lines: 0, bad: 0, overlong: 0, noise: 0)
        /// Each sensor driver's good readings and failed attempts.
        public var sensors: [(role: String, readings: Int, failures: Int)] = []
        public var lastFix: Fix?
        public var peakClientBacklog = 0
        /// Outbox removals (transactions) over the run.
        public var removals = 0
        /// Removed rows still on disk as the run ends (not yet collected).
        public var removedRows = 0
        public var clientBacklogBound = 0
        public var faults: [String: String] = [:]
        /// Invariants that broke (empty: all held).
        public var violations: [String] = []
    }

    // safety: written by tasks on the kernel thread while the simulation runs, read by `run`
    // on the same thread after `Kernel.run` returned.
    final class Shared: @unchecked Sendable {
        var summary = Summary()
        var seen: [UInt8] = []   // per seq: receptions at the broker (saturating)

        /// The firmware's counters as the run ends (on the kernel, before it stops).
        @KernelActor func capture(_ fw: Device) {
            if let s = fw.component(Snapshots.self) {
                (summary.taken, summary.extra, summary.storeFailures) = (s.taken, s.extra, s.storeFailures)
            }
            if let f = fw.component(OutboxForwarding.self) {
                (summary.acked, summary.removals, summary.peakClientBacklog) = (f.delivered, f.removals, f.peakClientBacklog)
            }
            (summary.commands, summary.commandErrors) = (fw.commands.received, fw.commands.failed)
            summary.mqtt = fw.client?.stats ?? MQTTClient.Stats()
            if let g = fw.component(GPSReader.self) {
                summary.uart = (g.uartBytes, g.framer.lines, g.parser.bad, g.framer.dropped, g.framer.noise)
                summary.lastFix = g.fix
            }
            summary.sensors = fw.components.compactMap { $0 as? any SensorDriver }.map { ($0.role, $0.readings, $0.failures) }
            summary.faults = fw.faults.mapValues(\.error)
        }
    }

    /// Runs it (not from inside a kernel).
    public func run() throws -> (Simulation.Report, Summary) {
        let start = try WorldConfig.parse(simulation.board).startUnixNanoseconds
        let outbox = try Outbox(path: outboxPath, capacity: outboxCapacity, offloaded: false, clock: { start }, seqMarker: Snapshot.seqMarker)
        // A file outbox may come from an earlier run: its numbers below what was pending then
        // were delivered (or lost) before this one, and its drops too.
        let before = try outbox.countsNow()
        let shared = Shared()
        let config = firmware
        let forget = forgetAtBroker
        let tls = tlsContext
        let composition = self.composition
        // As `firmloop run` does: outputs with "restore": true start at their kept value.
        var simulation = self.simulation
        simulation.board = simulation.board.restoring(try outbox.outputs.valuesNow())
        let report = try simulation.run { world in
            let board = world.board
            let network: any Network = tls.map { TLSNetwork(over: board.network, context: $0) } ?? board.network
            let fw = Device(board: board, config: config, outbox: outbox, network: network, firmware: composition)
            defer { shared.capture(fw) }
            let topic = fw.topics.snapshot
            world.broker.onPublish.append { m in
                guard m.publish.topic == topic, let seq = Snapshot.seq(in: m.publish.payload), seq > 0, seq < 1 << 40,
                      !forget.contains(seq) else { return }
                let i = Int(seq)
                if i >= shared.seen.count { shared.seen.append(contentsOf: repeatElement(0, count: max(i + 1 - shared.seen.count, shared.seen.count))) }
                if shared.seen[i] < 255 { shared.seen[i] += 1 }
            }
            try await fw.run()
        }
        var s = shared.summary
        let counts = try outbox.countsNow()
        s.dropped = Int(counts.dropped - before.dropped)
        s.pending = counts.pending
        s.removedRows = try outbox.removedRowsNow()
        let stored = Set(try outbox.pendingNow(after: 0, limit: Int.max).map(\.seq))
        var missing: [Int64] = []
        for seq in (before.nextSeq - Int64(before.pending))..<counts.nextSeq {
            let n = Int(seq) < shared.seen.count ? Int(shared.seen[Int(seq)]) : 0
            if n > 0 { s.delivered += 1; s.duplicates += n - 1; s.firstDelivered = s.firstDelivered ?? seq } else if !stored.contains(seq) { missing.append(seq) }
        }
        // The outbox drops the oldest when full: that many undelivered numbers are accounted for.
        s.undelivered = missing.count
        s.lost = max(0, missing.count - s.dropped)
        s.firstLost = Array(missing.dropFirst(s.dropped).prefix(10))
        if s.lost > 0 {
            s.violations.append("\(s.lost) snapshot(s) lost: stored, never delivered, not in the outbox (first: \(s.firstLost.map(String.init).joined(separator: ", ")))")
        }
        s.clientBacklogBound = config.clientBacklogBound
        if s.peakClientBacklog > s.clientBacklogBound {
            s.violations.append("memory bound exceeded: the MQTT client held \(s.peakClientBacklog) messages (bound \(s.clientBacklogBound))")
        }
        return (report, s)
    }
}
