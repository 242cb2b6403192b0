import Board
import Glibc

/// What an update must be to be installed: the bytes the command named (its SHA-256), signed by
/// the key the device trusts, within the size limit. Checked on the device before anything is
/// staged, and again by the root side before anything is installed.
public struct UpdateRequest: Sendable, Equatable {
    /// The command's id, echoed in the acks.
    public var id: String?
    /// `https://…` (the firmware downloads it) or a local path (`firmloop update FILE`).
    public var url: String
    /// 64 lowercase hex digits; nil only for `firmloop update FILE` (the signature is enough).
    public var sha256: String?
    /// The Ed25519 signature of the artifact, 64 bytes.
    public var signature: [UInt8]

    public init(id: String?, url: String, sha256: String?, signature: [UInt8]) {
        self.id = id
        self.url = url
        self.sha256 = sha256
        self.signature = signature
    }
}

/// The device's update settings (the config's `update_key`, `update_max_bytes`, `update_cafile`).
public struct UpdatePolicy: Sendable, Equatable {
    public static let defaultKey = "/etc/firmloop/update-key.pem"
    /// 64 MiB: four times today's package.
    public static let defaultMaxBytes = 64 << 20
    public var keyPath = UpdatePolicy.defaultKey
    public var maxBytes = UpdatePolicy.defaultMaxBytes
    /// The CA file for https downloads (nil: the system's, /etc/ssl/certs).
    public var caFile: String?
    public init() {}
}

/// A file read whole into memory for its checks (bounded by the size limit): Board's
/// `readFileBytes`, with the refusals named.
func readWhole(_ path: String, limit: Int) throws(UpdateError) -> [UInt8] {
    var st = stat()
    guard stat(path, &st) == 0 else { throw UpdateError("\(path): cannot open it: \(String(cString: strerror(errno)))") }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw UpdateError("\(path): not a regular file") }
    guard st.st_size <= limit else { throw UpdateError("\(path): \(st.st_size) bytes is over the update limit of \(limit) bytes") }
    guard let bytes = readFileBytes(path, limit: limit) else { throw UpdateError("\(path): read failed: \(String(cString: strerror(errno)))") }
    return bytes
}

public enum Artifact {
    /// Checks `path` against `request` and `policy`: the size limit, the SHA-256 when the
    /// request names one, the signature under the policy's key. Throws why it is refused, in
    /// words for the ack. Blocking and CPU-heavy: off the kernel thread.
    public static func verify(_ path: String, request: UpdateRequest, policy: UpdatePolicy) throws(UpdateError) -> (bytes: Int, sha256: String) {
        let key: String
        do { key = String(decoding: try readWhole(policy.keyPath, limit: 64 << 10), as: UTF8.self) } catch {
            throw UpdateError("no update key: \(error) (install the public key made by `firmloop keygen` there)")
        }
        let bytes = try readWhole(path, limit: policy.maxBytes)
        let sha = bytes.withUnsafeBytes { SHA256Digest.hex(of: $0) }
        if let want = request.sha256, want != sha {
            throw UpdateError("sha256 mismatch: the artifact's is \(sha), the command says \(want)")
        }
        guard request.signature.count == Ed25519.signatureSize else {
            throw UpdateError("signature: expected \(Ed25519.signatureSize) bytes (base64), got \(request.signature.count)")
        }
        let good: Bool
        do {
            good = try bytes.withUnsafeBytes { try Ed25519.verify($0, signature: request.signature, publicKey: key, source: policy.keyPath) }
        } catch let e as UpdateError { throw e } catch { throw UpdateError("\(error)") }
        guard good else { throw UpdateError("bad signature: the artifact is not signed by the key in \(policy.keyPath)") }
        return (bytes.count, sha)
    }
}
