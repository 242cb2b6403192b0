import COpenSSL

/// Why an update step failed, in words for the ack, the status line and the journal.
public struct UpdateError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// An OpenSSL call failed: what was being done, and OpenSSL's own error queue.
    static func openSSL(_ what: String) -> UpdateError {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return UpdateError("\(what) failed\(reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; "))")
    }

    static func key(_ why: String) -> UpdateError { UpdateError(why) }
}
