import Board
import Glibc
import Kernel
import KernelTestSupport
import LinuxBoard
import MQTT
import Testing

/// The client against a real mosquitto on 127.0.0.1 and a free port, with mosquitto's own
/// mosquitto_sub as the independent subscriber.
@Suite(.serialized) struct MosquittoTests {
    static var clients: String? { ["/usr/bin/mosquitto_sub"].first { access($0, X_OK) == 0 } }

    func realConfig(_ port: Int, _ id: String) -> MQTTClient.Config {
        var c = MQTTClient.Config(host: "127.0.0.1", port: port, clientID: id)
        c.keepAliveSeconds = 30
        c.will = Will(topic: "firmloop/\(id)/status", payload: Array("offline".utf8))
        c.online = ("firmloop/\(id)/status", Array("online".utf8))
        c.subscriptions = [Subscription("firmloop/\(id)/cmd", qos: 1)]
        return c
    }

    /// Starts mosquitto_sub on `topic` for `count` messages and returns once mosquitto has its subscription.
    func subscriber(_ m: Mosquitto, _ topic: String, count: Int, output: String) throws -> ChildProcess {
        let sub = try ChildProcess(try #require(Self.clients), ["-h", "127.0.0.1", "-p", "\(m.port)", "-t", topic, "-v", "-q", "1",
                                                                "-C", "\(count)", "-W", "60", "-i", "checker"], output: output)
        try #require(waitUntil(seconds: 10) { m.logged("Received SUBSCRIBE from checker") }, "mosquitto_sub did not subscribe")
        return sub
    }

    @Test func snapshotsReachAnIndependentSubscriberInOrder() throws {
        let m = try Mosquitto()
        defer { m.stop() }
        let out = m.dir + "/sub.out"
        let sub = try subscriber(m, "firmloop/dev-1/#", count: 51, output: out)
        let port = m.port
        let acked = try kernelTest(virtual: false) { () async throws -> Int in
            let c = MQTTClient(realConfig(port, "dev-1"))
            var acked = 0
            c.onAck = { _ in acked += 1 }
            let run = spawn("mqtt") { try await c.run(network: LinuxNetwork()) }
            for i in 1...50 { c.enqueue(id: UInt64(i), topic: "firmloop/dev-1/snapshot", payload: Array("{\"seq\":\(i)}".utf8)) }
            try await withTimeout(ms: 20_000) { while acked < 50 { try await sleep(ms: 10) } }
            run.cancel()
            return acked
        }
        #expect(acked == 50)
        #expect(sub.wait() == 0)
        let lines = (readFile(out) ?? "").split(separator: "\n").map(String.init)
        #expect(lines.first == "firmloop/dev-1/status online")
        #expect(Array(lines.dropFirst()) == (1...50).map { "firmloop/dev-1/snapshot {\"seq\":\($0)}" })
    }

    @Test func theWillSaysOfflineWhenTheClientVanishes() throws {
        let m = try Mosquitto()
        defer { m.stop() }
        let port = m.port
        try kernelTest(virtual: false) {
            let c = MQTTClient(realConfig(port, "dev-2"))
            let run = spawn("mqtt") { try await c.run(network: LinuxNetwork()) }
            try await withTimeout(ms: 10_000) { while c.state != .online { try await sleep(ms: 10) } }
            run.cancel()   // the socket closes without DISCONNECT, as when the firmware is killed
            try await run.join()
        }
        // The status topic is retained: a subscriber that comes now gets the last word.
        let out = m.dir + "/status.out"
        let sub = try ChildProcess(try #require(Self.clients), ["-h", "127.0.0.1", "-p", "\(port)", "-t", "firmloop/dev-2/status", "-v",
                                                                "-C", "1", "-W", "20"], output: out)
        #expect(waitUntil(seconds: 20) { (readFile(out) ?? "").contains("offline") }, "\(readFile(out) ?? "")")
        sub.terminate()
        #expect(readFile(out) == "firmloop/dev-2/status offline\n")
    }
}
