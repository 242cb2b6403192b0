import Board
import Kernel
import SimBoard
import TLS

/// A simulated board and the world around it: the in-process MQTT broker listening on the
/// board's simulated network (over TLS when the board file's "sim.network.tls" says so), and
/// what a scenario remembers between its steps. Scenarios (`Scenario.run(in:)`) and simulated
/// runs (`Simulation`) act on a world; the board alone knows no MQTT.
@KernelActor
public final class SimWorld {
    public let board: SimHardware
    public let broker: Broker
    /// The broker's TLS identity when the world says "tls".
    let brokerTLS: TLSContext?
    /// The scenario step running (0 before the first).
    public internal(set) var scenarioStep = 0
    /// Where each `wait_serial` left off, per "role.tx" / "role.rx".
    var serialCursors: [String: Int] = [:]
    /// The broker message number after the last `expect_publish` match.
    var publishCursor = 0

    /// A world for `description` (see `SimHardware.init`); `world` replaces what its "sim"
    /// section says.
    public convenience init(_ description: BoardDescription, seed: UInt64, log: EventLog = EventLog(), network: (any Network)? = nil,
                            world: WorldConfig? = nil) throws {
        try self.init(board: SimHardware(description, seed: seed, log: log, network: network, world: world))
    }

    public init(board: SimHardware) throws {
        self.board = board
        broker = Broker(log: board.log)
        brokerTLS = try board.world.brokerTLS.map { try TLSContext(server: TLSServerSettings(certFile: $0.cert, keyFile: $0.key)) }
    }

    /// Starts the board's tasks and the broker's listeners (`WorldConfig.brokerEndpoints`).
    /// They run until the kernel run ends (which cancels them).
    public func start() {
        let broker = self.broker
        for ep in board.world.brokerEndpoints {
            if let tls = brokerTLS {
                // TLS bytes are random (key shares, nonces): the log keeps their sizes out of
                // the digest and the broker's decrypted traffic in, so a seed still replays.
                board.simNetwork.listen(ep, opaque: true) { conn in
                    _ = spawn("sim.broker") {
                        guard let t = try? await TLSConnection.accept(over: conn, context: tls, timeoutMilliseconds: 10_000) else {
                            conn.close()
                            return
                        }
                        await broker.serve(t)
                    }
                }
            } else {
                board.simNetwork.listen(ep) { conn in
                    _ = spawn("sim.broker") { await broker.serve(conn) }
                }
            }
        }
        board.start()
    }
}
