// MQTT 3.1.1 (OASIS standard, 2014) packets: the codec shared by the firmware's client and the
// simulator's broker. Pure Swift, no I/O: bytes in, packets out, with every length bounded.

public struct Will: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: UInt8
    public var retain: Bool
    public init(topic: String, payload: [UInt8], qos: UInt8 = 1, retain: Bool = true) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

public struct Connect: Sendable, Equatable {
    public var clientID: String
    public var cleanSession: Bool
    public var keepAliveSeconds: UInt16
    public var will: Will?
    public var username: String?
    public var password: [UInt8]?
    /// 4 for MQTT 3.1.1 ("MQTT"); a broker answers anything else with return code 1.
    public var protocolLevel: UInt8 = 4

    public init(clientID: String, cleanSession: Bool = true, keepAliveSeconds: UInt16 = 60, will: Will? = nil,
                username: String? = nil, password: [UInt8]? = nil) {
        self.clientID = clientID
        self.cleanSession = cleanSession
        self.keepAliveSeconds = keepAliveSeconds
        self.will = will
        self.username = username
        self.password = password
    }
}

public struct Publish: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: UInt8
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when qos > 0.
    public var packetID: UInt16?
    /// Payload bytes a decoder read and discarded because the packet was over its limit
    /// (`Decoder(skippingOversizedPublish: true)`); `payload` is then empty. 0 otherwise.
    public var discardedBytes: Int

    public init(topic: String, payload: [UInt8], qos: UInt8 = 0, retain: Bool = false, dup: Bool = false, packetID: UInt16? = nil,
                discardedBytes: Int = 0) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.discardedBytes = discardedBytes
    }
}

public enum Packet: Sendable, Equatable {
    case connect(Connect)
    case connack(sessionPresent: Bool, returnCode: UInt8)
    case publish(Publish)
    case puback(UInt16)
    case pubrec(UInt16)
    case pubrel(UInt16)
    case pubcomp(UInt16)
    case subscribe(id: UInt16, filters: [Subscription])
    case suback(id: UInt16, returnCodes: [UInt8])
    case unsubscribe(id: UInt16, filters: [String])
    case unsuback(UInt16)
    case pingreq
    case pingresp
    case disconnect

    public var name: String {
        switch self {
        case .connect: "CONNECT"
        case .connack: "CONNACK"
        case .publish: "PUBLISH"
        case .puback: "PUBACK"
        case .pubrec: "PUBREC"
        case .pubrel: "PUBREL"
        case .pubcomp: "PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .suback: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsuback: "UNSUBACK"
        case .pingreq: "PINGREQ"
        case .pingresp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        }
    }
}

public struct Subscription: Sendable, Equatable {
    public var filter: String
    public var qos: UInt8
    public init(_ filter: String, qos: UInt8) {
        self.filter = filter
        self.qos = qos
    }
}

/// CONNACK return codes (3.2.2.3).
public enum ConnectReturnCode: UInt8, Sendable {
    case accepted = 0, unacceptableProtocolVersion, identifierRejected, serverUnavailable, badUsernameOrPassword, notAuthorized
}

public enum MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes break the protocol; the connection must be closed (MQTT-4.8.0-1).
    case malformed(String)
    /// A packet longer than the limit this side accepts.
    case tooLarge(length: Int, limit: Int)

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed MQTT packet: \(why)"
        case .tooLarge(let n, let limit): return "MQTT packet of \(n) bytes exceeds the \(limit)-byte limit"
        }
    }
}

// MARK: topics

public enum Topic {
    /// A topic name a PUBLISH may carry: non-empty, no wildcards, no NUL (4.7.3).
    public static func isValidName(_ t: String) -> Bool {
        !t.isEmpty && t.utf8.count <= 65535 && !t.utf8.contains(where: { $0 == 0x23 || $0 == 0x2B || $0 == 0 })
    }

    /// A topic filter: '#' only last and alone in its level, '+' alone in its level (4.7.1).
    public static func isValidFilter(_ f: String) -> Bool {
        guard !f.isEmpty, !f.utf8.contains(0) else { return false }
        let levels = f.split(separator: "/", omittingEmptySubsequences: false)
        for (i, l) in levels.enumerated() {
            if l.contains("#") && (l != "#" || i != levels.count - 1) { return false }
            if l.contains("+") && l != "+" { return false }
        }
        return true
    }

    /// Whether `topic` matches `filter` (topics starting with '$' are not matched by a leading
    /// wildcard). Level by level over the UTF-8 bytes: no split, no allocation (a broker routes
    /// every PUBLISH through it once per subscription).
    public static func matches(filter: String, topic: String) -> Bool {
        var filter = filter, topic = topic
        return filter.withUTF8 { f in topic.withUTF8 { t in matches(filter: f, topic: t) } }
    }

    static func matches(filter f: UnsafeBufferPointer<UInt8>, topic t: UnsafeBufferPointer<UInt8>) -> Bool {
        let slash = UInt8(ascii: "/"), plus = UInt8(ascii: "+"), hash = UInt8(ascii: "#")
        if t.first == UInt8(ascii: "$") && (f.first == plus || f.first == hash) { return false }
        // i and j: where the current level starts in the filter and in the topic; the topic has
        // no level left once j is past its end.
        var i = 0, j = 0
        while true {
            var fe = i
            while fe < f.count && f[fe] != slash { fe += 1 }
            if fe - i == 1 && f[i] == hash { return true }
            if j > t.count { return false }
            var te = j
            while te < t.count && t[te] != slash { te += 1 }
            let wildcard = fe - i == 1 && f[i] == plus
            if !wildcard {
                guard fe - i == te - j else { return false }
                var k = 0
                while k < fe - i { if f[i + k] != t[j + k] { return false }; k += 1 }
            }
            if fe == f.count { return te == t.count }
            i = fe + 1
            j = te + 1
        }
    }
}
