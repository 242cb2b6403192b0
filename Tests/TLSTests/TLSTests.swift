import Board
import Glibc
import Kernel
import KernelTestSupport
import LinuxBoard
import MQTT
import Testing
import TLS

/// The certificates `make-certs.sh` made for this run (openssl, once per test process).
let certs = makeTestCertificates()

/// A mosquitto with a TLS listener on 127.0.0.1 presenting `server` (a name in `certs`).
func tlsBroker(server: String = "server", requireCertificate: Bool = false) throws -> Mosquitto {
    try Mosquitto(listener: "cafile \(certs)/ca.pem\ncertfile \(certs)/\(server).pem\nkeyfile \(certs)/\(server == "expired" ? "expired" : server).key\n"
        + "require_certificate \(requireCertificate)\n")
}

/// CONNECT over TLS, then CONNACK: the broker's verdict, or the TLS error's text.
@KernelActor
func mqttConnect(_ network: TLSNetwork, host: String = "127.0.0.1", port: Int) async -> String {
    do {
        let c = try await network.connect(host: host, port: port, timeoutMilliseconds: 5000)
        defer { c.close() }
        try await c.write(Packet.connect(Connect(clientID: "tls-test")).bytes)
        var decoder = Decoder()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buf.deallocate() }
        while true {
            if let p = try decoder.next() {
                if case .connack(_, let rc) = p { return "CONNACK \(rc)" }
                return "unexpected \(p.name)"
            }
            let n = try await c.read(into: buf)
            if n == 0 { return "closed" }
            decoder.append(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
    } catch {
        return "error: \(error)"
    }
}

func context(ca: String? = "ca", client: Bool = false) throws -> TLSContext {
    try TLSContext(TLSSettings(caFile: ca.map { "\(certs)/\($0).pem" }, certFile: client ? "\(certs)/client.pem" : nil,
                               keyFile: client ? "\(certs)/client.key" : nil))
}

@Suite(.serialized) struct TLSTests {
    @Test func mqttOverTLSToARealMosquittoByAddressAndByName() throws {
        let broker = try tlsBroker()
        defer { broker.stop() }
        let ctx = try context()
        let port = broker.port
        let (byAddress, byName) = try kernelTest(virtual: false) { () async -> (String, String) in
            let n = TLSNetwork(over: LinuxNetwork(), context: ctx)
            return (await mqttConnect(n, port: port), await mqttConnect(n, host: "localhost", port: port))
        }
        #expect(byAddress == "CONNACK 0")
        #expect(byName == "CONNACK 0")
    }

    @Test func aBrokerThatRequiresAClientCertificateTakesOursAndRefusesNone() throws {
        let broker = try tlsBroker(requireCertificate: true)
        defer { broker.stop() }
        let with = try context(client: true), without = try context()
        let port = broker.port
        let (ok, refused) = try kernelTest(virtual: false) { () async -> (String, String) in
            (await mqttConnect(TLSNetwork(over: LinuxNetwork(), context: with), port: port),
             await mqttConnect(TLSNetwork(over: LinuxNetwork(), context: without), port: port))
        }
        #expect(ok == "CONNACK 0", "\(ok)")
        // TLS 1.3: the server checks after our side of the handshake; its alert comes at the
        // first read, or is lost to the reset that follows our CONNECT. Either way, it says so.
        #expect(refused.hasPrefix("error: TLS") && (refused.contains("certificate required") || refused.contains("no client certificate is given")),
                "\(refused) / \(readFile(broker.log) ?? "")")
    }

    @Test func failsClosedNamingTheCause() throws {
        let good = try tlsBroker()
        defer { good.stop() }
        let wrongName = try tlsBroker(server: "wrongname")
        defer { wrongName.stop() }
        let expired = try tlsBroker(server: "expired")
        defer { expired.stop() }
        let trusted = try context(), otherCA = try context(ca: "other-ca")
        let ports = (good.port, wrongName.port, expired.port)
        let r = try kernelTest(virtual: false) { () async -> [String] in
            [await mqttConnect(TLSNetwork(over: LinuxNetwork(), context: otherCA), port: ports.0),
             await mqttConnect(TLSNetwork(over: LinuxNetwork(), context: trusted), port: ports.1),
             await mqttConnect(TLSNetwork(over: LinuxNetwork(), context: trusted), port: ports.2)]
        }
        #expect(r[0].contains("TLS handshake failed with 127.0.0.1:\(ports.0): the server's certificate is not signed by a CA we trust (unknown CA"), "\(r[0])")
        #expect(r[1].contains("not for this host name (name mismatch)"), "\(r[1])")
        #expect(r[2].contains("the server's certificate has expired"), "\(r[2])")
    }

    @Test func aServerThatNeverAnswersTheHandshakeTimesOut() throws {
        // A listener that accepts (the kernel does, from its backlog) and never speaks.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        let port = freeLoopbackPort()
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0 && listen(fd, 4) == 0)
        let ctx = try context()
        let r = try kernelTest(virtual: false) { () async -> String in
            do {
                _ = try await TLSNetwork(over: LinuxNetwork(), context: ctx).connect(host: "127.0.0.1", port: port, timeoutMilliseconds: 300)
                return "connected"
            } catch { return "\(error)" }
        }
        #expect(r == "TLS handshake with 127.0.0.1:\(port) timed out after 300 ms")
    }

    @Test func badFilesAreErrorsNamingTheFlagAndFile() {
        func problem(_ s: TLSSettings) -> String {
            do { _ = try TLSContext(s); return "accepted" } catch { return error.description }
        }
        #expect(problem(TLSSettings(caFile: "/nonexistent/ca.pem")) == "CA file /nonexistent/ca.pem: No such file or directory")
        #expect(problem(TLSSettings(caFile: "\(certs)/ca.srl")).hasPrefix("CA file \(certs)/ca.srl: no CA certificate in it"))
        #expect(problem(TLSSettings(certFile: "\(certs)/client.pem")) == "a client certificate needs its key (--key, or key in the config file)")
        #expect(problem(TLSSettings(certFile: "\(certs)/client.pem", keyFile: "\(certs)/server.key"))
            == "client key \(certs)/server.key is not the key of the client certificate \(certs)/client.pem")
        #expect(problem(TLSSettings()) == "accepted")   // the system's CA store
    }
}
