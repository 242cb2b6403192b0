import Board
import Firmware
import Kernel

/// A temperature probe on a value role — on a Pi, a 1-Wire DS18B20's
/// `/sys/bus/w1/devices/28-*/temperature`; in simulation, the board file's `sim.values` — read
/// every `intervalMilliseconds` by a task of its own. Everything it knows is in this file:
///
/// - its field: the latest reading (plus the calibration offset) in every snapshot as
///   `"probe_c"`, and its counters there as `"probe": {"reads": N, "failures": N}`;
/// - its part of the status line: `probe 21.4 C` (or `probe -`), `firmloop run` prints it;
/// - its Home Assistant entities: a temperature sensor in °C, read from the snapshot, and a
///   problem sensor on while its fault lasts;
/// - its command: `{"probe_offset": -0.25}` sets the offset (°C, within ±10);
/// - its fault: a failed read is a fault of its role (in the snapshot's `faults` and on the
///   status LED) until a read succeeds again.
@KernelActor
public final class TemperatureProbe: Component {
    public let role: String
    public let intervalMilliseconds: Int
    private unowned var device: Device!
    private var sensor: (any ValueInput)?
    /// The last reading (without the offset), nil before the first.
    public private(set) var latest: Double?
    public private(set) var offset = 0.0
    /// Reads done, and those that failed.
    public private(set) var reads = 0
    public private(set) var failures = 0

    public init(role: String = "probe", intervalMilliseconds: Int = 5000) {
        self.role = role
        self.intervalMilliseconds = intervalMilliseconds
    }

    public func attach(to device: Device) throws {
        self.device = device
        // A board without the role runs the rest of the firmware (and says so once).
        guard device.board.description.role(role) != nil else {
            device.onLog(.warning, "\(role): not on this board; no probe readings")
            return
        }
        sensor = try device.board.value(role)
        device.commands.register("probe_offset") { [unowned self] value in
            guard let x = value.number, abs(x) <= 10 else {
                return .failure(CommandError("probe_offset: expected a number of °C within ±10, got \(value.text)"))
            }
            let action: CommandTable.Action = { run in
                self.offset = x
                run.done()
            }
            return .success(action)
        }
    }

    public func start(in group: TaskGroupScope) {
        guard let sensor else { return }
        group.spawn("probe") {
            while true {
                do {
                    self.reads += 1
                    self.latest = try await sensor.read()
                    self.device.setFault(self.role, nil)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    self.failures += 1
                    self.device.setFault(self.role, "\(error)")
                }
                try await sleep(ms: self.intervalMilliseconds)
            }
        }
    }

    /// The reading with the offset, nil before the first.
    public var celsius: Double? { latest.map { $0 + offset } }

    public func sample(into snapshot: inout Snapshot) async {
        guard sensor != nil else { return }
        snapshot.add("probe_c", number: celsius, digits: 3)
        let (reads, failures) = (self.reads, self.failures)
        snapshot.add("probe") { w in
            w.object { w in
                w.key("reads"); w.int(reads)
                w.key("failures"); w.int(failures)
            }
        }
    }

    public func status(into line: inout StatusLine) {
        guard sensor != nil else { return }
        line.add("probe " + (celsius.map { "\(($0 * 10).rounded() / 10) C" } ?? "-"))
    }

    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        guard sensor != nil else { return }
        a.addSnapshotSensor(role, name: "Probe temperature", field: "probe_c", deviceClass: "temperature", unit: "°C", precision: 1)
        a.addProblemSensor(role, name: "Probe problem")
    }
}
