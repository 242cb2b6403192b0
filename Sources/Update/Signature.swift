import COpenSSL

/// Ed25519 signatures over update artifacts, through OpenSSL's EVP (Debian's libcrypto): the
/// same keys and signatures as `openssl genpkey -algorithm ed25519`, `openssl pkey -pubout` and
/// `openssl pkeyutl -sign -rawin`, so a user may sign with either, and the root side of an
/// update (deploy/update/firmloop-update) checks them again with the `openssl` command.
///
/// Ed25519 signs the whole message (PureEdDSA, RFC 8032): the artifact is read whole, which its
/// size limit bounds; the work is CPU-heavy and runs off the kernel thread (the caller's job).
public enum Ed25519 {
    /// The bytes of a signature.
    public static let signatureSize = 64

    /// A new key pair, as PEM: PKCS#8 private key, SubjectPublicKeyInfo public key.
    public static func generate() throws(UpdateError) -> (privateKey: String, publicKey: String) {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw .openSSL("EVP_PKEY_CTX_new_id(ED25519)") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_keygen(ctx, &key) == 1, let key else { throw .openSSL("Ed25519 key generation") }
        defer { EVP_PKEY_free(key) }
        let privatePEM = try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
        let publicPEM = try pem { PEM_write_bio_PUBKEY($0, key) }
        return (privatePEM, publicPEM)
    }

    /// The public key of a private key (both PEM).
    public static func publicKey(ofPrivateKey privatePEM: String, source: String) throws(UpdateError) -> String {
        let key = try readKey(privatePEM, source: source, isPrivate: true)
        defer { EVP_PKEY_free(key) }
        return try pem { PEM_write_bio_PUBKEY($0, key) }
    }

    /// Signs `message` with a PEM private key; `source` names the key in errors.
    public static func sign(_ message: UnsafeRawBufferPointer, privateKey: String, source: String) throws(UpdateError) -> [UInt8] {
        let key = try readKey(privateKey, source: source, isPrivate: true)
        defer { EVP_PKEY_free(key) }
        guard let md = EVP_MD_CTX_new() else { throw .openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(md) }
        var signature = [UInt8](repeating: 0, count: signatureSize)
        var length = signatureSize
        let ok = signature.withUnsafeMutableBufferPointer { out in
            EVP_DigestSignInit(md, nil, nil, nil, key) == 1
                && EVP_DigestSign(md, out.baseAddress, &length, message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count) == 1
        }
        guard ok, length == signatureSize else { throw .openSSL("Ed25519 signing with \(source)") }
        return signature
    }

    /// Whether `signature` is `message`'s under the PEM public key (`source` names it in errors:
    /// a key that cannot be read throws, a signature that does not match returns false).
    public static func verify(_ message: UnsafeRawBufferPointer, signature: [UInt8], publicKey: String, source: String) throws(UpdateError) -> Bool {
        let key = try readKey(publicKey, source: source, isPrivate: false)
        defer { EVP_PKEY_free(key) }
        guard signature.count == signatureSize else { return false }
        guard let md = EVP_MD_CTX_new() else { throw .openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(md) }
        guard EVP_DigestVerifyInit(md, nil, nil, nil, key) == 1 else { throw .openSSL("EVP_DigestVerifyInit with \(source)") }
        let result = signature.withUnsafeBufferPointer { sig in
            EVP_DigestVerify(md, sig.baseAddress, sig.count, message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        }
        ERR_clear_error()
        return result == 1
    }

    /// A PEM key of either kind, checked to be Ed25519.
    static func readKey(_ text: String, source: String, isPrivate: Bool) throws(UpdateError) -> OpaquePointer {
        let bio = text.withCString { BIO_new_mem_buf($0, Int32(strlen($0))) }
        defer { BIO_free(bio) }
        let key = isPrivate ? PEM_read_bio_PrivateKey(bio, nil, nil, nil) : PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        guard let key else {
            ERR_clear_error()
            throw .key("\(source): not a PEM \(isPrivate ? "private" : "public") key")
        }
        guard EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 else {
            EVP_PKEY_free(key)
            throw .key("\(source): not an Ed25519 key (make one with `firmloop keygen` or `openssl genpkey -algorithm ed25519`)")
        }
        return key
    }

    /// What `write` puts in a memory BIO, as text.
    static func pem(_ write: (OpaquePointer) -> Int32) throws(UpdateError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .openSSL("PEM_write") }
        var bytes = [UInt8](repeating: 0, count: Int(fl_bio_pending(bio)))
        let n = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
        return String(decoding: bytes.prefix(Int(max(n, 0))), as: UTF8.self)
    }
}

/// SHA-256, as the update command's `sha256` gives it (lowercase hex).
public struct SHA256Digest: ~Copyable {
    private let ctx: OpaquePointer

    public init() {
        ctx = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
    }
    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    /// The digest as 64 lowercase hex digits (the context is spent).
    public consuming func hex() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        var n: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(ctx, $0.baseAddress, &n) }
        return hexString(out)
    }

    public static func hex(of bytes: UnsafeRawBufferPointer) -> String {
        let d = SHA256Digest()
        d.update(bytes)
        return d.hex()
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Base64 (RFC 4648, with padding), as signatures travel in the update command.
public enum Base64 {
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 4 * ((bytes.count + 2) / 3) + 1)
        let n = out.withUnsafeMutableBufferPointer { o in bytes.withUnsafeBufferPointer { EVP_EncodeBlock(o.baseAddress, $0.baseAddress, Int32($0.count)) } }
        return String(decoding: out.prefix(Int(n)), as: UTF8.self)
    }

    /// The bytes, or nil when `text` is not base64 (whitespace is not allowed).
    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        if input.isEmpty { return [] }
        guard input.count % 4 == 0,
              input.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 43 || $0 == 47 || $0 == 61 })
        else { return nil }
        var out = [UInt8](repeating: 0, count: input.count / 4 * 3)
        let n = out.withUnsafeMutableBufferPointer { o in input.withUnsafeBufferPointer { EVP_DecodeBlock(o.baseAddress, $0.baseAddress, Int32($0.count)) } }
        guard n >= 0 else { return nil }
        // EVP_DecodeBlock counts the padding as zero bytes.
        let padding = input.suffix(2).filter { $0 == 61 }.count
        return Array(out.prefix(Int(n) - padding))
    }
}
