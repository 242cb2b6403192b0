import Board

/// Home Assistant's MQTT discovery for one device (home-assistant.io/integrations/mqtt,
/// "MQTT Discovery"), in one of two forms (`Mode`):
///
/// - **device** (the default; Home Assistant 2024.11 and later): one retained message at
///   `<prefix>/device/<node_id>/config` holding the device block (`dev`), the origin (`o`), the
///   availability every entity shares, and every entity under `cmps`, each with its platform
///   (`p`) and `unique_id`. An entity the device no longer has stays in `cmps` as `{"p": …}`
///   alone, which is how Home Assistant is told to remove it (`Announcement.deviceMessage`).
/// - **entity** (for older Home Assistant): one retained message per entity at
///   `<prefix>/<platform>/<node_id>/<object_id>/config`, each with the device block and the
///   availability; a config of an entity the device no longer has is emptied.
///
/// Every entity carries `default_entity_id` (`switch.pi_7_relay`, from the device's and the
/// entity's names: Home Assistant 2025.10 and later take the entity id of a new install from
/// it, earlier releases make the same one from the names). The entity form also carries the
/// deprecated `object_id`, which the releases it is kept for (before 2024.11) need and the ones
/// that deprecated it never see; the device form does not (2026.4 ignores it, 2025.10 to 2026.3
/// warn about it, and 2024.11 to 2025.9 name the entity from the device and entity names,
/// which gives the same id).
///
/// Each component declares its own entities (`Component.discover(into:)`); the stock ones:
///
/// - each output (but the status LED, which is the firmware's own): a `switch` on
///   `firmloop/<id>/<role>/state` (ON/OFF, retained), commanded on `…/<role>/set`; each PWM
///   output a `number` (its duty); each input a `binary_sensor` (`GPIOLines`);
/// - the CPU temperature (`CPUTemperature`), each value role (`ValueSensors`) and each field
///   of an I2C driver (`BME280`, `ADS1115`): a `sensor` from the snapshot, with its unit and
///   device and state classes;
/// - the GPS: a `device_tracker` on `firmloop/<id>/gps` (`GPSReader`);
/// - for each part that can fault (the GPS UART, a sensor's role, the outbox): a
///   `binary_sensor` of device class `problem`, on while the fault lasts, the fault's text and
///   since when as its attributes, from the retained `firmloop/<id>/faults`;
/// - diagnostics: uptime and the last error (`HomeAssistantAnnouncer`), the outbox backlog and
///   last seq (`Snapshots`), the MQTT reconnects (`MQTTLink`).
///
/// `HomeAssistantAnnouncer` publishes them (on every connect, and when Home Assistant says
/// `online` on `<prefix>/status`), and moves a device between the two forms the way Home
/// Assistant documents it.
public struct HomeAssistantDiscovery: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case device, entity
    }

    public var prefix: String
    public var mode: Mode
    /// The origin's `url` (where users of this firmware get support), when set.
    public var supportURL: String?
    public static let defaultPrefix = "homeassistant"

    public init(prefix: String = defaultPrefix, mode: Mode = .device, supportURL: String? = nil) {
        self.prefix = prefix
        self.mode = mode
        self.supportURL = supportURL
    }

    /// What is wrong with `prefix` as discovery's first topic level(s), or nil.
    public static func problem(prefix: String) -> String? {
        prefix.isEmpty || prefix.contains("+") || prefix.contains("#") ? "expected a topic prefix such as \"homeassistant\"" : nil
    }

    /// What is wrong with `url` as the origin's support URL, or nil.
    public static func problem(supportURL url: String) -> String? {
        (url.hasPrefix("https://") || url.hasPrefix("http://")) && url.count > 8 && !url.contains(" ")
            ? nil : "expected an http:// or https:// URL, got '\(url)'"
    }

    /// Home Assistant's own status topic: `online` when it (re)starts, so we announce again.
    public var statusTopic: String { "\(prefix)/status" }

    /// The device form's one topic.
    public func deviceTopic(device: String) -> String { "\(prefix)/device/\(Self.sanitize(device))/config" }

    /// The entity form's topic of one entity.
    public func entityTopic(platform: String, device: String, object: String) -> String {
        "\(prefix)/\(platform)/\(Self.sanitize(device))/\(Self.sanitize(object))/config"
    }

    /// Every entity-form config topic of this device's node, as a subscription filter: retained
    /// configs the device no longer has, or has in the other form, are found through it.
    public func configFilter(device: String) -> String { "\(prefix)/+/\(Self.sanitize(device))/+/config" }

    /// Ids as discovery wants them: `[a-zA-Z0-9_-]`, anything else becomes `_`.
    public static func sanitize(_ s: String) -> String {
        String(s.unicodeScalars.map { c -> Character in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_" || c == "-" ? Character(c) : "_"
        })
    }

    /// An entity id's object part as Home Assistant writes one: lower case `[a-z0-9_]`, one `_`
    /// for every run of anything else, none at the ends.
    public static func slug(_ s: String) -> String {
        var out = "", gap = false
        for c in s.lowercased().unicodeScalars {
            if (c >= "a" && c <= "z") || (c >= "0" && c <= "9") {
                if gap && !out.isEmpty { out += "_" }
                out.unicodeScalars.append(c)
                gap = false
            } else {
                gap = true
            }
        }
        return out
    }

    /// The value template of a snapshot field (`a.b`): `{{ (value_json.a | default({})).b |
    /// default(None) }}`. A snapshot without the field (one stored by an older firmware and
    /// sent after an update, or after its role was taken out of the board file and before Home
    /// Assistant removed the entity) renders `None`, which Home Assistant reads as unknown,
    /// instead of a template warning in its log.
    public static func template(field: String) -> String {
        let parts = field.split(separator: ".").map(String.init)
        var t = "value_json"
        for p in parts.dropLast() { t = "(\(t).\(p) | default({}))" }
        return "{{ \(t).\(parts.last ?? field) | default(None) }}"
    }

    /// One entity as a component declares it: its platform, its id within the device and its
    /// own keys (name, topics, classes); the shared keys are added by the form it is sent in.
    public struct Entity: Sendable, Equatable {
        public var platform: String
        /// Sanitized: the device form's key under `cmps`, the entity form's `<object_id>` level.
        public var objectID: String
        /// The entity's own keys, a JSON object.
        public var config: JSON
    }

    /// A retained message to publish: a config, or an empty payload that removes one.
    public struct Message: Sendable, Equatable {
        public var topic: String
        public var payload: String
    }

    /// The entities of one device, as its components declare them (`Component.discover(into:)`),
    /// and the messages of either form.
    public struct Announcement: Sendable {
        public let discovery: HomeAssistantDiscovery
        /// The device's topics (a state topic, the snapshot topic for a value template).
        public let topics: Topics
        public let device: String
        public let model: String
        public let softwareVersion: String
        /// How long a value from the snapshot stays fresh (`expire_after`): three snapshot
        /// intervals, at least a minute.
        public let freshSeconds: Int
        public private(set) var entities: [Entity] = []
        /// Ids declared more than once (by two components): the first one stands.
        public private(set) var duplicates: [String] = []

        public init(_ discovery: HomeAssistantDiscovery, device: String, model: String, softwareVersion: String,
                    snapshotIntervalMilliseconds: Int = 5000) {
            self.discovery = discovery
            self.device = device
            self.model = model
            self.softwareVersion = softwareVersion
            freshSeconds = max(60, (3 * snapshotIntervalMilliseconds + 999) / 1000)
            topics = Topics(device: device)
        }

        var node: String { HomeAssistantDiscovery.sanitize(device) }

        /// Adds the entity `object` of Home Assistant platform `platform` (`switch`, `sensor`,
        /// ...): `fill` writes its own keys (name, state topic, classes).
        public mutating func add(_ platform: String, _ object: String, _ fill: (inout JSONWriter) -> Void) {
            let objectID = HomeAssistantDiscovery.sanitize(object)
            var w = JSONWriter(capacity: 512)
            w.object { w in fill(&w) }
            guard !entities.contains(where: { $0.objectID == objectID }) else { return duplicates.append(objectID) }
            // Our own writer's output: it parses.
            entities.append(Entity(platform: platform, objectID: objectID, config: try! JSON.parse(w.text)))
        }

        /// A `sensor` whose value is a field of every snapshot (`field`: its path, such as
        /// `cpu_temp_c` or `outbox.pending`; a null or missing field is "unknown"), with its
        /// classes; `category` "diagnostic" for the device's own figures. `expires`: the value
        /// goes unknown when no snapshot came for `freshSeconds`.
        public mutating func addSnapshotSensor(_ object: String, name: String, field: String, deviceClass: String? = nil, unit: String? = nil,
                                               category: String? = nil, stateClass: String? = "measurement", precision: Int? = nil,
                                               expires: Bool = true) {
            addSnapshotSensor(object, name: name, template: HomeAssistantDiscovery.template(field: field), deviceClass: deviceClass, unit: unit,
                              category: category, stateClass: stateClass, precision: precision, expires: expires)
        }

        /// A `sensor` from the snapshot through a Home Assistant template of `value_json`.
        public mutating func addSnapshotSensor(_ object: String, name: String, template: String, deviceClass: String? = nil,
                                               unit: String? = nil, category: String? = nil, stateClass: String? = "measurement",
                                               precision: Int? = nil, expires: Bool = true) {
            let (topics, fresh) = (self.topics, freshSeconds)
            add("sensor", object) { w in
                w.key("name"); w.string(name)
                w.key("state_topic"); w.string(topics.snapshot)
                w.key("value_template"); w.string(template)
                if let deviceClass { w.key("device_class"); w.string(deviceClass) }
                if let unit { w.key("unit_of_measurement"); w.string(unit) }
                if let category { w.key("entity_category"); w.string(category) }
                if let stateClass { w.key("state_class"); w.string(stateClass) }
                if let precision { w.key("suggested_display_precision"); w.int(precision) }
                if expires { w.key("expire_after"); w.int(fresh) }
            }
        }

        /// A `binary_sensor` of device class `problem` for `part` (a role, or "outbox"): on while
        /// the device has a fault of that part, with the fault's `error` and `since` as
        /// attributes (from the retained `…/faults`, `Device.faultsPayload`).
        public mutating func addProblemSensor(_ part: String, name: String? = nil) {
            let topics = self.topics
            // Jinja: the part as a string literal (part names are ids: no quotes in them).
            let key = "'" + part.filter { $0 != "'" && $0 != "\\" } + "'"
            add("binary_sensor", part + "_problem") { w in
                w.key("name"); w.string(name ?? "\(part) problem")
                w.key("device_class"); w.string("problem")
                w.key("entity_category"); w.string("diagnostic")
                w.key("state_topic"); w.string(topics.faults)
                w.key("value_template"); w.string("{{ 'ON' if \(key) in value_json.active else 'OFF' }}")
                w.key("json_attributes_topic"); w.string(topics.faults)
                w.key("json_attributes_template")
                w.string("{{ (value_json.active[\(key)] if \(key) in value_json.active else {'error': none, 'since': none}) | tojson }}")
                w.key("payload_on"); w.string("ON")
                w.key("payload_off"); w.string("OFF")
            }
        }

        public func uniqueID(_ e: Entity) -> String { "firmloop_\(node)_\(e.objectID)" }

        /// `switch.pi_7_relay`: the entity id Home Assistant 2025.10+ gives a new install; from
        /// the device's and the entity's names (the id when it has none), as earlier releases
        /// make it, so an entity has the same id on every release.
        public func defaultEntityID(_ e: Entity) -> String {
            "\(e.platform).\(objectIDSlug(e))"
        }

        private func objectIDSlug(_ e: Entity) -> String {
            HomeAssistantDiscovery.slug(device + "_" + (e.config["name"]?.string ?? e.objectID))
        }

        /// The messages of the configured form: one, or one per entity.
        public var messages: [Message] {
            switch discovery.mode {
            case .device: [deviceMessage()]
            case .entity: entityMessages
            }
        }

        /// The device form's message. `removed`: entities this device announced before and has
        /// no more (id → platform), each sent as `{"p": platform}` alone so that Home Assistant
        /// removes it.
        public func deviceMessage(removed: [(id: String, platform: String)] = []) -> Message {
            var w = JSONWriter(capacity: 1024 * entities.count + 512)
            w.object { w in
                w.key("dev"); writeDevice(&w, abbreviated: true)
                w.key("o"); w.object { w in
                    w.key("name"); w.string("Firmloop")
                    w.key("sw"); w.string(softwareVersion)
                    if let url = discovery.supportURL { w.key("url"); w.string(url) }
                }
                writeAvailability(&w)
                w.key("cmps"); w.object { w in
                    for e in entities {
                        w.key(e.objectID); w.object { w in
                            w.key("p"); w.string(e.platform)
                            writeOwn(e, &w)
                        }
                    }
                    for r in removed where !entities.contains(where: { $0.objectID == r.id }) {
                        w.key(r.id); w.object { w in w.key("p"); w.string(r.platform) }
                    }
                }
            }
            return Message(topic: discovery.deviceTopic(device: device), payload: w.text)
        }

        /// The entity form's messages, one per entity.
        public var entityMessages: [Message] {
            entities.map { e in
                var w = JSONWriter(capacity: 1024)
                w.object { w in
                    writeOwn(e, &w)
                    w.key("object_id"); w.string(objectIDSlug(e))
                    writeAvailability(&w)
                    w.key("device"); writeDevice(&w, abbreviated: false)
                    w.key("origin"); w.object { w in
                        w.key("name"); w.string("Firmloop")
                        w.key("sw_version"); w.string(softwareVersion)
                        if let url = discovery.supportURL { w.key("support_url"); w.string(url) }
                    }
                }
                return Message(topic: discovery.entityTopic(platform: e.platform, device: device, object: e.objectID), payload: w.text)
            }
        }

        /// The entity's own keys, its unique id and its default entity id.
        private func writeOwn(_ e: Entity, _ w: inout JSONWriter) {
            for m in e.config.members ?? [] {
                w.key(m.key)
                m.value.write(to: &w)
            }
            w.key("unique_id"); w.string(uniqueID(e))
            w.key("default_entity_id"); w.string(defaultEntityID(e))
        }

        private func writeAvailability(_ w: inout JSONWriter) {
            w.key("availability_topic"); w.string(topics.status)
            w.key("payload_available"); w.string("online")
            w.key("payload_not_available"); w.string("offline")
        }

        private func writeDevice(_ w: inout JSONWriter, abbreviated a: Bool) {
            w.object { w in
                w.key(a ? "ids" : "identifiers"); w.array { w in w.string("firmloop_\(node)") }
                w.key("name"); w.string(device)
                w.key(a ? "mf" : "manufacturer"); w.string("Firmloop")
                w.key(a ? "mdl" : "model"); w.string(model)
                w.key(a ? "sw" : "sw_version"); w.string(softwareVersion)
            }
        }
    }
}
