import COpenSSL
import Glibc

/// Where the client's trust and identity come from (`--cafile`, `--cert`, `--key`).
public struct TLSSettings: Sendable, Equatable {
    /// PEM file of the CA certificates to trust; nil: the system's store (Debian's
    /// ca-certificates, kept current by its updates).
    public var caFile: String?
    /// PEM client certificate and its key, for brokers with `require_certificate true`.
    public var certFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }
}

/// A TLS server's identity (the simulated broker's, for `mqtts://` in simulation).
public struct TLSServerSettings: Sendable, Equatable {
    public var certFile: String
    public var keyFile: String
    public init(certFile: String, keyFile: String) {
        self.certFile = certFile
        self.keyFile = keyFile
    }
}

/// A TLS failure, saying what failed and why (the certificate check's reason when there is one).
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// One OpenSSL client context: TLS 1.2 at least, the server's certificate checked against the
/// CA store, and the client certificate if any. Made once (it reads the files) and shared by
/// every connection; OpenSSL allows that across threads.
// safety: SSL_CTX is only read after init (OpenSSL documents it as thread-safe for making
// connections); every property is a `let`, never mutated.
public final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer
    public let settings: TLSSettings
    /// Accepts connections (the other side of `TLSNetwork`), rather than making them.
    public let isServer: Bool

    public init(_ settings: TLSSettings) throws(TLSError) {
        self.settings = settings
        isServer = false
        let ctx = try Self.make(TLS_client_method())
        self.ctx = ctx
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if let ca = settings.caFile {
            guard access(ca, R_OK) == 0 else { throw TLSError("CA file \(ca): \(String(cString: strerror(errno)))") }
            guard SSL_CTX_load_verify_locations(ctx, ca, nil) == 1 else {
                throw TLSError("CA file \(ca): no CA certificate in it (\(Self.openSSLErrors()))")
            }
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw TLSError("TLS: cannot read the system's CA store (\(Self.openSSLErrors()))")
        }
        switch (settings.certFile, settings.keyFile) {
        case (nil, nil): break
        case (let cert?, let key?):
            guard access(cert, R_OK) == 0 else { throw TLSError("client certificate \(cert): \(String(cString: strerror(errno)))") }
            guard access(key, R_OK) == 0 else { throw TLSError("client key \(key): \(String(cString: strerror(errno)))") }
            guard SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 else {
                throw TLSError("client certificate \(cert): not a PEM certificate (\(Self.openSSLErrors()))")
            }
            guard SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
                let why = Self.openSSLErrorReasons()
                if why.contains("key values mismatch") { throw TLSError("client key \(key) is not the key of the client certificate \(cert)") }
                throw TLSError("client key \(key): not a PEM private key (\(why.joined(separator: "; ")))")
            }
        case (_?, nil): throw TLSError("a client certificate needs its key (--key, or key in the config file)")
        case (nil, _?): throw TLSError("a client key needs its certificate (--cert, or cert in the config file)")
        }
    }

    /// A server context: TLS 1.2 at least, presenting `server`'s certificate; clients are not
    /// asked for one.
    public init(server: TLSServerSettings) throws(TLSError) {
        settings = TLSSettings()
        isServer = true
        let ctx = try Self.make(TLS_server_method())
        self.ctx = ctx
        guard SSL_CTX_use_certificate_chain_file(ctx, server.certFile) == 1 else {
            throw TLSError("TLS server certificate \(server.certFile): \(Self.openSSLErrors())")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, server.keyFile, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError("TLS server key \(server.keyFile): \(Self.openSSLErrors())")
        }
    }

    deinit { SSL_CTX_free(ctx) }

    /// A context of either side: TLS 1.2 at least, partial writes (memory BIOs take them).
    private static func make(_ method: OpaquePointer?) throws(TLSError) -> OpaquePointer {
        guard let ctx = SSL_CTX_new(method) else { throw TLSError("TLS: cannot make a context: \(openSSLErrors())") }
        _ = fl_ssl_ctx_set_min_tls12(ctx)
        _ = fl_ssl_ctx_set_mode_partial(ctx)
        return ctx
    }

    /// OpenSSL's error queue as text (and emptied), "" when empty.
    static func openSSLErrors() -> String { openSSLErrorReasons().joined(separator: "; ") }

    /// The reasons of the thread's queued OpenSSL errors, oldest first (the queue is emptied).
    static func openSSLErrorReasons() -> [String] {
        var parts: [String] = []
        while true {
            let e = ERR_get_error()
            if e == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buf, buf.count)
            let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // "error:0A000086:SSL routines::certificate verify failed" → the reason.
            parts.append(text.split(separator: ":").last.map(String.init) ?? text)
        }
        return parts
    }
}
