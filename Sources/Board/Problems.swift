import Glibc

/// Problems found while reading a file, all collected before failing: each names the file, the
/// key path and the line. Used for board files, scenario files and the simulated world.
public struct Problems: Sendable {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public let file: String
        public let key: String
        public let line: Int
        public let message: String
        public var description: String {
            (line > 0 ? "\(file):\(line): " : "\(file): ") + (key.isEmpty ? "" : "\(key): ") + message
        }
    }

    public let file: String
    public private(set) var list: [Problem] = []

    public init(file: String) { self.file = file }

    public mutating func add(_ key: String, _ at: JSON?, _ message: String) {
        list.append(Problem(file: file, key: key, line: at?.line ?? 0, message: message))
    }

    public var isEmpty: Bool { list.isEmpty }

    public func check() throws(FileProblems) {
        if !list.isEmpty { throw FileProblems(file: file, problems: list) }
    }

    // Typed getters: a wrong type is a problem (and nil); a missing optional key is just nil.

    public mutating func string(_ obj: JSON, _ key: String, at path: String, required: Bool = false) -> String? {
        guard let v = obj[key] else {
            if required { add(join(path, key), obj, "missing (required)") }
            return nil
        }
        guard let s = v.string else { add(join(path, key), v, "expected a string, found \(v.kind)"); return nil }
        return s
    }

    public mutating func bool(_ obj: JSON, _ key: String, at path: String) -> Bool? {
        guard let v = obj[key] else { return nil }
        guard let b = v.bool else { add(join(path, key), v, "expected true or false, found \(v.kind)"); return nil }
        return b
    }

    public mutating func int(_ obj: JSON, _ key: String, at path: String, range: ClosedRange<Int>) -> Int? {
        guard let v = obj[key] else { return nil }
        guard let n = v.int, range.contains(n) else {
            add(join(path, key), v, "expected a whole number in \(range.lowerBound)...\(range.upperBound), found \(v.text)")
            return nil
        }
        return n
    }

    public mutating func fraction(_ obj: JSON, _ key: String, at path: String) -> Double? {
        guard let v = obj[key] else { return nil }
        guard let n = v.number, n >= 0, n <= 1 else { add(join(path, key), v, "expected a probability 0...1, found \(v.text)"); return nil }
        return n
    }

    public mutating func number(_ obj: JSON, _ key: String, at path: String, min: Double = 0) -> Double? {
        guard let v = obj[key] else { return nil }
        guard let n = v.number, n >= min else { add(join(path, key), v, "expected a number >= \(min), found \(v.text)"); return nil }
        return n
    }

    /// A duration: a string like "30s" / "200ms", or a number of milliseconds.
    public mutating func duration(_ obj: JSON, _ key: String, at path: String, required: Bool = false) -> Int64? {
        guard let v = obj[key] else {
            if required { add(join(path, key), obj, "missing (required)") }
            return nil
        }
        if let n = v.number, n >= 0 { return Int64(n * 1e6) }
        if let s = v.string, let d = DurationText.parse(s) { return d }
        add(join(path, key), v, "expected a duration such as \"250ms\", \"30s\" or \"2h\", found \(v.text)")
        return nil
    }

    /// Keys of `obj` not in `known` are reported (typos fail loudly instead of being ignored).
    public mutating func rejectUnknown(_ obj: JSON, at path: String, known: Set<String>) {
        for m in obj.members ?? [] where !known.contains(m.key) {
            add(join(path, m.key), m.value, "unknown key (expected one of: \(known.sorted().joined(separator: ", ")))")
        }
        var seen = Set<String>()
        for m in obj.members ?? [] where !seen.insert(m.key).inserted {
            add(join(path, m.key), m.value, "duplicate key")
        }
    }

    public func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// A file that could not be used, with every problem found in it.
public struct FileProblems: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let problems: [Problems.Problem]
    public init(file: String, problems: [Problems.Problem]) {
        self.file = file
        self.problems = problems
    }

    /// A file with one problem (unreadable, not JSON).
    public static func one(_ file: String, line: Int = 0, _ message: String) -> FileProblems {
        FileProblems(file: file, problems: [Problems.Problem(file: file, key: "", line: line, message: message)])
    }

    /// `text` as JSON, or the syntax error as a problem naming `file` and the line.
    public static func parseJSON(_ text: String, file: String) throws(FileProblems) -> JSON {
        do { return try JSON.parse(text) } catch {
            throw one(file, line: error.line, "not valid JSON: \(error.message) (column \(error.column))")
        }
    }

    /// The file's text, or a problem saying why it cannot be read.
    public static func read(_ path: String, what: String) throws(FileProblems) -> String {
        guard let text = readTextFile(path) else { throw one(path, "cannot read the \(what): \(String(cString: strerror(errno)))") }
        return text
    }

    public var description: String {
        let n = problems.count
        return "\(file): \(n) problem\(n == 1 ? "" : "s"):\n" + problems.map { "  " + $0.description }.joined(separator: "\n")
    }
}
