import Board
import Kernel
import MQTT

/// Home Assistant MQTT discovery (`FirmwareConfig.homeAssistant`; off by default): the
/// entities every component declares (`Component.discover(into:)`), each as a retained config
/// after each connect and when Home Assistant comes online; a config this device published once
/// for an entity it no longer has is removed.
@KernelActor
public final class HomeAssistantAnnouncer: Component {
    private unowned var device: Device!
    /// The config topics announced on this connection.
    private var announced = Set<String>()
    private var toldDuplicates = false

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        guard let ha = device.config.homeAssistant else { return }
        device.subscribe(ha.statusTopic) { [unowned self] p in
            if p.payload == Array("online".utf8) { self.online() }
        }
        device.subscribe(ha.configFilter(device: device.config.deviceID)) { [unowned self] p in
            if p.retain, !p.payload.isEmpty, !self.announced.contains(p.topic) {
                self.device.publishDirect(p.topic, "", retain: true)
            }
        }
    }

    /// Every component's entities for `device` (attached), in the firmware's order.
    public static func announcement(of device: Device, _ ha: HomeAssistantDiscovery) -> HomeAssistantDiscovery.Announcement {
        let c = device.config
        var a = HomeAssistantDiscovery.Announcement(ha, device: c.deviceID, model: device.board.description.board,
                                                    softwareVersion: c.softwareVersion)
        for component in device.components { component.discover(into: &a) }
        return a
    }

    public func online() {
        guard let ha = device.config.homeAssistant, device.client?.state == .online else { return }
        let a = Self.announcement(of: device, ha)
        if !a.duplicates.isEmpty && !toldDuplicates {
            toldDuplicates = true
            device.onLog(.warning, "home assistant: declared twice, the first kept: " + a.duplicates.joined(separator: ", "))
        }
        announced = Set(a.entities.map(\.topic))
        for e in a.entities { device.publishDirect(e.topic, e.payload, retain: true) }
    }
}
