import Glibc
import KernelTestSupport
import Testing
@testable import Update

/// The update's download against `openssl s_server -HTTP` on 127.0.0.1, which sends each file
/// as the whole response it holds: so a test writes the headers it wants, a Content-Length that
/// the body does not reach among them.
@Suite(.serialized) struct DownloadTests {
    final class Server {
        let certs = makeTestCertificates()
        let www: String
        let port = freeLoopbackPort()
        let process: ChildProcess

        init() throws {
            www = certs + "/www"
            mkdir(www, 0o755)
            process = try ChildProcess("/bin/sh", ["-c", "cd \(www) && exec openssl s_server -HTTP -quiet -accept 127.0.0.1:\(port) -cert \(certs)/server.pem -key \(certs)/server.key"],
                                       output: certs + "/s_server.log")
            #expect(waitUntil(seconds: 10) { connects(port) }, "s_server did not listen")
        }

        /// Serves `body` at /NAME with these headers.
        func serve(_ name: String, _ body: [UInt8], headers: String) {
            #expect(writeBytes("\(www)/\(name)", Array("HTTP/1.1 200 OK\r\n\(headers)\r\n".utf8) + body))
        }

        func url(_ name: String) -> String { "https://127.0.0.1:\(port)/\(name)" }
        deinit {
            process.terminate()
            removeDirectory(certs)
        }
    }

    static func connects(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    func policy(_ s: Server, max: Int = 1 << 20) -> UpdatePolicy {
        var p = UpdatePolicy()
        p.caFile = s.certs + "/ca.pem"
        p.maxBytes = max
        return p
    }

    @Test func aWholeFileWithItsLength() throws {
        let s = try Server()
        s.serve("a.deb", body, headers: "Content-Length: \(body.count)\r\nConnection: close\r\n")
        let progress = DownloadProgress()
        let n = try HTTPSDownload.get(s.url("a.deb"), into: s.certs + "/a.part", resume: false, policy: policy(s), progress: progress)
        #expect(n == body.count)
        #expect(fileBytes(s.certs + "/a.part") == body)
        #expect(progress.bytes.load(ordering: .relaxed) == body.count && progress.total.load(ordering: .relaxed) == body.count)
    }

    @Test func aBodyToTheClose() throws {
        let s = try Server()
        s.serve("b.deb", body, headers: "Connection: close\r\n")
        let n = try HTTPSDownload.get(s.url("b.deb"), into: s.certs + "/b.part", resume: false, policy: policy(s), progress: DownloadProgress())
        #expect(n == body.count && fileBytes(s.certs + "/b.part") == body)
    }

    @Test func aTruncatedBodyIsNamed() throws {
        let s = try Server()
        s.serve("t.deb", Array(body.prefix(120_000)), headers: "Content-Length: \(body.count)\r\n")
        #expect(throws: UpdateError("truncated: 127.0.0.1 closed the connection after 120000 of 300000 bytes")) {
            try HTTPSDownload.get(s.url("t.deb"), into: s.certs + "/t.part", resume: false, policy: policy(s), progress: DownloadProgress())
        }
    }

    @Test func theLimitIsCheckedOnTheLengthAndOnTheBody() throws {
        let s = try Server()
        s.serve("big.deb", body, headers: "Content-Length: \(body.count)\r\n")
        s.serve("big2.deb", body, headers: "Connection: close\r\n")
        #expect(throws: UpdateError("download: 300000 bytes is over the update limit of 100000 bytes")) {
            try HTTPSDownload.get(s.url("big.deb"), into: s.certs + "/big.part", resume: false, policy: policy(s, max: 100_000), progress: DownloadProgress())
        }
        #expect(throws: UpdateError("download: over the update limit of 100000 bytes")) {
            try HTTPSDownload.get(s.url("big2.deb"), into: s.certs + "/big2.part", resume: false, policy: policy(s, max: 100_000), progress: DownloadProgress())
        }
    }

    @Test func refusedBeforeAnyByte() throws {
        let s = try Server()
        s.serve("a.deb", body, headers: "Content-Length: \(body.count)\r\n")
        var wrong = policy(s)
        wrong.caFile = s.certs + "/other-ca.pem"
        #expect(throws: UpdateError("download: TLS with 127.0.0.1: unable to get local issuer certificate")) {
            try HTTPSDownload.get(s.url("a.deb"), into: s.certs + "/w.part", resume: false, policy: wrong, progress: DownloadProgress())
        }
        #expect(throws: UpdateError("download: http://127.0.0.1/a.deb is not an https:// URL")) {
            try HTTPSDownload.get("http://127.0.0.1/a.deb", into: s.certs + "/w.part", resume: false, policy: policy(s), progress: DownloadProgress())
        }
        #expect(throws: UpdateError("download: 127.0.0.1 answered 404 Not Found for /missing.deb")) {
            #expect(writeBytes("\(s.www)/missing.deb", Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".utf8)))
            try HTTPSDownload.get(s.url("missing.deb"), into: s.certs + "/m.part", resume: false, policy: policy(s), progress: DownloadProgress())
        }
    }

    /// A download that stopped goes on from where it stopped (Range: bytes=N-, 206), and a
    /// server that ignores the range sends it whole again (200).
    @Test func aStoppedDownloadIsResumed() throws {
        let s = try Server()
        let port = freeLoopbackPort()
        #expect(writeBytes(s.www + "/r.deb", body))
        let py = try ChildProcess("/usr/bin/python3", ["\(repositoryRoot)/Tests/UpdateTests/range-server.py", s.www, "\(port)", s.certs + "/server.pem", s.certs + "/server.key"],
                                  output: s.certs + "/range-server.log")
        defer { py.terminate() }
        #expect(waitUntil(seconds: 10) { Self.connects(port) }, "range-server.py did not listen")
        let part = s.certs + "/r.part"
        #expect(writeBytes(part, Array(body.prefix(123_456))))
        let progress = DownloadProgress()
        let n = try HTTPSDownload.get("https://127.0.0.1:\(port)/r.deb", into: part, resume: true, policy: policy(s), progress: progress)
        #expect(n == body.count && fileBytes(part) == body)
        #expect(readFile(s.www + "/requests.log") == "/r.deb bytes=123456-\n")
        #expect(progress.total.load(ordering: .relaxed) == body.count)
        // s_server ignores Range: the whole file again, not appended.
        s.serve("whole.deb", body, headers: "Content-Length: \(body.count)\r\n")
        #expect(writeBytes(part, Array(body.prefix(1000))))
        let m = try HTTPSDownload.get(s.url("whole.deb"), into: part, resume: true, policy: policy(s), progress: DownloadProgress())
        #expect(m == body.count && fileBytes(part) == body)
    }

    @Test func urls() {
        #expect(HTTPSDownload.URL("https://files.example.org/a/b.deb") == .init(host: "files.example.org", port: 443, path: "/a/b.deb"))
        #expect(HTTPSDownload.URL("https://127.0.0.1:8443/x") == .init(host: "127.0.0.1", port: 8443, path: "/x"))
        #expect(HTTPSDownload.URL("https://[::1]:8443/x") == .init(host: "::1", port: 8443, path: "/x"))
        #expect(HTTPSDownload.URL("https://h") == .init(host: "h", port: 443, path: "/"))
        #expect(HTTPSDownload.URL("http://h/x") == nil)
        #expect(HTTPSDownload.URL("https://h:0/x") == nil)
        #expect(HTTPSDownload.URL("https://h/a b") == nil)
    }
}

extension HTTPSDownload.URL {
    init(host: String, port: Int, path: String) {
        self = HTTPSDownload.URL("https://x/")!
        self.host = host
        self.port = port
        self.path = path
    }
}
