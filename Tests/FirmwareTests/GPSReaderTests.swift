import Board
import Firmware
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld
import Testing

@Suite struct GPSReaderTests {
    /// The retained `…/gps` follows the fix (the replayed receiver reports once a second), not
    /// the snapshot clock (here a minute), and never comes faster than its interval.
    @Test func thePositionFollowsTheFixNotTheSnapshots() throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        let sim = Simulation(board: d, seed: 1, durationNanoseconds: 40_000_000_000)
        let times = Locked<[Int64]>([])
        let snapshots = Locked(0)
        _ = try withKernelTurn {
            try sim.run { world in
                var config = FirmwareConfig(deviceID: "g1")
                config.broker = BrokerAddress(host: "127.0.0.1")
                config.snapshotIntervalMilliseconds = 60_000
                config.taskTimes = false
                let fw = Device(board: world.board, config: config, outbox: try Outbox(path: ":memory:", offloaded: false),
                                network: world.board.network)
                world.broker.onPublish.append { m in
                    if m.publish.topic == "firmloop/g1/gps" { times.set(times.get() + [m.time]) }
                    if m.publish.topic == "firmloop/g1/snapshot" { snapshots.set(snapshots.get() + 1) }
                }
                try await fw.run()
            }
        }
        let t = times.get()
        #expect(snapshots.get() <= 3, "the one at start, and a press or two of the world's button")
        #expect(t.count >= 7, "\(t.count) positions in 40 s of a 1 Hz receiver, one per 5 s at most")
        // Seen at the broker, through the simulated network's ±10 ms of jitter.
        let gaps = zip(t.dropFirst(), t).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 >= Int64(GPSReader.positionIntervalMilliseconds - 20) * 1_000_000 }, "\(gaps)")
    }
}
