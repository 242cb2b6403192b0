import Board
import Kernel
import MQTT

/// The board's GPIO roles (but the status LED): inputs watched (a press takes a snapshot),
/// outputs set by `"set"` commands and by `…/<role>/set` (ON, OFF or TOGGLE, Home Assistant's
/// switch), every line's value in snapshots and as retained ON/OFF on `…/<role>/state`.
/// Outputs with `"restore": true` keep their commanded value on disk before the command is
/// answered.
@KernelActor
public final class GPIOLines: Component {
    private unowned var device: Device!
    public private(set) var outputs: [(role: String, line: any OutputLine)] = []
    public private(set) var inputs: [(role: String, line: any InputLine)] = []
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
        let statusRole = device.config.statusRole, topics = device.topics
        device.commands.register("set") { [unowned self] value in
            Command.parseSet(value, board: d, outputs: self.outputs.map(\.role), statusRole: statusRole).map { set -> CommandTable.Action? in
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

    public func sample(into s: inout Snapshot) async {
        for (role, line) in inputs { s.gpio.append((role, (try? line.get()) ?? false)) }
        for (role, line) in outputs { s.gpio.append((role, (try? line.get()) ?? false)) }
    }

    /// Every line's state again after a connect.
    public func online() {
        for (role, line) in inputs { publishState(role, (try? line.get()) ?? false) }
        for (role, line) in outputs { publishState(role, (try? line.get()) ?? false) }
    }

    private func watch(_ role: String, _ line: any InputLine) async throws {
        while true {
            // Rising is asserted: pressed (active-low is the board file's business).
            let e = try await line.edge(.both)
            publishState(role, e.rising)
            if e.rising { device.requestSnapshot("input:" + role) }
        }
    }

    private func publishState(_ role: String, _ value: Bool) {
        guard device.client?.state == .online else { return }   // all of them again after the connect
        device.publishDirect(device.topics.state(role), value ? "ON" : "OFF", retain: true)
    }

    // MARK: commands

    /// `"set": {...}`: each output set, its state published, restored ones kept on disk.
    private func set(_ set: [Command.Set], _ run: CommandRun) {
        if set.contains(where: { restored($0.role) }), let busy = keepingFull {
            run.fail(busy)
            return
        }
        for s in set {
            guard let line = outputs.first(where: { $0.role == s.role })?.line else { continue }
            do { try line.set(s.value) } catch {
                run.fail("set.\(s.role): \(error)")
                return
            }
            publishState(s.role, s.value)
        }
        keep(set.map { ($0.role, $0.value) }) { run.done() } failed: { why in run.fail(why) }
    }

    /// `…/<role>/set`: ON, OFF or TOGGLE for an output. The retained state answers it; a
    /// refusal is an error ack on `…/ack`.
    private func setCommand(_ role: String, _ p: Publish) {
        let device = self.device!
        device.counters.commands += 1
        let topic = device.topics.set(role)
        guard let line = outputs.first(where: { $0.role == role })?.line else {
            let why = Command.notSettable(role, board: device.board.description, outputs: outputs.map(\.role), statusRole: device.config.statusRole)
            device.ack(nil, error: "\(topic): \(why)")
            return
        }
        let value: Bool
        switch String(decoding: p.payload, as: UTF8.self).trimmingSpaces().uppercased() {
        case "ON", "1", "TRUE": value = true
        case "OFF", "0", "FALSE": value = false
        case "TOGGLE": value = !((try? line.get()) ?? false)
        default:
            device.ack(nil, error: "\(topic): expected ON, OFF or TOGGLE, got \(String(decoding: p.payload.prefix(40), as: UTF8.self).debugDescription)")
            return
        }
        if restored(role), let busy = keepingFull {
            device.ack(nil, error: "\(topic): \(busy)")
            return
        }
        do { try line.set(value) } catch {
            device.ack(nil, error: "\(topic): \(error)")
            return
        }
        publishState(role, value)
        keep([(role, value)]) {} failed: { why in device.ack(nil, error: "\(topic): \(why)") }
    }

    /// Outputs with `"restore": true` keep their commanded value on disk before the command is
    /// answered (`done`); the write is offloaded, so the answer waits for it in a task of its
    /// own. Nothing to keep: `done` at once.
    private func restored(_ role: String) -> Bool { device.board.description.role(role)?.line?.restore == true }

    private var keepingFull: String? {
        keeping >= Self.maxKeeping ? "busy: \(Self.maxKeeping) commands' output values are being written; try again" : nil
    }

    private func keep(_ values: [(role: String, value: Bool)], done: @escaping () -> Void, failed: @escaping (String) -> Void) {
        let kept = values.filter { restored($0.role) }
        guard !kept.isEmpty else { done(); return }
        let box = device.outbox
        keeping += 1
        _ = spawn("restore") {
            defer { self.keeping -= 1 }
            do {
                try await box.outputs.save(kept)
                done()
            } catch {
                self.device.setFault("outbox", "\(error)")
                failed("set, but not kept for the next start: \(error)")
            }
        }
    }
}
