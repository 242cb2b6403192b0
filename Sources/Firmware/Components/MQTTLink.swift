import Board
import Kernel

/// The MQTT client's task (`Device.client`: will and retained `online`/`offline` on
/// `…/status`, subscriptions from every component), and the link as the device saw it in
/// every snapshot, so a broker's misbehaviour shows remotely.
@KernelActor
public final class MQTTLink: Component {
    private unowned var device: Device!

    public init() {}

    public func attach(to device: Device) throws { self.device = device }

    public func start(in group: TaskGroupScope) {
        if let client = device.client, let network = device.network {
            group.spawn("mqtt") { try await client.run(network: network) }
        }
    }

    /// How often the link had to be made again since the start, a diagnostic sensor.
    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        guard device.client != nil else { return }
        a.addSnapshotSensor("mqtt_reconnects", name: "MQTT reconnects", template: "{{ [value_json.mqtt.connects - 1, 0] | max }}",
                            category: "diagnostic", stateClass: "total_increasing")
    }

    /// `"mqtt"`: connects, failures (refused or dropped), protocol errors, oversized packets,
    /// dropped droppable messages, the last error (no field without a broker).
    public func sample(into s: inout Snapshot) async {
        guard let client = device.client else { return }
        let (stats, lastError) = (client.stats, client.lastError)
        s.add("mqtt") { w in
            w.object { w in
                w.key("connects"); w.int(stats.connects)
                w.key("failures"); w.int(stats.connectFailures + stats.disconnects)
                w.key("protocol_errors"); w.int(stats.protocolErrors)
                w.key("oversized"); w.int(stats.oversized)
                w.key("acks_dropped"); w.int(stats.dropped)
                w.key("last_error"); if let lastError { w.string(lastError) } else { w.null() }
            }
        }
    }
}
