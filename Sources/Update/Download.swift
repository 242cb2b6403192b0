import COpenSSL
import Glibc
import Synchronization

/// How far a download is, for the status line and the progress acks (written by the worker
/// thread, read on the kernel thread).
public final class DownloadProgress: Sendable {
    public let bytes = Atomic<Int>(0)
    /// The whole size when the server said it (Content-Length), else -1.
    public let total = Atomic<Int>(-1)
    public init() {}
}

/// A bounded HTTP/1.1 GET over TLS, blocking, for a worker thread (`offload`): the artifact of
/// an update into a file. The same OpenSSL as the MQTT client's TLS (Debian's libssl), with the
/// same rules: TLS 1.2 at least, the server's certificate checked against the CA file (or the
/// system's) and the host name. Bounded everywhere: the headers (16 KiB), the body (the
/// policy's size limit, checked against Content-Length first), the redirects (5, https only),
/// each read and write (30 s). A download that stops is resumed from where it stopped
/// (`Range:`) when the next attempt is for the same artifact; a server that ignores the range
/// gets it whole again.
public enum HTTPSDownload {
    public static let maxRedirects = 5
    public static let timeoutSeconds = 30
    static let maxHeaderBytes = 16 << 10

    struct URL: Equatable {
        var host: String
        var port: Int
        var path: String

        /// `https://host[:port]/path`; nil for anything else.
        init?(_ text: String) {
            guard text.hasPrefix("https://") else { return nil }
            let rest = text.dropFirst(8)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            path = slash == rest.endIndex ? "/" : String(rest[slash...])
            var h = Substring(authority), p = 443
            if authority.hasPrefix("[") {   // [::1]:8443
                guard let close = authority.firstIndex(of: "]") else { return nil }
                h = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                if after.hasPrefix(":") { guard let n = Int(after.dropFirst()) else { return nil }; p = n }
            } else if let colon = authority.lastIndex(of: ":") {
                h = authority[..<colon]
                guard let n = Int(authority[authority.index(after: colon)...]) else { return nil }
                p = n
            }
            guard !h.isEmpty, (1...65535).contains(p), !path.contains(" "), !path.contains("\r"), !path.contains("\n") else { return nil }
            host = String(h)
            port = p
        }
    }

    /// Downloads `url` into `file` (resuming what is there when `resume`), at most
    /// `policy.maxBytes`. Returns the file's size. Throws why it stopped: the part stays for
    /// the next attempt when it may be resumed.
    public static func get(_ url: String, into file: String, resume: Bool, policy: UpdatePolicy, progress: DownloadProgress) throws(UpdateError) -> Int {
        var url = url
        for _ in 0...maxRedirects {
            switch try once(url, into: file, resume: resume, policy: policy, progress: progress) {
            case .done(let n): return n
            case .redirect(let to): url = to
            }
        }
        throw UpdateError("download: more than \(maxRedirects) redirects")
    }

    enum Outcome { case done(Int), redirect(String) }

    static func once(_ text: String, into file: String, resume: Bool, policy: UpdatePolicy, progress: DownloadProgress) throws(UpdateError) -> Outcome {
        guard let url = URL(text) else { throw UpdateError("download: \(text) is not an https:// URL") }
        var have = 0
        if resume {
            var st = stat()
            if stat(file, &st) == 0 { have = Int(st.st_size) }
        }
        guard have < policy.maxBytes else { throw UpdateError("download: \(have) bytes already, the update limit is \(policy.maxBytes)") }
        let tls = try TLSStream(host: url.host, port: url.port, caFile: policy.caFile)
        defer { tls.close() }
        var request = "GET \(url.path) HTTP/1.1\r\nHost: \(url.host)\(url.port == 443 ? "" : ":\(url.port)")\r\nUser-Agent: firmloop\r\nAccept: */*\r\nConnection: close\r\n"
        if have > 0 { request += "Range: bytes=\(have)-\r\n" }
        request += "\r\n"
        try tls.write(Array(request.utf8))
        var head = try readHead(tls)
        let status = head.status
        if [301, 302, 303, 307, 308].contains(status) {
            guard let location = head.fields["location"] else { throw UpdateError("download: \(status) with no Location from \(url.host)") }
            guard location.hasPrefix("https://") else { throw UpdateError("download: \(url.host) redirects to \(location), which is not https") }
            return .redirect(location)
        }
        let append: Bool
        switch status {
        case 200: append = false
        case 206 where have > 0: append = true
        case 416 where have > 0:   // what we have is all there is: the checks decide
            return .done(have)
        default: throw UpdateError("download: \(url.host) answered \(status) \(head.reason) for \(url.path)")
        }
        if head.fields["transfer-encoding"].map({ $0.lowercased() != "identity" }) == true {
            throw UpdateError("download: \(url.host) sent Transfer-Encoding \(head.fields["transfer-encoding"]!): only a Content-Length or a body to the close is read")
        }
        let length = head.fields["content-length"].flatMap { Int($0) }
        let start = append ? have : 0
        if let length, start + length > policy.maxBytes {
            throw UpdateError("download: \(start + length) bytes is over the update limit of \(policy.maxBytes) bytes")
        }
        progress.total.store(length.map { start + $0 } ?? -1, ordering: .relaxed)
        progress.bytes.store(start, ordering: .relaxed)
        let fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o640)
        guard fd >= 0 else { throw UpdateError("\(file): cannot write it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var got = 0
        // What came with the headers, then the rest.
        var chunk = head.rest
        head.rest = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            if !chunk.isEmpty {
                if let length, got + chunk.count > length { chunk = Array(chunk.prefix(length - got)) }
                guard start + got + chunk.count <= policy.maxBytes else {
                    throw UpdateError("download: over the update limit of \(policy.maxBytes) bytes")
                }
                guard chunk.withUnsafeBytes({ writeAll(fd, $0) }) else { throw UpdateError("\(file): write failed: \(String(cString: strerror(errno)))") }
                got += chunk.count
                progress.bytes.store(start + got, ordering: .relaxed)
                chunk = []
            }
            if let length, got == length { break }
            let n = try tls.read(buffer)
            if n == 0 { break }
            chunk = Array(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        }
        guard fsync(fd) == 0 else { throw UpdateError("\(file): fsync failed: \(String(cString: strerror(errno)))") }
        if let length, got < length {
            throw UpdateError("truncated: \(url.host) closed the connection after \(start + got) of \(start + length) bytes")
        }
        return .done(start + got)
    }

    struct Head {
        var status: Int
        var reason: String
        var fields: [String: String]
        /// Body bytes read with the headers.
        var rest: [UInt8]
    }

    static func readHead(_ tls: TLSStream) throws(UpdateError) -> Head {
        var bytes: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            if let end = find(bytes, [13, 10, 13, 10]) {
                return try parseHead(Array(bytes[..<end]), rest: Array(bytes[(end + 4)...]))
            }
            guard bytes.count < maxHeaderBytes else { throw UpdateError("download: the response's headers are over \(maxHeaderBytes) bytes") }
            let n = try tls.read(buffer)
            guard n > 0 else { throw UpdateError("download: the server closed the connection before its headers ended") }
            bytes += UnsafeRawBufferPointer(rebasing: buffer[..<n])
        }
    }

    static func parseHead(_ head: [UInt8], rest: [UInt8]) throws(UpdateError) -> Head {
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let first = lines.first.map { $0.split(separator: " ", maxSplits: 2) } ?? []
        guard first.count >= 2, first[0].hasPrefix("HTTP/1."), let status = Int(first[1]) else {
            throw UpdateError("download: not an HTTP/1.x response: \(String(lines.first ?? "").prefix(60))")
        }
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingSpaces
        }
        return Head(status: status, reason: first.count > 2 ? String(first[2]) : "", fields: fields, rest: rest)
    }

    static func find(_ bytes: [UInt8], _ needle: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for i in 0...(bytes.count - needle.count) where bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { return i }
        return nil
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// A blocking TLS client connection on a TCP socket with read and write timeouts.
final class TLSStream {
    private let fd: Int32
    private let ctx: OpaquePointer
    private let ssl: OpaquePointer
    let host: String

    init(host: String, port: Int, caFile: String?) throws(UpdateError) {
        self.host = host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let r = getaddrinfo(host, String(port), &hints, &list)
        guard r == 0, let list else { throw UpdateError("download: cannot resolve \(host): \(String(cString: gai_strerror(r)))") }
        defer { freeaddrinfo(list) }
        var fd: Int32 = -1
        var why = "no address"
        var a: UnsafeMutablePointer<addrinfo>? = list
        while let ai = a {
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
            if s >= 0 {
                var tv = timeval(tv_sec: HTTPSDownload.timeoutSeconds, tv_usec: 0)
                setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                if connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { fd = s; break }
                why = String(cString: strerror(errno))
                Glibc.close(s)
            }
            a = ai.pointee.ai_next
        }
        guard fd >= 0 else { throw UpdateError("download: cannot connect to \(host):\(port): \(why)") }
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { Glibc.close(fd); throw .openSSL("SSL_CTX_new") }
        _ = fl_ssl_ctx_set_min_tls12(ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        let loaded = caFile.map { SSL_CTX_load_verify_locations(ctx, $0, nil) } ?? SSL_CTX_set_default_verify_paths(ctx)
        guard loaded == 1, let ssl = SSL_new(ctx) else {
            SSL_CTX_free(ctx); Glibc.close(fd)
            throw .openSSL("download: the CA \(caFile ?? "store of the system")")
        }
        self.fd = fd
        self.ctx = ctx
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        if isAddress { X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) } else {
            _ = fl_ssl_set_sni(ssl, host)
            SSL_set1_host(ssl, host)
        }
        guard SSL_connect(ssl) == 1 else {
            let verify = SSL_get_verify_result(ssl)
            let reason = verify != X509_V_OK ? String(cString: X509_verify_cert_error_string(verify)) : "handshake failed"
            close()
            ERR_clear_error()
            throw UpdateError("download: TLS with \(host): \(reason)")
        }
    }

    func write(_ bytes: [UInt8]) throws(UpdateError) {
        let n = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard n == bytes.count else { throw UpdateError("download: sending the request to \(host) failed") }
    }

    /// Bytes read (0: the server closed the connection).
    func read(_ buffer: UnsafeMutableRawBufferPointer) throws(UpdateError) -> Int {
        let n = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        if n > 0 { return Int(n) }
        let e = SSL_get_error(ssl, n)
        ERR_clear_error()
        if e == SSL_ERROR_ZERO_RETURN { return 0 }
        if e == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET || errno == EPIPE) { return 0 }   // closed without close_notify
        if e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK) {
            throw UpdateError("download: \(host) sent nothing for \(HTTPSDownload.timeoutSeconds) s")
        }
        throw UpdateError("download: reading from \(host) failed (TLS error \(e))")
    }

    private var closed = false
    func close() {
        guard !closed else { return }
        closed = true
        SSL_free(ssl)
        SSL_CTX_free(ctx)
        Glibc.close(fd)
    }
}
