import Board

/// Home Assistant's MQTT discovery for one device (home-assistant.io/integrations/mqtt,
/// "MQTT Discovery"): one retained config message per entity under
/// `<prefix>/<component>/<node_id>/<object_id>/config`, all sharing one `device` block and
/// the device's availability topic (`firmloop/<id>/status`: online/offline).
///
/// Each component declares its own entities (`Component.discover(into:)`); the stock ones:
///
/// - each output (but the status LED, which is the firmware's own): a `switch` on
///   `firmloop/<id>/<role>/state` (ON/OFF, retained), commanded on `…/<role>/set` (`GPIOLines`);
/// - each input: a `binary_sensor` on its state topic (`GPIOLines`);
/// - the CPU temperature: a `sensor` (device class temperature, °C) from the snapshot
///   (`CPUTemperature`);
/// - the GPS: a `device_tracker` whose JSON attributes (`latitude`, `longitude`,
///   `gps_accuracy`, `altitude`) are on `firmloop/<id>/gps` (`GPSReader`);
/// - the outbox backlog and the last seq: diagnostic sensors from the snapshot (`Snapshots`).
///
/// `HomeAssistantAnnouncer` publishes them (on every connect, and when Home Assistant says
/// `online` on `<prefix>/status`).
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

    /// The entities of one device, as its components declare them
    /// (`Component.discover(into:)`): each gets the shared part (unique and object ids, the
    /// availability topic, the device block) and its config topic.
    public struct Announcement: Sendable {
        public let discovery: HomeAssistantDiscovery
        /// The device's topics (a state topic, the snapshot topic for a value template).
        public let topics: Topics
        public let device: String
        public let model: String
        public let softwareVersion: String
        public private(set) var entities: [Entity] = []
        /// Config topics declared more than once (by two components): the first one stands.
        public private(set) var duplicates: [String] = []

        public init(_ discovery: HomeAssistantDiscovery, device: String, model: String, softwareVersion: String) {
            self.discovery = discovery
            self.device = device
            self.model = model
            self.softwareVersion = softwareVersion
            topics = Topics(device: device)
        }

        /// Adds the entity `object` of Home Assistant platform `platform` (`switch`, `sensor`,
        /// ...): `fill` writes its own keys (name, state topic, classes).
        public mutating func add(_ platform: String, _ object: String, _ fill: (inout JSONWriter) -> Void) {
            let node = HomeAssistantDiscovery.sanitize(device)
            let objectID = HomeAssistantDiscovery.sanitize(object)
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
                    w.key("model"); w.string(model)
                    w.key("sw_version"); w.string(softwareVersion)
                }
            }
            let topic = "\(discovery.prefix)/\(platform)/\(node)/\(objectID)/config"
            guard !entities.contains(where: { $0.topic == topic }) else { return duplicates.append(topic) }
            entities.append(Entity(component: platform, objectID: objectID, topic: topic, payload: w.text))
        }

        /// A `sensor` whose value is a field of every snapshot (`field`: its path, such as
        /// `cpu_temp_c` or `outbox.pending`), with its classes; `category` "diagnostic" for the
        /// device's own figures.
        public mutating func addSnapshotSensor(_ object: String, name: String, field: String, deviceClass: String? = nil, unit: String? = nil,
                                               category: String? = nil, stateClass: String? = "measurement", precision: Int? = nil) {
            let topics = self.topics
            add("sensor", object) { w in
                w.key("name"); w.string(name)
                w.key("state_topic"); w.string(topics.snapshot)
                w.key("value_template"); w.string("{{ value_json.\(field) }}")
                if let deviceClass { w.key("device_class"); w.string(deviceClass) }
                if let unit { w.key("unit_of_measurement"); w.string(unit) }
                if let category { w.key("entity_category"); w.string(category) }
                if let stateClass { w.key("state_class"); w.string(stateClass) }
                if let precision { w.key("suggested_display_precision"); w.int(precision) }
            }
        }
    }
}
