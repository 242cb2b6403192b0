import Board
import Kernel

/// An MQTT 3.1.1 client, written on the kernel (no Swift MQTT client fits a
/// single-thread poll loop). It keeps one connection up: CONNECT with keep alive, credentials
/// and a last will; an `online` message once connected; SUBSCRIBE; QoS 1 PUBLISH with an
/// in-flight window and PUBACK tracking; un-acknowledged messages re-sent with DUP after a
/// reconnect; PINGREQ so the broker never times us out; reconnects with exponential backoff and
/// jitter (1 s doubling to 60 s, as Paho; the doubling starts over only once a connection has
/// stayed up `healthyAfterMilliseconds`, so a broker that accepts and then fails is retried ever
/// more slowly too). A broker that sends malformed or unexpected packets is disconnected and
/// counted; nothing it sends can crash the client or grow its memory beyond `maxPacket`. A
/// message over `maxPacket` is read past without being buffered, acknowledged (the broker
/// would otherwise re-send it on every reconnect) and handed on with `discardedBytes` set.
///
/// Every queue has a bound: `window` in flight; `droppableCapacity` messages queued with
/// `droppable: true` (the oldest dropped, counted); the caller bounds the rest (the firmware's
/// outbox feeds at most its feed window); encoded packets waiting for the socket, `outputLimit`
/// (the reader stops taking packets from the broker while they wait).
///
/// Messages come from `enqueue` (the caller's: a firmware's outbox, say) and leave through
/// `onAck` once the broker has acknowledged them; what the broker sends on subscribed topics
/// goes to `onMessage`. The client knows nothing of what they mean.
@KernelActor
public final class MQTTClient {
    public struct Config: Sendable {
        public var host: String
        public var port: Int
        public var clientID: String
        public var keepAliveSeconds: UInt16 = 30
        public var username: String?
        public var password: [UInt8]?
        public var will: Will?
        /// Published (QoS 1, retained) after every successful CONNECT.
        public var online: (topic: String, payload: [UInt8])?
        public var subscriptions: [Subscription] = []
        /// Un-acknowledged publishes allowed at once.
        public var window = 16
        public var connectTimeoutMilliseconds = 10_000
        public var backoffMinMilliseconds = 1000
        public var backoffMaxMilliseconds = 60_000
        /// Seed for the backoff's jitter.
        public var seed: UInt64 = 0
        public var maxPacket = 256 * 1024
        /// A connection that stayed up this long starts the backoff over.
        public var healthyAfterMilliseconds = 30_000
        /// Queued `droppable` messages kept at most (the oldest goes first).
        public var droppableCapacity = 64
        /// Encoded bytes waiting for the socket before the reader waits for the writer.
        public var outputLimit = 64 * 1024

        public init(host: String, port: Int, clientID: String) {
            self.host = host
            self.port = port
            self.clientID = clientID
        }
    }

    public enum State: Sendable, Equatable { case disconnected, connecting, online }

    public struct Stats: Sendable, Equatable {
        public var connects = 0
        public var connectFailures = 0
        public var disconnects = 0
        public var published = 0
        public var resent = 0
        public var acked = 0
        public var received = 0
        public var pings = 0
        public var protocolErrors = 0
        /// Messages from the broker over `maxPacket`: acknowledged, their payload dropped.
        public var oversized = 0
        /// Queued droppable messages dropped (oldest first) to stay within `droppableCapacity`.
        public var dropped = 0
        /// Times the reader waited for the writer to drain `outputLimit` bytes.
        public var outputStalls = 0
        public init() {}
    }

    /// Whose a message is: the caller's, reported through `onAck` when it has an id, or the
    /// client's own (`online`, the final message of `close`), neither reported nor counted.
    enum Owner: Equatable {
        case caller(id: UInt64?)
        case client
    }

    struct Outgoing {
        var owner: Owner
        var publish: Publish
        var droppable = false
    }

    public private(set) var config: Config
    public private(set) var state: State = .disconnected
    public private(set) var stats = Stats()
    /// Why the last connection ended (or the last connect failed).
    public private(set) var lastError: String?
    /// The broker's CONNACK refusal on the last attempt (bad credentials, client id, ...), nil
    /// once a connect succeeds: retrying will not fix it by itself.
    public private(set) var refusal: String?
    /// How long the client waits before its next connect (set when it goes `disconnected`).
    public private(set) var retryInMilliseconds = 0
    /// Called with the caller's id when the broker has acknowledged a message.
    public var onAck: (UInt64) -> Void = { _ in }
    /// Called for every message the broker sends on a subscribed topic.
    public var onMessage: (Publish) -> Void = { _ in }
    /// Called on every state change.
    public var onState: (State) -> Void = { _ in }

    private var queue: [Outgoing] = []
    private var queueHead = 0
    /// Droppable messages in `queue[queueHead...]`.
    private var droppableQueued = 0
    /// In flight by packet id, and the order they were sent in (re-sent in that order).
    private var inflight: [UInt16: Outgoing] = [:]
    private var inflightOrder: [UInt16] = []
    private var nextPacketID: UInt16 = 1
    /// Encoded packets waiting for the writer, in order (PUBLISH, PUBACK, PINGREQ, ...), and
    /// the buffer the writer is writing; the two swap, so a warm client encodes in place.
    private var out: [UInt8] = []
    private var spare: [UInt8] = []
    private var writing = false
    /// The current connection's incoming bytes (at most one packet, `maxPacket`, buffered).
    private var decoder = Decoder()
    private let wake = Notify()
    /// Notified on every PUBACK, write and state change (for `close`).
    private let progress = Notify()
    /// `close` has begun: nothing new goes out; once done, `run` returns.
    private var closing = false
    private var closed = false
    private var rng: SeededRandom
    private var lastSent: Int64 = 0
    private var lastHeard: Int64 = 0

    public init(_ config: Config) {
        self.config = config
        rng = SeededRandom(seed: config.seed, stream: "mqtt.backoff." + config.clientID)
    }

    /// Messages waiting to be sent, and sent but not acknowledged.
    public var pending: Int { queue.count - queueHead }
    public var inFlight: Int { inflight.count }
    /// Encoded bytes waiting for the socket (bounded by `outputLimit` plus one packet, and what
    /// the writer has in hand).
    public var outputBuffered: Int { out.count + spare.count }

    /// Adds a subscription, made with the next connect (and every one after it).
    public func subscribe(_ s: Subscription) { config.subscriptions.append(s) }

    /// Queues a QoS 1 message; `onAck(id)` reports it acknowledged when it has an `id` (the
    /// caller's own numbering: a store's key, say; without one, it is not reported). A `droppable` one (a
    /// command's ack, say) may be dropped, counted in `stats.dropped`, when more than
    /// `droppableCapacity` of them wait: a broker that stops acknowledging, or a flood of
    /// commands, costs bounded memory.
    public func enqueue(id: UInt64? = nil, topic: String, payload: [UInt8], retain: Bool = false, droppable: Bool = false) {
        if queueHead > 64 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        if droppable {
            if droppableQueued >= config.droppableCapacity, let i = queue[queueHead...].firstIndex(where: \.droppable) {
                queue.remove(at: i)
                stats.dropped += 1
            } else {
                droppableQueued += 1
            }
        }
        queue.append(Outgoing(owner: .caller(id: id), publish: Publish(topic: topic, payload: payload, qos: 1, retain: retain), droppable: droppable))
        wake.notifyAll()
    }

    private func setState(_ s: State) {
        guard s != state else { return }
        state = s
        progress.notifyAll()
        onState(s)
    }

    /// Ends the connection cleanly: nothing new is sent; the messages in flight get until the
    /// deadline to be acknowledged; then `final` (the retained status, say `offline`: a clean
    /// DISCONNECT discards the will) is published and acknowledged, and DISCONNECT sent. `run`
    /// then returns. Messages still queued stay with the caller (the outbox keeps them).
    public func close(final: (topic: String, payload: [UInt8])?, timeoutMilliseconds: Int) async {
        closing = true
        defer {
            closed = true
            wake.notifyAll()
        }
        let deadline = Kernel.now + Int64(timeoutMilliseconds) * 1_000_000
        func waitFor(_ done: () -> Bool) async -> Bool {
            while !done() {
                guard state == .online, Kernel.now < deadline else { return false }
                do { try await progress.wait(until: deadline, tolerance: Kernel.coarseTolerance) } catch { return false }
            }
            return true
        }
        guard await waitFor({ inflight.isEmpty }) else { return }
        if let f = final {
            send(Outgoing(owner: .client, publish: Publish(topic: f.topic, payload: f.payload, qos: 1, retain: true)), dup: false)
            wake.notifyAll()
            guard await waitFor({ inflight.isEmpty }) else { return }
        }
        Packet.disconnect.encode(into: &out)
        wake.notifyAll()
        _ = await waitFor { out.isEmpty && !writing }
    }

    /// Keeps the connection up until cancelled.
    public func run(network: any Network) async throws {
        var attempt = 0
        while true {
            setState(.connecting)
            var onlineSince: Int64?
            do {
                let conn = try await network.connect(host: config.host, port: config.port, timeoutMilliseconds: config.connectTimeoutMilliseconds)
                defer { conn.close() }
                try await session(conn) { onlineSince = Kernel.now }
            } catch is CancellationError {
                setState(.disconnected)
                throw CancellationError()
            } catch where closed {
                setState(.disconnected)
                return
            } catch {
                lastError = "\(error)"
                if state == .online { stats.disconnects += 1 } else { stats.connectFailures += 1 }
            }
            if closing {
                setState(.disconnected)
                return
            }
            // Only a connection that stayed up a while proves the broker well: one that accepts
            // and then fails (garbage after CONNACK, a message we cannot take) backs off too.
            if let since = onlineSince, Kernel.now - since >= Int64(config.healthyAfterMilliseconds) * 1_000_000 { attempt = 0 }
            // Exponential backoff with jitter: 1, 2, 4, ... 60 s, each scaled by 0.5-1.0.
            let base = min(config.backoffMaxMilliseconds, config.backoffMinMilliseconds << min(attempt, 16))
            attempt += 1
            retryInMilliseconds = Int(Double(base) * (0.5 + 0.5 * rng.unit()))
            setState(.disconnected)
            try await sleep(ms: retryInMilliseconds, tolerance: Kernel.coarseTolerance)
        }
    }

    // MARK: one connection

    struct ProtocolViolation: Error, CustomStringConvertible {
        let description: String
    }

    private func session(_ conn: any Connection, connected: () -> Void) async throws {
        decoder = Decoder(maxPacket: config.maxPacket, skippingOversizedPublish: true)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buf.deallocate() }
        var c = Connect(clientID: config.clientID, cleanSession: false, keepAliveSeconds: config.keepAliveSeconds, will: config.will,
                        username: config.username, password: config.password)
        c.protocolLevel = 4
        try await conn.write(Packet.connect(c).bytes)
        let ack = try await withTimeout(ms: config.connectTimeoutMilliseconds) { () async throws -> Packet in
            while true {
                if let p = try decoder.next() { return p }
                let n = try await conn.read(into: buf)
                if n == 0 { throw ProtocolViolation(description: "the broker closed the connection before CONNACK") }
                decoder.append(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            }
        }
        guard case .connack(_, let rc) = ack else {
            stats.protocolErrors += 1
            throw ProtocolViolation(description: "expected CONNACK, got \(ack.name)")
        }
        guard rc == 0 else {
            let why = ConnectReturnCode(rawValue: rc).map { "\($0)" } ?? "return code \(rc)"
            refusal = "the broker refused the connection: \(why)"
            throw ProtocolViolation(description: refusal!)
        }
        refusal = nil
        stats.connects += 1
        connected()
        lastHeard = Kernel.now
        lastSent = Kernel.now
        out.removeAll(keepingCapacity: true)
        setState(.online)
        let leftover = inflightOrder   // un-acknowledged from the last connection
        if let o = config.online {
            // Retained, ahead of everything else; not reported through onAck.
            send(Outgoing(owner: .client, publish: Publish(topic: o.topic, payload: o.payload, qos: 1, retain: true)), dup: false)
        }
        if !config.subscriptions.isEmpty {
            Packet.subscribe(id: takePacketID(), filters: config.subscriptions).encode(into: &out)
        }
        // Whatever the last connection left un-acknowledged goes again, in order, with DUP.
        for id in leftover { if var o = inflight[id] { o.publish.dup = true; o.publish.packetID = id; Packet.publish(o.publish).encode(into: &out); stats.resent += 1 } }
        try await withGroup("mqtt") { g in
            g.spawn("mqtt.rx") { try await self.reader(conn, buf) }
            g.spawn("mqtt.tx") { try await self.writer(conn) }
            g.spawn("mqtt.ping") { try await self.pinger() }
        }
    }

    private func takePacketID() -> UInt16 {
        while inflight[nextPacketID] != nil || nextPacketID == 0 { nextPacketID &+= 1 }
        defer { nextPacketID &+= 1 }
        return nextPacketID
    }

    private func send(_ o: Outgoing, dup: Bool) {
        let id = takePacketID()
        var p = o.publish
        p.packetID = id
        p.dup = dup
        inflight[id] = o
        inflightOrder.append(id)
        Packet.publish(p).encode(into: &out)
        if o.owner != .client { stats.published += 1 }
    }

    /// The one task that writes (packets must not interleave on the stream).
    private func writer(_ conn: any Connection) async throws {
        while true {
            if closed && out.isEmpty { return }
            while !closing && inflight.count < config.window && queueHead < queue.count {
                if queue[queueHead].droppable { droppableQueued -= 1 }
                send(queue[queueHead], dup: false)
                queueHead += 1
            }
            if out.isEmpty {
                try await wake.wait()
                continue
            }
            swap(&out, &spare)
            writing = true
            defer { writing = false }
            try await conn.write(spare)
            spare.removeAll(keepingCapacity: true)
            lastSent = Kernel.now
            progress.notifyAll()
        }
    }

    private func reader(_ conn: any Connection, _ buf: UnsafeMutableRawBufferPointer) async throws {
        while true {
            let packet: Packet
            do {
                guard let p = try decoder.next() else {
                    let n = try await conn.read(into: buf)
                    if n == 0 { throw ProtocolViolation(description: "the broker closed the connection") }
                    decoder.append(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
                    continue
                }
                packet = p
            } catch let e as MQTTError {
                stats.protocolErrors += 1
                throw ProtocolViolation(description: "from the broker: \(e)")
            }
            lastHeard = Kernel.now
            // What we owe the broker (PUBACKs) waits in `out`: while the broker does not read
            // it, take nothing more from it.
            while out.count >= config.outputLimit {
                stats.outputStalls += 1
                try await progress.wait()
            }
            switch packet {
            case .puback(let id):
                guard let o = inflight.removeValue(forKey: id) else { continue }   // a late duplicate ack
                if let i = inflightOrder.firstIndex(of: id) { inflightOrder.remove(at: i) }
                if case .caller(let id) = o.owner {
                    stats.acked += 1
                    if let id { onAck(id) }
                }
                wake.notifyAll()
                progress.notifyAll()
            case .publish(let p):
                stats.received += 1
                if p.discardedBytes > 0 { stats.oversized += 1 }
                if p.qos >= 1, let id = p.packetID {
                    (p.qos == 1 ? Packet.puback(id) : Packet.pubrec(id)).encode(into: &out)
                    wake.notifyAll()
                }
                onMessage(p)
            case .pubrel(let id):
                Packet.pubcomp(id).encode(into: &out)
                wake.notifyAll()
            case .suback(_, let codes):
                if codes.contains(0x80) { lastError = "the broker refused a subscription" }
            case .pingresp, .unsuback:
                break
            default:
                stats.protocolErrors += 1
                throw ProtocolViolation(description: "the broker sent \(packet.name), which a client never receives")
            }
        }
    }

    /// PINGREQ when nothing was sent for half the keep alive; gives up on a broker silent for
    /// 1.5 keep alives (its answer to our PINGREQ is overdue).
    private func pinger() async throws {
        let k = Int64(config.keepAliveSeconds) * 1_000_000_000
        guard k > 0 else { return }
        while true {
            try await sleep(until: max(lastSent + k / 2, Kernel.now + 1_000_000), tolerance: Kernel.coarseTolerance)
            if Kernel.now - lastHeard > k * 3 / 2 {
                throw ProtocolViolation(description: "no answer from the broker for \(k * 3 / 2 / 1_000_000_000) s")
            }
            if Kernel.now - lastSent >= k / 2 {
                Packet.pingreq.encode(into: &out)
                stats.pings += 1
                wake.notifyAll()
            }
        }
    }
}
