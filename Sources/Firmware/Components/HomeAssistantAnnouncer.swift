import Board
import Kernel
import MQTT

/// Home Assistant MQTT discovery (`FirmwareConfig.homeAssistant`; off by default): the
/// entities every component declares (`Component.discover(into:)`), in the configured form
/// (`HomeAssistantDiscovery.Mode`), retained, after each connect and whenever Home Assistant
/// comes online; plus the device's own diagnostics (uptime, last error).
///
/// What this device published before is read back from the broker (its retained configs,
/// through subscriptions to this node's discovery topics), so nothing goes stale:
///
/// - an entity the device no longer has (a role removed from the board file) is removed: in
///   the device form it is sent as `{"p": platform}` alone under `cmps` (kept there, at most
///   `maxRemoved`, so a Home Assistant that was down at the time removes it later too); in the
///   entity form its config is emptied;
/// - configs in the other form (after `ha_discovery_mode` changed) are moved the way Home
///   Assistant documents it ("Migration from single component to device-based discovery", and
///   its rollback): `{"migrate_discovery": true}` on each old topic, then the new form, then
///   the old topics emptied, so every entity keeps its entity id, settings and history.
@KernelActor
public final class HomeAssistantAnnouncer: Component {
    private unowned var device: Device!
    /// The entity-form config topics announced on this connection.
    private var announced = Set<String>()
    /// Device form: entities announced before and not any more (from the retained device
    /// message), oldest first.
    private var removed: [(id: String, platform: String)] = []
    /// Retained configs in the other form, moved once they have all arrived (`settle`).
    private var toMove: [String] = []
    private let move = Event()
    private var toldDuplicates = false
    /// The components' entities: declared once every component is attached, the same for the
    /// whole run (`entities()`).
    private var declared: HomeAssistantDiscovery.Announcement?

    /// Removed entities remembered in the device message.
    public static let maxRemoved = 64
    /// Old-form configs moved at once (a node has one per entity).
    public static let maxToMove = 256
    /// How long after the first old-form config the move waits for the rest (they arrive
    /// together, right after the subscription).
    public static let settleMilliseconds = 500
    static let migrationMarker = #"{"migrate_discovery":true}"#

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        guard let ha = device.config.homeAssistant else { return }
        device.subscribe(ha.statusTopic) { [unowned self] p in
            if p.payload == Array("online".utf8) { self.online() }
        }
        device.subscribe(ha.configFilter(device: device.config.deviceID)) { [unowned self] p in self.found(p) }
        device.subscribe(ha.deviceTopic(device: device.config.deviceID)) { [unowned self] p in self.found(p) }
    }

    public func start(in group: TaskGroupScope) {
        guard device.config.homeAssistant != nil, device.client != nil else { return }
        group.spawn("ha-discovery") {
            while true {
                try await self.move.wait()
                try await sleep(ms: Self.settleMilliseconds, tolerance: Kernel.coarseTolerance)
                self.move.clear()
                self.moveForm()
            }
        }
    }

    /// The device's own diagnostics: how long it has run, and its last error (a fault's part
    /// and text, kept after the fault cleared; `Device.faultsPayload`).
    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        a.addSnapshotSensor("uptime", name: "Uptime", template: "{{ (value_json.uptime_ms / 1000) | round(0) | int }}",
                            deviceClass: "duration", unit: "s", category: "diagnostic", stateClass: "total_increasing")
        let faults = a.topics.faults
        a.add("sensor", "last_error") { w in
            w.key("name"); w.string("Last error")
            w.key("entity_category"); w.string("diagnostic")
            w.key("state_topic"); w.string(faults)
            w.key("value_template"); w.string("{{ (value_json.last.part ~ ': ' ~ value_json.last.error)[:255] if value_json.last else 'none' }}")
            w.key("json_attributes_topic"); w.string(faults)
            w.key("json_attributes_template"); w.string("{{ (value_json.last or {}) | tojson }}")
        }
    }

    /// Every component's entities for `device` (attached), in the firmware's order.
    public static func announcement(of device: Device, _ ha: HomeAssistantDiscovery) -> HomeAssistantDiscovery.Announcement {
        let c = device.config
        var a = HomeAssistantDiscovery.Announcement(ha, device: c.deviceID, model: device.board.description.board,
                                                    softwareVersion: c.softwareVersion,
                                                    snapshotIntervalMilliseconds: c.snapshotIntervalMilliseconds)
        for component in device.components { component.discover(into: &a) }
        return a
    }

    public func online() {
        guard device.config.homeAssistant != nil, device.client?.state == .online else { return }
        publish()
    }

    private func entities(_ ha: HomeAssistantDiscovery) -> HomeAssistantDiscovery.Announcement {
        if let declared { return declared }
        let a = Self.announcement(of: device, ha)
        declared = a
        return a
    }

    /// The announcement in the configured form.
    private func publish() {
        guard let ha = device.config.homeAssistant else { return }
        let a = entities(ha)
        if !a.duplicates.isEmpty && !toldDuplicates {
            toldDuplicates = true
            device.onLog(.warning, "home assistant: declared twice, the first kept: " + a.duplicates.joined(separator: ", "))
        }
        switch ha.mode {
        case .device:
            let m = a.deviceMessage(removed: removed)
            device.publishDirect(m.topic, m.payload, retain: true)
        case .entity:
            let messages = a.entityMessages
            announced = Set(messages.map(\.topic))
            for m in messages { device.publishDirect(m.topic, m.payload, retain: true) }
        }
    }

    /// A retained config of this node, as the broker had it when we subscribed.
    private func found(_ p: Publish) {
        guard p.retain, !p.payload.isEmpty, let ha = device.config.homeAssistant else { return }
        let payload = String(decoding: p.payload, as: UTF8.self)
        let isDeviceTopic = p.topic == ha.deviceTopic(device: device.config.deviceID)
        if payload.filter({ !$0.isWhitespace }) == Self.migrationMarker {
            // Left by a move that was cut short: the new form is being published.
            return device.publishDirect(p.topic, "", retain: true)
        }
        switch (ha.mode, isDeviceTopic) {
        case (.device, true):
            forgetGone(fromDeviceMessage: payload)
        case (.entity, false):
            if !announced.contains(p.topic) { device.publishDirect(p.topic, "", retain: true) }   // an entity it no longer has
        case (.device, false):
            // An entity-form config: moved when the device still has that entity, else emptied.
            let levels = p.topic.split(separator: "/", omittingEmptySubsequences: false)
            let (platform, object) = (String(levels[levels.count - 4]), String(levels[levels.count - 2]))
            if entities(ha).entities.contains(where: { $0.platform == platform && $0.objectID == object }) {
                queueMove(p.topic)
            } else {
                device.publishDirect(p.topic, "", retain: true)
            }
        case (.entity, true):
            queueMove(p.topic)
        }
    }

    private func queueMove(_ topic: String) {
        guard toMove.count < Self.maxToMove, !toMove.contains(topic) else { return }
        toMove.append(topic)
        move.set()
    }

    /// Home Assistant's documented move: markers, the new form, the old topics emptied.
    private func moveForm() {
        let topics = toMove
        toMove = []
        guard !topics.isEmpty, device.client?.state == .online, let ha = device.config.homeAssistant else { return }
        for t in topics { device.publishDirect(t, Self.migrationMarker, retain: true) }
        publish()
        for t in topics { device.publishDirect(t, "", retain: true) }
        device.onLog(.info, "home assistant: moved \(topics.count) discovery config(s) to the \(ha.mode.rawValue) form")
    }

    /// The retained device message (the one published last time): the entities it has that
    /// this firmware has not are sent for removal from now on.
    private func forgetGone(fromDeviceMessage payload: String) {
        guard let ha = device.config.homeAssistant, let j = try? JSON.parse(payload),
              let cmps = (j["cmps"] ?? j["components"])?.members else { return }
        let current = Set(entities(ha).entities.map(\.objectID))
        var changed = false
        for (id, c) in cmps where !current.contains(id) && !removed.contains(where: { $0.id == id }) {
            guard let platform = (c["p"] ?? c["platform"])?.string else { continue }
            removed.append((id, platform))
            changed = true
        }
        if removed.count > Self.maxRemoved { removed.removeFirst(removed.count - Self.maxRemoved) }
        if changed && device.client?.state == .online { publish() }
    }
}
