import Board

/// Home Assistant's MQTT discovery for one device (home-assistant.io/integrations/mqtt,
/// "MQTT Discovery"): one retained config message per entity under
/// `<prefix>/<component>/<node_id>/<object_id>/config`, all sharing one `device` block and
/// the device's availability topic (`firmloop/<id>/status`: online/offline).
///
/// - each output (but the status LED, which is the firmware's own): a `switch` on
///   `firmloop/<id>/<role>/state` (ON/OFF, retained), commanded on `…/<role>/set`;
/// - each input: a `binary_sensor` on its state topic;
/// - the CPU temperature: a `sensor` (device class temperature, °C) from the snapshot;
/// - the GPS: a `device_tracker` whose JSON attributes (`latitude`, `longitude`,
///   `gps_accuracy`, `altitude`) are on `firmloop/<id>/gps`;
/// - the outbox backlog and the last seq: diagnostic sensors from the snapshot.
///
/// Pure: the firmware publishes what this returns (on every connect, and when Home Assistant
/// says `online` on `<prefix>/status`).
public struct HomeAssistantDiscovery: Sendable, Equatable {
    public var prefix: String
    public static let defaultPrefix = "homeassistant"

    public init(prefix: String = defaultPrefix) { self.prefix = prefix }

    /// What is wrong with `prefix` as discovery's first topic level(s), or nil.
    public static func problem(prefix: String) -> String? {
        prefix.isEmpty || prefix.contains("+") || prefix.contains("#") ? "expected a topic prefix such as \"homeassistant\"" : nil
    }

    public struct Entity: Sendable, Equatable {
        public var component: String
        public var objectID: String
        public var topic: String
        public var payload: String
    }

    /// Home Assistant's own status topic: `online` when it (re)starts, so we announce again.
    public var statusTopic: String { "\(prefix)/status" }

    /// Every config topic of this device's node, as a subscription filter: retained configs the
    /// board no longer has are found through it (and emptied, so Home Assistant removes them).
    public func configFilter(device: String) -> String { "\(prefix)/+/\(Self.sanitize(device))/+/config" }

    /// Ids as discovery wants them: `[a-zA-Z0-9_-]`, anything else becomes `_`.
    public static func sanitize(_ s: String) -> String {
        String(s.unicodeScalars.map { c -> Character in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || c == "-" ? Character(c) : "_"
        })
    }

    /// The entities of `board` for device `device` (the firmware's topics), in a stable order.
    public func entities(device: String, board: BoardDescription, statusRole: String, gpsRole: String,
                         softwareVersion: String) -> [Entity] {
        let node = Self.sanitize(device)
        let topics = Topics(device: device)
        var out: [Entity] = []
        func add(_ component: String, _ object: String, _ fill: (inout JSONWriter) -> Void) {
            let objectID = Self.sanitize(object)
            var w = JSONWriter(capacity: 512)
            w.object { w in
                fill(&w)
                w.key("unique_id"); w.string("firmloop_\(node)_\(objectID)")
                w.key("object_id"); w.string("\(node)_\(objectID)")
                w.key("availability_topic"); w.string(topics.status)
                w.key("payload_available"); w.string("online")
                w.key("payload_not_available"); w.string("offline")
                w.key("device")
                w.object { w in
                    w.key("identifiers"); w.array { w in w.string("firmloop_\(node)") }
                    w.key("name"); w.string(device)
                    w.key("manufacturer"); w.string("Firmloop")
                    w.key("model"); w.string(board.board)
                    w.key("sw_version"); w.string(softwareVersion)
                }
            }
            out.append(Entity(component: component, objectID: objectID, topic: "\(prefix)/\(component)/\(node)/\(objectID)/config", payload: w.text))
        }
        for r in board.roles(of: .output) where r.name != statusRole {
            add("switch", r.name) { w in
                w.key("name"); w.string(r.name)
                w.key("state_topic"); w.string(topics.state(r.name))
                w.key("command_topic"); w.string(topics.set(r.name))
                w.key("payload_on"); w.string("ON")
                w.key("payload_off"); w.string("OFF")
                w.key("state_on"); w.string("ON")
                w.key("state_off"); w.string("OFF")
                w.key("qos"); w.int(1)
            }
        }
        for r in board.roles(of: .input) {
            add("binary_sensor", r.name) { w in
                w.key("name"); w.string(r.name)
                w.key("state_topic"); w.string(topics.state(r.name))
                w.key("payload_on"); w.string("ON")
                w.key("payload_off"); w.string("OFF")
            }
        }
        add("sensor", "cpu_temperature") { w in
            w.key("name"); w.string("CPU temperature")
            w.key("state_topic"); w.string(topics.snapshot)
            w.key("value_template"); w.string("{{ value_json.cpu_temp_c }}")
            w.key("device_class"); w.string("temperature")
            w.key("unit_of_measurement"); w.string("°C")
            w.key("state_class"); w.string("measurement")
        }
        if board.role(gpsRole)?.kind == .serial {
            add("device_tracker", gpsRole) { w in
                w.key("name"); w.string("GPS")
                w.key("json_attributes_topic"); w.string(topics.gps)
                w.key("source_type"); w.string("gps")
            }
        }
        add("sensor", "outbox_backlog") { w in
            w.key("name"); w.string("Outbox backlog")
            w.key("state_topic"); w.string(topics.snapshot)
            w.key("value_template"); w.string("{{ value_json.outbox.pending }}")
            w.key("entity_category"); w.string("diagnostic")
            w.key("state_class"); w.string("measurement")
        }
        add("sensor", "last_seq") { w in
            w.key("name"); w.string("Last snapshot")
            w.key("state_topic"); w.string(topics.snapshot)
            w.key("value_template"); w.string("{{ value_json.seq }}")
            w.key("entity_category"); w.string("diagnostic")
        }
        return out
    }
}
