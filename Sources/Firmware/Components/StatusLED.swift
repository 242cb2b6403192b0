import Board
import Kernel

/// The status LED (the `statusRole`, when the board has it as an output): a short blink each
/// second online, every 2 s with no broker configured, 500/500 ms offline (or no broker yet),
/// 100/100 ms on a fault.
@KernelActor
public final class StatusLED: Component {
    private unowned var device: Device!
    private var led: (any OutputLine)?

    public init() {}

    public func attach(to device: Device) throws {
        self.device = device
        let role = device.config.statusRole
        if device.board.description.role(role)?.kind == .output { led = try device.board.output(role) }
    }

    public func start(in group: TaskGroupScope) {
        if let led { group.spawn("status") { try await self.blink(led) } }
    }

    /// On and off times in ms for each health.
    static func pattern(_ health: Device.Health) -> (on: Int, off: Int) {
        switch health {
        case .online: (50, 950)
        case .local: (50, 1950)
        case .offline: (500, 500)
        case .fault: (100, 100)
        }
    }

    private func blink(_ led: any OutputLine) async throws {
        while true {
            let (on, off) = Self.pattern(device.health)
            try led.set(true)
            try await sleep(ms: on, tolerance: Kernel.coarseTolerance)
            try led.set(false)
            try await sleep(ms: off, tolerance: Kernel.coarseTolerance)
        }
    }
}
