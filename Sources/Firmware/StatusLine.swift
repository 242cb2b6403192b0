/// The one-line summary `firmloop run` logs every few seconds (and on a change of health or
/// faults): the device's health, then each component's part in the firmware's order, then the
/// faults. A component adds short `name value` parts (`Component.status(into:)`).
public struct StatusLine: Sendable {
    public private(set) var parts: [String]

    public init(_ first: String) { parts = [first] }

    public mutating func add(_ part: String) { parts.append(part) }

    public var text: String { parts.joined(separator: "  ") }
}
