import Board
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld
import Testing

/// The in-process broker, reached over the simulated network.
@Suite struct BrokerTests {
    static let boardJSON = """
        {"board": "t", "roles": {"led": {"type": "output", "line": "GPIO1"}},
         "sim": {"network": {"broker": "127.0.0.1:1883", "latency": "20ms"}}}
        """

    /// A minimal MQTT client over the board's network protocol (not MQTTClient: the broker is tested on its own).
    @KernelActor
    final class TestClient {
        let conn: any Connection
        var decoder = Decoder()
        nonisolated(unsafe) let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        init(_ c: any Connection) { conn = c }
        deinit { buf.deallocate() }
        func send(_ p: Packet) async throws { try await conn.write(p.bytes) }
        func receive() async throws -> Packet {
            while true {
                if let p = try decoder.next() { return p }
                let n = try await conn.read(into: buf)
                if n == 0 { throw BoardError.closed(what: "test connection") }
                decoder.append(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            }
        }
    }

    @Test func theBrokerSeesWhatTheClientSends() throws {
        let d = try BoardDescription.parse(Self.boardJSON, file: "t.json")
        let (trace, topics) = try kernelTest {
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            var trace: [String] = []
            @KernelActor func note(_ p: Packet) { trace.append("t=\(Kernel.nowMilliseconds) \(p)") }
            let c = BrokerTests.TestClient(try await b.network.connect(host: "127.0.0.1", port: 1883, timeoutMilliseconds: 1000))
            trace.append("t=\(Kernel.nowMilliseconds) connected")
            try await c.send(.connect(Connect(clientID: "dev-1", keepAliveSeconds: 30,
                                              will: Will(topic: "firmloop/dev-1/status", payload: Array("offline".utf8)))))
            try await note(c.receive())
            try await c.send(.subscribe(id: 1, filters: [Subscription("firmloop/dev-1/cmd", qos: 1)]))
            try await note(c.receive())
            for i in 1...3 {
                try await c.send(.publish(Publish(topic: "firmloop/dev-1/snapshot", payload: Array("{\"seq\":\(i)}".utf8), qos: 1, packetID: UInt16(i))))
            }
            for _ in 1...3 { try await note(c.receive()) }
            w.broker.inject(Publish(topic: "firmloop/dev-1/cmd", payload: Array("{\"id\":\"c1\"}".utf8), qos: 1))
            let cmd = try await c.receive()
            note(cmd)
            if case .publish(let p) = cmd { try await c.send(.puback(p.packetID!)) }
            try await c.send(.pingreq)
            try await note(c.receive())
            // The client vanishes without DISCONNECT: its will is published.
            b.simNetwork.resetAll()
            try await sleep(ms: 10)
            let seen = w.broker.recent.map { "\($0.client) \($0.publish.topic) q\($0.publish.qos) \(String(decoding: $0.publish.payload, as: UTF8.self))" }
            return (trace, seen)
        }
        #expect(trace == [
            "t=40 connected",                                           // SYN + SYN-ACK: 2 × 20 ms
            "t=80 connack(sessionPresent: false, returnCode: 0)",       // there and back
            "t=120 suback(id: 1, returnCodes: [1])",
            "t=160 puback(1)", "t=160 puback(2)", "t=160 puback(3)",
            #"t=180 publish(MQTT.Publish(topic: "firmloop/dev-1/cmd", payload: [123, 34, 105, 100, 34, 58, 34, 99, 49, 34, 125], qos: 1, retain: false, dup: false, packetID: Optional(1), discardedBytes: 0))"#,
            "t=220 pingresp",
        ])
        #expect(topics == [
            #"dev-1 firmloop/dev-1/snapshot q1 {"seq":1}"#,
            #"dev-1 firmloop/dev-1/snapshot q1 {"seq":2}"#,
            #"dev-1 firmloop/dev-1/snapshot q1 {"seq":3}"#,
            #"(scenario) firmloop/dev-1/cmd q1 {"id":"c1"}"#,
            "(will of dev-1) firmloop/dev-1/status q1 offline",
        ])
    }

    @Test func aClientThatBreaksTheProtocolIsDisconnectedAndCounted() throws {
        let d = try BoardDescription.parse(Self.boardJSON, file: "t.json")
        let (errors, eof) = try kernelTest {
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            let conn = try await b.network.connect(host: "127.0.0.1", port: 1883, timeoutMilliseconds: 1000)
            try await conn.write([0x30, 0xFF, 0xFF, 0xFF, 0x7F])   // a 256 MB PUBLISH, announced first
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buf.deallocate() }
            let n = try await conn.read(into: buf)
            return (w.broker.protocolErrors, n)
        }
        #expect(errors == 1)
        #expect(eof == 0)
    }
}

@Suite struct BrokerSessionTests {
    @Test func keepAliveExpiryPublishesTheWillAndPersistentSessionsKeepTheirMessages() throws {
        let d = try BoardDescription.parse(BrokerTests.boardJSON, file: "t.json")
        let log = try kernelTest { () async throws -> [String] in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            var log: [String] = []
            @KernelActor func note(_ s: String) { log.append("t=\(Kernel.nowMilliseconds) \(s)") }
            let will = Will(topic: "firmloop/d/status", payload: Array("offline".utf8))
            // A persistent session that subscribes, then goes silent past 1.5 × keep alive.
            let c1 = BrokerTests.TestClient(try await b.network.connect(host: "127.0.0.1", port: 1883, timeoutMilliseconds: 1000))
            try await c1.send(.connect(Connect(clientID: "d", cleanSession: false, keepAliveSeconds: 2, will: will)))
            note("\(try await c1.receive())")
            try await c1.send(.subscribe(id: 1, filters: [Subscription("firmloop/d/cmd", qos: 1)]))
            note("\(try await c1.receive())")
            do { note("unexpected \(try await c1.receive())") } catch { note("c1 closed by the broker") }
            note("recent: " + w.broker.recent.map { "\($0.client) \($0.publish.topic)" }.joined(separator: ", "))
            // While it is away, a command comes; it waits in the session.
            w.broker.inject(Publish(topic: "firmloop/d/cmd", payload: Array("on".utf8), qos: 1))
            let c2 = BrokerTests.TestClient(try await b.network.connect(host: "127.0.0.1", port: 1883, timeoutMilliseconds: 1000))
            try await c2.send(.connect(Connect(clientID: "d", cleanSession: false, keepAliveSeconds: 60)))
            note("\(try await c2.receive())")
            let p = try await c2.receive()
            if case .publish(let m) = p { note("queued \(m.topic) \(String(decoding: m.payload, as: UTF8.self)) id \(m.packetID ?? 0)") }
            // No PUBACK, and a second connection with the same id takes the session over:
            // the message is sent again with DUP, and the first connection is closed.
            let c3 = BrokerTests.TestClient(try await b.network.connect(host: "127.0.0.1", port: 1883, timeoutMilliseconds: 1000))
            try await c3.send(.connect(Connect(clientID: "d", cleanSession: false, keepAliveSeconds: 60)))
            note("\(try await c3.receive())")
            if case .publish(let m) = try await c3.receive() { note("again dup=\(m.dup) id \(m.packetID ?? 0)") }
            do { note("unexpected \(try await c2.receive())") } catch { note("c2 closed by the take-over") }
            return log
        }
        #expect(log == [
            "t=80 connack(sessionPresent: false, returnCode: 0)",
            "t=120 suback(id: 1, returnCodes: [1])",
            "t=3120 c1 closed by the broker",     // SUBSCRIBE arrived at 100, + 1.5 × 2 s, FIN 20 ms later
            "t=3120 recent: (will of d) firmloop/d/status",
            "t=3200 connack(sessionPresent: true, returnCode: 0)",
            "t=3200 queued firmloop/d/cmd on id 1",
            "t=3280 connack(sessionPresent: true, returnCode: 0)",
            "t=3280 again dup=true id 1",
            "t=3280 c2 closed by the take-over",
        ])
    }
}
