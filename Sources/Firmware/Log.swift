/// How much a log line matters, numbered as syslog and journald number priorities.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case error = 3, warning = 4, info = 6, debug = 7

    /// `error`, `warning` (or `warn`), `info`, `debug`.
    public init?(name: String) {
        switch name {
        case "error", "err": self = .error
        case "warning", "warn": self = .warning
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .error: "error"
        case .warning: "warning"
        case .info: "info"
        case .debug: "debug"
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue > b.rawValue }
    public static let names = "error, warning, info, debug"
}

/// How log lines are written: which levels pass, and whether each line carries the
/// `<N>` priority prefix that journald reads from a service's stderr (sd-daemon(3)), so that
/// `journalctl -p err` finds the errors. One event is one line.
public struct LogFormat: Sendable, Equatable {
    /// The least important level written.
    public var threshold: LogLevel
    /// Prefix each line with `<priority>`: set when stderr is the journal's stream.
    public var priorityPrefix: Bool

    public init(threshold: LogLevel = .info, priorityPrefix: Bool = false) {
        self.threshold = threshold
        self.priorityPrefix = priorityPrefix
    }

    /// The line to write (with its newline), or nil when `level` is below the threshold.
    /// A text of several lines becomes several lines, each with the prefix.
    public func line(_ level: LogLevel, _ text: String) -> String? {
        guard level >= threshold else { return nil }
        guard priorityPrefix else { return text + "\n" }
        var out = ""
        for part in text.split(separator: "\n", omittingEmptySubsequences: false) {
            out += "<\(level.rawValue)>" + part + "\n"
        }
        return out
    }
}
