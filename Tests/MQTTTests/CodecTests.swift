import MQTT
import Testing

@Suite struct CodecTests {
    static let packets: [Packet] = [
        .connect(Connect(clientID: "sim-1", cleanSession: false, keepAliveSeconds: 30,
                         will: Will(topic: "firmloop/sim-1/status", payload: Array("offline".utf8)),
                         username: "dev", password: Array("s3cret".utf8))),
        .connect(Connect(clientID: "", keepAliveSeconds: 0)),
        .connack(sessionPresent: true, returnCode: 0),
        .publish(Publish(topic: "firmloop/sim-1/snapshot", payload: Array(repeating: 0x41, count: 300), qos: 1, dup: true, packetID: 7)),
        .publish(Publish(topic: "a/b", payload: [], qos: 0, retain: true)),
        .puback(65535), .pubrec(1), .pubrel(2), .pubcomp(3),
        .subscribe(id: 9, filters: [Subscription("firmloop/+/cmd", qos: 1), Subscription("#", qos: 0)]),
        .suback(id: 9, returnCodes: [1, 0x80]),
        .unsubscribe(id: 10, filters: ["a/#"]), .unsuback(10),
        .pingreq, .pingresp, .disconnect,
    ]

    @Test func everyPacketRoundTripsEvenByteByByte() throws {
        var stream: [UInt8] = []
        for p in Self.packets { p.encode(into: &stream) }
        var whole = Decoder()
        whole.append(stream)
        var out: [Packet] = []
        while let p = try whole.next() { out.append(p) }
        #expect(out == Self.packets)
        var dribble = Decoder()
        out = []
        for b in stream {
            dribble.append([b])
            while let p = try dribble.next() { out.append(p) }
        }
        #expect(out == Self.packets)
        #expect(dribble.pending == 0)
    }

    @Test func knownBytes() {
        // From the spec's examples: PINGREQ, and a remaining length of 321 = 0xC1 0x02.
        #expect(Packet.pingreq.bytes == [0xC0, 0x00])
        let p = Packet.publish(Publish(topic: "t", payload: Array(repeating: 0, count: 318)))
        #expect(Array(p.bytes.prefix(5)) == [0x30, 0xC1, 0x02, 0x00, 0x01])
        #expect(Packet.connect(Connect(clientID: "c", keepAliveSeconds: 60)).bytes
                == [0x10, 13, 0, 4, 77, 81, 84, 84, 4, 2, 0, 60, 0, 1, 99])
    }

    /// Hostile or broken bytes: each must be an error, never a crash or a giant buffer.
    static let malformed: [([UInt8], String)] = [
        ([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "remaining length longer than 4 bytes"),
        ([0x30, 0xFF, 0xFF, 0xFF, 0x7F], "exceeds"),
        ([0x00, 0x00], "reserved packet type 0"),
        ([0xF0, 0x00], "reserved packet type 15"),
        ([0x82, 0x02, 0x00, 0x01], "SUBSCRIBE with no topic filter"),
        ([0x80, 0x02, 0x00, 0x01], "SUBSCRIBE with reserved flags"),
        ([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], "PUBLISH with QoS 3"),
        ([0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00], "PUBLISH packet id 0"),
        ([0x30, 0x04, 0x00, 0x02, 0x61, 0x2B], "not a valid topic name"),
        ([0x30, 0x04, 0x00, 0x05, 0x61, 0x62], "runs past the packet"),
        ([0x30, 0x03, 0x00, 0x01, 0xFF], "not valid UTF-8"),
        ([0x40, 0x03, 0x00, 0x01, 0x00], "trailing bytes"),
        ([0x10, 0x0C, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x3C, 0x00, 0x00], "reserved flag set"),
        ([0x10, 0x0A, 0x00, 0x04, 0x4A, 0x55, 0x4E, 0x4B, 0x04, 0x02, 0x00, 0x3C], "protocol name 'JUNK'"),
        ([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x23, 0x03], "requested QoS 3"),
        ([0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 0x61, 0x23, 0x62, 0x00], "not a valid topic filter"),
    ]

    @Test(arguments: malformed.indices)
    func malformedInputIsAnError(_ i: Int) {
        let (bytes, why) = Self.malformed[i]
        var d = Decoder(maxPacket: 1 << 20)
        d.append(bytes)
        do {
            let p = try d.next()
            Issue.record("decoded \(String(describing: p)) from \(bytes)")
        } catch {
            #expect(error.description.contains(why), "\(error)")
        }
    }

    @Test func randomGarbageNeverCrashesAndStaysBounded() {
        var x: UInt64 = 42
        for _ in 0..<2000 {
            var d = Decoder(maxPacket: 4096)
            var bytes: [UInt8] = []
            for _ in 0..<64 { x = x &* 6364136223846793005 &+ 1442695040888963407; bytes.append(UInt8(x >> 56)) }
            d.append(bytes)
            while true {
                do { guard try d.next() != nil else { break } } catch { break }
            }
            #expect(d.pending <= 64)
        }
    }

    /// Issue 16.1: a PUBLISH over the limit is skipped, not refused: its topic and id come out
    /// (so it can be acknowledged), its payload is dropped as it arrives, and the packet after
    /// it decodes whole. Memory stays at the limit whatever the length.
    @Test(arguments: [1, 7, 4096, 1 << 20])
    func anOversizedPublishIsSkippedWithoutBuffering(_ chunk: Int) throws {
        let big = Publish(topic: "firmloop/d/cmd", payload: Array(repeating: 0x7B, count: 300_000), qos: 1, packetID: 42)
        var stream = Packet.publish(big).bytes
        Packet.publish(Publish(topic: "firmloop/d/cmd", payload: Array("{}".utf8), qos: 1, packetID: 43)).encode(into: &stream)
        Packet.pingresp.encode(into: &stream)
        var d = Decoder(maxPacket: 4096, skippingOversizedPublish: true)
        var out: [Packet] = []
        var most = 0
        var i = 0
        while i < stream.count {
            d.append(Array(stream[i..<min(stream.count, i + chunk)]))
            i += chunk
            most = max(most, d.pending)
            while let p = try d.next() { out.append(p) }
        }
        var skipped = big
        skipped.payload = []
        skipped.discardedBytes = 300_000
        #expect(out == [.publish(skipped), .publish(Publish(topic: "firmloop/d/cmd", payload: Array("{}".utf8), qos: 1, packetID: 43)), .pingresp])
        #expect(most <= max(chunk, 4096 + 5), "buffered \(most) bytes")
        // Without skipping it stays an error (the broker's side of the codec refuses it).
        var strict = Decoder(maxPacket: 4096)
        strict.append(stream)
        #expect(throws: MQTTError.tooLarge(length: 300_018, limit: 4096)) { try strict.next() }
    }

    @Test func anOversizedPublishWithABrokenTopicIsStillAnError() {
        var d = Decoder(maxPacket: 16, skippingOversizedPublish: true)
        d.append([0x32, 0x80, 0x01, 0x00, 0x90] + Array(repeating: 0x61, count: 20))   // topic length 144 > body 128
        #expect(throws: MQTTError.self) { try d.next() }
        var e = Decoder(maxPacket: 16, skippingOversizedPublish: true)
        e.append([0x30, 0x80, 0x01, 0x00, 0x03, 0x61, 0x2B, 0x62])   // '+' in a topic name
        #expect(throws: MQTTError.self) { try e.next() }
    }

    @Test func topicMatching() {
        #expect(Topic.matches(filter: "firmloop/+/cmd", topic: "firmloop/sim-1/cmd"))
        #expect(!Topic.matches(filter: "firmloop/+/cmd", topic: "firmloop/sim-1/ack"))
        #expect(Topic.matches(filter: "firmloop/#", topic: "firmloop"))
        #expect(Topic.matches(filter: "firmloop/#", topic: "firmloop/a/b/c"))
        #expect(Topic.matches(filter: "#", topic: "a"))
        #expect(!Topic.matches(filter: "#", topic: "$SYS/uptime"))
        #expect(Topic.matches(filter: "+/+", topic: "/x"))
        #expect(!Topic.matches(filter: "a/+", topic: "a/b/c"))
        // Level edges: empty levels, a trailing slash, one topic a prefix of the other.
        #expect(Topic.matches(filter: "a/+/c", topic: "a//c"))
        #expect(!Topic.matches(filter: "a/b", topic: "a/b/"))
        #expect(Topic.matches(filter: "a/b/+", topic: "a/b/"))
        #expect(!Topic.matches(filter: "a/bc", topic: "a/b"))
        #expect(!Topic.matches(filter: "a/b", topic: "a/bc"))
        #expect(!Topic.matches(filter: "a/b/c", topic: "a/b"))
        #expect(Topic.matches(filter: "a/b/#", topic: "a/b"))
        #expect(!Topic.matches(filter: "a/b/#", topic: "a"))
        #expect(Topic.matches(filter: "", topic: ""))
        #expect(Topic.matches(filter: "$SYS/#", topic: "$SYS/uptime"))
        #expect(Topic.matches(filter: "é/+", topic: "é/ü"))
        #expect(Topic.isValidFilter("a/+/#") && !Topic.isValidFilter("a/#/b") && !Topic.isValidFilter("a+"))
        #expect(Topic.isValidName("a/b") && !Topic.isValidName("a/+") && !Topic.isValidName(""))
    }
}
