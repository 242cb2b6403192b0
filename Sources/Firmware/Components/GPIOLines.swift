import Board
import Kernel
import MQTT

/// The board's GPIO roles (but the status LED) and its PWM outputs (a PWM channel is a
/// function of a GPIO pin): inputs watched (a press takes a snapshot), outputs set by `"set"`
/// commands and by `…/<role>/set` (ON, OFF or TOGGLE, Home Assistant's switch; a PWM output's
/// duty from 0 to 1), every value in snapshots and retained on `…/<role>/state`. Outputs with
/// `"restore": true` keep their commanded value on disk before the command is answered.
@KernelActor
public final class GPIOLines: Component {
    private unowned var device: Device!
    public private(set) var outputs: [(role: String, line: any OutputLine)] = []
    public private(set) var inputs: [(role: String, line: any InputLine)] = []
    public private(set) var pwm: [(role: String, output: any PWMOutput)] = []
    /// Commands whose values are being written now; at most `maxKeeping`, the next is refused
    /// (busy) before it changes anything.
    private var keeping = 0
    public nonisolated static let maxKeeping = 16

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        let d = device.board.description
        for r in d.roles(of: .output) where r.name != device.config.statusRole { outputs.append((r.name, try device.board.output(r.name))) }
        for r in d.roles(of: .input) { inputs.append((r.name, try device.board.input(r.name))) }
        for r in d.roles(of: .pwm) { pwm.append((r.name, try device.board.pwm(r.name))) }
        let statusRole = device.config.statusRole, topics = device.topics
        device.commands.register("set") { [unowned self] value in
            Command.parseSet(value, board: d, outputs: self.outputs.map(\.role), pwm: self.pwm.map(\.role), statusRole: statusRole)
                .map { set -> CommandTable.Action? in
                let action: CommandTable.Action = { run in self.set(set, run) }
                return action
            }
        }
        device.subscribe(topics.setFilter) { [unowned self] p in
            guard let role = topics.role(ofSet: p.topic) else { return }
            self.setCommand(role, p)
        }
    }

    public func start(in group: TaskGroupScope) {
        for (role, line) in inputs {
            group.spawn("input") { try await self.watch(role, line) }
        }
    }

    /// `"gpio": {"button": false, "relay": true}`: inputs, then outputs; `"pwm": {"fan": 0.35}`
    /// where the board has PWM outputs.
    public func sample(into s: inout Snapshot) async {
        let values = (inputs.map { ($0.role, (try? $0.line.get()) ?? false) }) + outputs.map { ($0.role, (try? $0.line.get()) ?? false) }
        s.add("gpio") { w in w.object { w in for (role, v) in values { w.key(role); w.bool(v) } } }
        guard !pwm.isEmpty else { return }
        let duties = pwm.map { ($0.role, $0.output.duty) }
        s.add("pwm") { w in w.object { w in for (role, v) in duties { w.key(role); w.number(v, digits: 4) } } }
    }

    /// A `switch` per output (on `…/<role>/state`, commanded on `…/<role>/set`), a
    /// `binary_sensor` per input.
    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        let topics = a.topics
        for (role, _) in outputs {
            a.add("switch", role) { w in
                w.key("name"); w.string(role)
                w.key("state_topic"); w.string(topics.state(role))
                w.key("command_topic"); w.string(topics.set(role))
                w.key("payload_on"); w.string("ON")
                w.key("payload_off"); w.string("OFF")
                w.key("state_on"); w.string("ON")
                w.key("state_off"); w.string("OFF")
                w.key("qos"); w.int(1)
            }
        }
        // A PWM output as a number from 0 to 1 (its duty), a slider in Home Assistant.
        for (role, _) in pwm {
            a.add("number", role) { w in
                w.key("name"); w.string(role)
                w.key("state_topic"); w.string(topics.state(role))
                w.key("command_topic"); w.string(topics.set(role))
                w.key("min"); w.int(0)
                w.key("max"); w.int(1)
                w.key("step"); w.number(0.01, digits: 2)
                w.key("mode"); w.string("slider")
                w.key("qos"); w.int(1)
            }
        }
        for (role, _) in inputs {
            a.add("binary_sensor", role) { w in
                w.key("name"); w.string(role)
                w.key("state_topic"); w.string(topics.state(role))
                w.key("payload_on"); w.string("ON")
                w.key("payload_off"); w.string("OFF")
            }
        }
    }

    /// Every line's state again after a connect.
    public func online() {
        for (role, line) in inputs { publishState(role, (try? line.get()) ?? false) }
        for (role, line) in outputs { publishState(role, (try? line.get()) ?? false) }
        for (role, output) in pwm { publishDuty(role, output.duty) }
    }

    private func watch(_ role: String, _ line: any InputLine) async throws {
        while true {
            // Rising is asserted: pressed (active-low is the board file's business).
            let e = try await line.edge(.both)
            publishState(role, e.rising)
            if e.rising { device.pipe.request("input:" + role) }
        }
    }

    private func publishState(_ role: String, _ value: Bool) {
        guard device.client?.state == .online else { return }   // all of them again after the connect
        device.publishDirect(device.topics.state(role), value ? "ON" : "OFF", retain: true)
    }

    /// A PWM output's duty, as a number from 0 to 1 with at most 4 decimals.
    private func publishDuty(_ role: String, _ duty: Double) {
        guard device.client?.state == .online else { return }
        var w = JSONWriter(capacity: 8)
        w.number(duty, digits: 4)
        device.publishDirect(device.topics.state(role), w.text, retain: true)
    }

    // MARK: setting outputs: one switch, two adapters

    /// Why a set did not (wholly) happen; each adapter words it for its caller.
    enum SetFailure {
        /// `maxKeeping` sets are being written to disk: refused before anything changed.
        case busy
        /// The line refused the value (the earlier ones in the set were set).
        case line(role: String, error: any Error)
        /// Set, but the value could not be kept for the next start.
        case notKept(String)

        /// The words after the caller's own prefix.
        func text(roleKey: (String) -> String) -> String {
            switch self {
            case .busy: "busy: \(GPIOLines.maxKeeping) commands' output values are being written; try again"
            case .line(let role, let error): roleKey(role) + "\(error)"
            case .notKept(let why): "set, but not kept for the next start: \(why)"
            }
        }
    }

    /// The one way an output is set, whoever asks (a `"set"` command, `…/<role>/set`): refused
    /// whole while `maxKeeping` writes are under way and one of them is restored; then each line
    /// set and its retained state published; then the restored ones kept on disk, and
    /// `answer` called (nil: done) once they are.
    /// `values`: a line's level as 1 or 0, a PWM output's duty.
    func apply(_ values: [(role: String, value: Double)], answer: @escaping (SetFailure?) -> Void) {
        if values.contains(where: { restored($0.role) }), keeping >= Self.maxKeeping { return answer(.busy) }
        for v in values {
            if let line = outputs.first(where: { $0.role == v.role })?.line {
                do { try line.set(v.value != 0) } catch { return answer(.line(role: v.role, error: error)) }
                publishState(v.role, v.value != 0)
            } else if let output = pwm.first(where: { $0.role == v.role })?.output {
                do { try output.set(duty: v.value) } catch { return answer(.line(role: v.role, error: error)) }
                publishDuty(v.role, v.value)
            }
        }
        keep(values, answer: answer)
    }

    /// `"set": {...}` on `…/cmd`, answered on `…/ack` with the command's id.
    private func set(_ set: [Command.Set], _ run: CommandRun) {
        apply(set.map { ($0.role, $0.value) }) { failure in
            if let failure { run.fail(failure.text { "set.\($0): " }) } else { run.done() }
        }
    }

    /// `…/<role>/set`: ON, OFF or TOGGLE for an output (Home Assistant's switch). The retained
    /// state answers it; a refusal is an error ack on `…/ack` naming the topic.
    private func setCommand(_ role: String, _ p: Publish) {
        let device = self.device!
        device.commands.received += 1
        let topic = device.topics.set(role)
        let text = String(decoding: p.payload, as: UTF8.self).trimmingSpaces().uppercased()
        let said = String(decoding: p.payload.prefix(40), as: UTF8.self).debugDescription
        let value: Double
        if let output = pwm.first(where: { $0.role == role })?.output {
            switch text {
            case "ON": value = 1
            case "OFF": value = 0
            case "TOGGLE": value = output.duty > 0 ? 0 : 1
            default:
                guard let d = Double(text), d >= 0, d <= 1 else {
                    device.ack(nil, error: "\(topic): expected a duty cycle from 0 to 1 (or ON, OFF, TOGGLE), got \(said)")
                    return
                }
                value = d
            }
        } else if let line = outputs.first(where: { $0.role == role })?.line {
            switch text {
            case "ON", "1", "TRUE": value = 1
            case "OFF", "0", "FALSE": value = 0
            case "TOGGLE": value = ((try? line.get()) ?? false) ? 0 : 1
            default:
                device.ack(nil, error: "\(topic): expected ON, OFF or TOGGLE, got \(said)")
                return
            }
        } else {
            let why = Command.notSettable(role, board: device.board.description, outputs: outputs.map(\.role) + pwm.map(\.role),
                                          statusRole: device.config.statusRole)
            device.ack(nil, error: "\(topic): \(why)")
            return
        }
        apply([(role, value)]) { failure in
            if let failure { device.ack(nil, error: "\(topic): " + failure.text { _ in "" }) }
        }
    }

    /// Outputs with `"restore": true` keep their commanded value on disk before the command is
    /// answered.
    private func restored(_ role: String) -> Bool {
        let r = device.board.description.role(role)
        return r?.line?.restore == true || r?.pwm?.restore == true
    }

    /// Keeps the restored ones of `values` on disk (offloaded, in a task of its own, so the
    /// answer waits for the write); nothing to keep: answered at once.
    private func keep(_ values: [(role: String, value: Double)], answer: @escaping (SetFailure?) -> Void) {
        let kept = values.filter { restored($0.role) }
        guard !kept.isEmpty else { return answer(nil) }
        let box = device.outbox
        keeping += 1
        _ = spawn("restore") {
            defer { self.keeping -= 1 }
            do {
                try await box.outputs.save(kept)
                answer(nil)
            } catch {
                self.device.setFault("outbox", "\(error)")
                answer(.notKept("\(error)"))
            }
        }
    }
}
