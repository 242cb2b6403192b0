import Firmware
import Glibc

/// `run`'s log: one line per event on stderr, filtered by `--log-level`; when stderr is the
/// journal's stream (`$JOURNAL_STREAM` names stderr's device and inode, as systemd sets it for
/// a service) each line carries its `<priority>` prefix, so journald stores it as err,
/// warning, info or debug.
struct Logger: Sendable {
    let format: LogFormat

    init(level: LogLevel) {
        format = LogFormat(threshold: level, priorityPrefix: Self.stderrIsJournal())
    }

    func callAsFunction(_ level: LogLevel, _ text: String) {
        if let line = format.line(level, text) { writeErr(line) }
    }

    func error(_ text: String) { self(.error, text) }
    func warning(_ text: String) { self(.warning, text) }
    func info(_ text: String) { self(.info, text) }
    func debug(_ text: String) { self(.debug, text) }

    /// `$JOURNAL_STREAM` is "DEVICE:INODE" of the stream systemd connected; it only counts when
    /// stderr is still that stream (a child's redirected stderr is not).
    static func stderrIsJournal() -> Bool {
        guard let v = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = v.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}
