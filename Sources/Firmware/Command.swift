import Board

/// A command from `…/cmd`, parsed and checked against the board before anything changes:
/// `{"id":"c1","set":{"relay":true}}`, `{"id":"c2","snapshot":true}` (both in one is fine: set
/// first). Pure (no I/O, no kernel), so it is unit-tested and fuzzed on its own.
public struct Command: Sendable, Equatable {
    /// One role's new value: a GPIO output's level (1 or 0), a PWM output's duty (0...1).
    public struct Set: Sendable, Equatable {
        public var role: String
        public var value: Double
        public init(role: String, value: Bool) {
            self.role = role
            self.value = value ? 1 : 0
        }
        public init(role: String, duty: Double) {
            self.role = role
            value = duty
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

    /// The command in `payload`, or why it is refused (with the id when it could be read, so
    /// the error ack can name it). `outputs` are the roles a command may set; `statusRole` is
    /// the firmware's own LED.
    public static func parse(_ payload: [UInt8], board: BoardDescription, outputs: [String], pwm: [String] = [], statusRole: String)
        -> (id: String?, result: Result<Command, CommandError>)
    {
        let (id, envelope) = CommandEnvelope.parse(payload, keys: ["set", "snapshot"])
        var c = Command(id: id)
        do throws(CommandError) {
            let e = try envelope.get()
            c.expires = e.expires
            for (key, value) in e.values {
                if key == "set" { c.set = try parseSet(value, board: board, outputs: outputs, pwm: pwm, statusRole: statusRole).get() }
                if key == "snapshot" { c.snapshot = try parseSnapshot(value).get() }
            }
        } catch {
            return (id, .failure(error))
        }
        guard !c.set.isEmpty || c.snapshot else { return (id, .failure(CommandEnvelope.nothingToDo(keys: ["set", "snapshot"]))) }
        return (id, .success(c))
    }

    /// `"set": {"relay": true, "fan": 0.35, ...}`: outputs among `outputs`, each true or false
    /// (or 1/0); PWM outputs among `pwm`, each a duty cycle from 0 to 1 (true/false: 1/0).
    public static func parseSet(_ value: JSON, board: BoardDescription, outputs: [String], pwm: [String] = [], statusRole: String)
        -> Result<[Set], CommandError>
    {
        guard let roles = value.members, !roles.isEmpty else {
            return .failure(CommandError("set: expected an object of role: true/false (a PWM output: a duty from 0 to 1)"))
        }
        var set: [Set] = []
        for (role, v) in roles {
            if pwm.contains(role) {
                guard let duty = v.bool.map({ $0 ? 1.0 : 0.0 }) ?? v.number else {
                    return .failure(CommandError("set.\(role): expected a duty cycle from 0 to 1, got \(v.text)"))
                }
                guard duty >= 0 && duty <= 1 else {
                    return .failure(CommandError("set.\(role): duty \(v.text) is out of range (expected 0 to 1)"))
                }
                set.append(Set(role: role, duty: duty))
                continue
            }
            guard outputs.contains(role) else {
                return .failure(CommandError("set.\(role): " + notSettable(role, board: board, outputs: outputs + pwm, statusRole: statusRole)))
            }
            guard let value = v.bool ?? (v.int == 0 ? false : v.int == 1 ? true : nil) else {
                return .failure(CommandError("set.\(role): expected true or false, got \(v.text)"))
            }
            set.append(Set(role: role, value: value))
        }
        return .success(set)
    }

    /// `"snapshot": true` (false: nothing to do).
    public static func parseSnapshot(_ value: JSON) -> Result<Bool, CommandError> {
        guard let b = value.bool else { return .failure(CommandError("snapshot: expected true or false, got \(value.text)")) }
        return .success(b)
    }
}

/// What every command on `…/cmd` carries around its actions: a JSON object with an optional
/// `"id"` (a string or an integer, echoed in the ack), an optional `"expires"` (a UTC time:
/// not done when it arrives later; a command queued by the broker through an outage can be
/// hours old), and action keys from a known list (`"set"`, `"snapshot"`, a component's own),
/// returned in that list's order. Pure, so it is unit-tested and fuzzed on its own.
public struct CommandEnvelope: Sendable, Equatable {
    public var id: String?
    /// Unix ns.
    public var expires: Int64?
    public var values: [(key: String, value: JSON)] = []

    public static func == (a: CommandEnvelope, b: CommandEnvelope) -> Bool {
        a.id == b.id && a.expires == b.expires && a.values.map(\.key) == b.values.map(\.key)
    }

    /// Most nesting a command may have (deeper is refused as bad JSON, never a deep recursion).
    public static let maxDepth = 8

    public static func parse(_ payload: [UInt8], keys: [String]) -> (id: String?, result: Result<CommandEnvelope, CommandError>) {
        let doc: JSON
        do { doc = try JSON.parse(bytes: payload, maxDepth: maxDepth) } catch {
            return (nil, .failure(CommandError("bad JSON: \(error)")))
        }
        guard let members = doc.members else { return (nil, .failure(CommandError("expected a JSON object, got \(doc.kind)"))) }
        let id = doc["id"]?.string ?? doc["id"]?.int.map(String.init)
        if let raw = doc["id"], id == nil { return (nil, .failure(CommandError("id: expected a string or an integer, got \(raw.kind)"))) }
        for m in members where m.key != "id" && m.key != "expires" && !keys.contains(m.key) {
            return (id, .failure(CommandError("unknown key '\(m.key)' (expected \((["id"] + keys + ["expires"]).joined(separator: ", ")))")))
        }
        var e = CommandEnvelope(id: id)
        if let x = doc["expires"] {
            guard let text = x.string, let t = parseISO8601(text) else {
                return (id, .failure(CommandError("expires: expected a UTC time such as \"2026-11-25T12:00:00Z\", got \(x.text)")))
            }
            e.expires = t
        }
        for k in keys { if let v = doc[k] { e.values.append((k, v)) } }
        return (id, .success(e))
    }

    /// A command whose keys all said "nothing" (`"snapshot": false`, no key at all).
    public static func nothingToDo(keys: [String]) -> CommandError {
        let list = keys.count > 1 ? keys.dropLast().joined(separator: ", ") + " or " + keys.last! : keys.first ?? "nothing"
        return CommandError("nothing to do (expected \(list))")
    }
}

extension Command {
    /// Why `role` cannot be set (it is not among `outputs`): the status LED, an input or a
    /// serial port, or unknown. For the JSON command and for `…/<role>/set` alike.
    public static func notSettable(_ role: String, board: BoardDescription, outputs: [String], statusRole: String) -> String {
        if role == statusRole, board.role(role)?.kind == .output { return "the status LED is the firmware's own" }
        if let r = board.role(role) { return "'\(role)' is \(r.kind.phrase), not an output" }
        let known = outputs.joined(separator: ", ")
        return "unknown role (outputs: \(known.isEmpty ? "none" : known))"
    }
}

public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
