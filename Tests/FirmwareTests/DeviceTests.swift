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
}
