import Board
import COpenSSL
import Kernel

/// TLS over any `Connection` (a TCP socket, or the simulated network's): OpenSSL works on two
/// memory BIOs, and this class moves their bytes over the inner connection with the kernel's
/// awaits, so no thread is added and the same code runs on every board. One task may read and
/// one write at a time (the MQTT client's reader and writer); their calls into OpenSSL never
/// overlap (one thread), and their sends to the inner connection are taken in turn.
@KernelActor
public final class TLSConnection: Connection {
    public let endpoint: String
    let inner: any Connection
    let ssl: OpaquePointer
    /// Network → OpenSSL, OpenSSL → network.
    let rbio: OpaquePointer
    let wbio: OpaquePointer
    private let inBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var outChunk: [UInt8] = []
    private var sending = false
    private let sent = Notify()
    private let received = Notify()
    private var isOpen = true
    private var peerClosed = false
    /// Application data came from the server (a reset before it has a likely cause).
    private var heard = false
    private let hasClientCertificate: Bool

    /// Starts a client handshake's state (nothing is sent until `handshake`). `host` is checked
    /// against the certificate (DNS name or IP address) and sent as SNI when it is a name.
    init(_ inner: any Connection, context: TLSContext, host: String?) throws(TLSError) {
        self.inner = inner
        endpoint = inner.endpoint
        hasClientCertificate = context.settings.certFile != nil
        guard let ssl = SSL_new(context.ctx) else { throw TLSError("TLS: SSL_new failed: \(TLSContext.openSSLErrors())") }
        self.ssl = ssl
        rbio = BIO_new(BIO_s_mem())
        wbio = BIO_new(BIO_s_mem())
        SSL_set_bio(ssl, rbio, wbio)   // ssl owns both now
        if context.isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let host {
                let isAddress = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
                if isAddress {
                    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
                } else {
                    _ = fl_ssl_set_sni(ssl, host)
                    SSL_set1_host(ssl, host)
                }
            }
        }
    }

    /// The server's side: TLS over an accepted connection (the simulated broker's), handshake
    /// done within the timeout.
    public static func accept(over inner: any Connection, context: TLSContext, timeoutMilliseconds: Int) async throws -> TLSConnection {
        let tls = try TLSConnection(inner, context: context, host: nil)
        try await tls.handshake(timeoutMilliseconds: timeoutMilliseconds)
        return tls
    }

    /// `handshake()` within a deadline; `reported` is the timeout the error names.
    func handshake(timeoutMilliseconds: Int, reported: Int? = nil) async throws {
        do {
            try await withTimeout(ms: timeoutMilliseconds) { try await self.handshake() }
        } catch is TimeoutError {
            throw TLSError("TLS handshake with \(endpoint) timed out after \(reported ?? timeoutMilliseconds) ms")
        }
    }

    isolated deinit {
        SSL_free(ssl)
        inBuffer.deallocate()
        scratch.deallocate()
    }

    /// The handshake, a step at a time: each round trip awaits the network, and the kernel gets
    /// a turn between OpenSSL's steps (key exchange and certificate checks are CPU work).
    func handshake() async throws {
        while true {
            let r = SSL_do_handshake(ssl)
            try await flush()
            if r == 1 { return }
            switch SSL_get_error(ssl, r) {
            case SSL_ERROR_WANT_READ:
                guard try await fill() else { throw failure("the server closed the connection during the TLS handshake") }
            case SSL_ERROR_WANT_WRITE:
                continue
            default:
                throw failure("TLS handshake failed")
            }
            try await yield()
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while true {
            guard isOpen else { throw BoardError.closed(what: "TLS connection to \(endpoint)") }
            let n = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
            if n > 0 { heard = true; return Int(n) }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ:
                try await flush()   // what reading produced (a key update's answer)
                if !(try await fill()) { return 0 }
            case SSL_ERROR_ZERO_RETURN:
                return 0             // close_notify
            default:
                throw failure("TLS read failed")
            }
        }
    }

    public func write(_ bytes: [UInt8]) async throws {
        var off = 0
        while off < bytes.count {
            guard isOpen else { throw BoardError.closed(what: "TLS connection to \(endpoint)") }
            let n = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + off, Int32(clamping: $0.count - off)) }
            if n > 0 {
                off += Int(n)
                try await flush()
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ:
                // Only a renegotiation asks this; the reader brings the bytes.
                try await flush()
                try await received.wait()
            case SSL_ERROR_WANT_WRITE:
                try await flush()
            default:
                throw failure("TLS write failed")
            }
        }
    }

    public func close() {
        guard isOpen else { return }
        isOpen = false
        inner.close()
    }

    /// Sends what OpenSSL has written into `wbio`; one sender at a time, so records never
    /// interleave on the wire.
    private func flush() async throws {
        while sending { try await sent.wait() }
        sending = true
        defer { sending = false; sent.notifyAll() }
        while fl_bio_pending(wbio) > 0 {
            // One buffer for the connection's life: unique again once `write` returns, so
            // refilling it allocates nothing.
            let n = Int(max(0, BIO_read(wbio, scratch.baseAddress, Int32(scratch.count))))
            outChunk.removeAll(keepingCapacity: true)
            outChunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            do { try await inner.write(outChunk) } catch let e as BoardError { throw explained(e) }
        }
    }

    /// TLS 1.3 servers check the client's certificate after our side of the handshake is done:
    /// their alert can be lost to the reset that follows our first write. Said so when it fits.
    private func explained(_ e: BoardError) -> any Error {
        guard case .connectionReset = e, !heard, !hasClientCertificate else { return e }
        return TLSError("TLS connection to \(endpoint) was reset before the server said anything: a broker with "
            + "require_certificate ends connections that way when no client certificate is given (--cert, --key)")
    }

    /// Reads what the network has into `rbio`; false at the end of the stream.
    private func fill() async throws -> Bool {
        let n: Int
        do { n = try await inner.read(into: inBuffer) } catch let e as BoardError { throw explained(e) }
        if n == 0 { peerClosed = true; return false }
        BIO_write(rbio, inBuffer.baseAddress, Int32(n))
        received.notifyAll()
        return true
    }

    /// The reason OpenSSL gives: the certificate check's verdict first, then its error queue.
    private func failure(_ what: String) -> TLSError {
        let verify = SSL_get_verify_result(ssl)
        let queue = TLSContext.openSSLErrors()
        if verify != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verify))
            let plain: String
            switch Int32(verify) {
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
                 X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
                plain = "the server's certificate is not signed by a CA we trust (unknown CA; see --cafile)"
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
                plain = "the server's certificate is not for this host name (name mismatch)"
            case X509_V_ERR_CERT_HAS_EXPIRED:
                plain = "the server's certificate has expired"
            case X509_V_ERR_CERT_NOT_YET_VALID:
                plain = "the server's certificate is not valid yet (is the clock right?)"
            default:
                plain = "the server's certificate was refused"
            }
            return TLSError("\(what) with \(endpoint): \(plain): \(reason)")
        }
        let why = queue.isEmpty ? (peerClosed ? "the server closed the connection" : "no reason given") : queue
        return TLSError("\(what) with \(endpoint): \(why)")
    }
}
