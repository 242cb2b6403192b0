import Board
import Firmware
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld
import Testing

@Suite struct DeviceTests {
    /// 16.5: `client.onState` captured the client: a retain cycle that LeakSanitizer flagged.
    @Test func aFirmwareAndItsClientAreFreedAfterARun() throws {
        let d = try BoardDescription.parse("""
            {"board": "t", "roles": {"led": {"type": "output", "line": "GPIO1"}},
             "sim": {"network": {"broker": "127.0.0.1:1883", "latency": "20ms"}}}
            """, file: "t.json")
        let gone = try kernelTest { () async throws -> Bool in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            weak var client: MQTTClient?
            weak var firmware: Device?
            do {
                var fc = FirmwareConfig(deviceID: "leak")
                fc.broker = BrokerAddress(host: "127.0.0.1")
                fc.taskTimes = false
                let fw = Device(board: b, config: fc, outbox: try Outbox(path: ":memory:", offloaded: false), network: b.network)
                client = fw.client
                firmware = fw
                let run = spawn("firmware") { try await fw.run() }
                try await sleep(ms: 3000)
                run.cancel()
                await run.join()
            }
            b.close()
            return client == nil && firmware == nil
        }
        #expect(gone)
    }

    /// The status line is the device's health, then each component's own part in the
    /// firmware's order, then the commands and faults: on the simulated board, whose GPS talks,
    /// with the world's broker, after 3 s.
    @Test func theStatusLineIsEachComponentsPartInOrder() throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        let line = try kernelTest { () async throws -> String in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            defer { b.close() }
            var fc = FirmwareConfig(deviceID: "status")
            fc.broker = BrokerAddress(host: "127.0.0.1")
            fc.snapshotIntervalMilliseconds = 1000
            let fw = Device(board: b, config: fc, outbox: try Outbox(path: ":memory:", offloaded: false), network: b.network)
            let run = spawn("firmware") { try await fw.run() }
            try await sleep(ms: 3500)   // snapshots at 0, 1, 2 and 3 s
            let line = fw.statusLine(seconds: 3)
            run.cancel()
            await run.join()
            return line
        }
        let parts = line.split(separator: "  ", omittingEmptySubsequences: false).map(String.init)
        #expect(parts.first == "t=3s online", "\(line)")
        let names = parts.dropFirst().map { String($0.prefix { $0 != " " }) }
        // Snapshots (seq, taken), GPSReader (fix, uart), OutboxForwarding (delivered, outbox),
        // the BME280 driver (climate), the value role (water), the device (cmds).
        #expect(names == ["seq", "taken", "fix", "uart", "delivered", "outbox", "climate", "water", "cmds"], "\(line)")
        #expect(line.contains("seq 4  taken 4 (+0 extra)") && line.contains("cmds 0"), "\(line)")
    }

    /// A stop can come before `attach` finished (a signal at start, while the outbox is read):
    /// the final status line then has the device's own parts only, and asks no component (which
    /// has no device yet). The fresh-clone TSan run caught the trap this was.
    @Test func theStatusLineBeforeAttachAsksNoComponent() throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        let line = try kernelTest { () async throws -> String in
            let b = try SimHardware(d, seed: 1)
            defer { b.close() }
            let fw = Device(board: b, config: FirmwareConfig(deviceID: "early"), outbox: try Outbox(path: ":memory:", offloaded: false), network: nil)
            return fw.statusLine(seconds: 0)
        }
        #expect(line == "t=0s local  cmds 0", "\(line)")
    }
}
