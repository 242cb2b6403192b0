import Board
import Kernel
import MQTT
import SimBoard

/// A scenario file: steps run in order against a simulated board while the firmware runs
/// (like Wokwi's automation scenarios). Times are virtual.
///
///     {"name": "button toggles the relay",
///      "steps": [
///        {"wait": "2s"},
///        {"press": "button", "hold": "300ms"},
///        {"expect_pin": "relay", "value": true, "within": "100ms"},
///        {"wait_serial": "console", "text": "relay on", "timeout": "1s"},
///        {"network": "down", "for": "30s"},
///        {"publish": "firmloop/sim-1/cmd", "payload": {"id": "c1", "set": {"relay": false}}},
///        {"expect_publish": "firmloop/+/ack", "contains": "\"ok\":true", "within": "5s"},
///        {"i2c_silent": "climate", "for": "30s"},
///        {"expect_pwm": "fan", "duty": 0.35, "within": "1s"},
///        {"at": "10m"}
///      ]}
public struct Scenario: Sendable {
    public enum Action: Sendable {
        case wait(Int64)
        case at(Int64)
        case set(role: String, value: Bool)
        case press(role: String, hold: Int64, bounce: Int64)
        case expectPin(role: String, value: Bool, within: Int64)
        case waitSerial(role: String, text: String, received: Bool, timeout: Int64)
        case network(down: Bool, length: Int64?)
        case resetConnections
        case publish(Publish)
        case expectPublish(filter: String, contains: String?, within: Int64)
        /// The I2C device of a role stops answering for a while (unplugged, browned out).
        case i2cSilent(role: String, length: Int64)
        case expectPWM(role: String, duty: Double, within: Int64)
    }

    public struct Step: Sendable {
        /// 1-based.
        public var number: Int
        public var line: Int
        public var action: Action
        /// The step as written, e.g. `expect_pin relay = true`.
        public var summary: String
    }

    public var name: String
    public var file: String
    public var steps: [Step]

    public static func load(path: String, board: BoardDescription) throws -> Scenario {
        try parse(try FileProblems.read(path, what: "scenario file"), file: path, board: board)
    }

    public static func parse(_ text: String, file: String, board: BoardDescription) throws -> Scenario {
        var p = Problems(file: file)
        let root = try FileProblems.parseJSON(text, file: file)
        p.rejectUnknown(root, at: "", known: ["name", "steps", "note"])
        let name = p.string(root, "name", at: "") ?? file
        var steps: [Step] = []
        guard let list = root["steps"]?.array else {
            p.add("steps", root["steps"] ?? root, "expected an array of steps")
            try p.check()
            return Scenario(name: name, file: file, steps: [])
        }
        for (i, s) in list.enumerated() {
            let path = "steps[\(i)]"
            let kinds = ["wait", "at", "set", "press", "expect_pin", "wait_serial", "network", "reset_connections", "publish", "expect_publish", "i2c_silent", "expect_pwm"]
            let present = kinds.filter { s[$0] != nil }
            guard present.count == 1, let k = present.first else {
                p.add(path, s, present.isEmpty ? "a step needs one of: \(kinds.joined(separator: ", "))" : "one action per step, found \(present.joined(separator: " and "))")
                continue
            }
            if let step = step(s, k, at: path, board: board, &p) {
                steps.append(Step(number: i + 1, line: s.line, action: step.action, summary: step.summary))
            }
        }
        try p.check()
        return Scenario(name: name, file: file, steps: steps)
    }

    /// Step `s` (at `path`), whose action is `k`: its action and summary, or nil (what is wrong
    /// is in `p`).
    private static func step(_ s: JSON, _ k: String, at path: String, board: BoardDescription, _ p: inout Problems) -> (action: Action, summary: String)? {
        switch k {
        case "wait":
            p.rejectUnknown(s, at: path, known: ["wait"])
            if let d = p.duration(s, "wait", at: path) { return (.wait(d), "wait \(DurationText.format(d))") }
        case "at":
            p.rejectUnknown(s, at: path, known: ["at"])
            if let d = p.duration(s, "at", at: path) { return (.at(d), "at \(DurationText.format(d))") }
        case "set":
            p.rejectUnknown(s, at: path, known: ["set", "value"])
            let r = role(s, board, "set", path, .input, &p)
            let v = p.bool(s, "value", at: path)
            if v == nil && s["value"] == nil { p.add("\(path).value", s, "missing (required)") }
            if let r, let v { return (.set(role: r, value: v), "set \(r) = \(v)") }
        case "press":
            p.rejectUnknown(s, at: path, known: ["press", "hold", "bounce"])
            let r = role(s, board, "press", path, .input, &p)
            let hold = p.duration(s, "hold", at: path) ?? 200_000_000
            let bounce = p.duration(s, "bounce", at: path) ?? 5_000_000
            if let r { return (.press(role: r, hold: hold, bounce: bounce), "press \(r)") }
        case "expect_pin":
            p.rejectUnknown(s, at: path, known: ["expect_pin", "value", "within"])
            let r = p.string(s, "expect_pin", at: path, required: true)
            if let r, board.role(r)?.kind.isLine != true {
                p.add("\(path).expect_pin", s["expect_pin"], "no GPIO role '\(r)' in \(board.file)")
            }
            let v = p.bool(s, "value", at: path)
            if s["value"] == nil { p.add("\(path).value", s, "missing (required)") }
            let within = p.duration(s, "within", at: path) ?? 0
            if let r, let v { return (.expectPin(role: r, value: v, within: within), "expect_pin \(r) = \(v)") }
        case "wait_serial":
            p.rejectUnknown(s, at: path, known: ["wait_serial", "text", "direction", "timeout"])
            let r = role(s, board, "wait_serial", path, .serial, &p)
            let t = p.string(s, "text", at: path, required: true)
            let dir = p.string(s, "direction", at: path) ?? "tx"
            if dir != "tx" && dir != "rx" { p.add("\(path).direction", s["direction"], "expected \"tx\" (the firmware wrote it) or \"rx\" (it received it)") }
            let timeout = p.duration(s, "timeout", at: path) ?? 10_000_000_000
            if let r, let t { return (.waitSerial(role: r, text: t, received: dir == "rx", timeout: timeout), "wait_serial \(r) \(dir) \"\(t)\"") }
        case "network":
            p.rejectUnknown(s, at: path, known: ["network", "for"])
            let state = p.string(s, "network", at: path)
            if let state, state != "down" && state != "up" { p.add("\(path).network", s["network"], "expected \"down\" or \"up\", got \"\(state)\"") }
            let len = p.duration(s, "for", at: path)
            if let state, state == "down" || state == "up" { return (.network(down: state == "down", length: len), "network \(state)" + (len.map { " for \(DurationText.format($0))" } ?? "")) }
        case "i2c_silent":
            p.rejectUnknown(s, at: path, known: ["i2c_silent", "for"])
            let r = role(s, board, "i2c_silent", path, .i2c, &p)
            let len = p.duration(s, "for", at: path, required: true)
            if let r, let len { return (.i2cSilent(role: r, length: len), "i2c_silent \(r) for \(DurationText.format(len))") }
        case "expect_pwm":
            p.rejectUnknown(s, at: path, known: ["expect_pwm", "duty", "within"])
            let r = role(s, board, "expect_pwm", path, .pwm, &p)
            let duty = p.number(s, "duty", at: path)
            if s["duty"] == nil { p.add("\(path).duty", s, "missing (required)") }
            let within = p.duration(s, "within", at: path) ?? 0
            if let r, let duty { return (.expectPWM(role: r, duty: duty, within: within), "expect_pwm \(r) = \(duty)") }
        case "reset_connections":
            p.rejectUnknown(s, at: path, known: ["reset_connections"])
            return (.resetConnections, k)
        case "publish":
            p.rejectUnknown(s, at: path, known: ["publish", "payload", "qos", "retain"])
            let topic = p.string(s, "publish", at: path, required: true)
            if let topic, !Topic.isValidName(topic) { p.add("\(path).publish", s["publish"], "'\(topic)' is not a valid topic name") }
            let payload: [UInt8]
            if let pl = s["payload"] { payload = Array((pl.string ?? pl.text).utf8) } else { payload = [] }
            let qos = p.int(s, "qos", at: path, range: 0...1) ?? 1
            let retain = p.bool(s, "retain", at: path) ?? false
            if let topic { return (.publish(Publish(topic: topic, payload: payload, qos: UInt8(qos), retain: retain)), "publish \(topic)") }
        case "expect_publish":
            p.rejectUnknown(s, at: path, known: ["expect_publish", "contains", "within"])
            let f = p.string(s, "expect_publish", at: path, required: true)
            if let f, !Topic.isValidFilter(f) { p.add("\(path).expect_publish", s["expect_publish"], "'\(f)' is not a valid topic filter") }
            let c = p.string(s, "contains", at: path)
            let within = p.duration(s, "within", at: path) ?? 10_000_000_000
            if let f { return (.expectPublish(filter: f, contains: c, within: within), "expect_publish \(f)" + (c.map { " containing \($0)" } ?? "")) }
        default: break
        }
        return nil
    }

    /// The role a step's `key` names, which must be of `kind` on `board`.
    private static func role(_ s: JSON, _ board: BoardDescription, _ key: String, _ path: String, _ kind: RoleKind, _ p: inout Problems) -> String? {
        guard let r = p.string(s, key, at: path, required: true) else { return nil }
        guard let d = board.role(r) else { p.add("\(path).\(key)", s[key], "no role '\(r)' in \(board.file)"); return nil }
        if d.kind != kind {
            p.add("\(path).\(key)", s[key], "role '\(r)' is \(d.kind.rawValue), this step needs \(kind.rawValue)")
            return nil
        }
        return r
    }
}

/// A scenario step whose expectation did not hold.
public struct ScenarioFailure: Error, Sendable, CustomStringConvertible {
    public let scenario: String
    public let file: String
    public let step: Int
    public let line: Int
    public let summary: String
    public let expected: String
    public let seen: String
    public let time: Int64

    public var description: String {
        "\(file):\(line): scenario '\(scenario)' failed at step \(step) (\(summary)) at t=\(DurationText.format(time)): expected \(expected), saw \(seen)"
    }
}

extension Scenario {
    /// Runs the steps in order in `world` (as a task beside the firmware); throws
    /// `ScenarioFailure` at the first expectation that does not hold.
    @KernelActor
    public func run(in world: SimWorld) async throws {
        let board = world.board
        for step in steps {
            world.scenarioStep = step.number
            board.log.record(.step, "step \(step.number): \(step.summary)")
            let started = Kernel.now
            func fail(_ expected: String, _ seen: String) -> ScenarioFailure {
                ScenarioFailure(scenario: name, file: file, step: step.number, line: step.line, summary: step.summary,
                                expected: expected, seen: seen, time: Kernel.now - board.origin)
            }
            switch step.action {
            case .wait(let d):
                try await sleep(until: started + d)
            case .at(let t):
                try await sleep(until: max(started, board.origin + t))
            case .set(let role, let value):
                try board.line(role).drive(value)
            case .press(let role, let hold, let bounce):
                var rng = SeededRandom(seed: board.seed, stream: "scenario.press.\(step.number)")
                try await board.line(role).press(hold: hold, bounce: bounce, rng: &rng)
            case .expectPin(let role, let value, let within):
                let line = try board.line(role)
                let deadline = started + within
                while line.value != value && Kernel.now < deadline { try await line.changed.wait(until: deadline) }
                if line.value != value {
                    throw fail("\(role) = \(value)" + (within > 0 ? " within \(DurationText.format(within))" : ""), "\(role) = \(line.value)")
                }
            case .waitSerial(let role, let text, let received, let timeout):
                // Like Wokwi's wait-serial: the text may have come any time since the previous
                // match on this port and direction (or the start), and the next wait reads on from it.
                let u = try board.uart(role)
                let key = role + (received ? ".rx" : ".tx")
                let since = world.serialCursors[key] ?? 0
                let deadline = started + timeout
                let needle = Array(text.utf8)
                while true {
                    let tail = received ? u.rxTail : u.txTail
                    if let end = tail.find(needle, since: since) {
                        world.serialCursors[key] = end
                        break
                    }
                    if Kernel.now >= deadline {
                        let recent = String(decoding: tail.bytes.suffix(60), as: UTF8.self)
                        throw fail("\"\(text)\" on \(role) (\(received ? "received" : "sent by the firmware")) within \(DurationText.format(timeout))",
                                   tail.total == since ? "nothing" : "\"…\(recent)\"")
                    }
                    try await u.activity.wait(until: deadline)
                }
            case .network(let down, let length):
                board.simNetwork.setDown(down)
                if let length {
                    let net = board.simNetwork
                    _ = spawn("sim.scenario.network") {
                        try await sleep(until: started + length)
                        net.setDown(!down)
                    }
                }
            case .resetConnections:
                board.simNetwork.resetAll()
            case .i2cSilent(let role, let length):
                try board.i2cDevice(role).silence(until: started + length)
            case .expectPWM(let role, let duty, let within):
                let out = try board.pwmOutput(role)
                let deadline = started + within
                while abs(out.duty - duty) > 1e-9 && Kernel.now < deadline { try await out.changed.wait(until: deadline) }
                if abs(out.duty - duty) > 1e-9 {
                    throw fail("\(role) duty \(duty)" + (within > 0 ? " within \(DurationText.format(within))" : ""), "\(role) duty \(out.duty)")
                }
            case .publish(let p):
                world.broker.inject(p)
            case .expectPublish(let filter, let contains, let within):
                // Any message since the previous expect_publish's match (or the start) counts.
                let b = world.broker
                let first = world.publishCursor
                let deadline = started + within
                let needle = contains.map { Array($0.utf8) }
                func found() -> Bool {
                    let base = b.received - b.recent.count
                    for (i, m) in b.recent.enumerated() where base + i >= first && Topic.matches(filter: filter, topic: m.publish.topic) {
                        if let n = needle, !ByteTail.find(n, in: m.publish.payload) { continue }
                        world.publishCursor = base + i + 1
                        return true
                    }
                    return false
                }
                while !found() {
                    if Kernel.now >= deadline {
                        let last = b.recent.last.map { "last message on \($0.publish.topic): \(String(decoding: $0.publish.payload.prefix(80), as: UTF8.self))" } ?? "no messages"
                        throw fail("a message on \(filter)" + (contains.map { " containing \($0)" } ?? "") + " within \(DurationText.format(within))",
                                   b.received == first ? "none (\(last))" : "\(b.received - first) other message(s) (\(last))")
                    }
                    try await b.published.wait(until: deadline)
                }
            }
        }
    }
}

extension ByteTail {
    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Bool {
        guard needle.count <= hay.count else { return needle.isEmpty }
        if needle.isEmpty { return true }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
        return false
    }
}
