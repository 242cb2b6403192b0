import Board
import Kernel

/// A `Network` whose connections are TLS over another network's: `mqtts://` on a real board
/// (over `LinuxNetwork`) or in a simulation. The handshake counts against the connect timeout.
@KernelActor
public final class TLSNetwork: Network {
    let inner: any Network
    public let context: TLSContext

    public init(over inner: any Network, context: TLSContext) {
        self.inner = inner
        self.context = context
    }

    public func connect(host: String, port: Int, timeoutMilliseconds: Int) async throws -> any Connection {
        let start = Kernel.now
        let tcp = try await inner.connect(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds)
        var ok = false
        defer { if !ok { tcp.close() } }
        let tls = try TLSConnection(tcp, context: context, host: host)
        let left = max(1, timeoutMilliseconds - Int((Kernel.now - start) / 1_000_000))
        try await tls.handshake(timeoutMilliseconds: left, reported: timeoutMilliseconds)
        ok = true
        return tls
    }
}
