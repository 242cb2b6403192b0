import Board
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld
import Testing

/// A sim board whose network has the given faults, and the in-process broker on 127.0.0.1:1883.
func simBoard(network: String = #""latency": "20ms""#) throws -> BoardDescription {
    try BoardDescription.parse("""
        {"board": "t", "roles": {"led": {"type": "output", "line": "GPIO1"}},
         "sim": {"network": {"broker": "127.0.0.1:1883", \(network)}}}
        """, file: "t.json")
}

func config(_ id: String = "dev-1") -> MQTTClient.Config {
    var c = MQTTClient.Config(host: "127.0.0.1", port: 1883, clientID: id)
    c.keepAliveSeconds = 10
    c.will = Will(topic: "firmloop/\(id)/status", payload: Array("offline".utf8))
    c.online = ("firmloop/\(id)/status", Array("online".utf8))
    c.subscriptions = [Subscription("firmloop/\(id)/cmd", qos: 1)]
    c.seed = 1
    return c
}

/// A "broker" on the simulated network played by the test: for each connection it reads the
/// CONNECT, answers CONNACK, then does `then` (garbage, a flood, silence...).
@KernelActor func scriptedBroker(_ b: SimHardware, then: @escaping @KernelActor (SimConnection) async throws -> Void) {
    b.simNetwork.listen("127.0.0.1:1883") { conn in
        _ = spawn("scripted-broker") {
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 1)
            defer { buf.deallocate() }
            _ = try await conn.read(into: buf)
            try await conn.write(Packet.connack(sessionPresent: false, returnCode: 0).bytes)
            try await then(conn)
            _ = try? await conn.read(into: buf)
        }
    }
}

@Suite struct MQTTClientTests {
    @Test func everyMessageIsAcknowledgedOnceInOrderWithinTheWindow() throws {
        let d = try simBoard()
        let (acks, topics, maxInFlight) = try kernelTest { () async throws -> ([UInt64], [String], Int) in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            let c = MQTTClient(config())
            var acks: [UInt64] = []
            var maxInFlight = 0
            c.onAck = { acks.append($0) }
            w.broker.onPublish.append { _ in maxInFlight = max(maxInFlight, c.inFlight) }
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            for i in 1...100 { c.enqueue(id: UInt64(i), topic: "firmloop/dev-1/snapshot", payload: Array("{\"seq\":\(i)}".utf8)) }
            while acks.count < 100 { try await sleep(ms: 100) }
            run.cancel()
            return (acks, w.broker.recent.map(\.publish.topic), maxInFlight)
        }
        #expect(acks == Array(1...100))
        #expect(topics.first == "firmloop/dev-1/status")              // online, before the backlog
        #expect(topics.filter { $0.hasSuffix("/status") }.count == 1)
        #expect(topics.filter { $0.hasSuffix("/snapshot") }.count == 100)   // each once: no faults, no duplicates
        #expect(maxInFlight <= 16)
    }

    @Test func resetsAndOutagesLoseNothingAndResendWithDUP() throws {
        let d = try simBoard(network: #""latency": "20ms", "loss": 0.01, "resets_per_hour": 120, "outages": [{"at": "30s", "for": "45s"}]"#)
        let (acked, seen, dups, stats) = try kernelTest { () async throws -> (Set<UInt64>, Set<String>, Int, MQTTClient.Stats) in
            let w = try SimWorld(d, seed: 3), b = w.board
            w.start()
            let c = MQTTClient(config())
            var acked = Set<UInt64>()
            c.onAck = { acked.insert($0) }
            var seen = Set<String>()
            var dups = 0
            w.broker.onPublish.append { m in
                if m.publish.topic.hasSuffix("/snapshot") { seen.insert(String(decoding: m.publish.payload, as: UTF8.self)) }
                if m.publish.dup { dups += 1 }
            }
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            // One message a second for 5 minutes of resets and a 45 s outage.
            for i in 1...300 {
                c.enqueue(id: UInt64(i), topic: "firmloop/dev-1/snapshot", payload: Array("\(i)".utf8))
                try await sleep(ms: 1000)
            }
            while acked.count < 300 { try await sleep(ms: 1000) }
            run.cancel()
            return (acked, seen, dups, c.stats)
        }
        #expect(acked == Set(1...300))
        #expect(seen == Set((1...300).map { "\($0)" }))   // the broker got every one (some twice)
        #expect(stats.connects >= 3, "\(stats)")            // resets and the outage forced reconnects
        #expect(stats.acked == 300)
        #expect(dups == stats.resent)
    }

    @Test func commandsArriveAndAreAcknowledged() throws {
        let d = try simBoard()
        let got = try kernelTest { () async throws -> [String] in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            let c = MQTTClient(config())
            var got: [String] = []
            c.onMessage = { got.append("\($0.topic) \(String(decoding: $0.payload, as: UTF8.self))") }
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            while c.state != .online { try await sleep(ms: 10) }
            try await sleep(ms: 100)   // SUBSCRIBE has reached the broker
            w.broker.inject(Publish(topic: "firmloop/dev-1/cmd", payload: Array(#"{"id":"c1","set":{"relay":true}}"#.utf8), qos: 1))
            w.broker.inject(Publish(topic: "firmloop/other/cmd", payload: Array("not for us".utf8), qos: 1))
            try await sleep(ms: 200)
            run.cancel()
            return got
        }
        #expect(got == [#"firmloop/dev-1/cmd {"id":"c1","set":{"relay":true}}"#])
    }

    @Test func pingsKeepAnIdleConnectionUp() throws {
        let d = try simBoard()
        let (stats, brokerConnects) = try kernelTest { () async throws -> (MQTTClient.Stats, Int) in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            let c = MQTTClient(config())
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            try await sleep(ms: 10 * 60 * 1000)   // ten idle minutes, keep alive 10 s
            run.cancel()
            return (c.stats, w.broker.connects)
        }
        #expect(stats.connects == 1 && brokerConnects == 1)
        #expect(stats.pings >= 100 && stats.pings <= 121, "\(stats)")   // one per 5 s of silence
        #expect(stats.disconnects == 0)
    }

    @Test func backoffDoublesFromOneSecondToSixtyWithJitter() throws {
        let d = try simBoard()
        let attempts = try kernelTest { () async throws -> [Int64] in
            let b = try SimHardware(d, seed: 1)   // nothing listens on port 1884
            var cfg = config()
            cfg.port = 1884
            let c = MQTTClient(cfg)
            var attempts: [Int64] = []
            c.onState = { if $0 == .connecting { attempts.append(Kernel.nowMilliseconds) } }
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            try await sleep(ms: 10 * 60 * 1000)
            run.cancel()
            return attempts
        }
        let gaps = zip(attempts.dropFirst(), attempts).map { $0 - $1 - 40 }   // minus the refused connect's round trip
        let bases: [Int64] = [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        for (g, base) in zip(gaps, bases) { #expect(g >= base / 2 && g <= base, "gap \(g) for base \(base): \(gaps)") }
        #expect(gaps.count >= 9)
    }

    @Test func aBrokerThatSendsGarbageIsDroppedAndCounted() throws {
        let d = try simBoard()
        let stats = try kernelTest { () async throws -> MQTTClient.Stats in
            let b = try SimHardware(d, seed: 1)
            // A "broker" that answers CONNECT with a CONNACK, then a packet a client never gets.
            scriptedBroker(b) { conn in try await conn.write(Packet.subscribe(id: 1, filters: [Subscription("#", qos: 0)]).bytes) }
            let c = MQTTClient(config())
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            try await sleep(ms: 5000)
            run.cancel()
            return c.stats
        }
        #expect(stats.protocolErrors >= 2, "\(stats)")   // each connection dropped, then retried
        #expect(stats.connects == stats.protocolErrors)
    }

    // MARK: issue 16: what an adversarial pass found

    /// 16.1: a command over the packet limit used to drop the connection; the persistent
    /// session re-sent it on every reconnect, for ever. Now it is read past, acknowledged and
    /// handed on marked, and the connection stays up: after a reset it is not sent again.
    @Test func anOversizedMessageIsSkippedAcknowledgedAndTheConnectionStaysUp() throws {
        let d = try simBoard()
        let (got, stats) = try kernelTest { () async throws -> ([Publish], MQTTClient.Stats) in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            let c = MQTTClient(config())
            var got: [Publish] = []
            c.onMessage = { got.append($0) }
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            while c.state != .online { try await sleep(ms: 10) }
            try await sleep(ms: 100)
            w.broker.inject(Publish(topic: "firmloop/dev-1/cmd", payload: Array(repeating: 0x7B, count: 300_000), qos: 1))
            w.broker.inject(Publish(topic: "firmloop/dev-1/cmd", payload: Array("{}".utf8), qos: 1))
            try await sleep(ms: 5000)
            b.simNetwork.resetAll()   // an unacknowledged message would come again now
            try await sleep(ms: 5000)
            w.broker.inject(Publish(topic: "firmloop/dev-1/cmd", payload: Array("[]".utf8), qos: 1))
            try await sleep(ms: 1000)
            run.cancel()
            return (got, c.stats)
        }
        #expect(got.map(\.discardedBytes) == [300_000, 0, 0], "\(got.map { ($0.payload.count, $0.discardedBytes) })")
        #expect(got.map(\.payload) == [[], Array("{}".utf8), Array("[]".utf8)])
        #expect(stats.oversized == 1 && stats.protocolErrors == 0, "\(stats)")
        #expect(stats.connects == 2, "\(stats)")   // the first, and after the reset: no drop in between
    }

    /// 16.2: the attempt counter was reset by every CONNACK, so a broker that accepts and then
    /// fails was retried about once a second for ever. Now only a connection that stayed up
    /// 30 s starts the doubling over.
    @Test func backoffGrowsAgainstABrokerThatAcceptsThenFailsAndRestartsAfterAHealthySession() throws {
        let d = try simBoard()
        let attempts = try kernelTest { () async throws -> [Int64] in
            let b = try SimHardware(d, seed: 1)
            var sessions = 0
            scriptedBroker(b) { conn in
                sessions += 1
                if sessions == 8 { try await sleep(ms: 40_000) }   // the eighth stays up 40 s before it fails too
                try await conn.write([0x00, 0x00])   // a reserved packet type
            }
            var cfg = config()
            cfg.keepAliveSeconds = 0   // the liar answers no PINGREQ
            let c = MQTTClient(cfg)
            var attempts: [Int64] = []
            c.onState = { if $0 == .connecting { attempts.append(Kernel.nowMilliseconds) } }
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            while attempts.count < 10 { try await sleep(ms: 1000) }
            run.cancel()
            return attempts
        }
        // Each gap is the backoff plus a round trip or two (20 ms latency).
        let gaps = zip(attempts.dropFirst(), attempts).map { $0 - $1 }
        let bases: [Int64] = [1000, 2000, 4000, 8000, 16000, 32000, 60000]
        for (k, base) in bases.enumerated() {
            #expect(gaps[k] >= base / 2 && gaps[k] <= base + 200, "gap \(k): \(gaps[k]) ms for base \(base): \(gaps)")
        }
        // After 40 s online the doubling starts over: 40 s + 0.5-1 s, then 1-2 s.
        #expect(gaps[7] >= 40_500 && gaps[7] <= 41_200, "\(gaps)")
        #expect(gaps[8] >= 1000 && gaps[8] <= 2200, "\(gaps)")
    }

    /// 16.4: every command queued an ack with no cap. Droppable messages are bounded: the
    /// oldest go, counted, whatever the flood.
    @Test func droppableMessagesAreBoundedAndTheOldestGo() throws {
        let d = try simBoard()
        let (pending, stats, acked) = try kernelTest { () async throws -> (Int, MQTTClient.Stats, [UInt64]) in
            let w = try SimWorld(d, seed: 1), b = w.board
            w.start()
            let c = MQTTClient(config())
            var acked: [UInt64] = []
            c.onAck = { acked.append($0) }
            for i in 1...10_000 { c.enqueue(id: UInt64(i), topic: "firmloop/dev-1/ack", payload: Array("{}".utf8), droppable: true) }
            c.enqueue(id: 20_000, topic: "firmloop/dev-1/snapshot", payload: Array("{}".utf8))   // never dropped
            let pending = c.pending
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            while acked.count < 65 { try await sleep(ms: 100) }
            run.cancel()
            return (pending, c.stats, acked)
        }
        #expect(pending == 65)
        #expect(stats.dropped == 10_000 - 64)
        #expect(acked.sorted() == Array(9_937...10_000).map(UInt64.init) + [20_000])   // the newest 64 acks, and the snapshot
    }

    /// 16.4: what the client owes the broker (a PUBACK per message) waits in its output buffer;
    /// a broker that floods and never reads made it grow without bound. The reader now waits
    /// while `outputLimit` bytes wait.
    @Test func aBrokerThatFloodsAndNeverReadsCostsBoundedMemory() throws {
        let d = try simBoard()
        let (stats, most, received) = try kernelTest { () async throws -> (MQTTClient.Stats, Int, Int) in
            let b = try SimHardware(d, seed: 1)
            scriptedBroker(b) { conn in
                var batch: [UInt8] = []
                for id in 1...60_000 {
                    Packet.publish(Publish(topic: "firmloop/dev-1/cmd", payload: [0x31], qos: 1, packetID: UInt16(id % 65_000 + 1))).encode(into: &batch)
                    if batch.count > 32_768 { try await conn.write(batch); batch.removeAll(keepingCapacity: true) }
                }
                try await conn.write(batch)
                try await sleep(until: .max)   // and never reads a byte
            }
            var cfg = config()
            cfg.keepAliveSeconds = 0
            cfg.outputLimit = 16 * 1024
            let c = MQTTClient(cfg)
            var most = 0
            c.onMessage = { [unowned c] _ in most = max(most, c.outputBuffered) }
            let run = spawn("mqtt") { try await c.run(network: b.network) }
            try await sleep(ms: 30_000)
            run.cancel()
            return (c.stats, most, c.stats.received)
        }
        #expect(stats.outputStalls >= 1, "\(stats)")
        #expect(most <= 16 * 1024 + 4 + 65_536, "\(most) bytes waiting")   // the limit, one PUBACK, one socket buffer's worth in the writer
        #expect(received < 60_000, "\(received): it kept taking messages it could not acknowledge")
    }
}
