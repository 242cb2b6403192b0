import Board
import Kernel
import MQTT
import SimBoard

/// A message the broker accepted from a client (or injected by a scenario).
public struct BrokerMessage: Sendable {
    public var time: Int64
    public var client: String
    public var publish: Publish
}

/// An in-process MQTT 3.1.1 broker for simulation only (never a production broker: fleets use
/// mosquitto, EMQX, ...). The firmware reaches it through the simulated network with its real
/// client code. QoS 0 and 1 (QoS 2 is acknowledged through PUBREC/PUBREL/PUBCOMP and
/// delivered as 1), retained messages, wills, keep-alive enforcement (1.5 × keep alive),
/// persistent sessions (subscriptions and up to `maxQueued` QoS 1 messages kept while a
/// clean-session=false client is away), session take-over. A client that breaks the protocol is
/// disconnected (its will published) and counted in `protocolErrors`.
@KernelActor
public final class Broker {
    final class Session {
        let clientID: String
        var subscriptions: [Subscription] = []
        var queue: [Publish] = []
        var inflight: [UInt16: Publish] = [:]
        var nextID: UInt16 = 1
        var connection: ClientConnection?
        init(clientID: String) { self.clientID = clientID }
    }

    final class ClientConnection {
        let conn: any Connection
        var outbox: [[UInt8]] = []
        let wake = Notify()
        var closed = false
        init(_ conn: any Connection) { self.conn = conn }
    }

    let log: EventLog
    public let maxPacket: Int
    public let maxQueued: Int
    private var sessions: [String: Session] = [:]
    private var retained: [String: Publish] = [:]
    /// The last `keepRecent` messages received (tests and scenarios look here).
    public private(set) var recent: [BrokerMessage] = []
    public let keepRecent = 1024
    /// Messages received in all; every one is also passed to `onPublish`.
    public private(set) var received = 0
    public var onPublish: [(BrokerMessage) -> Void] = []
    public let published = Notify()
    public private(set) var protocolErrors = 0
    public private(set) var dropped = 0
    public private(set) var connects = 0
    private var clientSerial = 0

    public init(log: EventLog, maxPacket: Int = 256 * 1024, maxQueued: Int = 10_000) {
        self.log = log
        self.maxPacket = maxPacket
        self.maxQueued = maxQueued
    }

    /// Serves one client connection until it ends (run it as a task per connection).
    /// One connection's state as the broker serves it.
    private struct Served {
        var session: Session?
        var will: Will?
        var keepAlive: Int64 = 0
        var clean = true
    }

    public func serve(_ conn: any Connection) async {
        let client = ClientConnection(conn)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var decoder = Decoder(maxPacket: maxPacket)
        var state = Served()
        var reason = "connection closed by the client"
        let writer = spawn("sim.broker.tx") { [self] in await self.drain(client) }
        defer {
            client.closed = true
            client.wake.notifyAll()
            writer.cancel()
            conn.close()
            if let s = state.session {
                if s.connection === client { s.connection = nil }
                log.record(.brokerDisconnect, "\(s.clientID): \(reason)")
                if state.clean { sessions[s.clientID] = nil }
            }
            if let w = state.will {
                route(Publish(topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain), from: "(will of \(state.session?.clientID ?? "?"))")
            }
        }
        while true {
            do {
                guard let packet = try decoder.next() else {
                    // First packet within 10 s; then 1.5 × keep alive (MQTT-3.1.2-24).
                    let limit: Int64 = state.session == nil ? 10_000_000_000 : (state.keepAlive > 0 ? state.keepAlive * 3 / 2 : .max)
                    let n: Int
                    if limit == .max {
                        n = try await conn.read(into: buffer)
                    } else {
                        n = try await withTimeout(ms: Int(limit / 1_000_000)) { try await conn.read(into: buffer) }
                    }
                    if n == 0 { reason = "connection closed without DISCONNECT"; return }
                    decoder.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    continue
                }
                let stop = if let s = state.session { handle(packet, from: s, client, &state) } else { accept(packet, client, &state) }
                if let stop { reason = stop; return }
            } catch is TimeoutError {
                reason = state.session == nil ? "no CONNECT within 10 s" : "keep alive expired"
                return
            } catch let e as MQTTError {
                protocolErrors += 1
                reason = e.description
                return
            } catch {
                reason = "\(error)"
                return
            }
        }
    }

    /// The first packet, which must be a CONNECT: the session made or taken over, CONNACK, and
    /// what it had waiting sent again. Why the connection ends, or nil.
    private func accept(_ packet: Packet, _ client: ClientConnection, _ state: inout Served) -> String? {
        guard case .connect(let c) = packet else {
            protocolErrors += 1
            return "first packet was \(packet.name), not CONNECT"
        }
        if c.protocolLevel != 4 {
            send(client, .connack(sessionPresent: false, returnCode: ConnectReturnCode.unacceptableProtocolVersion.rawValue))
            return "protocol level \(c.protocolLevel) refused"
        }
        if c.clientID.isEmpty && !c.cleanSession {
            send(client, .connack(sessionPresent: false, returnCode: ConnectReturnCode.identifierRejected.rawValue))
            return "an empty client id without a clean session refused"
        }
        clientSerial += 1
        let id = c.clientID.isEmpty ? "anonymous-\(clientSerial)" : c.clientID
        if let old = sessions[id]?.connection {
            // Take-over (MQTT-3.1.4-2): the old connection goes, without its will being withdrawn.
            old.closed = true
            old.conn.close()
            old.wake.notifyAll()
        }
        let present = !c.cleanSession && sessions[id] != nil
        let sess = (c.cleanSession ? nil : sessions[id]) ?? Session(clientID: id)
        sessions[id] = sess
        sess.connection = client
        state.session = sess
        state.will = c.will
        state.clean = c.cleanSession
        state.keepAlive = Int64(c.keepAliveSeconds) * 1_000_000_000
        connects += 1
        log.record(.brokerConnect, id)
        send(client, .connack(sessionPresent: present, returnCode: 0))
        // Un-acknowledged and queued messages go again (DUP for the re-sent ones).
        for id in sess.inflight.keys.sorted() {
            var p = sess.inflight[id]!
            p.dup = true
            send(client, .publish(p))
        }
        let queued = sess.queue
        sess.queue.removeAll()
        for p in queued { deliver(p, to: sess) }
        return nil
    }

    /// A packet after the CONNECT, from session `s`. Why the connection ends, or nil.
    private func handle(_ packet: Packet, from s: Session, _ client: ClientConnection, _ state: inout Served) -> String? {
        switch packet {
        case .connect:
            protocolErrors += 1
            return "second CONNECT (MQTT-3.1.0-2)"
        case .publish(let p):
            switch p.qos {
            case 0: route(p, from: s.clientID)
            case 1: route(p, from: s.clientID); send(client, .puback(p.packetID!))
            default: route(p, from: s.clientID); send(client, .pubrec(p.packetID!))
            }
        case .pubrel(let id): send(client, .pubcomp(id))
        case .puback(let id): s.inflight[id] = nil
        case .subscribe(let id, let filters):
            var codes: [UInt8] = []
            for f in filters {
                s.subscriptions.removeAll { $0.filter == f.filter }
                s.subscriptions.append(Subscription(f.filter, qos: min(f.qos, 1)))
                codes.append(min(f.qos, 1))
            }
            send(client, .suback(id: id, returnCodes: codes))
            for f in filters {
                for (topic, r) in retained.sorted(by: { $0.key < $1.key }) where Topic.matches(filter: f.filter, topic: topic) {
                    deliver(r, to: s, qos: min(f.qos, 1))
                }
            }
        case .unsubscribe(let id, let filters):
            s.subscriptions.removeAll { filters.contains($0.filter) }
            send(client, .unsuback(id))
        case .pingreq: send(client, .pingresp)
        case .disconnect:
            state.will = nil
            return "DISCONNECT"
        case .pubrec, .pubcomp, .connack, .suback, .unsuback, .pingresp:
            protocolErrors += 1
            return "\(packet.name) is not sent to a broker"
        }
        return nil
    }

    private func send(_ c: ClientConnection, _ p: Packet) {
        guard !c.closed else { return }
        c.outbox.append(p.bytes)
        c.wake.notifyAll()
    }

    private func drain(_ c: ClientConnection) async {
        while !c.closed {
            if c.outbox.isEmpty {
                do { try await c.wake.wait() } catch { return }
                continue
            }
            let batch = c.outbox
            c.outbox.removeAll()
            do {
                for b in batch { try await c.conn.write(b) }
            } catch {
                c.closed = true
                c.conn.close()
                return
            }
        }
    }

    /// Publishes `p` as if a client had: recorded, retained if asked, sent to subscribers.
    public func inject(_ p: Publish) {
        route(p, from: "(scenario)")
    }

    private func route(_ p: Publish, from client: String) {
        let m = BrokerMessage(time: Kernel.now, client: client, publish: p)
        received += 1
        recent.append(m)
        if recent.count > 2 * keepRecent { recent.removeFirst(recent.count - keepRecent) }
        log.record(.brokerPublish, p.topic, value: Int64(p.qos), bytes: p.payload)
        for o in onPublish { o(m) }
        published.notifyAll()
        if p.retain {
            if p.payload.isEmpty { retained[p.topic] = nil } else { retained[p.topic] = p }
        }
        for s in sessions.values.sorted(by: { $0.clientID < $1.clientID }) {
            let q = s.subscriptions.filter { Topic.matches(filter: $0.filter, topic: p.topic) }.map(\.qos).max()
            if let q { deliver(Publish(topic: p.topic, payload: p.payload, qos: min(q, p.qos), retain: false), to: s) }
        }
    }

    private func deliver(_ p: Publish, to s: Session, qos: UInt8? = nil) {
        var out = p
        if let qos { out.qos = min(qos, p.qos) }
        // Offline, or a client that stopped acknowledging (in flight bounded too): queue, bounded.
        guard let c = s.connection, !c.closed, s.inflight.count < 1000 || out.qos == 0 else {
            if out.qos > 0 {
                if s.queue.count >= maxQueued { dropped += 1; log.record(.brokerDrop, s.clientID) } else { s.queue.append(out) }
            }
            return
        }
        if out.qos > 0 {
            // A packet id not in flight (65535 in flight would wrap onto one still in use).
            while s.inflight[s.nextID] != nil || s.nextID == 0 { s.nextID &+= 1 }
            out.packetID = s.nextID
            s.nextID &+= 1
            s.inflight[out.packetID!] = out
        }
        send(c, .publish(out))
    }
}
