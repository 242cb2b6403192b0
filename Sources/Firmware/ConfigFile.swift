import Board

/// The settings of `firmloop run` in a file, e.g. `/etc/firmloop/firmloop.json`:
///
///     {
///       "broker": "mqtt://192.168.1.10:1883",
///       "device_id": "greenhouse-1",
///       "board": "raspberrypi-4b",
///       "snapshot_interval": "5s",
///       "outbox": "/var/lib/firmloop/greenhouse-1.outbox",
///       "outbox_capacity": 100000,
///       "username": "greenhouse",
///       "password_file": "/etc/firmloop/mqtt-password",
///       "cafile": "/etc/firmloop/ca.pem",
///       "cert": "/etc/firmloop/client.pem",
///       "key": "/etc/firmloop/client.key",
///       "log_level": "info",
///       "ha_discovery": true,
///       "ha_discovery_mode": "device"
///     }
///
/// Every key is optional; a flag given on the command line wins over the file. Unknown keys and
/// bad values are errors naming the file, the line and the key, all reported at once (as for
/// board files). Relative paths are relative to the file's folder.
public struct ConfigFile: Sendable, Equatable {
    public var file: String
    public var broker: BrokerAddress?
    public var deviceID: String?
    /// A path, or a bare board name ("raspberrypi-4b") for an installed board file.
    public var board: String?
    public var snapshotIntervalMilliseconds: Int?
    public var outbox: String?
    public var outboxCapacity: Int?
    public var username: String?
    public var passwordFile: String?
    /// TLS (an `mqtts://` broker): the CA file to trust, the client certificate and its key.
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var logLevel: LogLevel?
    /// `"ha_discovery": true` (prefix homeassistant) or a prefix: Home Assistant discovery on.
    public var homeAssistant: HomeAssistantDiscovery?
    /// `"ha_discovery_mode"`: `"device"` (the default) or `"entity"` (`HomeAssistantDiscovery.Mode`).
    public var homeAssistantMode: HomeAssistantDiscovery.Mode?
    /// `"ha_support_url"`: the discovery origin's `url`.
    public var homeAssistantSupportURL: String?
    /// Over-the-air updates: `update_key` (the public key they must be signed with),
    /// `update_cafile` (the CA for their https downloads), `update_max_bytes`.
    public var updateKey: String?
    public var updateCAFile: String?
    public var updateMaxBytes: Int?

    public init(file: String) { self.file = file }

    public static let keys: Set<String> = [
        "broker", "device_id", "board", "snapshot_interval", "outbox", "outbox_capacity",
        "username", "password_file", "cafile", "cert", "key", "log_level", "ha_discovery", "ha_discovery_mode", "ha_support_url",
        "update_key", "update_cafile", "update_max_bytes",
    ]

    public static func load(path: String) throws(FileProblems) -> ConfigFile {
        try parse(try FileProblems.read(path, what: "config file"), file: path)
    }

    public static func parse(_ text: String, file: String) throws(FileProblems) -> ConfigFile {
        let root = try FileProblems.parseJSON(text, file: file)
        guard root.members != nil else {
            throw FileProblems.one(file, line: root.line, "expected a JSON object at the top, found \(root.kind)")
        }
        var p = Problems(file: file)
        var c = ConfigFile(file: file)
        p.rejectUnknown(root, at: "", known: keys)
        if let b = p.string(root, "broker", at: "") {
            do { c.broker = try BrokerAddress.parse(b) } catch {
                p.add("broker", root["broker"], error.description.replacingPrefix("--broker ", with: ""))
            }
        }
        if let id = p.string(root, "device_id", at: "") {
            if let why = FirmwareConfig.problem(deviceID: id) { p.add("device_id", root["device_id"], why.replacingPrefix("--device-id ", with: "")) } else { c.deviceID = id }
        }
        c.board = p.string(root, "board", at: "").map { isBoardName($0) ? $0 : resolve($0, file: file) }
        if let ns = p.duration(root, "snapshot_interval", at: "") {
            let ms = ns / 1_000_000
            if (10...86_400_000).contains(ms) { c.snapshotIntervalMilliseconds = Int(ms) } else {
                p.add("snapshot_interval", root["snapshot_interval"], "expected 10 ms to 24 h, found \(root["snapshot_interval"]!.text)")
            }
        }
        c.outbox = p.string(root, "outbox", at: "").map { resolve($0, file: file) }
        c.outboxCapacity = p.int(root, "outbox_capacity", at: "", range: 1...100_000_000)
        c.username = p.string(root, "username", at: "")
        c.passwordFile = p.string(root, "password_file", at: "").map { resolve($0, file: file) }
        c.caFile = p.string(root, "cafile", at: "").map { resolve($0, file: file) }
        c.certFile = p.string(root, "cert", at: "").map { resolve($0, file: file) }
        c.keyFile = p.string(root, "key", at: "").map { resolve($0, file: file) }
        if let l = p.string(root, "log_level", at: "") {
            if let level = LogLevel(name: l) { c.logLevel = level } else {
                p.add("log_level", root["log_level"], "'\(l)' is not one of \(LogLevel.names)")
            }
        }
        if let v = root["ha_discovery"] {
            if let on = v.bool {
                c.homeAssistant = on ? HomeAssistantDiscovery() : nil
            } else if let prefix = v.string, HomeAssistantDiscovery.problem(prefix: prefix) == nil {
                c.homeAssistant = HomeAssistantDiscovery(prefix: prefix)
            } else {
                p.add("ha_discovery", v, "expected true, false or a topic prefix such as \"homeassistant\", found \(v.text)")
            }
        }
        if let m = p.string(root, "ha_discovery_mode", at: "") {
            if let mode = HomeAssistantDiscovery.Mode(rawValue: m) { c.homeAssistantMode = mode } else {
                p.add("ha_discovery_mode", root["ha_discovery_mode"],
                      "expected \"device\" (one message per device, Home Assistant 2024.11 and later) or \"entity\" (one per entity), found '\(m)'")
            }
        }
        if let u = p.string(root, "ha_support_url", at: "") {
            if let why = HomeAssistantDiscovery.problem(supportURL: u) { p.add("ha_support_url", root["ha_support_url"], why) } else { c.homeAssistantSupportURL = u }
        }
        c.updateKey = p.string(root, "update_key", at: "").map { resolve($0, file: file) }
        c.updateCAFile = p.string(root, "update_cafile", at: "").map { resolve($0, file: file) }
        c.updateMaxBytes = p.int(root, "update_max_bytes", at: "", range: 1 << 20...1 << 31)
        try p.check()
        return c
    }

    /// A relative path made relative to the file's folder.
    static func resolve(_ path: String, file: String) -> String {
        guard !path.hasPrefix("/"), let slash = file.lastIndex(of: "/") else { return path }
        return String(file[...slash]) + path
    }

    /// "raspberrypi-4b": the name of an installed board file, not a path.
    public static func isBoardName(_ s: String) -> Bool { !s.contains("/") && !s.hasSuffix(".json") }
}

extension String {
    func replacingPrefix(_ prefix: String, with new: String) -> String {
        hasPrefix(prefix) ? new + dropFirst(prefix.count) : self
    }
}
