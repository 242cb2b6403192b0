import Board
import Firmware
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld
import Testing

/// A component of one's own beside the stock ones: its field in every snapshot, its command
/// key in the table (checked whole with the others, acked, refused naming it), and the stock
/// behaviour unchanged around it. On the simulated board, through the world's broker.
@KernelActor
final class Counter: Component {
    private unowned var device: Device!
    var count = 0
    var step = 1
    var onlineCalls = 0

    func attach(to device: Device) throws {
        self.device = device
        device.commands.register("count_step") { [unowned self] value in
            guard let n = value.int, (1...100).contains(n) else {
                return .failure(CommandError("count_step: expected 1 to 100, got \(value.text)"))
            }
            let action: CommandTable.Action = { run in self.step = n; run.done() }
            return .success(action)
        }
    }

    func start(in group: TaskGroupScope) {
        group.spawn("counter") {
            while true {
                self.count += self.step
                try await sleep(ms: 1000)
            }
        }
    }

    func sample(into snapshot: inout Snapshot) async { snapshot.add("count", number: Double(count), digits: 0) }

    func online() { onlineCalls += 1 }
}

@Suite struct ComponentTests {
    static let board = """
        {"board": "component", "chip": "sim",
         "roles": {"status_led": {"type": "output", "line": "GPIO17"}, "relay": {"type": "output", "line": "GPIO27"}},
         "sim": {"network": {"latency": "5ms"}}}
        """

    /// The stock firmware plus a `Counter` for `seconds` of virtual time, `commands` at 3 s,
    /// 4 s, ...; what the broker received, and the counter's `online()` calls.
    static func run(seconds: Int, commands: [String]) throws -> BrokerSeen {
        let d = try BoardDescription.parse(board, file: "\(repositoryRoot)/boards/component.json")
        return try runSimulated(board: d, id: "c1", firmware: .stock.adding { Counter() }, seconds: seconds, commands: commands) {
            $0.component(Counter.self)!.onlineCalls
        }
    }

    @Test func itsFieldIsInEverySnapshotAfterTheStockOnes() throws {
        let seen = try Self.run(seconds: 5, commands: [])
        #expect(seen.snapshots.count >= 4)
        for s in seen.snapshots {
            // After the stock components' fields (MQTTLink's is the last of them), before the tasks.
            #expect(s.contains(#""mqtt":{"#) && s.contains(#"},"count":\#(Self.count(s)),"tasks":{"#), "\(s)")
        }
        #expect(seen.snapshots.last.map(Self.count) ?? 0 >= 3)
        #expect(seen.after == 1, "online() after the connect")
    }

    @Test func itsCommandIsCheckedWithTheOthersAndAcked() throws {
        let seen = try Self.run(seconds: 9, commands: [
            #"{"id":"k1","count_step":10,"snapshot":true}"#,
            #"{"id":"k2","count_step":0,"set":{"relay":true}}"#,
            #"{"id":"k3","reboot":true}"#,
            #"{"id":"k4","snapshot":false}"#,
        ])
        #expect(seen.acks.count == 4, "\(seen.acks)")
        #expect(seen.acks.first?.hasPrefix(#"{"id":"k1","ok":true,"seq":"#) == true, "the snapshot ran last and its seq is in the ack")
        #expect(seen.acks.contains(#"{"id":"k2","ok":false,"error":"count_step: expected 1 to 100, got 0"}"#), "\(seen.acks)")
        #expect(seen.acks.contains(#"{"id":"k3","ok":false,"error":"unknown key 'reboot' (expected id, clear_fault, set, count_step, snapshot, expires)"}"#), "\(seen.acks)")
        #expect(seen.acks.contains(#"{"id":"k4","ok":false,"error":"nothing to do (expected clear_fault, set, count_step or snapshot)"}"#), "\(seen.acks)")
        // k2 was refused whole: the relay stayed off in every later snapshot.
        #expect(seen.snapshots.allSatisfy { $0.contains(#""relay":false"#) })
        // The step changed: the count grows by 10 a second after k1.
        let counts = seen.snapshots.map(Self.count)
        #expect(counts.last! - counts[counts.count - 2] >= 10, "\(counts)")
    }

    /// Every layer's types read qualified (no module holds a type of its own name): this
    /// compiles or the test target does not build.
    @Test func everyLayerQualifies() throws {
        let d: Board.BoardDescription = try BoardDescription.parse(Self.board, file: "q.json")
        let role: Board.Role? = d.role("relay")
        let stats: [Kernel.TaskStats] = []
        let kind: Board.RoleKind = .value
        let composition: Firmware.Composition = .stock
        #expect(role?.kind == .output && stats.isEmpty && kind.phrase == "a value sensor" && composition.makers.count == 9)
        #expect(String(describing: Firmware.Device.self) == "Device" && String(describing: SimBoard.SimHardware.self) == "SimHardware")
    }

    static func count(_ snapshot: String) -> Int {
        guard let r = snapshot.split(separator: #""count":"#).last else { return -1 }
        return Int(r.prefix { $0.isNumber }) ?? -1
    }
}
