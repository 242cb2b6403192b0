import Board
import Kernel
import MQTT

/// A firmware running on a board: the components of a `Composition` and what they share —
/// the board, the config and topics, the outbox, the MQTT client, the faults, the counters,
/// the log, the command table and the snapshot requests. On any board (it sees only the
/// Board protocols).
@KernelActor
public final class Device {
    /// `local`: no broker is configured (snapshots stay in the outbox), nothing is wrong.
    public enum Health: String, Sendable { case online, offline, local, fault }

    /// Something wrong now: what (`error`) and since when (wall clock, ns since 1970).
    public struct Fault: Sendable, Equatable {
        public var error: String
        public var since: Int64
    }

    public struct Counters: Sendable, Equatable {
        /// Snapshots stored (each got a sequence number), and those taken for a press or a command.
        public var taken = 0
        public var extra = 0
        /// Snapshots that could not be stored (the outbox failed; a fault).
        public var storeFailures = 0
        /// Periods skipped because the task fell behind (a snapshot took longer than the interval).
        public var missedPeriods = 0
        /// Acknowledged by the broker and removed from the outbox.
        public var delivered = 0
        /// Removals from the outbox (a transaction each: at most one per
        /// `OutboxForwarding.removeInterval`).
        public var removals = 0
        public var commands = 0
        public var commandErrors = 0
        /// Press or command requests dropped because `Snapshots.maxRequests` were already waiting.
        public var requestsDropped = 0
        /// Snapshots that could not be stored since the last one that was (added to the
        /// outbox's on-disk `unstored` count by the next append that succeeds).
        public var unstoredSinceStored = 0
        /// Attempts to reopen the GPS port after it went away.
        public var gpsReopens = 0
    }

    public let board: any Hardware
    public let config: FirmwareConfig
    public let outbox: Outbox
    public let topics: Topics
    public let client: MQTTClient?
    /// Where the broker is reached (nil: no broker; snapshots stay in the outbox).
    public let network: (any Network)?
    /// The components, in the firmware's order.
    public let components: [any Component]

    public internal(set) var counters = Counters()
    /// What is wrong now, by part (a role such as "gps_uart", or "outbox", "broker"); empty
    /// when all is well. In every snapshot, in the status LED and in `onLog`.
    public private(set) var faults: [String: Fault] = [:]
    /// One line per event worth an operator's attention (faults raised and cleared, the
    /// broker's connection going up and down and why), with how much it matters; never per
    /// snapshot.
    public var onLog: (LogLevel, String) -> Void = { _, _ in }
    /// The last stored snapshot's sequence number, and the outbox's counts (as the last append
    /// left them, less what was removed since).
    public internal(set) var lastSeq: Int64 = 0
    public internal(set) var outboxCounts = Outbox.Counts(pending: 0, nextSeq: 1, dropped: 0) {
        // At start (from 0) the first snapshot, taken at once, carries it.
        didSet { if outboxCounts.damaged != oldValue.damaged { showDamage(snapshot: attached) } }
    }
    /// The most messages the MQTT client held at once (queued + in flight): bounded by the feed
    /// window plus command acks, whatever the backlog on disk.
    public private(set) var peakClientBacklog = 0
    /// Kernel time `run` started.
    public private(set) var started: Int64 = 0
    /// A clean stop has begun: no more snapshots or commands.
    public private(set) var stopping = false
    /// Every component is attached (`run`): snapshots may be requested.
    private var attached = false

    /// Set once `run` has opened every role it uses and started its tasks (a service manager's
    /// "ready").
    public let ready = Event()

    /// The keys a command on `…/cmd` may carry, registered by components in `attach`.
    public var commands = CommandTable()
    /// Topics handled by components (the first whose filter matches gets a message).
    private var handlers: [(filter: String, handle: (Publish) -> Void)] = []

    /// Largest command accepted (the MQTT client's packet limit): a bigger one is read past
    /// without being buffered, acknowledged to the broker and answered with an error.
    public static let maxCommandBytes = 256 * 1024

    /// `network` is where the broker is reached (nil: no broker, snapshots stay in the outbox).
    public init(board: any Hardware, config: FirmwareConfig, outbox: Outbox, network: (any Network)?,
                firmware: Composition = .stock) {
        self.board = board
        self.config = config
        self.outbox = outbox
        self.network = config.broker == nil ? nil : network
        topics = Topics(device: config.deviceID)
        if let b = config.broker, network != nil {
            var c = MQTTClient.Config(host: b.host, port: b.port, clientID: "firmloop-" + config.deviceID)
            c.keepAliveSeconds = config.keepAliveSeconds
            c.username = config.username
            c.password = config.password
            c.will = Will(topic: topics.status, payload: Array("offline".utf8), qos: 1, retain: true)
            c.online = (topics.status, Array("online".utf8))
            c.seed = config.seed
            c.maxPacket = Self.maxCommandBytes
            client = MQTTClient(c)
        } else {
            client = nil
        }
        components = firmware.make()
    }

    /// The component of type `T`, if the firmware has one.
    public func component<T: Component>(_ type: T.Type) -> T? {
        for c in components { if let t = c as? T { return t } }
        return nil
    }

    /// The stock GPS reader, if the firmware has one.
    public var gps: GPSReader? { component(GPSReader.self) }

    /// The latest fix, nil before the receiver first reported a position (or without a GPS).
    public var fix: Fix? { gps?.fix }

    public var health: Health {
        if !faults.isEmpty { return .fault }
        guard let client else { return .local }   // no broker to be offline from
        return client.state == .online ? .online : .offline
    }

    // MARK: running

    /// Attaches every component (opening the roles they use; the board's `close()` releases
    /// them), then runs their tasks until cancelled (or `stop()` then cancelled).
    public func run() async throws {
        started = Kernel.now
        outboxCounts = try await outbox.counts()
        lastSeq = outboxCounts.nextSeq - 1
        for c in components { try c.attach(to: self) }
        attached = true
        if let client {
            // Unowned: the client is ours, and a closure holding it would keep it (and so this
            // device) alive for ever.
            client.onMessage = { [unowned self] p in self.route(p) }
            client.onState = { [unowned self] state in self.brokerState(state) }
        }
        try await withGroup("firmware") { g in
            defer { self.ready.set() }
            for c in self.components { c.start(in: g) }
        }
    }

    /// Handles messages on `filter` (an MQTT filter: `+` and `#` wildcards), subscribed at QoS 1
    /// with every connect. Call from `attach`.
    public func subscribe(_ filter: String, _ handle: @escaping (Publish) -> Void) {
        guard let client else { return }
        client.subscribe(Subscription(filter, qos: 1))
        handlers.append((filter, handle))
    }

    private func route(_ p: Publish) {
        for h in handlers where Topics.matches(filter: h.filter, topic: p.topic) {
            h.handle(p)
            return
        }
    }

    private func brokerState(_ state: MQTTClient.State) {
        guard let client else { return }
        setFault("broker", client.refusal)
        switch state {
        case .online:
            for c in components { c.online() }
            onLog(.info, "mqtt: online (\(client.config.host):\(client.config.port))")
        case .disconnected where !stopping:
            let retry = Double(client.retryInMilliseconds) / 1000
            onLog(.warning, "mqtt: offline: \(client.lastError ?? "not connected"); next attempt in \(retry) s")
        case .disconnected, .connecting:
            break
        }
    }

    /// A clean stop: no more snapshots; what is in flight gets the grace period to be
    /// acknowledged (and removed from the outbox); `offline` is published; DISCONNECT. Then
    /// cancel `run`'s task. What is still stored is sent after the next start.
    public func stop() async {
        stopping = true
        for c in components { c.willStop() }
        if let client {
            await client.close(final: (topics.status, Array("offline".utf8)), timeoutMilliseconds: config.stopGraceMilliseconds)
        }
        let deadline = Kernel.now + Int64(config.stopGraceMilliseconds) * 1_000_000
        for c in components { await c.finish(until: deadline) }
    }

    // MARK: faults and log

    /// Faults that stay until acknowledged by `{"clear_fault": part}` (`clearFault`), not cleared by
    /// the condition going away: the event is over, but someone should know it happened.
    public nonisolated static let acknowledgedFaults = ["outbox.damaged"]

    /// The outbox's unacknowledged damage as the `outbox.damaged` fault (the newest record's
    /// text, and how many before it); at start and whenever the outbox was made again (then
    /// with a snapshot to say so at once: `snapshot`).
    private func showDamage(snapshot: Bool) {
        let records = outbox.damageNow()
        guard let last = records.last else { return setFault("outbox.damaged", nil) }
        let earlier = records.count > 1 ? " (and \(records.count - 1) time\(records.count == 2 ? "" : "s") before, not acknowledged)" : ""
        setFault("outbox.damaged", last.description + earlier, since: last.at)
        if snapshot { requestSnapshot("fault") }
    }

    /// Acknowledges an `acknowledgedFaults` part (kept on disk for the outbox's damage), then
    /// clears it; `run` is answered.
    func clearFault(_ part: String, for run: CommandRun) {
        guard faults[part] != nil else { return run.done() }   // nothing to clear: done already
        _ = spawn("clear_fault") {
            do {
                try await self.outbox.acknowledgeDamage()
                self.setFault(part, nil)
                run.done()
            } catch {
                run.fail("\(part) not acknowledged: \(error)")
            }
        }
    }

    /// Raises (`error` non-nil) or clears the fault of `part`; a fault keeps its `since` while
    /// it lasts. Each change is logged.
    public func setFault(_ part: String, _ error: String?, since at: Int64? = nil) {
        if let error {
            guard faults[part]?.error != error else { return }
            let since = faults[part]?.since ?? at ?? board.clock.unixNanoseconds()
            faults[part] = Fault(error: error, since: since)
            onLog(.error, "fault: \(part): \(error)")
        } else if let f = faults.removeValue(forKey: part) {
            onLog(.info, "fault cleared: \(part) (since \(iso8601(unixNanoseconds: f.since)))")
        }
    }

    // MARK: snapshots

    /// Asks the snapshot task for a snapshot now (a press, a command); `run` is answered with
    /// its sequence number once it is stored. Without a snapshot task, `run` fails.
    public func requestSnapshot(_ reason: String, for run: CommandRun? = nil) {
        guard let s = component(Snapshots.self) else {
            run?.fail("this firmware takes no snapshots")
            return
        }
        s.request(reason, for: run)
    }

    /// Every component's values, as a snapshot's payload carries them.
    func sample(reason: String) async -> Snapshot {
        var s = Snapshot(device: config.deviceID, reason: reason)
        s.time = iso8601(unixNanoseconds: board.clock.unixNanoseconds())
        s.uptimeMilliseconds = (Kernel.now - started) / 1_000_000
        for c in components { await c.sample(into: &s) }
        s.faults = faults.sorted { $0.key < $1.key }.map { Snapshot.FaultEntry(role: $0.key, error: $0.value.error, since: iso8601(unixNanoseconds: $0.value.since)) }
        s.tasks = Kernel.stats().filter { !board.ownsTask(named: $0.name) }
        s.taskTimes = config.taskTimes
        s.cpuTemperature = await board.cpuTemperature()
        return s
    }

    // MARK: publishing straight to the client (not through the outbox)

    /// Droppable: a flood of commands, or a broker that stops acknowledging, costs at most the
    /// client's droppable capacity in waiting messages (the oldest go, counted). States and
    /// configs are published again after every connect.
    public func publishDirect(_ topic: String, _ payload: String, retain: Bool) {
        guard let client else { return }
        client.enqueue(topic: topic, payload: Array(payload.utf8), retain: retain, droppable: true)
    }

    /// A command's answer on `…/ack`: `{"id":"c1","ok":true,"seq":N}` or
    /// `{"id":…,"ok":false,"error":…}`.
    public func ack(_ id: String?, seq: Int64? = nil, error: String? = nil) {
        if error != nil { counters.commandErrors += 1 }
        guard client != nil else { return }
        var w = JSONWriter(capacity: 96)
        w.object { w in
            w.key("id")
            if let id { w.string(id) } else { w.null() }
            w.key("ok")
            w.bool(error == nil)
            if let seq { w.key("seq"); w.int(seq) }
            if let error { w.key("error"); w.string(error) }
        }
        publishDirect(topics.ack, w.text, retain: false)
    }

    func notePeak(_ client: MQTTClient) {
        peakClientBacklog = max(peakClientBacklog, client.pending + client.inFlight)
    }
}
