import Board

/// A command from `…/cmd`, parsed and checked against the board before anything changes:
/// `{"id":"c1","set":{"relay":true}}`, `{"id":"c2","snapshot":true}` (both in one is fine: set
/// first). Pure (no I/O, no kernel), so it is unit-tested and fuzzed on its own.
public struct Command: Sendable, Equatable {
    public struct Set: Sendable, Equatable {
        public var role: String
        public var value: Bool
        public init(role: String, value: Bool) {
            self.role = role
            self.value = value
        }
    }
    public var id: String?
    public var set: [Set] = []
    public var snapshot = false
    /// `"expires": "2026-11-25T12:00:00Z"`: not done when it arrives later (a command queued
    /// by the broker through an outage can be hours old). Unix ns.
    public var expires: Int64?

    public init(id: String? = nil, set: [Set] = [], snapshot: Bool = false, expires: Int64? = nil) {
        self.id = id
        self.set = set
        self.snapshot = snapshot
        self.expires = expires
    }

    /// Most nesting a command may have (deeper is refused as bad JSON, never a deep recursion).
    public static let maxDepth = 8

    /// The command in `payload`, or why it is refused (with the id when it could be read, so
    /// the error ack can name it). `outputs` are the roles a command may set; `statusRole` is
    /// the firmware's own LED.
    public static func parse(_ payload: [UInt8], board: BoardDescription, outputs: [String], statusRole: String)
        -> (id: String?, result: Result<Command, CommandError>)
    {
        let doc: JSON
        do { doc = try JSON.parse(bytes: payload, maxDepth: maxDepth) } catch {
            return (nil, .failure(CommandError("bad JSON: \(error)")))
        }
        guard let members = doc.members else { return (nil, .failure(CommandError("expected a JSON object, got \(doc.kind)"))) }
        let id = doc["id"]?.string ?? doc["id"]?.int.map(String.init)
        if let raw = doc["id"], id == nil { return (nil, .failure(CommandError("id: expected a string or an integer, got \(raw.kind)"))) }
        func refuse(_ why: String) -> (id: String?, result: Result<Command, CommandError>) { (id, .failure(CommandError(why))) }
        for m in members where !["id", "set", "snapshot", "expires"].contains(m.key) {
            return refuse("unknown key '\(m.key)' (expected id, set, snapshot, expires)")
        }
        var c = Command(id: id)
        if let set = doc["set"] {
            guard let roles = set.members, !roles.isEmpty else { return refuse("set: expected an object of role: true/false") }
            for (role, v) in roles {
                guard let value = v.bool ?? (v.int == 0 ? false : v.int == 1 ? true : nil) else {
                    return refuse("set.\(role): expected true or false, got \(v.text)")
                }
                if outputs.contains(role) {
                    c.set.append(Set(role: role, value: value))
                } else {
                    return refuse("set.\(role): " + notSettable(role, board: board, outputs: outputs, statusRole: statusRole))
                }
            }
        }
        if let s = doc["snapshot"] {
            guard let b = s.bool else { return refuse("snapshot: expected true or false, got \(s.text)") }
            c.snapshot = b
        }
        if let e = doc["expires"] {
            guard let text = e.string, let t = parseISO8601(text) else {
                return refuse("expires: expected a UTC time such as \"2026-11-25T12:00:00Z\", got \(e.text)")
            }
            c.expires = t
        }
        guard !c.set.isEmpty || c.snapshot else { return refuse("nothing to do (expected set or snapshot)") }
        return (id, .success(c))
    }
}

extension Command {
    /// Why `role` cannot be set (it is not among `outputs`): the status LED, an input or a
    /// serial port, or unknown. For the JSON command and for `…/<role>/set` alike.
    public static func notSettable(_ role: String, board: BoardDescription, outputs: [String], statusRole: String) -> String {
        if role == statusRole, board.role(role)?.kind == .output { return "the status LED is the firmware's own" }
        if let r = board.role(role) { return "'\(role)' is \(r.kind == .input ? "an input" : "a serial port"), not an output" }
        let known = outputs.joined(separator: ", ")
        return "unknown role (outputs: \(known.isEmpty ? "none" : known))"
    }
}

public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
