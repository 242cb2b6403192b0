/// The MQTT topics of one device: `firmloop/<id>/snapshot`, `…/status`, `…/cmd`, `…/ack`,
/// `…/gps`, `…/faults`, and per GPIO role `…/<role>/state` and `…/<role>/set`.
public struct Topics: Sendable, Equatable {
    public let base, snapshot, status, cmd, ack, gps: String
    /// Retained: the faults the device has now and the last error (`Device.faultsPayload`).
    public let faults: String
    public init(device: String) {
        base = "firmloop/\(device)"
        snapshot = base + "/snapshot"
        status = base + "/status"
        cmd = base + "/cmd"
        ack = base + "/ack"
        gps = base + "/gps"
        faults = base + "/faults"
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
