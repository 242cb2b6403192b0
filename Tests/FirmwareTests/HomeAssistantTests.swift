import Board
import Firmware
import Kernel
import KernelTestSupport
import SimBoard
import Testing

/// Discovery payloads checked against the keys and shapes Home Assistant's MQTT discovery
/// documents: `<prefix>/<component>/<node_id>/<object_id>/config`, unique ids, availability,
/// one device block; switch, binary_sensor, sensor, device_tracker. The entities are the stock
/// components' own declarations, on the simulated board (boards/sim.json: the Pi's roles).
@Suite struct HomeAssistantTests {
    static func entities(device: String = "pi-7", prefix: String = "homeassistant") -> [HomeAssistantDiscovery.Entity] {
        try! kernelTest { () async throws -> [HomeAssistantDiscovery.Entity] in
                let board = try SimHardware(try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json"), seed: 1)
                defer { board.close() }
                var config = FirmwareConfig(deviceID: device)
                config.softwareVersion = "firmloop v1.2"
                let fw = Device(board: board, config: config, outbox: try Outbox(path: ":memory:", offloaded: false), network: nil)
                try await fw.attach()
                return HomeAssistantAnnouncer.announcement(of: fw, HomeAssistantDiscovery(prefix: prefix)).entities
        }
    }

    @Test func oneConfigPerEntityAtTheDocumentedTopics() {
        // In the firmware's order: Snapshots, GPIOLines (the fan a number), GPSReader,
        // CPUTemperature, then the drivers of the board's I2C roles.
        #expect(Self.entities().map(\.topic) == [
            "homeassistant/sensor/pi-7/outbox_backlog/config",
            "homeassistant/sensor/pi-7/last_seq/config",
            "homeassistant/switch/pi-7/relay/config",
            "homeassistant/number/pi-7/fan/config",
            "homeassistant/binary_sensor/pi-7/button/config",
            "homeassistant/device_tracker/pi-7/gps_uart/config",
            "homeassistant/sensor/pi-7/cpu_temperature/config",
            "homeassistant/sensor/pi-7/climate_temperature/config",
            "homeassistant/sensor/pi-7/climate_humidity/config",
            "homeassistant/sensor/pi-7/climate_pressure/config",
            "homeassistant/sensor/pi-7/adc_light/config",
            "homeassistant/sensor/pi-7/adc_supply/config",
        ])   // the status LED is the firmware's own: not a switch
        #expect(Self.entities(device: "pi.7 lab", prefix: "ha").first?.topic == "ha/sensor/pi_7_lab/outbox_backlog/config")
        #expect(HomeAssistantDiscovery.sanitize("a.b/c+d#é-_Z9") == "a_b_c_d__-_Z9")
        #expect(HomeAssistantDiscovery().configFilter(device: "pi.7") == "homeassistant/+/pi_7/+/config")
    }

    @Test func everyPayloadHasAUniqueIDAvailabilityAndTheDeviceBlock() throws {
        var ids = Set<String>()
        for e in Self.entities() {
            let j = try JSON.parse(e.payload)
            let uid = try #require(j["unique_id"]?.string)
            #expect(ids.insert(uid).inserted, "unique_id \(uid) twice")
            #expect(uid.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
            #expect(j["availability_topic"]?.string == "firmloop/pi-7/status")
            #expect(j["payload_available"]?.string == "online" && j["payload_not_available"]?.string == "offline")
            let d = try #require(j["device"])
            #expect(d["identifiers"]?.array?.first?.string == "firmloop_pi-7")
            #expect(d["name"]?.string == "pi-7" && d["model"]?.string == "sim" && d["sw_version"]?.string == "firmloop v1.2")
            #expect(d["manufacturer"]?.string == "Firmloop")
            #expect(j["name"]?.string?.isEmpty == false)
        }
    }

    @Test func eachComponentHasItsTopicsAndClasses() throws {
        let by = Dictionary(uniqueKeysWithValues: try Self.entities().map { ($0.objectID, try JSON.parse($0.payload)) })
        let relay = try #require(by["relay"])
        #expect(relay["state_topic"]?.string == "firmloop/pi-7/relay/state")
        #expect(relay["command_topic"]?.string == "firmloop/pi-7/relay/set")
        #expect(relay["payload_on"]?.string == "ON" && relay["payload_off"]?.string == "OFF")
        let button = try #require(by["button"])
        #expect(button["state_topic"]?.string == "firmloop/pi-7/button/state" && button["command_topic"] == nil)
        let temp = try #require(by["cpu_temperature"])
        #expect(temp["device_class"]?.string == "temperature" && temp["unit_of_measurement"]?.string == "°C")
        #expect(temp["state_topic"]?.string == "firmloop/pi-7/snapshot" && temp["value_template"]?.string == "{{ value_json.cpu_temp_c }}")
        let gps = try #require(by["gps_uart"])
        #expect(gps["json_attributes_topic"]?.string == "firmloop/pi-7/gps" && gps["source_type"]?.string == "gps")
        for k in ["outbox_backlog", "last_seq"] { #expect(by[k]?["entity_category"]?.string == "diagnostic") }
    }

    @Test func setTopicsNameOneRole() {
        let t = Topics(device: "d")
        #expect(t.role(ofSet: "firmloop/d/relay/set") == "relay")
        #expect(t.role(ofSet: "firmloop/d/a/b/set") == nil && t.role(ofSet: "firmloop/e/relay/set") == nil && t.role(ofSet: "firmloop/d//set") == nil)
        #expect(t.setFilter == "firmloop/d/+/set" && t.state("relay") == "firmloop/d/relay/state")
    }
}
