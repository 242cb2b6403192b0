import Board

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
        // (firstIndex(of:) and hasPrefix, not firstRange(of:): that one is _StringProcessing's,
        // a library the binary would otherwise link for this line alone.)
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            switch rest[..<colon] {
            case "mqtt": break
            case "mqtts": tls = true
            default: throw ConfigError("--broker \(text): expected mqtt:// or mqtts:// (TLS)")
            }
            rest = rest[colon...].dropFirst(3)
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
