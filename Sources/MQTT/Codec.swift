// Encoding and incremental decoding (MQTT 3.1.1 section 2: fixed header, remaining length).

extension Packet {
    /// Appends the packet's bytes to `out`.
    public func encode(into out: inout [UInt8]) {
        var body: [UInt8] = []
        let first: UInt8
        switch self {
        case .connect(let c):
            first = 0x10
            putString("MQTT", &body)
            body.append(c.protocolLevel)
            var flags: UInt8 = c.cleanSession ? 0x02 : 0
            if let w = c.will { flags |= 0x04 | (w.qos & 3) << 3 | (w.retain ? 0x20 : 0) }
            if c.password != nil { flags |= 0x40 }
            if c.username != nil { flags |= 0x80 }
            body.append(flags)
            put16(c.keepAliveSeconds, &body)
            putString(c.clientID, &body)
            if let w = c.will {
                putString(w.topic, &body)
                putBytes(w.payload, &body)
            }
            if let u = c.username { putString(u, &body) }
            if let p = c.password { putBytes(p, &body) }
        case .connack(let sp, let rc):
            first = 0x20
            body = [sp ? 1 : 0, rc]
        case .publish(let p):
            first = 0x30 | (p.dup ? 0x08 : 0) | (p.qos & 3) << 1 | (p.retain ? 1 : 0)
            putString(p.topic, &body)
            if p.qos > 0 { put16(p.packetID ?? 0, &body) }
            body.append(contentsOf: p.payload)
        case .puback(let id): first = 0x40; put16(id, &body)
        case .pubrec(let id): first = 0x50; put16(id, &body)
        case .pubrel(let id): first = 0x62; put16(id, &body)
        case .pubcomp(let id): first = 0x70; put16(id, &body)
        case .subscribe(let id, let filters):
            first = 0x82
            put16(id, &body)
            for s in filters { putString(s.filter, &body); body.append(s.qos) }
        case .suback(let id, let codes):
            first = 0x90
            put16(id, &body)
            body.append(contentsOf: codes)
        case .unsubscribe(let id, let filters):
            first = 0xA2
            put16(id, &body)
            for f in filters { putString(f, &body) }
        case .unsuback(let id): first = 0xB0; put16(id, &body)
        case .pingreq: first = 0xC0
        case .pingresp: first = 0xD0
        case .disconnect: first = 0xE0
        }
        out.append(first)
        var n = body.count
        repeat {
            var b = UInt8(n & 0x7F)
            n >>= 7
            if n > 0 { b |= 0x80 }
            out.append(b)
        } while n > 0
        out.append(contentsOf: body)
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }
}

private func put16(_ v: UInt16, _ out: inout [UInt8]) {
    out.append(UInt8(v >> 8))
    out.append(UInt8(v & 0xFF))
}

private func putString(_ s: String, _ out: inout [UInt8]) {
    let u = Array(s.utf8.prefix(65535))
    put16(UInt16(u.count), &out)
    out.append(contentsOf: u)
}

private func putBytes(_ b: [UInt8], _ out: inout [UInt8]) {
    put16(UInt16(min(b.count, 65535)), &out)
    out.append(contentsOf: b.prefix(65535))
}

/// Splits a byte stream into packets. Holds at most one packet's bytes (≤ `maxPacket` plus a
/// header), so a peer sending garbage or giant lengths costs bounded memory: it gets an error.
///
/// A PUBLISH over the limit is an error too, unless the decoder skips them
/// (`skippingOversizedPublish`): then it reads the topic and packet id (at most 65,541 bytes),
/// returns the PUBLISH with an empty payload and `discardedBytes` set, and drops the rest of
/// the payload as it arrives without buffering it. A client needs that: a broker re-sends an
/// unacknowledged QoS 1 message on every reconnect, so refusing it would refuse it forever.
public struct Decoder: Sendable {
    public let maxPacket: Int
    public let skippingOversizedPublish: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes of an oversized PUBLISH still to arrive and be dropped.
    private var skipping = 0

    public init(maxPacket: Int = 1 << 20, skippingOversizedPublish: Bool = false) {
        self.maxPacket = maxPacket
        self.skippingOversizedPublish = skippingOversizedPublish
        buffer.reserveCapacity(4096)
    }

    /// Bytes received but not yet decoded.
    public var pending: Int { buffer.count - start }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var bytes = bytes
        if skipping > 0 {
            let n = min(skipping, bytes.count)
            skipping -= n
            bytes = UnsafeRawBufferPointer(rebasing: bytes[n...])
            if bytes.isEmpty { return }
        }
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 4096 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next whole packet, nil if more bytes are needed; throws on bytes that break the protocol.
    public mutating func next() throws(MQTTError) -> Packet? {
        let avail = buffer.count - start
        guard avail >= 2 else { return nil }
        var length = 0
        var shift = 0
        var i = start + 1
        while true {
            guard i < buffer.count else {
                if i - start - 1 >= 4 { throw .malformed("remaining length longer than 4 bytes") }
                return nil
            }
            let b = buffer[i]
            length |= Int(b & 0x7F) << shift
            i += 1
            if b & 0x80 == 0 { break }
            shift += 7
            if shift >= 28 { throw .malformed("remaining length longer than 4 bytes") }
        }
        let first = buffer[start]
        if length > maxPacket {
            guard skippingOversizedPublish && first >> 4 == 3 else { throw .tooLarge(length: length, limit: maxPacket) }
            return try oversizedPublish(first: first, bodyAt: i, length: length)
        }
        guard buffer.count - i >= length else { return nil }
        let body = buffer[i..<(i + length)]
        start = i + length
        return try Decoder.decode(first: first, body: body)
    }

    /// The PUBLISH whose body (`length` bytes from `bodyAt`) is over the limit: decoded without
    /// its payload once the topic and packet id are here; the payload is dropped.
    private mutating func oversizedPublish(first: UInt8, bodyAt i: Int, length: Int) throws(MQTTError) -> Packet? {
        guard buffer.count - i >= 2 else { return nil }
        let qos = (first >> 1) & 3
        let header = 2 + (Int(buffer[i]) << 8 | Int(buffer[i + 1])) + (qos > 0 ? 2 : 0)
        guard header <= length else { throw .malformed("PUBLISH topic runs past the packet") }
        guard buffer.count - i >= header else { return nil }
        guard case .publish(var p) = try Decoder.decode(first: first, body: buffer[i..<(i + header)]) else { return nil }
        p.discardedBytes = length - header
        let here = min(length, buffer.count - i)
        skipping = length - here
        start = i + here
        return .publish(p)
    }

    static func decode(first: UInt8, body: ArraySlice<UInt8>) throws(MQTTError) -> Packet {
        var r = Reader(body)
        let type = first >> 4
        let flags = first & 0x0F
        func expectFlags(_ f: UInt8, _ name: String) throws(MQTTError) {
            if flags != f { throw .malformed("\(name) with reserved flags \(flags) (must be \(f))") }
        }
        func idOnly(_ name: String) throws(MQTTError) -> UInt16 {
            let id = try r.u16(name)
            try r.end(name)
            return id
        }
        switch type {
        case 1: try expectFlags(0, "CONNECT"); return .connect(try connect(&r))
        case 2:
            try expectFlags(0, "CONNACK")
            let sp = try r.u8("CONNACK flags")
            let rc = try r.u8("CONNACK return code")
            try r.end("CONNACK")
            if sp & 0xFE != 0 { throw .malformed("CONNACK reserved flags \(sp)") }
            return .connack(sessionPresent: sp == 1, returnCode: rc)
        case 3: return .publish(try publish(flags: flags, &r))
        case 4: try expectFlags(0, "PUBACK"); return .puback(try idOnly("PUBACK"))
        case 5: try expectFlags(0, "PUBREC"); return .pubrec(try idOnly("PUBREC"))
        case 6: try expectFlags(2, "PUBREL"); return .pubrel(try idOnly("PUBREL"))
        case 7: try expectFlags(0, "PUBCOMP"); return .pubcomp(try idOnly("PUBCOMP"))
        case 8:
            try expectFlags(2, "SUBSCRIBE")
            let id = try r.u16("SUBSCRIBE packet id")
            return .subscribe(id: id, filters: try subscriptions(&r))
        case 9:
            try expectFlags(0, "SUBACK")
            let id = try r.u16("SUBACK packet id")
            let codes = Array(r.rest())
            if codes.isEmpty || codes.contains(where: { $0 > 2 && $0 != 0x80 }) { throw .malformed("SUBACK return codes \(codes)") }
            return .suback(id: id, returnCodes: codes)
        case 10:
            try expectFlags(2, "UNSUBSCRIBE")
            let id = try r.u16("UNSUBSCRIBE packet id")
            var fs: [String] = []
            while !r.atEnd { fs.append(try r.string("UNSUBSCRIBE topic filter")) }
            if fs.isEmpty { throw .malformed("UNSUBSCRIBE with no topic filter") }
            return .unsubscribe(id: id, filters: fs)
        case 11: try expectFlags(0, "UNSUBACK"); return .unsuback(try idOnly("UNSUBACK"))
        case 12: try expectFlags(0, "PINGREQ"); try r.end("PINGREQ"); return .pingreq
        case 13: try expectFlags(0, "PINGRESP"); try r.end("PINGRESP"); return .pingresp
        case 14: try expectFlags(0, "DISCONNECT"); try r.end("DISCONNECT"); return .disconnect
        default: throw .malformed("reserved packet type \(type)")
        }
    }

    /// A CONNECT's body: protocol, flags, keep alive, client id, will, user name, password.
    private static func connect(_ r: inout Reader) throws(MQTTError) -> Connect {
        let proto = try r.string("CONNECT protocol name")
        let level = try r.u8("CONNECT protocol level")
        guard proto == "MQTT" || proto == "MQIsdp" else { throw .malformed("CONNECT protocol name '\(proto)'") }
        let cf = try r.u8("CONNECT flags")
        if cf & 0x01 != 0 { throw .malformed("CONNECT reserved flag set") }
        let keep = try r.u16("CONNECT keep alive")
        var c = Connect(clientID: try r.string("CONNECT client id"), cleanSession: cf & 0x02 != 0, keepAliveSeconds: keep)
        c.protocolLevel = level
        let willQoS = (cf >> 3) & 3
        if cf & 0x04 != 0 {
            if willQoS == 3 { throw .malformed("CONNECT will QoS 3") }
            let topic = try r.string("CONNECT will topic")
            if !Topic.isValidName(topic) { throw .malformed("CONNECT will topic '\(topic)' is not a valid topic name") }
            c.will = Will(topic: topic, payload: try r.bytes("CONNECT will message"), qos: willQoS, retain: cf & 0x20 != 0)
        } else if willQoS != 0 || cf & 0x20 != 0 {
            throw .malformed("CONNECT will QoS/retain set without a will")
        }
        if cf & 0x80 != 0 { c.username = try r.string("CONNECT user name") }
        if cf & 0x40 != 0 {
            if cf & 0x80 == 0 { throw .malformed("CONNECT password without a user name") }
            c.password = try r.bytes("CONNECT password")
        }
        try r.end("CONNECT")
        return c
    }

    /// A PUBLISH's body (`flags`: its fixed header's DUP, QoS and RETAIN).
    private static func publish(flags: UInt8, _ r: inout Reader) throws(MQTTError) -> Publish {
        let qos = (flags >> 1) & 3
        if qos == 3 { throw .malformed("PUBLISH with QoS 3") }
        let topic = try r.string("PUBLISH topic")
        if !Topic.isValidName(topic) { throw .malformed("PUBLISH topic '\(topic.prefix(80))' is not a valid topic name") }
        var id: UInt16? = nil
        if qos > 0 {
            id = try r.u16("PUBLISH packet id")
            if id == 0 { throw .malformed("PUBLISH packet id 0") }
        } else if flags & 0x08 != 0 {
            throw .malformed("PUBLISH QoS 0 with DUP set")
        }
        return Publish(topic: topic, payload: Array(r.rest()), qos: qos, retain: flags & 1 != 0, dup: flags & 0x08 != 0, packetID: id)
    }

    /// A SUBSCRIBE's filters and their QoS (at least one).
    private static func subscriptions(_ r: inout Reader) throws(MQTTError) -> [Subscription] {
        var subs: [Subscription] = []
        while !r.atEnd {
            let f = try r.string("SUBSCRIBE topic filter")
            let q = try r.u8("SUBSCRIBE QoS")
            if !Topic.isValidFilter(f) { throw .malformed("SUBSCRIBE filter '\(f.prefix(80))' is not a valid topic filter") }
            if q > 2 { throw .malformed("SUBSCRIBE requested QoS \(q)") }
            subs.append(Subscription(f, qos: q))
        }
        if subs.isEmpty { throw .malformed("SUBSCRIBE with no topic filter") }
        return subs
    }
}

private struct Reader {
    let b: ArraySlice<UInt8>
    var i: Int
    init(_ b: ArraySlice<UInt8>) {
        self.b = b
        i = b.startIndex
    }
    var atEnd: Bool { i >= b.endIndex }
    mutating func u8(_ what: String) throws(MQTTError) -> UInt8 {
        guard i < b.endIndex else { throw .malformed("\(what): packet ends early") }
        defer { i += 1 }
        return b[i]
    }
    mutating func u16(_ what: String) throws(MQTTError) -> UInt16 {
        let hi = try u8(what), lo = try u8(what)
        return UInt16(hi) << 8 | UInt16(lo)
    }
    mutating func bytes(_ what: String) throws(MQTTError) -> [UInt8] {
        let n = Int(try u16(what))
        guard b.endIndex - i >= n else { throw .malformed("\(what): length \(n) runs past the packet") }
        defer { i += n }
        return Array(b[i..<(i + n)])
    }
    mutating func string(_ what: String) throws(MQTTError) -> String {
        let raw = try bytes(what)
        guard let s = String(validating: raw, as: UTF8.self), !raw.contains(0) else { throw .malformed("\(what) is not valid UTF-8") }
        return s
    }
    mutating func rest() -> ArraySlice<UInt8> {
        defer { i = b.endIndex }
        return b[i...]
    }
    func end(_ what: String) throws(MQTTError) {
        if i != b.endIndex { throw .malformed("\(what) has \(b.endIndex - i) unexpected trailing bytes") }
    }
}
