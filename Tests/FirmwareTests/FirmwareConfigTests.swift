import Board
import Firmware
import Testing

@Suite struct FirmwareConfigTests {
    @Test(arguments: [
        ("mqtt://127.0.0.1:1883", "127.0.0.1", 1883), ("mqtt://broker.lan", "broker.lan", 1883), ("broker.lan:8883", "broker.lan", 8883),
        ("mqtt://[::1]:1884", "::1", 1884), ("[fe80::1]", "fe80::1", 1883), ("mqtt://h:1/", "h", 1),
    ])
    func brokerAddressesParse(_ text: String, _ host: String, _ port: Int) throws {
        #expect(try BrokerAddress.parse(text) == BrokerAddress(host: host, port: port))
    }

    @Test func mqttsIsTLSOnPort8883UnlessTold() throws {
        #expect(try BrokerAddress.parse("mqtts://broker.example") == BrokerAddress(host: "broker.example", port: 8883, tls: true))
        #expect(try BrokerAddress.parse("mqtts://[::1]:9883") == BrokerAddress(host: "::1", port: 9883, tls: true))
        #expect(try BrokerAddress.parse("mqtts://h").description == "mqtts://h:8883")
        #expect(try BrokerAddress.parse("h").tls == false)
    }

    @Test(arguments: [
        ("ws://h:8883", "--broker ws://h:8883: expected mqtt:// or mqtts:// (TLS)"),
        ("mqtt://h:x", "--broker mqtt://h:x: the port is not a number"),
        ("mqtt://h:70000", "--broker mqtt://h:70000: port 70000 is out of range 1-65535"),
        ("mqtt://:1883", "--broker mqtt://:1883: no host"),
        ("[::1", "--broker [::1: unclosed [ in an IPv6 address"),
    ])
    func badBrokerAddressesSayWhy(_ text: String, _ message: String) {
        #expect(throws: ConfigError(message)) { try BrokerAddress.parse(text) }
    }

    @Test func deviceIDsAreOneTopicLevel() {
        #expect(FirmwareConfig.problem(deviceID: "pi-7.lab_2") == nil)
        #expect(FirmwareConfig.problem(deviceID: "") == "--device-id is empty")
        #expect(FirmwareConfig.problem(deviceID: "a/b")?.contains("one MQTT topic level") == true)
        #expect(FirmwareConfig.problem(deviceID: "a+") != nil && FirmwareConfig.problem(deviceID: "#") != nil)
        #expect(FirmwareConfig.problem(deviceID: String(repeating: "x", count: 65)) != nil)
        #expect(Topics(device: "d").cmd == "firmloop/d/cmd" && Topics(device: "d").ack == "firmloop/d/ack")
    }

    @Test func theJSONWriterNestsAndPlacesCommas() throws {
        var w = JSONWriter()
        w.object { w in
            w.key("a"); w.int(1)
            w.key("b"); w.array { w in w.bool(true); w.null(); w.object { _ in }; w.array { w in w.int(2) } }
            w.key("s\"q"); w.string("line\nbreak \u{1}")
            w.key("n"); w.object { w in
                w.key("x"); w.number(-0.0000001, digits: 3)
                w.key("y"); w.number(.nan)
                w.key("z"); w.number(0.00001234, digits: 9)
                w.key("w"); w.number(2.5)
                w.key("v"); w.number(nil)
            }
        }
        #expect(w.text == #"{"a":1,"b":[true,null,{},[2]],"s\"q":"line\nbreak \u0001","n":{"x":0,"y":null,"z":1.234e-05,"w":2.5,"v":null}}"#)
        #expect(throws: Never.self) { try JSON.parse(w.text) }
    }

    @Test func aFixIsWrittenAsGpsdNamesIt() {
        var f = Fix()
        f.mode = 2
        f.lat = 44.068983667
        f.lon = -121.3142285
        f.alt = 1139.4   // not in 2D
        f.satellites = 5
        var w = JSONWriter()
        f.write(to: &w)
        #expect(w.text == #"{"mode":2,"lat":44.068983667,"lon":-121.3142285,"alt":null,"speed":null,"track":null,"time":null,"sats":5,"hdop":null}"#)
        f.mode = 1   // no fix: no position
        var v = JSONWriter()
        f.write(to: &v)
        #expect(v.text.hasPrefix(#"{"mode":1,"lat":null,"lon":null,"alt":null"#))
    }
}
