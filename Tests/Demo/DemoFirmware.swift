import Board
import Kernel

/// The board-layer demo firmware: exercises every kind of role a board declares, using only
/// the Board protocols (so it runs unchanged on a simulated or a real board). The full firmware
/// (snapshots, NMEA, MQTT) builds on the same pieces.
///
/// - `status_led`: heartbeat, 500 ms on / 500 ms off.
/// - `button` → toggles `relay` on each debounced press, and says so on `console`.
/// - `gps_uart`: read continuously; lines and bytes counted.
/// - every second: a sample of every input (the snapshot task's skeleton).
/// Roles the board does not declare are skipped.
@KernelActor
public final class DemoFirmware {
    public let board: any Hardware
    public private(set) var presses = 0
    public private(set) var gpsLines = 0
    public private(set) var gpsBytes = 0
    public private(set) var samples = 0
    public private(set) var highSamples = 0

    public init(board: any Hardware) { self.board = board }

    /// Runs the firmware's tasks until cancelled (or one fails: the error ends them all).
    public func run() async throws {
        try await withGroup("firmware") { g in try self.start(in: g) }
    }

    /// Starts the tasks in `group` (they run until the group is cancelled).
    public func start(in group: TaskGroupScope) throws {
        let d = board.description
        if d.role("status_led")?.kind == .output {
            let led = try board.output("status_led")
            group.spawn("heartbeat") {
                var on = false
                let t = every(ms: 500)
                while true {
                    _ = try await t.tick()
                    on.toggle()
                    try led.set(on)
                }
            }
        }
        var inputs: [String: any InputLine] = [:]
        for r in d.roles(of: .input) { inputs[r.name] = try board.input(r.name) }
        if let button = inputs["button"] {
            let relay = d.role("relay")?.kind == .output ? try board.output("relay") : nil
            let console = d.role("console")?.kind == .serial ? try board.serial("console") : nil
            group.spawn("button") { [self] in
                while true {
                    _ = try await button.edge(.rising)
                    presses += 1
                    guard let relay else { continue }
                    let v = !(try relay.get())
                    try relay.set(v)
                    try await console?.write(Array("relay \(v ? "on" : "off")\r\n".utf8))
                }
            }
        }
        if d.role("gps_uart")?.kind == .serial {
            let gps = try board.serial("gps_uart")
            group.spawn("gps") { [self] in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 1)
                defer { buffer.deallocate() }
                while true {
                    let n = try await gps.read(into: buffer)
                    gpsBytes += n
                    for i in 0..<n where buffer[i] == 0x0A { gpsLines += 1 }
                }
            }
        }
        if !inputs.isEmpty {
            let lines = inputs.sorted { $0.key < $1.key }.map(\.value)
            group.spawn("sample") { [self] in
                let t = every(ms: 1000)
                while true {
                    _ = try await t.tick()
                    samples += 1
                    for i in lines where try i.get() { highSamples += 1 }
                }
            }
        }
    }
}
