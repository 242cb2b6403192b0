import Board
import Kernel
import MQTT

/// The keys a command on `…/cmd` may carry besides `id` and `expires`, each registered by the
/// component that does it: `"set"` (GPIOLines), `"snapshot"` (Snapshots), your own. A key's
/// check runs on every key of a command before anything is done, so a command is refused
/// whole or done whole; the actions then run in order (`Order.last`: after the others).
@KernelActor
public struct CommandTable {
    /// What a key does with a command's run: finish with `run.done()` (now or later) or
    /// `run.fail(why)`.
    public typealias Action = @KernelActor (CommandRun) -> Void
    /// The key's value checked: its action, nil for "nothing to do" (`"snapshot": false`), or
    /// why the command is refused (say the key: `"probe.offset: expected a number"`).
    public typealias Check = @KernelActor (JSON) -> Result<Action?, CommandError>

    public enum Order: Int, Sendable { case normal, last }

    struct Entry {
        var key: String
        var order: Order
        var check: Check
    }
    private(set) var entries: [Entry] = []
    /// Commands received (on `…/cmd` and a component's own topics such as `…/<role>/set`), and
    /// answered with an error.
    public internal(set) var received = 0
    public internal(set) var failed = 0

    nonisolated public init() {}

    /// Adds `key`. A key registered twice is a programming error.
    public mutating func register(_ key: String, order: Order = .normal, _ check: @escaping Check) {
        precondition(!["id", "expires"].contains(key) && !entries.contains { $0.key == key }, "command key '\(key)' registered twice")
        entries.append(Entry(key: key, order: order, check: check))
        entries.sort { $0.order.rawValue < $1.order.rawValue }   // stable: registration order within an order
    }

    public var keys: [String] { entries.map(\.key) }

    func check(_ key: String, _ value: JSON) -> Result<Action?, CommandError> {
        entries.first { $0.key == key }!.check(value)
    }
}

/// One command being done: its actions one after the other, then one ack. An action calls
/// `done(seq:)` when it has finished (at once, or once a snapshot is stored or a value is on
/// disk) or `fail(_:)`; the first failure answers the command and stops it.
@KernelActor
public final class CommandRun {
    public let id: String?
    private var actions: ArraySlice<CommandTable.Action>
    private let answer: (Int64?, String?, ((inout JSONWriter) -> Void)?) -> Void
    private var seq: Int64?
    private var more: ((inout JSONWriter) -> Void)?
    private var finished = false

    init(id: String?, actions: [CommandTable.Action], answer: @escaping (Int64?, String?, ((inout JSONWriter) -> Void)?) -> Void) {
        self.id = id
        self.actions = actions[...]
        self.answer = answer
    }

    /// The current action is done (`seq`: the snapshot it stored; `more`: fields of its own,
    /// `"update": {…}`; both for the ack).
    public func done(seq: Int64? = nil, more: ((inout JSONWriter) -> Void)? = nil) {
        guard !finished else { return }
        if let seq { self.seq = seq }
        if let more { self.more = more }
        next()
    }

    /// The command failed: answered with `why`, the rest not done.
    public func fail(_ why: String) {
        guard !finished else { return }
        finished = true
        answer(nil, why, nil)
    }

    func next() {
        guard let a = actions.popFirst() else {
            finished = true
            answer(seq, nil, more)
            return
        }
        a(self)
    }
}

/// `…/cmd`: each command parsed and checked whole against the command table, then done,
/// answered on `…/ack`: `{"id":"c1","ok":true}` or `{"id":…,"ok":false,"error":…}`.
@KernelActor
public final class Commands: Component {
    private unowned var device: Device!

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        device.subscribe(device.topics.cmd) { [unowned self] p in self.command(p) }
        // `{"clear_fault": "outbox.damaged"}`: the faults that stay until someone says they saw them.
        device.commands.register("clear_fault") { [unowned device] value in
            guard let part = value.string, SnapshotPipe.acknowledgedFaults.contains(part) else {
                return .failure(CommandError("clear_fault: expected one of \(SnapshotPipe.acknowledgedFaults.map { "\"\($0)\"" }.joined(separator: ", ")), got \(value.text)"
                    + " (other faults clear themselves when their cause is gone)"))
            }
            let action: CommandTable.Action = { run in device.pipe.clearFault(part, for: run) }
            return .success(action)
        }
    }

    private func command(_ p: Publish) {
        let device = self.device!
        device.commands.received += 1
        if p.discardedBytes > 0 {
            device.ack(nil, error: "command of \(p.discardedBytes) bytes is over the \(Device.maxCommandBytes)-byte limit: not read")
            return
        }
        let table = device.commands
        let (id, parsed) = CommandEnvelope.parse(p.payload, keys: table.keys)
        let envelope: CommandEnvelope
        switch parsed {
        case .failure(let e): device.ack(id, error: e.description); return
        case .success(let ok): envelope = ok
        }
        var actions: [CommandTable.Action] = []
        for (key, value) in envelope.values {
            switch table.check(key, value) {
            case .failure(let e): device.ack(id, error: e.description); return
            case .success(let a): if let a { actions.append(a) }
            }
        }
        guard !actions.isEmpty else {
            device.ack(id, error: CommandEnvelope.nothingToDo(keys: table.keys).description)
            return
        }
        if let expires = envelope.expires {
            let now = device.board.clock.unixNanoseconds()
            if now > expires {
                device.ack(id, error: "expired at \(iso8601(unixNanoseconds: expires)) (received \(iso8601(unixNanoseconds: now))): not done")
                return
            }
        }
        CommandRun(id: id, actions: actions) { [unowned device] seq, error, more in device.ack(id, seq: seq, error: error, more: more) }.next()
    }
}
