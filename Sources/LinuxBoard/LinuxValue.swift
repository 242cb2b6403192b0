import Board
import Glibc
import Kernel

/// A value role on Linux: a number in a file (a 1-Wire DS18B20's `temperature` in
/// millidegrees, a hwmon `temp1_input`, an IIO `in_voltage0_raw`), times the role's scale.
/// The path's pattern is matched once, when the board is made: no match, or more than one, is
/// an error naming the role and the pattern. Each read is offloaded (a 1-Wire conversion takes
/// ~750 ms in the kernel's read).
@KernelActor
public final class LinuxValue: ValueInput {
    public let role: String
    public let path: String
    public let scale: Double

    init(role: String, spec: ValueSpec) throws {
        self.role = role
        scale = spec.scale
        path = try Self.resolve(spec, role: role).get()
        guard access(path, R_OK) == 0 else {
            throw BoardError.valueFile(path: path, role: role, problem: String(cString: strerror(errno)))
        }
    }

    public func read() async throws -> Double {
        let (path, role, scale) = (self.path, self.role, self.scale)
        return try await offload { () throws -> Double in
            guard let text = readTextFile(path, limit: 4096) else {
                throw BoardError.valueFile(path: path, role: role, problem: String(cString: strerror(errno)))
            }
            return try Self.parse(text, scale: scale, path: path, role: role)
        }
    }

    /// The file `spec` names and its value now, read on the calling thread (`firmloop probe`).
    public nonisolated static func readNow(_ spec: ValueSpec, role: String) -> Result<(String, Double), BoardError> {
        Result { () throws(BoardError) in
            let path = try resolve(spec, role: role).get()
            guard let text = readTextFile(path, limit: 4096) else {
                throw .valueFile(path: path, role: role, problem: String(cString: strerror(errno)))
            }
            return (path, try parse(text, scale: spec.scale, path: path, role: role))
        }
    }

    /// The one file `spec.path` matches, or why not.
    nonisolated static func resolve(_ spec: ValueSpec, role: String) -> Result<String, BoardError> {
        let matches = expand(spec.path)
        guard matches.count == 1 else {
            return .failure(.valueFile(path: spec.path, role: role,
                                       problem: matches.isEmpty ? "no such file" : "\(matches.count) files match (\(matches.prefix(3).joined(separator: ", "))); name one"))
        }
        return .success(matches[0])
    }

    /// The first whitespace-separated token as a number, times `scale`.
    nonisolated static func parse(_ text: String, scale: Double, path: String, role: String) throws(BoardError) -> Double {
        let token = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).first.map(String.init) ?? ""
        guard let v = Double(token), v.isFinite else {
            throw BoardError.valueFile(path: path, role: role, problem: "expected a number, got \(String(text.prefix(40)).debugDescription)")
        }
        return v * scale
    }

    /// The files matching `pattern` (glob(3): `*`, `?`, `[...]`), sorted.
    nonisolated static func expand(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { i in g.gl_pathv[i].map { String(cString: $0) } }.sorted()
    }
}
