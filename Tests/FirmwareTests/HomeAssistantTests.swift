import Board
import Firmware
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld
import Testing

/// Discovery payloads checked against the keys, abbreviations and shapes Home Assistant's MQTT
/// discovery documents (home-assistant.io/integrations/mqtt: "Discovery messages", "Device
/// discovery payload", the abbreviation tables): the device form's one message and the entity
/// form's one per entity; unique and default entity ids; availability; the device and origin
/// blocks; every platform's own keys. The entities are the stock components' own declarations,
/// on the simulated board (boards/sim.json: the Pi's roles, I2C sensors, a PWM fan, a value
/// role). Then the announcer against the simulated world's broker: removed entities, moving
/// between the two forms.
@Suite struct HomeAssistantTests {
    static func announcement(device: String = "pi-7", _ ha: HomeAssistantDiscovery = HomeAssistantDiscovery(),
                             board: String = "\(repositoryRoot)/boards/sim.json") -> HomeAssistantDiscovery.Announcement {
        try! kernelTest { () async throws -> HomeAssistantDiscovery.Announcement in
            let board = try SimHardware(try BoardDescription.load(path: board), seed: 1)
            defer { board.close() }
            var config = FirmwareConfig(deviceID: device)
            config.softwareVersion = "firmloop v1.2"
            let fw = Device(board: board, config: config, outbox: try Outbox(path: ":memory:", offloaded: false), network: nil)
            try await fw.attach()
            return HomeAssistantAnnouncer.announcement(of: fw, ha)
        }
    }

    static func deviceMessage(_ a: HomeAssistantDiscovery.Announcement = announcement()) throws -> JSON {
        try JSON.parse(a.deviceMessage().payload)
    }

    static func components(_ j: JSON) throws -> [(id: String, config: JSON)] {
        try #require(j["cmps"]?.members).map { ($0.key, $0.value) }
    }

    // The documented names (Home Assistant's abbreviations.py, 2025.4): device-level keys of a
    // device discovery message, the device block's abbreviations, the origin's.
    static let deviceKeys: Set<String> = ["dev", "o", "cmps", "availability_topic", "payload_available", "payload_not_available"]
    static let deviceBlockKeys: Set<String> = ["ids", "name", "mf", "mdl", "sw"]   // of cns, cu, ids, name, mf, mdl, mdl_id, hw, sw, sa, sn
    static let originKeys: Set<String> = ["name", "sw", "url"]
    /// Every option an entity of ours may carry: each a documented option of its platform.
    static let entityKeys: Set<String> = [
        "p", "name", "unique_id", "default_entity_id", "state_topic", "command_topic", "value_template", "payload_on", "payload_off",
        "state_on", "state_off", "qos", "device_class", "unit_of_measurement", "state_class", "entity_category",
        "suggested_display_precision", "expire_after", "json_attributes_topic", "json_attributes_template", "source_type",
        "min", "max", "step", "mode",
    ]
    static let platforms: Set<String> = ["sensor", "binary_sensor", "switch", "number", "device_tracker"]

    @Test func theDeviceFormIsOneMessageWithEveryEntity() throws {
        let a = Self.announcement()
        let m = a.deviceMessage()
        #expect(m.topic == "homeassistant/device/pi-7/config")
        #expect(a.messages == [m])
        // In the firmware's order: Snapshots, GPIOLines (the fan a number), GPSReader,
        // CPUTemperature, the announcer's own, then the drivers of the I2C roles, then the value role.
        #expect(try Self.components(try JSON.parse(m.payload)).map(\.id) == [
            "outbox_backlog", "last_seq", "outbox_problem", "outbox_damaged_problem",
            "relay", "fan", "button",
            "gps_uart", "gps_uart_problem",
            "cpu_temperature",
            "uptime", "last_error",
            "climate_temperature", "climate_humidity", "climate_pressure", "climate_problem",
            "adc_light", "adc_supply", "adc_problem",
            "water", "water_problem",
        ])   // the status LED is the firmware's own: not a switch
        #expect(HomeAssistantDiscovery().deviceTopic(device: "pi.7 lab") == "homeassistant/device/pi_7_lab/config")
        #expect(HomeAssistantDiscovery.sanitize("a.b/c+d#é-_Z9") == "a_b_c_d__-_Z9")
        #expect(HomeAssistantDiscovery.slug("pi-7__Lab.relay") == "pi_7_lab_relay")
    }

    @Test func theDeviceMessageHasOnlyDocumentedKeys() throws {
        let j = try Self.deviceMessage()
        #expect(Set(try #require(j.members).map(\.key)) == Self.deviceKeys)
        let dev = try #require(j["dev"])
        #expect(Set(try #require(dev.members).map(\.key)).isSubset(of: Self.deviceBlockKeys))
        #expect(dev["ids"]?.array?.first?.string == "firmloop_pi-7")
        #expect(dev["name"]?.string == "pi-7" && dev["mdl"]?.string == "sim" && dev["sw"]?.string == "firmloop v1.2" && dev["mf"]?.string == "Firmloop")
        let o = try #require(j["o"])
        #expect(Set(try #require(o.members).map(\.key)).isSubset(of: Self.originKeys))
        #expect(o["name"]?.string == "Firmloop" && o["sw"]?.string == "firmloop v1.2" && o["url"] == nil)
        let withURL = try Self.deviceMessage(Self.announcement(HomeAssistantDiscovery(supportURL: "https://example.org/help")))
        #expect(withURL["o"]?["url"]?.string == "https://example.org/help")
        // Shared by every entity (Home Assistant's SHARED_OPTIONS): availability once.
        #expect(j["availability_topic"]?.string == "firmloop/pi-7/status")
        #expect(j["payload_available"]?.string == "online" && j["payload_not_available"]?.string == "offline")

        var ids = Set<String>()
        for (id, c) in try Self.components(j) {
            let keys = Set(try #require(c.members).map(\.key))
            #expect(keys.isSubset(of: Self.entityKeys), "\(id): \(keys.subtracting(Self.entityKeys))")
            let p = try #require(c["p"]?.string)
            #expect(Self.platforms.contains(p))
            let uid = try #require(c["unique_id"]?.string)
            #expect(ids.insert(uid).inserted, "unique_id \(uid) twice")
            #expect(uid == "firmloop_pi-7_\(id)")
            // default_entity_id: the platform, a dot, the object id Home Assistant makes from
            // the device's and the entity's names.
            let eid = try #require(c["default_entity_id"]?.string)
            #expect(eid == "\(p)." + HomeAssistantDiscovery.slug("pi-7 " + (c["name"]?.string ?? "")))
            #expect(eid.dropFirst(p.count + 1).allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" })
            #expect(c["object_id"] == nil && c["device"] == nil && c["availability_topic"] == nil)
            #expect(c["name"]?.string?.isEmpty == false)
        }
    }

    @Test func theEntityFormIsOneConfigPerEntityWithObjectID() throws {
        let a = Self.announcement(HomeAssistantDiscovery(prefix: "ha", mode: .entity))
        let ms = a.messages
        #expect(ms.count == a.entities.count && ms.count == 21)
        #expect(ms.first?.topic == "ha/sensor/pi-7/outbox_backlog/config")
        #expect(ms.map(\.topic).contains("ha/switch/pi-7/relay/config") && ms.map(\.topic).contains("ha/binary_sensor/pi-7/gps_uart_problem/config"))
        #expect(HomeAssistantDiscovery(prefix: "ha").configFilter(device: "pi.7") == "ha/+/pi_7/+/config")
        for m in ms {
            let j = try JSON.parse(m.payload)
            #expect(j["p"] == nil)
            #expect(j["object_id"]?.string == j["default_entity_id"]?.string?.split(separator: ".").last.map(String.init))
            #expect(j["availability_topic"]?.string == "firmloop/pi-7/status")
            #expect(j["device"]?["identifiers"]?.array?.first?.string == "firmloop_pi-7" && j["device"]?["sw_version"]?.string == "firmloop v1.2")
            #expect(j["origin"]?["name"]?.string == "Firmloop" && j["origin"]?["sw_version"]?.string == "firmloop v1.2")
        }
    }

    @Test func eachComponentHasItsTopicsAndClasses() throws {
        let by = Dictionary(uniqueKeysWithValues: try Self.components(try Self.deviceMessage()).map { ($0.id, $0.config) })
        let relay = try #require(by["relay"])
        #expect(relay["p"]?.string == "switch")
        #expect(relay["state_topic"]?.string == "firmloop/pi-7/relay/state" && relay["command_topic"]?.string == "firmloop/pi-7/relay/set")
        #expect(relay["payload_on"]?.string == "ON" && relay["payload_off"]?.string == "OFF")
        let button = try #require(by["button"])
        #expect(button["p"]?.string == "binary_sensor" && button["state_topic"]?.string == "firmloop/pi-7/button/state" && button["command_topic"] == nil)
        let temp = try #require(by["cpu_temperature"])
        #expect(temp["device_class"]?.string == "temperature" && temp["unit_of_measurement"]?.string == "°C")
        #expect(temp["state_topic"]?.string == "firmloop/pi-7/snapshot" && temp["value_template"]?.string == "{{ value_json.cpu_temp_c | default(None) }}")
        #expect(temp["expire_after"]?.int == 60 && temp["suggested_display_precision"]?.int == 1 && temp["state_class"]?.string == "measurement")
        let gps = try #require(by["gps_uart"])
        #expect(gps["default_entity_id"]?.string == "device_tracker.pi_7_gps" && relay["default_entity_id"]?.string == "switch.pi_7_relay")
        #expect(by["climate_temperature"]?["default_entity_id"]?.string == "sensor.pi_7_climate_temperature")
        #expect(gps["p"]?.string == "device_tracker" && gps["json_attributes_topic"]?.string == "firmloop/pi-7/gps" && gps["source_type"]?.string == "gps")
        for k in ["outbox_backlog", "last_seq", "uptime", "last_error", "gps_uart_problem", "climate_problem"] {
            #expect(by[k]?["entity_category"]?.string == "diagnostic", "\(k)")
        }
        let uptime = try #require(by["uptime"])
        #expect(uptime["device_class"]?.string == "duration" && uptime["unit_of_measurement"]?.string == "s" && uptime["state_class"]?.string == "total_increasing")
        let last = try #require(by["last_error"])
        #expect(last["state_topic"]?.string == "firmloop/pi-7/faults" && last["expire_after"] == nil)
        // The value role, with what its board file says (boards/sim.json: a DS18B20).
        let water = try #require(by["water"])
        #expect(water["p"]?.string == "sensor" && water["unit_of_measurement"]?.string == "°C" && water["device_class"]?.string == "temperature")
        #expect(water["state_class"]?.string == "measurement" && water["suggested_display_precision"]?.int == 1)
        #expect(water["value_template"]?.string == "{{ value_json.water | default(None) }}" && water["expire_after"]?.int == 60)
        // A nested field: each level may be missing (an older firmware's snapshot).
        #expect(by["climate_temperature"]?["value_template"]?.string == "{{ (value_json.climate | default({})).temperature_c | default(None) }}")
    }

    @Test func aProblemSensorIsOnWhileItsPartHasAFault() throws {
        let by = Dictionary(uniqueKeysWithValues: try Self.components(try Self.deviceMessage()).map { ($0.id, $0.config) })
        let p = try #require(by["gps_uart_problem"])
        #expect(p["p"]?.string == "binary_sensor" && p["device_class"]?.string == "problem")
        #expect(p["state_topic"]?.string == "firmloop/pi-7/faults" && p["json_attributes_topic"]?.string == "firmloop/pi-7/faults")
        #expect(p["value_template"]?.string == "{{ 'ON' if 'gps_uart' in value_json.active else 'OFF' }}")
        #expect(p["json_attributes_template"]?.string?.contains("value_json.active['gps_uart']") == true)
        #expect(by["outbox_damaged_problem"]?["value_template"]?.string == "{{ 'ON' if 'outbox.damaged' in value_json.active else 'OFF' }}")
    }

    @Test func theFaultsTopicSaysWhatIsWrongNowAndWhatWasLast() throws {
        let (before, during, after) = try kernelTest { () async throws -> (String, String, String) in
            let board = try SimHardware(try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json"), seed: 1)
            defer { board.close() }
            let fw = Device(board: board, config: FirmwareConfig(deviceID: "d"), outbox: try Outbox(path: ":memory:", offloaded: false), network: nil)
            let before = fw.faultsPayload
            fw.setFault("gps_uart", "no data for 5 s", since: 1_767_225_600_000_000_000)
            let during = fw.faultsPayload
            fw.setFault("gps_uart", nil)
            return (before, during, fw.faultsPayload)
        }
        #expect(before == #"{"active":{},"last":null}"#)
        let d = try JSON.parse(during)
        #expect(d["active"]?["gps_uart"]?["error"]?.string == "no data for 5 s" && d["active"]?["gps_uart"]?["since"]?.string?.hasPrefix("2026-01-01T00:00:00") == true)
        let a = try JSON.parse(after)
        #expect(a["active"]?.members?.isEmpty == true)
        #expect(a["last"]?["part"]?.string == "gps_uart" && a["last"]?["error"]?.string == "no data for 5 s" && a["last"]?["at"]?.string != nil)
    }

    @Test func aRemovedEntityIsSentAsItsPlatformAlone() throws {
        let a = Self.announcement()
        let j = try JSON.parse(a.deviceMessage(removed: [("old_probe", "sensor"), ("relay", "switch")]).payload)
        let c = Dictionary(uniqueKeysWithValues: try Self.components(j).map { ($0.id, $0.config) })
        #expect(c["old_probe"]?.text == #"{"p":"sensor"}"#)
        #expect(c["relay"]?["command_topic"] != nil)   // still there: not removed
    }

    @Test func aComponentsOwnEntityIsDeclaredBesideItsField() throws {
        @KernelActor final class Probe: Component {
            func attach(to device: Device) throws {}
            func sample(into s: inout Snapshot) async { s.add("probe_c", number: 21.5, digits: 2) }
            func discover(into a: inout HomeAssistantDiscovery.Announcement) {
                a.addSnapshotSensor("probe", name: "Probe", field: "probe_c", deviceClass: "temperature", unit: "°C", precision: 1)
                a.addProblemSensor("probe")
                a.addSnapshotSensor("relay", name: "again", field: "x")   // taken by GPIOLines: the first stands
            }
        }
        let a = try kernelTest { () async throws -> HomeAssistantDiscovery.Announcement in
            let board = try SimHardware(try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json"), seed: 1)
            defer { board.close() }
            let fw = Device(board: board, config: FirmwareConfig(deviceID: "d"), outbox: try Outbox(path: ":memory:", offloaded: false), network: nil,
                            firmware: .stock.adding { Probe() })
            try await fw.attach()
            return HomeAssistantAnnouncer.announcement(of: fw, HomeAssistantDiscovery())
        }
        let probe = try #require(a.entities.first { $0.objectID == "probe" })
        #expect(probe.config["unit_of_measurement"]?.string == "°C" && probe.config["value_template"]?.string == "{{ value_json.probe_c | default(None) }}")
        #expect(a.entities.contains { $0.objectID == "probe_problem" } && a.duplicates == ["relay"])
    }

    @Test func setTopicsNameOneRole() {
        let t = Topics(device: "d")
        #expect(t.role(ofSet: "firmloop/d/relay/set") == "relay")
        #expect(t.role(ofSet: "firmloop/d/a/b/set") == nil && t.role(ofSet: "firmloop/e/relay/set") == nil && t.role(ofSet: "firmloop/d//set") == nil)
        #expect(t.setFilter == "firmloop/d/+/set" && t.state("relay") == "firmloop/d/relay/state" && t.faults == "firmloop/d/faults")
    }

    // MARK: the announcer, against the simulated world's broker

    /// Runs the stock firmware with discovery in `mode` for `seconds`, the broker holding
    /// `retained` before it connects; what it published under `homeassistant/`, in order, and
    /// what the broker retains there at the end.
    static func announce(_ mode: HomeAssistantDiscovery.Mode, retained: [(String, String)], seconds: Int = 5)
        throws -> (published: [(topic: String, payload: String)], retained: [String: String]) {
        let board = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        let sim = Simulation(board: board, seed: 1, durationNanoseconds: Int64(seconds) * 1_000_000_000)
        let seen = Locked([(topic: String, payload: String)]())
        let kept = Locked([String: String]())
        _ = try withKernelTurn {
            try sim.run { world in
                for (t, p) in retained { world.broker.inject(Publish(topic: t, payload: Array(p.utf8), qos: 1, retain: true)) }
                world.broker.onPublish.append { m in
                    guard m.publish.topic.hasPrefix("homeassistant/"), m.client != "(scenario)" else { return }
                    let text = String(decoding: m.publish.payload, as: UTF8.self)
                    seen.set(seen.get() + [(m.publish.topic, text)])
                    var k = kept.get()
                    k[m.publish.topic] = m.publish.retain && !text.isEmpty ? text : nil
                    kept.set(k)
                }
                var config = FirmwareConfig(deviceID: "pi-7")
                config.broker = BrokerAddress(host: "127.0.0.1")
                config.homeAssistant = HomeAssistantDiscovery(mode: mode)
                config.taskTimes = false
                let fw = Device(board: world.board, config: config, outbox: try Outbox(path: ":memory:", offloaded: false), network: world.board.network)
                try await fw.run()
            }
        }
        var k = kept.get()
        for (t, p) in retained where !seen.get().contains(where: { $0.topic == t }) { k[t] = p }
        return (seen.get(), k)
    }

    static let device = "homeassistant/device/pi-7/config"
    static let marker = #"{"migrate_discovery":true}"#

    @Test func movingToTheDeviceFormFollowsHomeAssistantsMigration() throws {
        let old = Self.announcement(HomeAssistantDiscovery(mode: .entity)).entityMessages
        let gone = "homeassistant/sensor/pi-7/old_probe/config"   // an entity the board no longer has
        let r = try Self.announce(.device, retained: old.map { ($0.topic, $0.payload) } + [(gone, #"{"name":"old"}"#)])
        let topics = r.published.map(\.topic)
        // Each old config: the marker, then (after all the markers) the device message, then emptied.
        for m in old {
            let marker = try #require(r.published.firstIndex { $0.topic == m.topic && $0.payload == Self.marker }, "\(m.topic)")
            let emptied = try #require(r.published.lastIndex { $0.topic == m.topic && $0.payload.isEmpty })
            let deviceAfter = try #require(topics[marker...].firstIndex(of: Self.device))
            #expect(deviceAfter < emptied)
        }
        // The gone one is emptied, never migrated (it has no entity to move to).
        #expect(r.published.contains { $0.topic == gone && $0.payload.isEmpty } && !r.published.contains { $0.topic == gone && $0.payload == Self.marker })
        #expect(Set(r.retained.keys) == [Self.device])
    }

    @Test func movingBackToTheEntityFormFollowsTheRollback() throws {
        let old = Self.announcement().deviceMessage()
        let r = try Self.announce(.entity, retained: [(old.topic, old.payload)])
        let marker = try #require(r.published.firstIndex { $0.topic == Self.device && $0.payload == Self.marker })
        let emptied = try #require(r.published.lastIndex { $0.topic == Self.device && $0.payload.isEmpty })
        #expect(r.published[marker..<emptied].contains { $0.topic == "homeassistant/switch/pi-7/relay/config" })
        // Every entity of the stock firmware with a broker: the 21 above and the MQTT reconnects.
        #expect(r.retained[Self.device] == nil && r.retained.count == 22 && r.retained["homeassistant/sensor/pi-7/mqtt_reconnects/config"] != nil)
    }

    @Test func anEntityTheBoardNoLongerHasIsRemoved() throws {
        // Last time the device had a probe; its retained message says so.
        var j = try Self.deviceMessage()
        guard case .object(var members) = j.value, let i = members.firstIndex(where: { $0.key == "cmps" }),
              case .object(var cmps) = members[i].value.value else { Issue.record("no cmps"); return }
        cmps.append(("old_probe", JSON(.object([("p", JSON(.string("sensor"))), ("name", JSON(.string("old")))]))))
        members[i].value = JSON(.object(cmps))
        j = JSON(.object(members))
        let r = try Self.announce(.device, retained: [(Self.device, j.text)])
        let last = try JSON.parse(try #require(r.retained[Self.device]))
        #expect(last["cmps"]?["old_probe"]?.text == #"{"p":"sensor"}"#)
        #expect(last["cmps"]?["relay"]?["p"]?.string == "switch")

        // The entity form: a config of an entity the board no longer has is emptied.
        let e = try Self.announce(.entity, retained: [("homeassistant/sensor/pi-7/old_probe/config", #"{"name":"old"}"#)])
        #expect(e.retained["homeassistant/sensor/pi-7/old_probe/config"] == nil && e.retained["homeassistant/switch/pi-7/relay/config"] != nil)
    }
}
