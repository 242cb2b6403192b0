import CSQLite
import Kernel

/// The last commanded value of every output whose board file says `"restore": true` (a GPIO
/// output's level as 1 or 0, a PWM output's duty), kept on
/// disk so the next start sets it again (before the board is made, so the line never shows the
/// default in between). It lives in the outbox's database file (table `outputs`), so one file
/// holds a device's state, and a damaged file's values are salvaged with its numbering.
public struct OutputStore: Sendable {
    let outbox: Outbox

    /// Keeps the values, on disk when this returns (offloaded, like the outbox's own writes).
    public func save(_ values: [(role: String, value: Double)]) async throws {
        let store = self
        try await outbox.io { try store.saveNow(values) }
    }

    public func saveNow(_ values: [(role: String, value: Double)]) throws {
        guard !values.isEmpty else { return }
        try outbox.locked { try outbox.transaction("keeping the value of \(values.map(\.role).joined(separator: ", "))") {
            for v in values { try outbox.run("INSERT OR REPLACE INTO outputs VALUES (?, ?)", v.role, v.value) }
        } }
    }

    /// Every value kept, by role (read at start, before the board is made).
    public func valuesNow() throws -> [String: Double] {
        try outbox.locked {
            let st = try outbox.statement("SELECT role, value FROM outputs")
            defer { sqlite3_reset(st) }
            var out: [String: Double] = [:]
            while sqlite3_step(st) == SQLITE_ROW {
                out[String(cString: sqlite3_column_text(st, 0))] = sqlite3_column_double(st, 1)
            }
            return out
        }
    }
}

extension Outbox {
    /// The restored outputs' store, in this outbox's file.
    public var outputs: OutputStore { OutputStore(outbox: self) }
}
