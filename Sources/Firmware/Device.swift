import Board
import Kernel
import MQTT

/// A firmware running on a board: the components of a `Composition` and what they share —
/// the board, the config and topics, the outbox and its `SnapshotPipe`, the MQTT client, the
/// faults, the log and the command table. What a component knows (its counters, its snapshot
/// fields, its status and its entities) it keeps itself. On any board (it sees only the Board
/// protocols).
@KernelActor
public final class Device {
    /// `local`: no broker is configured (snapshots stay in the outbox), nothing is wrong.
    public enum Health: String, Sendable { case online, offline, local, fault }

    /// Something wrong now: what (`error`) and since when (wall clock, ns since 1970).
    public struct Fault: Sendable, Equatable {
        public var error: String
        public var since: Int64
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

    /// What is wrong now, by part (a role such as "gps_uart", or "outbox", "broker"); empty
    /// when all is well. In every snapshot, in the status LED and in `onLog`.
    public private(set) var faults: [String: Fault] = [:]
    /// The last fault raised (kept after it cleared): which part, its text, when (ns since 1970).
    public private(set) var lastError: (part: String, error: String, at: Int64)?
    /// One line per event worth an operator's attention (faults raised and cleared, the
    /// broker's connection going up and down and why), with how much it matters; never per
    /// snapshot.
    public var onLog: (LogLevel, String) -> Void = { _, _ in }
    /// Snapshot requests, the outbox's numbering and counts as the kernel knows them, and the
    /// hand-over from the snapshot task to the forwarder.
    public private(set) var pipe: SnapshotPipe!
    /// Kernel time `run` started.
    public private(set) var started: Int64 = 0
    /// A clean stop has begun: no more snapshots or commands.
    public private(set) var stopping = false
    /// Every component is attached (`attach`).
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
        components = firmware.make(for: board.description)
        pipe = SnapshotPipe(device: self)
    }

    /// The component of type `T`, if the firmware has one (for those outside the firmware
    /// that report on it: the simulation's summary, a test; components talk through the device
    /// and its pipe, not to each other).
    public func component<T: Component>(_ type: T.Type) -> T? {
        for c in components { if let t = c as? T { return t } }
        return nil
    }

    public var health: Health {
        if !faults.isEmpty { return .fault }
        guard let client else { return .local }   // no broker to be offline from
        return client.state == .online ? .online : .offline
    }

    // MARK: running

    /// Reads the outbox's counts and attaches every component (opening the roles they use; the
    /// board's `close()` releases them). `run` does it when it was not done before.
    public func attach() async throws {
        guard !attached else { return }
        try await pipe.open()
        for c in components { try c.attach(to: self) }
        attached = true
    }

    /// Attaches (`attach`), then runs every component's tasks until cancelled (or `stop()`
    /// then cancelled).
    public func run() async throws {
        started = Kernel.now
        try await attach()
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
        for h in handlers where Topic.matches(filter: h.filter, topic: p.topic) {
            h.handle(p)
            return
        }
    }

    private func brokerState(_ state: MQTTClient.State) {
        guard let client else { return }
        setFault("broker", client.refusal)
        switch state {
        case .online:
            publishFaults()
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

    /// Raises (`error` non-nil) or clears the fault of `part`; a fault keeps its `since` while
    /// it lasts. Each change is logged.
    public func setFault(_ part: String, _ error: String?, since at: Int64? = nil) {
        if let error {
            guard faults[part]?.error != error else { return }
            let since = faults[part]?.since ?? at ?? board.clock.unixNanoseconds()
            faults[part] = Fault(error: error, since: since)
            lastError = (part, error, board.clock.unixNanoseconds())
            onLog(.error, "fault: \(part): \(error)")
            publishFaults()
        } else if let f = faults.removeValue(forKey: part) {
            onLog(.info, "fault cleared: \(part) (since \(iso8601(unixNanoseconds: f.since)))")
            publishFaults()
        }
    }

    /// `…/faults` (retained; after every change and every connect):
    /// `{"active": {"gps_uart": {"error": "…", "since": "2026-…Z"}}, "last": {"part": "gps_uart",
    /// "error": "…", "at": "…"}}`, `"last": null` before the first fault of this run. What Home
    /// Assistant's problem sensors and last-error sensor read (`HomeAssistantDiscovery`).
    public var faultsPayload: String {
        var w = JSONWriter(capacity: 128 + 128 * faults.count)
        w.object { w in
            w.key("active"); w.object { w in
                for (part, f) in faults.sorted(by: { $0.key < $1.key }) {
                    w.key(part); w.object { w in
                        w.key("error"); w.string(f.error)
                        w.key("since"); w.string(iso8601(unixNanoseconds: f.since))
                    }
                }
            }
            w.key("last")
            if let l = lastError {
                w.object { w in
                    w.key("part"); w.string(l.part)
                    w.key("error"); w.string(l.error)
                    w.key("at"); w.string(iso8601(unixNanoseconds: l.at))
                }
            } else {
                w.null()
            }
        }
        return w.text
    }

    private func publishFaults() {
        guard let client, client.state == .online else { return }   // sent again on connect
        publishDirect(topics.faults, faultsPayload, retain: true)
    }

    // MARK: snapshots and status

    /// The device's own fields, then every component's, as a snapshot's payload carries them.
    func sample(reason: String) async -> Snapshot {
        var s = Snapshot(device: config.deviceID, reason: reason)
        s.time = iso8601(unixNanoseconds: board.clock.unixNanoseconds())
        s.uptimeMilliseconds = (Kernel.now - started) / 1_000_000
        for c in components { await c.sample(into: &s) }
        // After the components: a fault one raised while sampling is in the same snapshot.
        s.faults = faults.sorted { $0.key < $1.key }.map { Snapshot.FaultEntry(role: $0.key, error: $0.value.error, since: iso8601(unixNanoseconds: $0.value.since)) }
        s.tasks = Kernel.stats().filter { !board.ownsTask(named: $0.name) }
        s.taskTimes = config.taskTimes
        return s
    }

    /// `t=12s online  seq 3  ...  cmds 2  faults: gps_uart`: the health, each component's part,
    /// the commands received (the command table's), the faults (`seconds`: since the run
    /// started, as the caller counts).
    public func statusLine(seconds: Int64) -> String {
        var line = StatusLine("t=\(seconds)s \(health.rawValue)")
        // A stop can come before `attach` finished (a signal at start): components that are not
        // attached have no device to read from.
        if attached { for c in components { c.status(into: &line) } }
        line.add("cmds \(commands.received)")
        if !faults.isEmpty { line.add("faults: " + faults.keys.sorted().joined(separator: ", ")) }
        return line.text
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
    /// `more` adds a component's own fields (an update's `"update": {…}`).
    public func ack(_ id: String?, seq: Int64? = nil, error: String? = nil, more: ((inout JSONWriter) -> Void)? = nil) {
        if error != nil { commands.failed += 1 }
        guard client != nil else { return }
        var w = JSONWriter(capacity: 96)
        w.object { w in
            w.key("id")
            if let id { w.string(id) } else { w.null() }
            w.key("ok")
            w.bool(error == nil)
            if let seq { w.key("seq"); w.int(seq) }
            if let error { w.key("error"); w.string(error) }
            more?(&w)
        }
        publishDirect(topics.ack, w.text, retain: false)
    }
}
