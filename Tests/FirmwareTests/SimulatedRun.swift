import Board
import Firmware
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld

/// What the world's broker received from a device on the simulated board, and what the test's
/// `after` read from the device once the commands were in.
struct BrokerSeen: Sendable {
    var snapshots: [String] = []
    var acks: [String] = []
    var after = 0

    func with(_ change: (inout Self) -> Void) -> Self {
        var s = self
        change(&s)
        return s
    }
}

/// Runs `firmware` as device `id` on `board` for `seconds` of virtual time (a snapshot a
/// second), publishing `commands` to `…/cmd` from 3 s on, one every `spacing` ms; then
/// `after(device)` is kept in the result.
func runSimulated(board: BoardDescription, id: String, firmware: Composition, seconds: Int, commands: [String] = [],
                  spacing: Int = 1000, after: @escaping @KernelActor @Sendable (Device) -> Int = { _ in 0 }) throws -> BrokerSeen {
    let sim = Simulation(board: board, seed: 1, durationNanoseconds: Int64(seconds) * 1_000_000_000)
    let seen = Locked(BrokerSeen())
    _ = try withKernelTurn {
        try sim.run { world in
            let b = world.board
            var config = FirmwareConfig(deviceID: id)
            config.broker = BrokerAddress(host: "127.0.0.1")
            config.snapshotIntervalMilliseconds = 1000
            config.taskTimes = false
            let fw = Device(board: b, config: config, outbox: try Outbox(path: ":memory:", offloaded: false), network: b.network, firmware: firmware)
            world.broker.onPublish.append { m in
                let text = String(decoding: m.publish.payload, as: UTF8.self)
                if m.publish.topic == "firmloop/\(id)/snapshot" { seen.set(seen.get().with { $0.snapshots.append(text) }) }
                if m.publish.topic == "firmloop/\(id)/ack" { seen.set(seen.get().with { $0.acks.append(text) }) }
            }
            try await withGroup("test") { g in
                g.spawn("firmware") { try await fw.run() }
                g.spawn("commands") {
                    try await sleep(ms: 3000)
                    for c in commands {
                        world.broker.inject(Publish(topic: "firmloop/\(id)/cmd", payload: Array(c.utf8), qos: 1))
                        try await sleep(ms: spacing)
                    }
                    let n = after(fw)
                    seen.set(seen.get().with { $0.after = n })
                }
            }
        }
    }
    return seen.get()
}
