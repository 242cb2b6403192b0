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

    public func sample(into s: inout Snapshot) async {
        guard let client = device.client else { return }
        s.mqtt = Snapshot.MQTT(connects: client.stats.connects, failures: client.stats.connectFailures + client.stats.disconnects,
                               protocolErrors: client.stats.protocolErrors, oversized: client.stats.oversized,
                               acksDropped: client.stats.dropped, lastError: client.lastError)
    }
}
