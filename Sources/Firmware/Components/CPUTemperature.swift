import Board
import Kernel

/// The board's CPU temperature (`Hardware.cpuTemperature`: the thermal zone on Linux, the
/// simulated board's curve) in every snapshot as `cpu_temp_c` (°C, null where the board has
/// none), and as a Home Assistant temperature sensor.
@KernelActor
public final class CPUTemperature: Component {
    private unowned var device: Device!

    public init() {}

    public func attach(to device: Device) throws { self.device = device }

    public func sample(into s: inout Snapshot) async {
        s.add("cpu_temp_c", number: await device.board.cpuTemperature(), digits: 1)
    }

    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        a.addSnapshotSensor("cpu_temperature", name: "CPU temperature", field: "cpu_temp_c", deviceClass: "temperature", unit: "°C", precision: 1)
    }
}
