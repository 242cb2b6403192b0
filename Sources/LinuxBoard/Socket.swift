import Board
import Glibc
import Kernel

/// TCP over the kernel's epoll set: DNS through `offload` (getaddrinfo blocks), then a
/// non-blocking connect to each address in turn (IPv6 and IPv4) until one answers, all within
/// the timeout.
@KernelActor
public final class LinuxNetwork: Network {
    public nonisolated init() {}

    struct Address: Sendable {
        var family: Int32
        var bytes: [UInt8]
    }

    /// Resolves `host` on a worker thread (getaddrinfo may wait on DNS for seconds).
    static func resolve(_ host: String, _ port: Int) async throws -> [Address] {
        try await offload { () throws -> [Address] in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV
            var res: UnsafeMutablePointer<addrinfo>? = nil
            let r = getaddrinfo(host, String(port), &hints, &res)
            if r != 0 {
                throw BoardError.connectFailed(endpoint: "\(host):\(port)", reason: "cannot resolve '\(host)': \(String(cString: gai_strerror(r)))")
            }
            defer { freeaddrinfo(res) }
            var out: [Address] = []
            var p = res
            while let a = p {
                if let sa = a.pointee.ai_addr {
                    out.append(Address(family: a.pointee.ai_family,
                                       bytes: Array(UnsafeRawBufferPointer(start: sa, count: Int(a.pointee.ai_addrlen)))))
                }
                p = a.pointee.ai_next
            }
            return out
        }
    }

    public func connect(host: String, port: Int, timeoutMilliseconds: Int) async throws -> any Connection {
        let endpoint = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        do {
            return try await withTimeout(ms: timeoutMilliseconds) {
                let addresses = try await Self.resolve(host, port)
                var lastError = "no address"
                for a in addresses {
                    let fd = socket(a.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                    if fd < 0 { lastError = String(cString: strerror(errno)); continue }
                    var ok = false
                    defer { if !ok { closeDescriptor(fd) } }
                    let r = a.bytes.withUnsafeBytes { Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
                    if r != 0 && errno != EINPROGRESS {
                        lastError = String(cString: strerror(errno))
                        continue
                    }
                    if r != 0 {
                        try await writable(fd)
                        var err: Int32 = 0
                        var len = socklen_t(MemoryLayout<Int32>.size)
                        try NonBlocking.check(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), "getsockopt(SO_ERROR)", endpoint)
                        if err != 0 { lastError = String(cString: strerror(err)).lowercased(); continue }
                    }
                    var one: Int32 = 1
                    try NonBlocking.check(setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)),
                                          "setsockopt(TCP_NODELAY)", endpoint)
                    ok = true
                    return TCPConnection(fd: fd, endpoint: endpoint)
                }
                throw BoardError.connectFailed(endpoint: endpoint, reason: lastError)
            }
        } catch is TimeoutError {
            throw BoardError.connectTimedOut(endpoint: endpoint, milliseconds: timeoutMilliseconds)
        }
    }
}

@KernelActor
public final class TCPConnection: Connection {
    public let endpoint: String
    let fd: Int32
    private var isOpen = true
    private let share = ReadShareCounter()

    init(fd: Int32, endpoint: String) {
        self.fd = fd
        self.endpoint = endpoint
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        try await NonBlocking.read({ self.fd }, capacity: buffer.count, share: share, check: checkOpen, failure: { self.failure("recv", $0) }) { fd in
            recv(fd, buffer.baseAddress, buffer.count, 0)
        }
    }

    public func write(_ bytes: [UInt8]) async throws {
        try await NonBlocking.write(bytes, { self.fd }, check: checkOpen, failure: { self.failure("send", $0) }) { fd, b in
            send(fd, b.baseAddress, b.count, Int32(MSG_NOSIGNAL))
        }
    }

    private func checkOpen() throws {
        guard isOpen else { throw BoardError.closed(what: "connection to \(endpoint)") }
    }

    private func failure(_ call: String, _ e: Int32) -> BoardError {
        [ECONNRESET, EPIPE, ETIMEDOUT].contains(e) ? .connectionReset(endpoint: endpoint) : .system(call: call, errno: e, what: endpoint)
    }

    public func close() {
        guard isOpen else { return }
        isOpen = false
        closeDescriptor(fd)
    }
}
