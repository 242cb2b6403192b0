import Board
import Kernel
import MQTT

/// A part of a firmware: the GPS reader, the snapshot task, the status LED, your sensor. The
/// `Device` running the firmware calls each component, in the firmware's order:
///
/// 1. `attach(to:)` once, before any task starts: open the roles it uses (an error stops the
///    start, naming the role), register the command keys it answers (`Device.commands`), the
///    topics it subscribes to (`Device.subscribe`);
/// 2. `start(in:)`: spawn its tasks in the firmware's task group (a task that fails stops the
///    firmware, as any task of a group does);
/// 3. `sample(into:)` for every snapshot: add its fields (`Snapshot.add`), after the
///    device's own (seq, time, outbox, faults) and before the tasks, in the firmware's order;
/// 4. `online()` after every connect to the broker (publish retained state again);
/// 5. `status(into:)` for the status line (`firmloop run` prints it every few seconds), and
///    `discover(into:)` for the Home Assistant entities it shows (when discovery is on); both
///    only once every component is attached;
/// 6. `willStop()` then `finish(until:)` on a clean stop.
///
/// So everything a component knows (its counters, its snapshot fields, its part of the status
/// line, its entities, its retained topics) is in its own file; what components share is the
/// `Device` (board, config, topics, client, faults, command table) and its `SnapshotPipe`.
/// Everything but `attach` has a default that does nothing.
@KernelActor
public protocol Component: AnyObject {
    func attach(to device: Device) throws
    func start(in group: TaskGroupScope)
    func sample(into snapshot: inout Snapshot) async
    func online()
    func status(into line: inout StatusLine)
    func discover(into announcement: inout HomeAssistantDiscovery.Announcement)
    func willStop()
    func finish(until deadline: Int64) async
}

extension Component {
    public func start(in group: TaskGroupScope) {}
    public func sample(into snapshot: inout Snapshot) async {}
    public func online() {}
    public func status(into line: inout StatusLine) {}
    public func discover(into announcement: inout HomeAssistantDiscovery.Announcement) {}
    public func willStop() {}
    public func finish(until deadline: Int64) async {}
}

/// Which components a firmware is made of, each made afresh for every `Device` (a component
/// holds the state of one run). `.stock` is Firmloop's own firmware; yours adds to it:
///
///     FirmloopCommand.main(firmware: .stock.adding { TemperatureProbe(role: "probe") })
///
/// A board file's I2C roles name their driver (`"driver": "bme280"`): the firmware makes one
/// component per such role from `drivers`, after its own; yours adds to them:
///
///     FirmloopCommand.main(firmware: .stock.adding(driver: "sht31") { SHT31(role: $0) })
public struct Composition: Sendable {
    public typealias Make = @Sendable @KernelActor () -> any Component
    /// Makes a driver's component for the role it is given (by name).
    public typealias MakeDriver = @Sendable @KernelActor (String) -> any Component
    public let makers: [Make]
    public let drivers: [String: MakeDriver]
    /// Whether the value roles no component opens are read by a `ValueSensors` (the stock
    /// firmware's do).
    public let readsValueRoles: Bool

    public init(_ makers: [Make], drivers: [String: MakeDriver] = [:], readsValueRoles: Bool = false) {
        self.makers = makers
        self.drivers = drivers
        self.readsValueRoles = readsValueRoles
    }

    /// This firmware and one more component (started after the others).
    public func adding(_ make: @escaping Make) -> Composition { Composition(makers + [make], drivers: drivers, readsValueRoles: readsValueRoles) }

    /// This firmware with one more driver (or another for `name`).
    public func adding(driver name: String, _ make: @escaping MakeDriver) -> Composition {
        var d = drivers
        d[name] = make
        return Composition(makers, drivers: d, readsValueRoles: readsValueRoles)
    }

    /// The components, then a driver per I2C role of `board` that names one (in the board
    /// file's order; a driver this firmware does not have stops the start, naming the key),
    /// then (`readsValueRoles`) a `ValueSensors` for the value roles none of them opened.
    @KernelActor public func make(for board: BoardDescription) -> [any Component] {
        makers.map { $0() } + board.roles(of: .i2c).compactMap { r -> (any Component)? in
            guard let name = r.i2c?.driver else { return nil }
            return drivers[name]?(r.name) ?? UnknownDriver(role: r.name, driver: name, known: drivers.keys.sorted())
        } + (readsValueRoles && !board.roles(of: .value).isEmpty ? [ValueSensors()] : [])
    }

    /// The stock firmware, in the order its parts attach and start:
    ///
    /// - **commands** (`Commands`): `…/cmd` checked whole, dispatched by key, answered on `…/ack`;
    /// - **snapshot** (`Snapshots`): every interval on a drift-free schedule, and at once for a
    ///   press or a command, the values of every component stored in the outbox (which numbers
    ///   them);
    /// - **gpio** (`GPIOLines`): inputs watched (a press takes a snapshot), outputs set by
    ///   commands and `…/<role>/set`, retained `…/<role>/state`, `"restore": true` kept on disk;
    /// - **gps** (`GPSReader`): the GPS UART through a bounded line framer into the NMEA parser;
    ///   garbage counted, never fatal; an unplugged receiver is a fault until it is back;
    /// - **cpu temperature** (`CPUTemperature`): the board's, in every snapshot;
    /// - **status** (`StatusLED`): a short blink each second online, 500/500 ms offline,
    ///   100/100 ms on a fault;
    /// - **mqtt** (`MQTTLink`): the client's task, its state in logs and snapshots;
    /// - **outbox** (`OutboxForwarding`): stored snapshots handed to the client a window at a
    ///   time, removed once the broker acknowledged them;
    /// - **discovery** (`HomeAssistantAnnouncer`): Home Assistant MQTT discovery when configured;
    ///
    /// the drivers `bme280` (`BME280`) and `ads1115` (`ADS1115`), and the value roles no
    /// component reads (`ValueSensors`).
    public static let stock = Composition([
        { Commands() }, { Snapshots() }, { GPIOLines() }, { GPSReader() }, { CPUTemperature() }, { StatusLED() }, { MQTTLink() },
        { OutboxForwarding() }, { HomeAssistantAnnouncer() },
    ], drivers: ["bme280": { BME280(role: $0) }, "ads1115": { ADS1115(role: $0) }], readsValueRoles: true)
}

/// An I2C role whose driver the firmware does not have: its `attach` says so.
@KernelActor
final class UnknownDriver: Component {
    let role: String, driver: String, known: [String]
    init(role: String, driver: String, known: [String]) {
        self.role = role
        self.driver = driver
        self.known = known
    }

    func attach(to device: Device) throws {
        let board = device.board.description
        throw FileProblems.one(board.file, "roles.\(role).driver: no driver '\(driver)' in this firmware (it has: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
    }
}
