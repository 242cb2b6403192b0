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

    /// The most messages the MQTT client may hold at once (queued + in flight) whatever the
    /// backlog on disk: the feed window, one command ack per snapshot request that may be
    /// waiting (`SnapshotPipe.maxRequests`), and the snapshot handed straight to the client as it
    /// is stored. `firmloop simulate` checks it as an invariant.
    public var clientBacklogBound: Int { feedWindow + SnapshotPipe.maxRequests + 1 }
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
