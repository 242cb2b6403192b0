import Board
import Kernel

/// The value roles no other component of the firmware reads (a DS18B20 on 1-Wire, a hwmon or
/// IIO input; `Composition.make` puts this component last, so a component of yours that opens
/// a value role keeps it). Each is read every `interval` of its role (default 10 s) on a
/// `SensorPoll` of its own, so a slow 1-Wire read delays no other, and is:
///
/// - in every snapshot as `"<role>": 21.437` (null before the first reading and while it fails);
/// - a fault of its role while a read fails (the error's text), retried with a backoff;
/// - in the status line as `<role> 21.4 °C`;
/// - a Home Assistant `sensor` with the role's `unit`, `device_class`, `state_class` and
///   `precision`, and a `problem` binary sensor.
@KernelActor
public final class ValueSensors: Component {
    private unowned var device: Device!
    private var sensors: [(spec: ValueSpec, input: any ValueInput, poll: SensorPoll<Double>)] = []

    public init() {}

    /// The roles read, in the board file's order.
    public var roles: [String] { sensors.map(\.poll.role) }
    /// The role's last good reading (nil before the first and while it fails).
    public func reading(_ role: String) -> Double? { sensors.first { $0.poll.role == role }?.poll.reading }

    public func attach(to device: Device) throws {
        self.device = device
        for r in device.board.description.roles(of: .value) where !device.board.isTaken(r.name) {
            let spec = r.value ?? ValueSpec(path: "")
            sensors.append((spec, try device.board.value(r.name), SensorPoll(role: r.name, interval: spec.intervalNanoseconds)))
        }
    }

    public func start(in group: TaskGroupScope) {
        for s in sensors {
            group.spawn("value") {
                try await s.poll.run(on: self.device, setUp: {}, measure: { try await s.input.read() })
            }
        }
    }

    public func sample(into snapshot: inout Snapshot) async {
        for s in sensors { snapshot.add(s.poll.role, number: s.poll.reading, digits: 4) }
    }

    public func status(into line: inout StatusLine) {
        for s in sensors {
            guard let v = s.poll.reading else { continue }
            var p = 1.0
            for _ in 0..<(s.spec.precision ?? 1) { p *= 10 }
            line.add("\(s.poll.role) \((v * p).rounded() / p)" + (s.spec.unit.map { " " + $0 } ?? ""))
        }
    }

    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        for s in sensors {
            let role = s.poll.role
            a.addSnapshotSensor(role, name: role, field: role, deviceClass: s.spec.deviceClass, unit: s.spec.unit,
                                stateClass: s.spec.stateClass, precision: s.spec.precision)
            a.addProblemSensor(role)
        }
    }
}
