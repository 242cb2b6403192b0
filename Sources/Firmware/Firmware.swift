import Board
import Kernel
import MQTT

/// Where the broker is: `mqtt://HOST:PORT`, `mqtts://HOST:PORT` (TLS, port 8883 by default),
/// `HOST:PORT` or `HOST` (port 1883); IPv6 in brackets.
public struct BrokerAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// `mqtts://`: MQTT over TLS (the TLS module), the server's certificate checked.
    public var tls: Bool

    public init(host: String, port: Int? = nil, tls: Bool = false) {
        self.host = host
        self.port = port ?? (tls ? 8883 : 1883)
        self.tls = tls
    }

    public static func parse(_ text: String) throws(ConfigError) -> BrokerAddress {
        var rest = Substring(text)
        var tls = false
        if let r = rest.firstRange(of: "://") {
            switch rest[..<r.lowerBound] {
            case "mqtt": break
            case "mqtts": tls = true
            default: throw ConfigError("--broker \(text): expected mqtt:// or mqtts:// (TLS)")
            }
            rest = rest[r.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = rest, port = tls ? 8883 : 1883
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw ConfigError("--broker \(text): unclosed [ in an IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":", let p = Int(after.dropFirst()) else { throw ConfigError("--broker \(text): expected [ADDRESS]:PORT") }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]) else { throw ConfigError("--broker \(text): the port is not a number") }
            host = rest[..<colon]
            port = p
        }
        guard !host.isEmpty else { throw ConfigError("--broker \(text): no host") }
        guard (1...65535).contains(port) else { throw ConfigError("--broker \(text): port \(port) is out of range 1-65535") }
        return BrokerAddress(host: String(host), port: port, tls: tls)
    }

    public var description: String {
        let scheme = tls ? "mqtts" : "mqtt"
        return host.contains(":") ? "\(scheme)://[\(host)]:\(port)" : "\(scheme)://\(host):\(port)"
    }
}

public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The MQTT topics of one device: `firmloop/<id>/snapshot`, `…/status`, `…/cmd`, `…/ack`,
/// `…/gps`, and per GPIO role `…/<role>/state` and `…/<role>/set`.
public struct Topics: Sendable, Equatable {
    public let base, snapshot, status, cmd, ack, gps: String
    public init(device: String) {
        base = "firmloop/\(device)"
        snapshot = base + "/snapshot"
        status = base + "/status"
        cmd = base + "/cmd"
        ack = base + "/ack"
        gps = base + "/gps"
    }
    /// Retained ON/OFF of a GPIO role.
    public func state(_ role: String) -> String { "\(base)/\(role)/state" }
    /// ON, OFF or TOGGLE for an output.
    public func set(_ role: String) -> String { "\(base)/\(role)/set" }
    /// Every role's set topic, as a subscription.
    public var setFilter: String { base + "/+/set" }
    /// The role of a set topic, or nil.
    public func role(ofSet topic: String) -> String? {
        guard topic.hasPrefix(base + "/"), topic.hasSuffix("/set") else { return nil }
        let role = topic.dropFirst(base.count + 1).dropLast(4)
        return role.isEmpty || role.contains("/") ? nil : String(role)
    }
}

public struct FirmwareConfig: Sendable {
    /// One topic level: letters, digits, `-`, `_`, `.`; at most 64.
    public var deviceID: String
    public var snapshotIntervalMilliseconds = 5000
    /// No broker: snapshots are stored and wait in the outbox.
    public var broker: BrokerAddress?
    public var username: String?
    public var password: [UInt8]?
    public var keepAliveSeconds: UInt16 = 30
    /// Seed for the reconnect jitter.
    public var seed: UInt64 = 0
    /// Each task's CPU times in snapshots. Simulations leave them out: CPU time is real even on
    /// the virtual clock, and would make two runs of the same seed differ.
    public var taskTimes = true
    /// Messages handed to the MQTT client at a time; the rest wait on disk (memory stays flat
    /// whatever the backlog).
    public var feedWindow = 256
    /// How long a clean stop waits for messages in flight and the final `offline`.
    public var stopGraceMilliseconds = 3000
    public var gpsRole = "gps_uart"
    public var statusRole = "status_led"
    /// Home Assistant MQTT discovery (nil: off, the default).
    public var homeAssistant: HomeAssistantDiscovery?
    /// What discovery's device block says (`firmloop --version`'s first line).
    public var softwareVersion = "firmloop"

    public init(deviceID: String) { self.deviceID = deviceID }

    /// Why `id` cannot be a device id, or nil when it can.
    public static func problem(deviceID id: String) -> String? {
        if id.isEmpty { return "--device-id is empty" }
        if id.utf8.count > 64 { return "--device-id '\(id)' is longer than 64 bytes" }
        let ok = id.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_" || c == "."
        }
        return ok ? nil : "--device-id '\(id)': use letters, digits, '-', '_' and '.' (it is one MQTT topic level)"
    }
}

/// The firmware: what Firmloop exists to run. On any board (it sees only the Board protocols):
///
/// - **gps**: reads the GPS UART through a bounded line framer into the NMEA parser; the latest
///   fix is state the snapshot task reads between awaits. Garbage is counted, never fatal.
/// - **snapshot**: every interval on a drift-free schedule, and at once for an input's press or
///   a command, samples the inputs, outputs, fix, CPU temperature, UART counters and the
///   kernel's task stats into a JSON payload and stores it in the outbox, which gives it the
///   next sequence number. Only this task appends, so numbers stay contiguous.
/// - **outbox**: hands stored snapshots to the MQTT client a window at a time and removes them
///   once the broker acknowledged them (QoS 1 PUBACK) — on disk before offered, gone only when
///   delivered.
/// - **mqtt**: the client (`MQTTClient`): will and retained `online`/`offline` on `…/status`,
///   commands on `…/cmd`, acks on `…/ack`.
/// - **status**: the status LED: a short blink each second online, 500/500 ms offline (or no
///   broker yet), 100/100 ms on a fault.
@KernelActor
public final class Firmware {
    public enum Health: String, Sendable { case online, offline, fault }

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
        public var commands = 0
        public var commandErrors = 0
        /// Press or command requests dropped because 16 were already waiting.
        public var requestsDropped = 0
        /// Snapshots that could not be stored since the last one that was (added to the
        /// outbox's on-disk `unstored` count by the next append that succeeds).
        public var unstoredSinceStored = 0
        /// Attempts to reopen the GPS port after it went away.
        public var gpsReopens = 0
    }

    struct Request {
        var reason: String
        var command: String?
    }

    public let board: any Board
    public let config: FirmwareConfig
    public let outbox: Outbox
    public let topics: Topics
    public let client: MQTTClient?
    private let network: (any Network)?

    public private(set) var counters = Counters()
    public private(set) var framer = LineFramer()
    public private(set) var parser = NMEAParser()
    public private(set) var uartBytes = 0
    /// The board has the GPS UART (so snapshots carry UART counters).
    public private(set) var hasGPS = false
    /// What is wrong now, by part (a role such as "gps_uart", or "outbox", "broker"); empty
    /// when all is well. In every snapshot, in the status LED and in `onLog`.
    public private(set) var faults: [String: Fault] = [:]
    /// One line per event worth an operator's attention (faults raised and cleared, the
    /// broker's connection going up and down and why), with how much it matters; never per
    /// snapshot.
    public var onLog: (LogLevel, String) -> Void = { _, _ in }
    /// The last stored snapshot's sequence number, and the outbox's counts (as the last append
    /// left them, less what was removed since).
    public private(set) var lastSeq: Int64 = 0
    public private(set) var outboxCounts = Outbox.Counts(pending: 0, nextSeq: 1, dropped: 0)
    /// The most messages the MQTT client held at once (queued + in flight): bounded by the feed
    /// window plus command acks, whatever the backlog on disk.
    public private(set) var peakClientBacklog = 0

    /// Set once `run` has opened every role it uses and started its tasks (a service manager's
    /// "ready").
    public let ready = Event()

    private var started: Int64 = 0
    private var stopping = false
    private var requests: [Request] = []
    private let snapshotWake = Notify()
    private let feedWake = Notify()
    private let idle = Notify()
    /// Highest seq handed to the client, and highest stored.
    private var fedThrough: Int64 = 0
    private var storedThrough: Int64 = 0
    private var acked: [Int64] = []
    private var removing = false
    /// Messages sent straight to the client, not through the outbox (acks, states, discovery):
    /// numbered from here, so `acknowledged` tells them from snapshots.
    private var directCount: UInt64 = 0
    private static let directIDs: UInt64 = 1 << 62
    /// The last GPS position published on `…/gps`.
    private var publishedFix: (Double, Double, Double?)?

    private var outputs: [(role: String, line: any OutputLine)] = []
    private var inputs: [(role: String, line: any InputLine)] = []
    private var hadFix = false

    /// Longest wait between two attempts to reopen a serial port that went away.
    public static let reopenMaxMilliseconds = 30_000
    /// Largest command accepted (the MQTT client's packet limit): a bigger one is read past
    /// without being buffered, acknowledged to the broker and answered with an error.
    public static let maxCommandBytes = 256 * 1024

    /// `network` is where the broker is reached (nil: no broker, snapshots stay in the outbox).
    public init(board: any Board, config: FirmwareConfig, outbox: Outbox, network: (any Network)?) {
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
            c.subscriptions = [Subscription(topics.cmd, qos: 1), Subscription(topics.setFilter, qos: 1)]
            if let ha = config.homeAssistant {
                c.subscriptions += [Subscription(ha.statusTopic, qos: 1), Subscription(ha.configFilter(device: config.deviceID), qos: 1)]
            }
            c.seed = config.seed
            c.maxPacket = Self.maxCommandBytes
            client = MQTTClient(c)
        } else {
            client = nil
        }
    }

    public var health: Health {
        if !faults.isEmpty { return .fault }
        guard let client else { return .online }   // no broker to be offline from
        return client.state == .online ? .online : .offline
    }

    /// The latest fix, nil before the receiver first reported a position.
    public var fix: Fix? { hadFix ? parser.fix : nil }

    // MARK: running

    /// Runs every task until cancelled (or `stop()` then cancelled). Opens the roles it uses;
    /// the board's `close()` releases them.
    public func run() async throws {
        started = Kernel.now
        outboxCounts = try await outbox.counts()
        storedThrough = outboxCounts.nextSeq - 1
        lastSeq = storedThrough
        let d = board.description
        for r in d.roles(of: .output) where r.name != config.statusRole { outputs.append((r.name, try board.output(r.name))) }
        for r in d.roles(of: .input) { inputs.append((r.name, try board.input(r.name))) }
        let led = d.role(config.statusRole)?.kind == .output ? try board.output(config.statusRole) : nil
        let gps = d.role(config.gpsRole)?.kind == .serial ? try board.serial(config.gpsRole) : nil
        hasGPS = gps != nil
        if let client {
            // Unowned both ways: the client is ours, and a closure holding it would keep it
            // (and so this firmware) alive for ever.
            client.onAck = { [unowned self] id in self.acknowledged(id) }
            client.onMessage = { [unowned self] p in self.message(p) }
            client.onState = { [unowned self, unowned client] state in self.brokerState(state, client) }
        }
        try await withGroup("firmware") { g in
            defer { self.ready.set() }
            g.spawn("snapshot") { try await self.snapshots() }
            for (role, line) in self.inputs {
                g.spawn("input") { try await self.watch(role, line) }
            }
            if let gps { g.spawn("gps") { await self.readGPS(gps) } }
            if let led { g.spawn("status") { try await self.blink(led) } }
            if let client = self.client, let network = self.network {
                g.spawn("mqtt") { try await client.run(network: network) }
                g.spawn("outbox") { try await self.forward(client) }
            }
        }
    }

    // MARK: faults and log

    /// Raises (`error` non-nil) or clears the fault of `part`; a fault keeps its `since` while
    /// it lasts. Each change is logged.
    func setFault(_ part: String, _ error: String?) {
        if let error {
            guard faults[part]?.error != error else { return }
            let since = faults[part]?.since ?? board.clock.unixNanoseconds()
            faults[part] = Fault(error: error, since: since)
            onLog(.error, "fault: \(part): \(error)")
        } else if let f = faults.removeValue(forKey: part) {
            onLog(.info, "fault cleared: \(part) (since \(iso8601(unixNanoseconds: f.since)))")
        }
    }

    private func brokerState(_ state: MQTTClient.State, _ client: MQTTClient) {
        setFault("broker", client.refusal)
        switch state {
        case .online:
            publishStates()
            announce()
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
        snapshotWake.notifyAll()
        feedWake.notifyAll()
        if let client {
            await client.close(final: (topics.status, Array("offline".utf8)), timeoutMilliseconds: config.stopGraceMilliseconds)
        }
        let deadline = Kernel.now + Int64(config.stopGraceMilliseconds) * 1_000_000
        while (removing || !acked.isEmpty) && Kernel.now < deadline {
            if !removing { feedWake.notifyAll() }
            try? await idle.wait(until: deadline)
        }
    }

    // MARK: snapshot

    private func snapshots() async throws {
        let period = Int64(config.snapshotIntervalMilliseconds) * 1_000_000
        var next = Kernel.now   // the first at once
        var first = true
        while !stopping {
            let now = Kernel.now
            let request: Request
            if now >= next {
                request = Request(reason: first ? "start" : "period")
                first = false
                next += period
                if next <= now {   // fell behind: skip to the next slot of the schedule, counted
                    let missed = (now - next) / period + 1
                    counters.missedPeriods += Int(missed)
                    next += missed * period
                }
            } else if !requests.isEmpty {
                request = requests.removeFirst()
                counters.extra += 1
            } else {
                try await snapshotWake.wait(until: next)
                continue
            }
            try await take(request)
        }
        // Commands still waiting for a snapshot get an answer.
        for r in requests { if let id = r.command { ack(id, error: "stopping: no more snapshots") } }
        requests.removeAll()
    }

    private func request(_ reason: String, command: String? = nil) {
        guard !stopping, requests.count < 16 else {
            counters.requestsDropped += 1
            if let command { ack(command, error: stopping ? "stopping: no more snapshots" : "busy: 16 snapshots already waiting") }
            return
        }
        requests.append(Request(reason: reason, command: command))
        snapshotWake.notifyAll()
    }

    private func take(_ r: Request) async throws {
        let snap = await sample(reason: r.reason)
        publishGPS()
        do {
            let (m, counts) = try await outbox.append(topic: topics.snapshot, unstored: counters.unstoredSinceStored) { seq, counts in
                snap.json(seq: seq, outbox: counts)
            }
            counters.unstoredSinceStored = 0
            setFault("outbox", nil)
            counters.taken += 1
            lastSeq = m.seq
            storedThrough = m.seq
            outboxCounts = counts
            if let client {
                // Caught up: straight to the client; otherwise the outbox task reads it from disk.
                if fedThrough == m.seq - 1 && client.pending + client.inFlight < config.feedWindow {
                    client.enqueue(id: UInt64(m.seq), topic: m.topic, payload: m.payload)
                    fedThrough = m.seq
                    notePeak(client)
                } else {
                    feedWake.notifyAll()
                }
            }
            if let id = r.command { ack(id, seq: m.seq) }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            counters.storeFailures += 1
            counters.unstoredSinceStored += 1
            setFault("outbox", "\(error)")
            if let id = r.command { ack(id, error: "snapshot not stored: \(error)") }
        }
    }

    private func sample(reason: String) async -> Snapshot {
        var s = Snapshot(device: config.deviceID, reason: reason)
        s.time = iso8601(unixNanoseconds: board.clock.unixNanoseconds())
        s.uptimeMilliseconds = (Kernel.now - started) / 1_000_000
        for (role, line) in inputs { s.gpio.append((role, (try? line.get()) ?? false)) }
        for (role, line) in outputs { s.gpio.append((role, (try? line.get()) ?? false)) }
        s.fix = fix
        if hasGPS {
            s.uart = Snapshot.UART(bytes: uartBytes, lines: framer.lines, bad: parser.bad, overlong: framer.dropped, noise: framer.noise)
            s.uart?.reopens = counters.gpsReopens
        }
        s.faults = faults.sorted { $0.key < $1.key }.map { Snapshot.FaultEntry(role: $0.key, error: $0.value.error, since: iso8601(unixNanoseconds: $0.value.since)) }
        if let client {
            s.mqtt = Snapshot.MQTT(connects: client.stats.connects, failures: client.stats.connectFailures + client.stats.disconnects,
                                   protocolErrors: client.stats.protocolErrors, oversized: client.stats.oversized,
                                   acksDropped: client.stats.dropped, lastError: client.lastError)
        }
        s.tasks = Kernel.stats().filter { !$0.name.hasPrefix("sim.") }
        s.taskTimes = config.taskTimes
        s.cpuTemperature = await board.cpuTemperature()
        return s
    }

    private func watch(_ role: String, _ line: any InputLine) async throws {
        while true {
            // Rising is asserted: pressed (active-low is the board file's business).
            let e = try await line.edge(.both)
            publishState(role, e.rising)
            if e.rising { request("input:" + role) }
        }
    }

    // MARK: GPS

    /// Reads the GPS port for ever. A port that fails (a USB receiver unplugged) is a fault of
    /// its role while it lasts; the rest of the firmware goes on, and the port is reopened
    /// 0.5 s, 1, 2, ... up to 30 s apart, or as soon as its device node reappears.
    private func readGPS(_ port: any SerialPort) async {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 1)
        defer { buf.deallocate() }
        var attempt = 0
        while true {
            do {
                while true {
                    let n = try await port.read(into: buf)
                    uartBytes += n
                    attempt = 0
                    framer.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { line in
                        parser.parse(line)
                        if parser.fix.mode >= 2 { hadFix = true }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                setFault(config.gpsRole, "\(error)")
            }
            while true {
                let ms = min(Self.reopenMaxMilliseconds, 500 << min(attempt, 16))
                attempt += 1
                do { try await port.waitForDevice(until: Kernel.now + Int64(ms) * 1_000_000) } catch { return }   // cancelled
                counters.gpsReopens += 1
                do {
                    try port.reopen()
                    setFault(config.gpsRole, nil)
                    onLog(.info, "\(config.gpsRole): \(port.path) open again")
                    break
                } catch {
                    setFault(config.gpsRole, "\(error)")
                }
            }
        }
    }

    // MARK: outbox → broker

    private func forward(_ client: MQTTClient) async throws {
        while true {
            if !acked.isEmpty {
                let batch = acked
                acked.removeAll(keepingCapacity: true)
                removing = true
                defer { removing = false; idle.notifyAll() }
                do {
                    try await outbox.remove(batch)
                    counters.delivered += batch.count
                    outboxCounts.pending = max(0, outboxCounts.pending - batch.count)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // Delivered but still stored: sent again after a restart (a duplicate,
                    // never a loss).
                    counters.delivered += batch.count
                    setFault("outbox", "\(error)")
                }
                continue
            }
            let backlog = client.pending + client.inFlight
            if !stopping && fedThrough < storedThrough && backlog < config.feedWindow / 2 {
                let limit = config.feedWindow - backlog
                let batch = try await outbox.pending(after: fedThrough, limit: limit)
                for m in batch where m.seq > fedThrough {
                    client.enqueue(id: UInt64(m.seq), topic: m.topic, payload: m.payload)
                    fedThrough = m.seq
                }
                if batch.isEmpty { fedThrough = storedThrough }   // dropped (outbox full) before we got to them
                notePeak(client)
                continue
            }
            try await feedWake.wait()
        }
    }

    private func acknowledged(_ id: UInt64) {
        guard id < Self.directIDs else { return }   // an ack, a state, a discovery config
        acked.append(Int64(id))
        feedWake.notifyAll()
    }

    private func notePeak(_ client: MQTTClient) {
        peakClientBacklog = max(peakClientBacklog, client.pending + client.inFlight)
    }

    // MARK: commands

    /// Parsed and checked whole by `Command.parse`, then done. Answered on `…/ack`:
    /// `{"id":"c1","ok":true}` or `{"id":…,"ok":false,"error":…}`.
    private func message(_ p: Publish) {
        if p.topic == topics.cmd {
            command(p)
        } else if let role = topics.role(ofSet: p.topic) {
            setCommand(role, p)
        } else if let ha = config.homeAssistant {
            if p.topic == ha.statusTopic, p.payload == Array("online".utf8) {
                announce()
            } else if p.retain, !p.payload.isEmpty, !announced.contains(p.topic) {
                // A config this device published once for an entity its board no longer has.
                publishDirect(p.topic, "", retain: true)
            }
        }
    }

    private func command(_ p: Publish) {
        counters.commands += 1
        if p.discardedBytes > 0 {
            ack(nil, error: "command of \(p.discardedBytes) bytes is over the \(Self.maxCommandBytes)-byte limit: not read")
            return
        }
        let (id, parsed) = Command.parse(p.payload, board: board.description, outputs: outputs.map(\.role), statusRole: config.statusRole)
        let c: Command
        switch parsed {
        case .failure(let e): ack(id, error: e.description); return
        case .success(let ok): c = ok
        }
        if let expires = c.expires {
            let now = board.clock.unixNanoseconds()
            if now > expires {
                ack(id, error: "expired at \(iso8601(unixNanoseconds: expires)) (received \(iso8601(unixNanoseconds: now))): not done")
                return
            }
        }
        if c.set.contains(where: { restored($0.role) }), let busy = keepingFull {
            ack(id, error: busy)
            return
        }
        for s in c.set {
            guard let line = outputs.first(where: { $0.role == s.role })?.line else { continue }
            do { try line.set(s.value) } catch {
                ack(id, error: "set.\(s.role): \(error)")
                return
            }
            publishState(s.role, s.value)
        }
        keep(c.set.map { ($0.role, $0.value) }) {
            if c.snapshot { self.request("command", command: id ?? "") } else { self.ack(id) }
        } failed: { why in
            self.ack(id, error: why)
        }
    }

    private func ack(_ id: String?, seq: Int64? = nil, error: String? = nil) {
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

    /// `…/<role>/set`: ON, OFF or TOGGLE for an output, Home Assistant's switch command. The
    /// retained state answers it; a refusal is an error ack on `…/ack`.
    private func setCommand(_ role: String, _ p: Publish) {
        counters.commands += 1
        let topic = topics.set(role)
        guard let line = outputs.first(where: { $0.role == role })?.line else {
            let why = Command.notSettable(role, board: board.description, outputs: outputs.map(\.role), statusRole: config.statusRole)
            ack(nil, error: "\(topic): \(why)")
            return
        }
        let value: Bool
        switch String(decoding: p.payload, as: UTF8.self).trimmingSpaces().uppercased() {
        case "ON", "1", "TRUE": value = true
        case "OFF", "0", "FALSE": value = false
        case "TOGGLE": value = !((try? line.get()) ?? false)
        default:
            ack(nil, error: "\(topic): expected ON, OFF or TOGGLE, got \(String(decoding: p.payload.prefix(40), as: UTF8.self).debugDescription)")
            return
        }
        if restored(role), let busy = keepingFull {
            ack(nil, error: "\(topic): \(busy)")
            return
        }
        do { try line.set(value) } catch {
            ack(nil, error: "\(topic): \(error)")
            return
        }
        publishState(role, value)
        keep([(role, value)]) {} failed: { why in self.ack(nil, error: "\(topic): \(why)") }
    }

    /// Outputs with `"restore": true` keep their commanded value on disk before the command is
    /// answered (`done`); the write is offloaded, so the answer waits for it in a task of its
    /// own. Nothing to keep: `done` at once.
    private func restored(_ role: String) -> Bool { board.description.role(role)?.line?.restore == true }

    /// Commands whose values are being written now; at most `maxKeeping`, the next is refused
    /// (busy) before it changes anything.
    private var keeping = 0
    public static let maxKeeping = 16
    private var keepingFull: String? {
        keeping >= Self.maxKeeping ? "busy: \(Self.maxKeeping) commands' output values are being written; try again" : nil
    }

    private func keep(_ values: [(role: String, value: Bool)], done: @escaping () -> Void, failed: @escaping (String) -> Void) {
        let kept = values.filter { restored($0.role) }
        guard !kept.isEmpty else { done(); return }
        let box = outbox
        keeping += 1
        _ = spawn("restore") {
            defer { self.keeping -= 1 }
            do {
                try await box.saveOutputs(kept)
                done()
            } catch {
                self.setFault("outbox", "\(error)")
                failed("set, but not kept for the next start: \(error)")
            }
        }
    }

    // MARK: retained state and discovery (straight to the client, not through the outbox)

    /// Droppable: a flood of commands, or a broker that stops acknowledging, costs at most the
    /// client's droppable capacity in waiting messages (the oldest go, counted). States and
    /// configs are published again after every connect.
    private func publishDirect(_ topic: String, _ payload: String, retain: Bool) {
        guard let client else { return }
        directCount += 1
        client.enqueue(id: Self.directIDs + directCount, topic: topic, payload: Array(payload.utf8), retain: retain, droppable: true)
    }

    private func publishState(_ role: String, _ value: Bool) {
        guard client?.state == .online else { return }   // all of them again after the connect
        publishDirect(topics.state(role), value ? "ON" : "OFF", retain: true)
    }

    /// Every GPIO role's state and the GPS position, after each connect.
    private func publishStates() {
        for (role, line) in inputs { publishState(role, (try? line.get()) ?? false) }
        for (role, line) in outputs { publishState(role, (try? line.get()) ?? false) }
        publishedFix = nil
        publishGPS()
    }

    /// `…/gps`: the position as Home Assistant's device tracker reads it, when it moved.
    private func publishGPS() {
        guard client?.state == .online, let f = fix, let lat = f.lat, let lon = f.lon else { return }
        if let p = publishedFix, p.0 == lat, p.1 == lon, p.2 == f.alt { return }
        publishedFix = (lat, lon, f.alt)
        var w = JSONWriter(capacity: 128)
        w.object { w in
            w.key("latitude"); w.number(lat, digits: 7)
            w.key("longitude"); w.number(lon, digits: 7)
            // Home Assistant wants metres; a fix has HDOP: ~5 m per unit is the usual estimate.
            w.key("gps_accuracy"); w.number(((f.hdop ?? 1) * 5 * 10).rounded() / 10)
            w.key("altitude"); w.number(f.alt, digits: 1)
        }
        publishDirect(topics.gps, w.text, retain: true)
    }

    /// The config topics announced on this connection.
    private var announced = Set<String>()

    private func announce() {
        guard let ha = config.homeAssistant, client?.state == .online else { return }
        let entities = ha.entities(device: config.deviceID, board: board.description, statusRole: config.statusRole,
                                   gpsRole: config.gpsRole, softwareVersion: config.softwareVersion)
        announced = Set(entities.map(\.topic))
        for e in entities { publishDirect(e.topic, e.payload, retain: true) }
    }

    // MARK: status LED

    private func blink(_ led: any OutputLine) async throws {
        while true {
            let (on, off): (Int, Int)
            switch health {
            case .online: (on, off) = (50, 950)
            case .offline: (on, off) = (500, 500)
            case .fault: (on, off) = (100, 100)
            }
            try led.set(true)
            try await sleep(ms: on)
            try led.set(false)
            try await sleep(ms: off)
        }
    }
}

/// One snapshot's values, taken on the kernel; made into JSON on the outbox's worker thread.
public struct Snapshot: Sendable {
    public struct UART: Sendable {
        public var bytes, lines, bad, overlong, noise: Int
        public var reopens = 0
        public init(bytes: Int, lines: Int, bad: Int, overlong: Int, noise: Int) {
            (self.bytes, self.lines, self.bad, self.overlong, self.noise) = (bytes, lines, bad, overlong, noise)
        }
    }
    public struct FaultEntry: Sendable {
        public var role, error, since: String
    }
    /// The MQTT link as the device saw it: so a broker's misbehaviour shows remotely.
    public struct MQTT: Sendable {
        public var connects, failures, protocolErrors, oversized, acksDropped: Int
        public var lastError: String?
    }
    public var device: String
    public var reason: String
    public var time = ""
    public var uptimeMilliseconds: Int64 = 0
    public var gpio: [(String, Bool)] = []
    public var fix: Fix?
    public var cpuTemperature: Double?
    public var uart: UART?
    public var tasks: [TaskStats] = []
    public var taskTimes = true
    public var faults: [FaultEntry] = []
    public var mqtt: MQTT?

    public init(device: String, reason: String) {
        self.device = device
        self.reason = reason
    }

    /// The sequence number in a snapshot payload (its `"seq":N`), nil if there is none.
    public static func seq(in payload: some Collection<UInt8>) -> Int64? {
        let key = Array(#""seq":"#.utf8)
        var i = payload.startIndex
        while i != payload.endIndex {
            if payload[i...].starts(with: key) {
                let digits = payload[payload.index(i, offsetBy: key.count)...].prefix { (48...57).contains($0) }.prefix(18)
                return digits.isEmpty ? nil : digits.reduce(0) { $0 * 10 + Int64($1 - 48) }
            }
            i = payload.index(after: i)
        }
        return nil
    }

    public func json(seq: Int64, outbox: Outbox.Counts) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.object { w in
            w.key("device"); w.string(device)
            w.key("seq"); w.int(seq)
            w.key("time"); w.string(time)
            w.key("uptime_ms"); w.int(uptimeMilliseconds)
            w.key("reason"); w.string(reason)
            w.key("gpio"); w.object { w in for (role, v) in gpio { w.key(role); w.bool(v) } }
            w.key("gps")
            if let f = fix { f.write(to: &w) } else { w.null() }
            w.key("cpu_temp_c"); w.number(cpuTemperature, digits: 1)
            w.key("uart")
            if let u = uart {
                w.object { w in
                    w.key("bytes"); w.int(u.bytes)
                    w.key("lines"); w.int(u.lines)
                    w.key("bad"); w.int(u.bad)
                    w.key("overlong"); w.int(u.overlong)
                    w.key("noise"); w.int(u.noise)
                    w.key("reopens"); w.int(u.reopens)
                }
            } else { w.null() }
            w.key("outbox"); w.object { w in
                w.key("pending"); w.int(outbox.pending)
                w.key("dropped"); w.int(outbox.dropped)
                w.key("unstored"); w.int(outbox.unstored)
            }
            w.key("faults"); w.array { w in
                for f in faults {
                    w.object { w in
                        w.key("role"); w.string(f.role)
                        w.key("error"); w.string(f.error)
                        w.key("since"); w.string(f.since)
                    }
                }
            }
            if let m = mqtt {
                w.key("mqtt"); w.object { w in
                    w.key("connects"); w.int(m.connects)
                    w.key("failures"); w.int(m.failures)
                    w.key("protocol_errors"); w.int(m.protocolErrors)
                    w.key("oversized"); w.int(m.oversized)
                    w.key("acks_dropped"); w.int(m.acksDropped)
                    w.key("last_error"); if let e = m.lastError { w.string(e) } else { w.null() }
                }
            }
            w.key("tasks"); w.object { w in
                for t in tasks {
                    w.key(t.name); w.object { w in
                        w.key("switches"); w.int(t.switches)
                        if taskTimes {
                            w.key("run_ms"); w.number(Double(t.runNanoseconds) / 1e6, digits: 3)
                            w.key("longest_ms"); w.number(Double(t.longestNanoseconds) / 1e6, digits: 3)
                        }
                    }
                }
            }
        }
        return Array(w.text.utf8)
    }
}

extension Fix {
    /// As gpsd's TPV names them: mode, lat, lon, alt, speed (m/s), track (°), time, sats, hdop;
    /// position only with a fix (mode ≥ 2), altitude only in 3D.
    public func write(to w: inout JSONWriter) {
        w.object { w in
            w.key("mode"); w.int(mode)
            w.key("lat"); w.number(mode >= 2 ? lat : nil, digits: 9)
            w.key("lon"); w.number(mode >= 2 ? lon : nil, digits: 9)
            w.key("alt"); w.number(mode >= 3 ? alt : nil, digits: 3)
            w.key("speed"); w.number(speed, digits: 3)
            w.key("track"); w.number(track, digits: 2)
            w.key("time"); if let time { w.string(time) } else { w.null() }
            w.key("sats"); if let satellites { w.int(satellites) } else { w.null() }
            w.key("hdop"); w.number(hdop, digits: 2)
        }
    }
}

