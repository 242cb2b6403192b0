import Board
import Kernel
import MQTT

/// Home Assistant MQTT discovery (`FirmwareConfig.homeAssistant`; off by default): every
/// entity's retained config after each connect and when Home Assistant comes online; a config
/// this device published once for an entity its board no longer has is removed.
@KernelActor
public final class HomeAssistantAnnouncer: Component {
    private unowned var device: Device!
    /// The config topics announced on this connection.
    private var announced = Set<String>()

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

    public func online() {
        let c = device.config
        guard let ha = c.homeAssistant, device.client?.state == .online else { return }
        let entities = ha.entities(device: c.deviceID, board: device.board.description, statusRole: c.statusRole,
                                   gpsRole: c.gpsRole, softwareVersion: c.softwareVersion)
        announced = Set(entities.map(\.topic))
        for e in entities { device.publishDirect(e.topic, e.payload, retain: true) }
    }
}
