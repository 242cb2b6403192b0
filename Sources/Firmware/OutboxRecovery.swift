import Board
import CSQLite
import Glibc

/// A damaged outbox (an SD card after a power cut or wear: SQLite reports `SQLITE_CORRUPT` or
/// `SQLITE_NOTADB`, at open or at any later call) is replaced, never fatal:
///
/// 1. the file, its `-wal` and its `-shm` are put aside as `<name>.damaged-<UTC time>` (+
///    `-wal`, `-shm`: `sqlite3 <copy> .recover` finds them; an empty log is not kept), closed
///    without a checkpoint so nothing is folded into the damaged file; the newest
///    `keptDamagedCopies` are kept, older ones deleted;
/// 2. what can still be read from the copy is read (read-only): `meta` (the numbering, the
///    counts, the removal watermark, the epoch), the highest stored number, the restored
///    outputs, earlier damage not yet acknowledged, `PRAGMA quick_check`'s verdict; where SQLite
///    cannot read the numbering, the file's bytes are searched for `seqMarker` (the numbers
///    payloads carry);
/// 3. a fresh file is made, locked and seeded with that: the numbering goes on from the highest
///    number found (at run time from the counts in memory), or starts again at 1 in a new
///    `epoch` when nothing is readable; what was stored and not sent is counted as `lost`;
/// 4. a `Damage` record is kept in it until acknowledged (`acknowledgeDamage`).
///
/// Messages stored in the damaged file are not sent from it: the copy is evidence, not a queue.
extension Outbox {
    /// One time the file was found damaged and replaced.
    public struct Damage: Sendable, Equatable, CustomStringConvertible {
        /// When (Unix ns).
        public var at: Int64
        /// Where the damaged file was put (its `-wal` and `-shm` beside it).
        public var keptAs: String
        /// What SQLite said.
        public var error: String
        /// `PRAGMA quick_check`'s first line on the copy ("ok", or the first problem), nil if it
        /// could not run.
        public var check: String?
        /// Messages stored and not yet sent that went with it; nil when that could not be read.
        public var lost: Int64?
        /// The number the fresh file went on from.
        public var nextSeq: Int64
        /// Nothing to go on from could be read: the numbering started again at 1, in `epoch`.
        public var restarted: Bool
        /// The fresh file's epoch (Unix s).
        public var epoch: Int64

        public var description: String {
            var s = "damaged (\(error)): kept as \(keptAs); "
            s += lost.map { "\($0) stored message\($0 == 1 ? "" : "s") lost" } ?? "how many stored messages were lost could not be read"
            s += restarted ? "; nothing readable: numbering starts again at 1 (epoch \(epoch))" : "; numbering goes on from \(nextSeq)"
            return s
        }

        static let schema = """
            CREATE TABLE IF NOT EXISTS damage (at INTEGER NOT NULL, kept_as TEXT NOT NULL, error TEXT NOT NULL, check_result TEXT,
                lost INTEGER, next_seq INTEGER NOT NULL, restarted INTEGER NOT NULL, epoch INTEGER NOT NULL,
                acknowledged INTEGER NOT NULL DEFAULT 0);
            """
        static let select = "SELECT at, kept_as, error, check_result, lost, next_seq, restarted, epoch FROM damage WHERE acknowledged = 0 ORDER BY rowid"

        init(row st: OpaquePointer) {
            func text(_ i: Int32) -> String? { sqlite3_column_type(st, i) == SQLITE_NULL ? nil : String(cString: sqlite3_column_text(st, i)) }
            at = sqlite3_column_int64(st, 0)
            keptAs = text(1) ?? ""
            error = text(2) ?? ""
            check = text(3)
            lost = sqlite3_column_type(st, 4) == SQLITE_NULL ? nil : sqlite3_column_int64(st, 4)
            nextSeq = sqlite3_column_int64(st, 5)
            restarted = sqlite3_column_int64(st, 6) != 0
            epoch = sqlite3_column_int64(st, 7)
        }

        init(at: Int64, keptAs: String, error: String, check: String?, lost: Int64?, nextSeq: Int64, restarted: Bool, epoch: Int64) {
            (self.at, self.keptAs, self.error, self.check, self.lost, self.nextSeq, self.restarted, self.epoch) =
                (at, keptAs, error, check, lost, nextSeq, restarted, epoch)
        }
    }

    /// Damage not yet acknowledged, oldest first (kept in the file: it outlives a restart).
    public func damageNow() -> [Damage] {
        lock.withLock { _ in damage }
    }

    /// Marks every damage record acknowledged (on disk when this returns).
    public func acknowledgeDamage() async throws {
        try await io { try self.acknowledgeDamageNow() }
    }

    public func acknowledgeDamageNow() throws {
        try locked {
            guard !damage.isEmpty else { return }
            try transaction("acknowledging the damage") { try run("UPDATE damage SET acknowledged = 1") }
            damage = []
        }
    }

    /// The unacknowledged damage records on this connection.
    func damageLocked() throws -> [Damage] {
        let st = try statement(Damage.select)
        defer { sqlite3_reset(st) }
        var out: [Damage] = []
        while true {
            switch sqlite3_step(st) {
            case SQLITE_ROW: out.append(Damage(row: st))
            case SQLITE_DONE: return out
            default: throw error("reading the damage records")
            }
        }
    }

    /// Replaces the damaged file (`cause`: what SQLite said) by a fresh one seeded with what can
    /// be read (`known`: the counts in memory, nil at open). Inside `lock`. Throws when the file
    /// cannot be put aside or the fresh one cannot be made: then the outbox fails as before.
    func remake(after cause: OutboxError, known prior: Counts?) throws {
        if let db { _ = firmloop_sqlite3_no_checkpoint_on_close(db) }
        disconnect()
        let now = clock()
        let kept: String
        do { kept = try Self.putAside(path, at: now) } catch let why as OutboxError {
            db = try? Self.connect(path)   // as it was: every call fails with SQLite's reason
            throw OutboxError(path: path, message: "\(cause.message); and it cannot be put aside: \(why.message)", code: cause.code)
        }
        Self.pruneDamagedCopies(of: path, keep: Self.keptDamagedCopies)
        let found = Salvage.read(kept, marker: seqMarker)
        // An empty log (SQLite makes one when it opens a file in WAL mode, as the reads just
        // did) holds nothing; its index (-shm) is only ever a cache of the log's.
        var st = stat()
        if stat(kept + "-wal", &st) != 0 || st.st_size == 0 {
            unlink(kept + "-wal")
            unlink(kept + "-shm")
        }
        let carried = prior == nil ? found.damage : damage

        processLock = try ProcessLock(path)   // the new file's (the old one's is freed)
        db = try Self.connect(path)
        try setUp()

        let meta = found.meta
        let next = [prior?.nextSeq, meta["next_seq"], found.maxSeq.map { $0 + 1 }, found.scannedSeq.map { $0 + 1 }].compactMap { $0 }.max()
        let lost: Int64? = prior.map { Int64($0.pending) } ?? meta["pending"]
            ?? meta["next_seq"].flatMap { n in meta["removed_through"].map { max(0, n - 1 - $0) } }
        let oldEpoch = prior?.epoch ?? meta["epoch"]
        var c = Counts(pending: 0, nextSeq: next ?? 1, dropped: prior?.dropped ?? meta["dropped"] ?? 0,
                       unstored: prior?.unstored ?? meta["unstored"] ?? 0,
                       lost: (prior?.lost ?? meta["lost"] ?? 0) + (lost ?? 0), damaged: (prior?.damaged ?? meta["damaged"] ?? 0) + 1,
                       epoch: known.epoch)
        if let oldEpoch, next != nil {
            c.epoch = oldEpoch   // the same numbering, going on
        } else {
            // A new numbering: after every moment the old one can have begun.
            let modified = stat(kept, &st) == 0 ? Int64(st.st_mtim.tv_sec) : 0
            c.epoch = max(now / 1_000_000_000, modified + 1, (oldEpoch ?? 0) + 1)
        }
        let record = Damage(at: now, keptAs: kept, error: cause.message, check: found.check, lost: lost, nextSeq: c.nextSeq,
                            restarted: next == nil, epoch: c.epoch)
        let was = known
        try transaction("seeding the fresh file") {
            try store(c, was: was)
            try run("UPDATE meta SET value = ? WHERE key = 'removed_through'", c.nextSeq - 1)
            for (role, value) in found.outputs { try run("INSERT OR REPLACE INTO outputs VALUES (?, ?)", role, value) }
            for d in carried + [record] {
                try run("INSERT INTO damage (at, kept_as, error, check_result, lost, next_seq, restarted, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        d.at, d.keptAs, d.error, d.check, d.lost, d.nextSeq, d.restarted, d.epoch)
            }
            try run("DELETE FROM damage WHERE rowid <= (SELECT max(rowid) FROM damage) - ?", Int64(Self.keptDamageRecords))
        }
        known = c
        removedThrough = c.nextSeq - 1
        removedRows = 0
        damage = try damageLocked()
    }

    /// Moves `path` and its `-wal`/`-shm` to `<path>.damaged-<UTC time>` (+ the same suffixes);
    /// returns the new name. A `-wal` that cannot be moved is deleted: left in place, SQLite would
    /// replay it into the fresh file.
    static func putAside(_ path: String, at now: Int64) throws -> String {
        let stamp = String(iso8601(unixNanoseconds: now).prefix(19).filter { $0 != "-" && $0 != ":" }) + "Z"   // 20261203T073000Z
        var kept = "\(path).damaged-\(stamp)"
        var n = 2
        while access(kept, F_OK) == 0 {
            kept = "\(path).damaged-\(stamp)-\(n)"
            n += 1
        }
        func why() -> String { String(cString: strerror(errno)) }
        guard rename(path, kept) == 0 else { throw OutboxError(path: path, message: "renaming it to \(kept): \(why())") }
        for suffix in ["-wal", "-shm"] where rename(path + suffix, kept + suffix) != 0 && errno != ENOENT {
            guard unlink(path + suffix) == 0 || errno == ENOENT else {
                throw OutboxError(path: path, message: "cannot move or delete its \(suffix): \(why())")
            }
        }
        syncDirectory(of: path)
        return kept
    }

    /// Deletes all but the newest `keep` damaged copies of `path` (with their `-wal`/`-shm`).
    static func pruneDamagedCopies(of path: String, keep: Int) {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let prefix = (slash.map { String(path[path.index(after: $0)...]) } ?? path) + ".damaged-"
        guard let d = opendir(dir.isEmpty ? "/" : dir) else { return }
        var copies: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(prefix) && !name.hasSuffix("-wal") && !name.hasSuffix("-shm") { copies.append(name) }
        }
        closedir(d)
        for name in copies.sorted().dropLast(keep) {
            for suffix in ["", "-wal", "-shm"] { unlink("\(dir)/\(name)\(suffix)") }
        }
    }

    /// fsync of the directory holding `path`: a rename is durable once its directory is.
    static func syncDirectory(of path: String) {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

/// What can still be read from a damaged outbox, each part on its own (one unreadable does not
/// hide the others), through a read-only connection: nothing is written to the copy.
struct Salvage {
    var meta: [String: Int64] = [:]
    var maxSeq: Int64?
    /// The highest number after the marker in the file's and its log's bytes (only searched
    /// when `meta` has no numbering).
    var scannedSeq: Int64?
    var outputs: [(String, Double)] = []
    var damage: [Outbox.Damage] = []
    var check: String?

    static func read(_ path: String, marker: [UInt8]?) -> Salvage {
        var s = Salvage()
        if let db = try? Outbox.connect(path, flags: SQLITE_OPEN_READONLY) {
            defer { sqlite3_close(db) }
            // A file shorter than its header says is "malformed" before any page is read;
            // with this SQLite reads the pages that are there (read-only: nothing is written).
            rows(db, "PRAGMA writable_schema=ON") { _ in }
            rows(db, "SELECT key, value FROM meta") { st in
                s.meta[String(cString: sqlite3_column_text(st, 0))] = sqlite3_column_int64(st, 1)
            }
            rows(db, "SELECT max(seq) FROM outbox") { st in
                if sqlite3_column_type(st, 0) != SQLITE_NULL { s.maxSeq = sqlite3_column_int64(st, 0) }
            }
            rows(db, "SELECT role, value FROM outputs") { st in
                s.outputs.append((String(cString: sqlite3_column_text(st, 0)), sqlite3_column_double(st, 1)))
            }
            rows(db, Outbox.Damage.select) { st in s.damage.append(Outbox.Damage(row: st)) }
            var first: String?
            let failure = rows(db, "PRAGMA quick_check") { st in
                if first == nil { first = String(cString: sqlite3_column_text(st, 0)) }
            }
            // Its first finding ("ok" when whole), without the "*** in database main ***" heading.
            s.check = (first?.split(separator: "\n").first { !$0.hasPrefix("***") }.map { String($0.prefix(200)) }) ?? failure
        }
        if s.meta["next_seq"] == nil, let marker, !marker.isEmpty {
            s.scannedSeq = [highestNumber(after: marker, in: path), highestNumber(after: marker, in: path + "-wal")].compactMap { $0 }.max()
        }
        return s
    }

    /// Steps `sql`, handing each row to `row`, until done or an error; returns SQLite's message
    /// on an error (the rows before it were handed on).
    @discardableResult
    private static func rows(_ db: OpaquePointer, _ sql: String, _ row: (OpaquePointer) -> Void) -> String? {
        var st: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &st, nil) == SQLITE_OK, let st else { return String(cString: sqlite3_errmsg(db)) }
        defer { sqlite3_finalize(st) }
        while true {
            switch sqlite3_step(st) {
            case SQLITE_ROW: row(st)
            case SQLITE_DONE: return nil
            default: return String(cString: sqlite3_errmsg(db))
            }
        }
    }

    /// The highest decimal number (up to 18 digits) right after `marker` anywhere in the file.
    static func highestNumber(after marker: [UInt8], in path: String) -> Int64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let overlap = marker.count + 18   // a marker and its number cut by a read are read again whole
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var kept = 0
        var best: Int64?
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + kept, $0.count - kept) }
            guard n > 0 else { break }
            let end = kept + n
            buf.withUnsafeBytes { b in
                var at = 0
                while let (v, next) = numberAfter(marker, in: UnsafeRawBufferPointer(rebasing: b[..<end]), from: at) {
                    if let v { best = max(best ?? 0, v) }
                    at = next
                }
            }
            kept = min(overlap, end)
            buf.withUnsafeMutableBytes { b in _ = memmove(b.baseAddress!, b.baseAddress! + end - kept, kept) }
        }
        return best
    }
}
