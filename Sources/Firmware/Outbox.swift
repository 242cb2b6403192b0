import CSQLite
import Glibc
import Kernel

/// The durable store-and-forward queue between the snapshot task and the network: SQLite in
/// WAL mode with `synchronous=FULL`, so an append has reached the disk when it returns and a
/// power cut loses nothing acknowledged as stored. Sequence numbers start at 1, stay contiguous
/// and survive restarts. Bounded by `capacity`: when full, the oldest messages are dropped,
/// counted (and the count kept on disk) — the stated policy: fresh data beats old data.
/// Snapshots that could not be stored at all (the disk full, say) are counted on disk too, by
/// the next append that succeeds (`unstored`).
///
/// The write-ahead log is bounded: SQLite checkpoints it into the database every
/// `walCheckpointPages` pages (256 KiB) and truncates it back to `walLimitBytes` (256 KiB)
/// after, so on a small partition the log does not crowd out the data.
///
/// A removal and a collection commit without an fsync (`transaction(_:durable:_:)`): they
/// reach the disk with the next append's, which syncs the whole write-ahead log. A power cut
/// in between undoes them, so a delivered message is sent again after it (QoS 1 allows a
/// duplicate; nothing stored is lost), and a delivered snapshot costs the SD card one flush,
/// not two.
///
/// Removing is cheap: a removal moves a watermark (`removed_through` in `meta`, one row)
/// over the acknowledged messages instead of deleting their rows, which read and rewrote every
/// page they were on. The rows stay until `collect` deletes them, a batch at a time when the
/// client is idle (`OutboxForwarding`), or an append needs their room: pending rows and removed rows not yet
/// collected together stay within `capacity`. Acknowledgements out of order (rare: a broker
/// acknowledges in order) delete their rows at once.
///
/// Deleted rows are not overwritten (`secure_delete` off; Debian builds SQLite with it on): a
/// delivered message is no secret, and zeroing every freed page wrote each page twice.
///
/// Every SQLite call runs through `offload` (a commit's fsync can take milliseconds on an SD
/// card): the kernel thread never blocks on the disk. A lock makes each call one transaction
/// at a time on the one connection, whichever worker thread runs it.
///
/// A damaged file (SQLite says `SQLITE_CORRUPT` or `SQLITE_NOTADB`, at open or at any later
/// call) does not stop the firmware: it is put aside and a fresh file takes its place, the
/// numbering carried on from what could still be read (`OutboxRecovery.swift`).
// safety: the SQLite connection, its statements, the lock file and the in-memory state are
// used only inside `lock` (one call at a time, on whichever worker thread runs it); everything
// else is a `let`.
public final class Outbox: @unchecked Sendable {
    public struct Message: Sendable, Equatable {
        public var seq: Int64
        public var topic: String
        public var payload: [UInt8]
    }

    public struct Counts: Sendable, Equatable {
        /// Messages stored and not yet acknowledged.
        public var pending: Int
        /// The sequence number the next append gets.
        public var nextSeq: Int64
        /// Messages dropped (oldest first) because the outbox was full, over its whole life.
        public var dropped: Int64
        /// Messages that could not be stored at all (an append failed: disk full, I/O error),
        /// over the outbox's whole life, as reported to `append(unstored:)`.
        public var unstored: Int64

        /// Stored messages lost with damaged files (each put aside, a fresh one made), over the
        /// outbox's life, as far as they could be counted (`Damage.lost`).
        public var lost: Int64
        /// Times the file was found damaged and made again.
        public var damaged: Int64
        /// When this numbering began (Unix seconds): set when the file is made, kept while its
        /// numbers go on, new when a damaged file leaves nothing to go on from (the numbers
        /// start at 1 again). A receiver tells two numberings apart by it.
        public var epoch: Int64

        public init(pending: Int, nextSeq: Int64, dropped: Int64, unstored: Int64 = 0, lost: Int64 = 0, damaged: Int64 = 0, epoch: Int64 = 0) {
            self.pending = pending
            self.nextSeq = nextSeq
            self.dropped = dropped
            self.unstored = unstored
            self.lost = lost
            self.damaged = damaged
            self.epoch = epoch
        }
    }

    public let path: String
    public let capacity: Int
    /// The write-ahead log's bounds (see the type's documentation).
    public static let walCheckpointPages = 64
    public static let walLimitBytes = 256 * 1024
    /// SQLite's page cache, KiB (its default is 2 MiB): the outbox is written at one end and
    /// read at the other, a few pages each, so a small cache holds its working set.
    public static let pageCacheKiB = 512
    /// Removed rows deleted per `collect` at most (one transaction).
    public static let collectLimit = 4096
    /// Damaged copies kept beside the outbox (`<name>.damaged-<UTC time>`, with their `-wal`
    /// and `-shm`): the newest this many; an older one is deleted when a newer one is made.
    public static let keptDamagedCopies = 3
    /// Damage records kept in the file (the newest; acknowledged or not).
    public static let keptDamageRecords = 8
    /// The connection (nil only while a damaged file is being replaced).
    var db: OpaquePointer?
    let lock = ThreadMutex(())
    /// The counts as on disk (read at open, set after each commit).
    var known = Counts(pending: 0, nextSeq: 1, dropped: 0)
    /// Damage not yet acknowledged (`acknowledgeDamage`), oldest first; the `damage` table's.
    var damage: [Damage] = []
    /// Wall clock (Unix ns): damage times, copies' names, epochs.
    let clock: @Sendable () -> Int64
    /// Bytes that come just before a message's sequence number in its payload (a snapshot's
    /// `"seq":`): a damaged file is searched for them when SQLite cannot read its numbers.
    let seqMarker: [UInt8]?
    /// Every message up to here is removed (`removed_through` on disk); above it, every row is
    /// pending. Inside `lock`, like `removedRows`.
    var removedThrough: Int64 = 0
    /// Rows at or below `removedThrough` still on disk (deleted by `collect`).
    var removedRows = 0
    /// Prepared statements by SQL, made on first use and kept (reset after each) until the
    /// outbox closes: an append is a dozen statements, and parsing each one every time was
    /// most of the outbox's cost (`statement`).
    var statements: [String: OpaquePointer] = [:]
    /// The connection commits without an fsync now (`synchronous=NORMAL`: the last transaction
    /// was one that may be undone, see `transaction(_:durable:_:)`).
    var syncRelaxed = false
    /// Held while open: one process per outbox, or sequence numbers would collide (nil in memory).
    var processLock: ProcessLock?
    private let offloaded: Bool

    /// Opens (creating if needed) the outbox at `path` (":memory:" for one that lives only as
    /// long as the process, as simulations use); errors name the file. A second process opening
    /// the same outbox is refused. A damaged file is put aside and a fresh one made
    /// (`damageNow()` says what happened); a file that cannot be put aside is an error.
    ///
    /// `offloaded: false` runs each call on the kernel thread instead: for an in-memory outbox
    /// in a simulation, where there is no disk to wait for and two offloads finishing in either
    /// order would make runs of the same seed differ. `clock`: the wall clock, Unix ns (a
    /// simulation's, for runs that replay). `seqMarker`: see the property.
    public init(path: String, capacity: Int = 100_000, offloaded: Bool = true,
                clock: @escaping @Sendable () -> Int64 = Outbox.realtime, seqMarker: [UInt8]? = nil) throws {
        precondition(capacity > 0)
        self.path = path
        self.capacity = capacity
        self.offloaded = offloaded
        self.clock = clock
        self.seqMarker = seqMarker
        let held = path == ":memory:" ? nil : try ProcessLock(path)
        db = try Self.connect(path)
        processLock = held
        // From here a throw runs deinit, which closes both.
        do { try setUp() } catch let e as OutboxError where e.isDamage && path != ":memory:" {
            try lock.withLock { _ in try remake(after: e, known: nil) }
        }
    }

    /// The wall clock, Unix ns.
    @Sendable public static func realtime() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func connect(_ path: String, flags: Int32 = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) throws -> OpaquePointer {
        var h: OpaquePointer?
        let rc = sqlite3_open_v2(path, &h, flags | SQLITE_OPEN_FULLMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let why = h.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let h { sqlite3_close(h) }
            throw OutboxError(path: path, message: why, code: rc)
        }
        return h
    }

    /// The pragmas, the tables and the state in memory, on the connection just made.
    func setUp() throws {
        try exec("PRAGMA journal_mode=WAL", "setting up (journal_mode=WAL)")
        try exec("PRAGMA synchronous=FULL", "setting up (synchronous=FULL)")
        syncRelaxed = false
        try exec("PRAGMA wal_autocheckpoint=\(Self.walCheckpointPages)", "setting up (wal_autocheckpoint)")
        try exec("PRAGMA journal_size_limit=\(Self.walLimitBytes)", "setting up (journal_size_limit)")
        try exec("PRAGMA cache_size=-\(Self.pageCacheKiB)", "setting up (cache_size)")
        try exec("PRAGMA secure_delete=OFF", "setting up (secure_delete)")
        try exec("""
            CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS outputs (role TEXT PRIMARY KEY, value INTEGER NOT NULL);
            \(Damage.schema)
            INSERT OR IGNORE INTO meta VALUES ('next_seq', 1), ('dropped', 0), ('unstored', 0), ('removed_through', 0),
                ('lost', 0), ('damaged', 0), ('epoch', \(clock() / 1_000_000_000));
            INSERT OR REPLACE INTO meta VALUES ('pending', (SELECT count(*) FROM outbox WHERE seq > (SELECT value FROM meta WHERE key = 'removed_through')));
            """, "setting up the tables")
        let meta = try metaLocked()
        known = Counts(meta: meta)
        removedThrough = meta["removed_through"] ?? 0
        removedRows = Int(try scalar("SELECT count(*) FROM outbox WHERE seq <= ?", removedThrough))
        damage = try damageLocked()
    }

    /// Closes the connection (its statements first).
    func disconnect() {
        for st in statements.values { sqlite3_finalize(st) }
        statements = [:]
        if let db { sqlite3_close(db) }
        db = nil
    }

    // The process lock is freed after SQLite's descriptor closes (stored properties go after
    // deinit's body), as ProcessLock requires.
    deinit { disconnect() }

    // MARK: kernel-facing (each is one offloaded transaction)

    /// Stores a message durably; returns it and the outbox's counts with it stored. `payload`
    /// is made on the worker thread, inside the transaction, from the sequence number the
    /// message gets and those counts (so a payload can carry them). `unstored`: messages the
    /// caller could not store since its last successful append, added to the count on disk.
    public func append(topic: String, unstored: Int = 0, payload: @escaping @Sendable (Int64, Counts) -> [UInt8]) async throws -> (Message, Counts) {
        try await io {
            let (m, c) = try self.appendNow(topic: topic, count: 1, unstored: unstored, payload: payload)
            return (m[0], c)
        }
    }

    /// Up to `limit` stored messages with seq > `after`, oldest first.
    public func pending(after: Int64 = 0, limit: Int = 256) async throws -> [Message] {
        try await io { try self.pendingNow(after: after, limit: limit) }
    }

    /// Removes acknowledged messages; returns how many removed rows wait to be collected.
    @discardableResult
    public func remove(_ seqs: [Int64]) async throws -> Int {
        try await io { try self.removeNow(seqs) }
    }

    /// Deletes up to `limit` removed rows, oldest first, in one transaction; returns how many
    /// are left.
    @discardableResult
    public func collect(limit: Int = Outbox.collectLimit) async throws -> Int {
        try await io { try self.collectNow(limit: limit) }
    }

    public func counts() async throws -> Counts {
        try await io { try self.countsNow() }
    }

    @KernelActor
    func io<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        offloaded ? try await offload(work) : try work()
    }

    // MARK: synchronous (worker thread, tests, tools)

    public func appendNow(topic: String, payload: [UInt8]) throws -> Int64 {
        try appendNow(topic: topic, count: 1) { _, _ in payload }.0[0].seq
    }

    /// Stores `count` messages in one transaction (one fsync), `payload` made from each one's
    /// sequence number and the counts once all are stored.
    public func appendNow(topic: String, count: Int, unstored: Int = 0, payload: (Int64, Counts) -> [UInt8]) throws -> ([Message], Counts) {
        try locked {
            let (out, after, through, removed) = try transaction("storing \(count == 1 ? "a message" : "\(count) messages")") {
                () throws -> ([Message], Counts, Int64, Int) in
                let before = known
                let first = before.nextSeq
                let over = max(0, before.pending + count - capacity)
                var after = before
                after.pending = before.pending + count - over
                after.nextSeq = first + Int64(count)
                after.dropped = before.dropped + Int64(over)
                after.unstored = before.unstored + Int64(unstored)
                let insert = try statement("INSERT INTO outbox (seq, topic, payload) VALUES (?, ?, ?)")
                var out: [Message] = []
                out.reserveCapacity(count)
                for seq in first..<(first + Int64(count)) {
                    let m = Message(seq: seq, topic: topic, payload: payload(seq, after))
                    try step(insert, m.seq, m.topic, m.payload)
                    out.append(m)
                }
                var through = removedThrough, removed = removedRows
                if over > 0 {
                    // The oldest `over` pending are dropped: the watermark moves past them.
                    through = try scalar("SELECT seq FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?", through, Int64(over - 1))
                    removed += over
                    try run("UPDATE meta SET value = ? WHERE key = 'removed_through'", through)
                }
                // Rows on disk stay within `capacity`: the oldest removed rows give way.
                let excess = after.pending + removed - capacity
                if excess > 0 { removed -= try deleteRemoved(excess, through: through) }
                try store(after, was: before)
                return (out, after, through, removed)
            }
            removedThrough = through
            removedRows = removed
            known = after
            return (out, after)
        }
    }

    public func pendingNow(after: Int64 = 0, limit: Int = 256) throws -> [Message] {
        try locked { try pendingLocked(after: after, limit: limit) }
    }

    private func pendingLocked(after: Int64, limit: Int) throws -> [Message] {
        let st = try statement("SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        defer { sqlite3_reset(st) }
        sqlite3_bind_int64(st, 1, max(after, removedThrough))
        sqlite3_bind_int64(st, 2, Int64(limit))
        var out: [Message] = []
        while true {
            let rc = sqlite3_step(st)
            if rc == SQLITE_DONE { return out }
            guard rc == SQLITE_ROW else { throw error("reading pending messages") }
            let n = Int(sqlite3_column_bytes(st, 2))
            let blob = sqlite3_column_blob(st, 2)
            out.append(Message(seq: sqlite3_column_int64(st, 0), topic: String(cString: sqlite3_column_text(st, 1)),
                               payload: n > 0 ? Array(UnsafeRawBufferPointer(start: blob, count: n)) : []))
        }
    }

    /// Removes messages in one transaction; returns how many removed rows wait to be collected.
    ///
    /// The usual case (the broker acknowledges in order, no earlier removal out of order left
    /// a gap) moves the watermark over the run that starts just above it: one row of `meta`
    /// written. Numbers beyond a gap delete their rows (one range delete per run of consecutive
    /// numbers); while such gaps exist, the watermark moves only past rows that are gone.
    @discardableResult
    public func removeNow(_ seqs: [Int64]) throws -> Int {
        guard !seqs.isEmpty else { return try locked { removedRows } }
        let sorted = seqs.sorted()
        return try locked {
            let (through, removed, after) = try transaction("removing \(seqs.count) acknowledged message\(seqs.count == 1 ? "" : "s")", durable: false) { () throws -> (Int64, Int, Counts) in
                var c = known
                var through = removedThrough, removed = removedRows
                // Every number in (through, nextSeq) has a pending row unless an earlier removal
                // out of order deleted it: that many gaps.
                let gaps = c.nextSeq - 1 - through - Int64(c.pending)
                var i = 0
                if gaps == 0 {
                    while i < sorted.count && sorted[i] <= through + 1 {
                        if sorted[i] == through + 1 && through + 1 < c.nextSeq {
                            through += 1
                            removed += 1
                            c.pending -= 1
                        }
                        i += 1
                    }
                }
                let delete = try statement("DELETE FROM outbox WHERE seq BETWEEN ? AND ?")
                var lo = Int64(0), hi = Int64(-1)
                for s in sorted[i...] where s > through {
                    if s <= hi + 1 { hi = max(hi, s); continue }
                    if lo <= hi { try step(delete, lo, hi); c.pending -= Int(sqlite3_changes(db)) }
                    lo = s
                    hi = s
                }
                if lo <= hi { try step(delete, lo, hi); c.pending -= Int(sqlite3_changes(db)) }
                if gaps != 0 {
                    // Past the rows that are gone, up to the first still pending.
                    let first = try optionalScalar("SELECT min(seq) FROM outbox WHERE seq > ?", through)
                    through = max(through, (first ?? c.nextSeq) - 1)
                }
                if through != removedThrough { try run("UPDATE meta SET value = ? WHERE key = 'removed_through'", through) }
                try store(c, was: known)
                return (through, removed, c)
            }
            removedThrough = through
            removedRows = removed
            known = after
            return removed
        }
    }

    /// The connection's `synchronous` setting now (2 FULL, 1 NORMAL): for tests.
    func synchronousNow() throws -> Int64 {
        try locked { try scalar("PRAGMA synchronous") }
    }

    /// Removed rows still on disk (waiting for `collect`).
    public func removedRowsNow() throws -> Int {
        try locked { removedRows }
    }

    /// Deletes up to `limit` removed rows, oldest first, in one transaction; returns how many
    /// are left.
    @discardableResult
    public func collectNow(limit: Int = Outbox.collectLimit) throws -> Int {
        try locked {
            guard removedRows > 0 else { return 0 }
            let deleted = try transaction("collecting removed messages", durable: false) { try deleteRemoved(min(limit, removedRows), through: removedThrough) }
            removedRows -= deleted
            return removedRows
        }
    }

    /// Deletes the oldest `n` removed rows, those at or below `through` (inside a transaction);
    /// returns how many went.
    private func deleteRemoved(_ n: Int, through: Int64) throws -> Int {
        let last = try scalar("SELECT seq FROM outbox ORDER BY seq LIMIT 1 OFFSET ?", Int64(n - 1))
        try run("DELETE FROM outbox WHERE seq <= ?", min(last, through))
        return Int(sqlite3_changes(db))
    }

    /// The counts as on disk (kept in memory: read at open, set after each commit).
    public func countsNow() throws -> Counts {
        try locked { known }
    }

    /// Every row of `meta`, by key (pending is kept there too: counting the table is O(n) per
    /// append once a backlog builds).
    func metaLocked() throws -> [String: Int64] {
        let st = try statement("SELECT key, value FROM meta")
        defer { sqlite3_reset(st) }
        var out: [String: Int64] = [:]
        while true {
            switch sqlite3_step(st) {
            case SQLITE_ROW: out[String(cString: sqlite3_column_text(st, 0))] = sqlite3_column_int64(st, 1)
            case SQLITE_DONE: return out
            default: throw error("reading meta")
            }
        }
    }

    /// Writes the counts that differ from `was` (inside a transaction).
    func store(_ c: Counts, was: Counts) throws {
        for (key, value, old) in c.rows(against: was) where value != old {
            try run("UPDATE meta SET value = ? WHERE key = ?", value, key)
        }
    }

    /// SQLite's own check of the file ("ok" when whole).
    public func integrityCheckNow() throws -> String {
        try locked {
            let st = try statement("PRAGMA integrity_check")
            defer { sqlite3_reset(st) }
            guard sqlite3_step(st) == SQLITE_ROW else { throw error("checking integrity") }
            return String(cString: sqlite3_column_text(st, 0))
        }
    }

    /// Runs `body` inside the lock. A damaged file found on the way (`OutboxError.isDamage`) is
    /// replaced by a fresh one (`remake`) and `body` runs once more, on it.
    func locked<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock { _ in
            do { return try body() } catch let e as OutboxError where e.isDamage && path != ":memory:" {
                try remake(after: e, known: known)
                return try body()
            }
        }
    }
}

extension Outbox.Counts {
    /// Read from `meta` (a key missing: 0, the numbering from 1).
    init(meta: [String: Int64]) {
        self.init(pending: Int(meta["pending"] ?? 0), nextSeq: max(1, meta["next_seq"] ?? 1), dropped: meta["dropped"] ?? 0,
                  unstored: meta["unstored"] ?? 0, lost: meta["lost"] ?? 0, damaged: meta["damaged"] ?? 0, epoch: meta["epoch"] ?? 0)
    }

    /// (meta key, value here, value in `was`) for every count kept in `meta`.
    func rows(against was: Self) -> [(String, Int64, Int64)] {
        [("pending", Int64(pending), Int64(was.pending)), ("next_seq", nextSeq, was.nextSeq), ("dropped", dropped, was.dropped),
         ("unstored", unstored, was.unstored), ("lost", lost, was.lost), ("damaged", damaged, was.damaged), ("epoch", epoch, was.epoch)]
    }
}

public struct OutboxError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String
    /// SQLite's (extended) result code, 0 when the error is not SQLite's.
    public let code: Int32

    public init(path: String, message: String, code: Int32 = 0) {
        self.path = path
        self.message = message
        self.code = code
    }

    /// The file is damaged (SQLITE_CORRUPT, SQLITE_NOTADB): nothing more can be done with it.
    public var isDamage: Bool { code & 0xff == SQLITE_CORRUPT || code & 0xff == SQLITE_NOTADB }
    public var description: String { "outbox \(path): \(message)" }
}
