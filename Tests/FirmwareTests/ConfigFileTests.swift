import Board
import Firmware
import Testing

@Suite struct ConfigFileTests {
    @Test func everyKeyIsReadAndRelativePathsAreTheFilesFolders() throws {
        let text = """
            {
              "broker": "mqtt://[::1]:1884",
              "device_id": "greenhouse-1",
              "board": "raspberrypi-4b",
              "snapshot_interval": "2.5s",
              "outbox": "state/g.outbox",
              "outbox_capacity": 5000,
              "username": "gh",
              "password_file": "/etc/firmloop/mqtt-password",
              "log_level": "warning"
            }
            """
        let c = try ConfigFile.parse(text, file: "/etc/firmloop/firmloop.json")
        #expect(c.broker == BrokerAddress(host: "::1", port: 1884))
        #expect(c.deviceID == "greenhouse-1")
        #expect(c.board == "raspberrypi-4b")   // a name: the installed board file
        #expect(c.snapshotIntervalMilliseconds == 2500)
        #expect(c.outbox == "/etc/firmloop/state/g.outbox")
        #expect(c.outboxCapacity == 5000)
        #expect(c.username == "gh")
        #expect(c.passwordFile == "/etc/firmloop/mqtt-password")
        #expect(c.logLevel == .warning)
        let boards = try ConfigFile.parse(#"{"board": "boards/hil.json"}"#, file: "/srv/fw/firmloop.json")
        #expect(boards.board == "/srv/fw/boards/hil.json")
        #expect(try ConfigFile.parse("{}", file: "x.json") == ConfigFile(file: "x.json"))
    }

    @Test func homeAssistantDiscoveryItsFormAndOrigin() throws {
        let c = try ConfigFile.parse(#"{"ha_discovery": true, "ha_discovery_mode": "entity", "ha_support_url": "https://example.org/fw"}"#, file: "f.json")
        #expect(c.homeAssistant == HomeAssistantDiscovery() && c.homeAssistantMode == .entity && c.homeAssistantSupportURL == "https://example.org/fw")
        #expect(try ConfigFile.parse(#"{"ha_discovery": "ha/x"}"#, file: "f.json").homeAssistant?.prefix == "ha/x")
        do {
            _ = try ConfigFile.parse("{\n\"ha_discovery_mode\": \"both\",\n\"ha_support_url\": \"ftp://x\",\n\"ha_discovery\": \"a/#\"\n}", file: "f.json")
            Issue.record("accepted a bad file")
        } catch {
            let lines = error.problems.map(\.description)
            #expect(lines.contains { $0.hasPrefix("f.json:2: ha_discovery_mode: expected \"device\"") }, "\(lines)")
            #expect(lines.contains("f.json:3: ha_support_url: expected an http:// or https:// URL, got 'ftp://x'"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("f.json:4: ha_discovery: expected true, false or a topic prefix") }, "\(lines)")
        }
    }

    @Test func everyProblemNamesTheFileLineAndKey() {
        let text = """
            {
              "broker": "http://example.com",
              "device_id": "a/b",
              "snapshot_interval": "forever",
              "outbox_capacity": -1,
              "log_level": "chatty",
              "username": 7,
              "brokr": "typo"
            }
            """
        do {
            _ = try ConfigFile.parse(text, file: "f.json")
            Issue.record("accepted a bad file")
        } catch {
            let lines = error.problems.map(\.description)
            #expect(lines.contains("f.json:2: broker: http://example.com: expected mqtt:// or mqtts:// (TLS)"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("f.json:3: device_id: 'a/b': use letters") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("f.json:4: snapshot_interval: expected a duration") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("f.json:5: outbox_capacity: expected a whole number") }, "\(lines)")
            #expect(lines.contains("f.json:6: log_level: 'chatty' is not one of error, warning, info, debug"), "\(lines)")
            #expect(lines.contains("f.json:7: username: expected a string, found a number"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("f.json:8: brokr: unknown key") }, "\(lines)")
            #expect(lines.count == 7, "\(lines)")
        }
        #expect(throws: FileProblems.self) { try ConfigFile.parse("[1]", file: "f.json") }
        #expect(throws: FileProblems.self) { try ConfigFile.parse("{\"broker\": }", file: "f.json") }
    }
}

@Suite struct LogFormatTests {
    @Test func levelsFilterAndJournaldPrefixesEveryLine() {
        let plain = LogFormat(threshold: .info)
        #expect(plain.line(.error, "fault: gps_uart: gone") == "fault: gps_uart: gone\n")
        #expect(plain.line(.info, "mqtt: online") == "mqtt: online\n")
        #expect(plain.line(.debug, "t=10s online") == nil)
        let journal = LogFormat(threshold: .debug, priorityPrefix: true)
        #expect(journal.line(.error, "a") == "<3>a\n")
        #expect(journal.line(.warning, "a") == "<4>a\n")
        #expect(journal.line(.info, "a") == "<6>a\n")
        #expect(journal.line(.debug, "a\nb") == "<7>a\n<7>b\n")
        let quiet = LogFormat(threshold: .error)
        #expect(quiet.line(.warning, "mqtt: offline") == nil && quiet.line(.error, "x") != nil)
        #expect(LogLevel(name: "warn") == .warning && LogLevel(name: "verbose") == nil)
    }
}
