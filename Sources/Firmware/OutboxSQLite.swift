import CSQLite

// The outbox's SQLite plumbing: statements prepared once and kept, values bound by type, one
// transaction per operation, and errors that name the file, the operation and SQLite's reason.
// Inside the outbox's lock, like everything that touches `db`.

/// A value a statement's `?` can take.
protocol SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: Int32)
}

// safety: SQLITE_TRANSIENT is the C macro ((sqlite3_destructor_type)-1), which Swift does not
// import: SQLite compares the pointer and never calls it. It copies the bytes before returning.
nonisolated(unsafe) private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension Int64: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: Int32) { sqlite3_bind_int64(statement, index, self) }
}

extension Double: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: Int32) { sqlite3_bind_double(statement, index, self) }
}

extension Bool: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: Int32) { sqlite3_bind_int64(statement, index, self ? 1 : 0) }
}

extension String: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: Int32) { sqlite3_bind_text(statement, index, self, -1, transient) }
}

extension Array: SQLiteBindable where Element == UInt8 {
    func bind(to statement: OpaquePointer, at index: Int32) {
        withUnsafeBytes { _ = sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient) }
    }
}

/// nil binds NULL.
extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: Int32) {
        if let v = self { v.bind(to: statement, at: index) } else { sqlite3_bind_null(statement, index) }
    }
}

extension Outbox {
    /// The error of every call after a damaged file could not be replaced.
    var closed: OutboxError { OutboxError(path: path, message: "closed: the damaged file could not be replaced (see the error before)") }

    func error(_ what: String) -> OutboxError {
        OutboxError(path: path, message: "\(what): \(String(cString: sqlite3_errmsg(db)))", code: sqlite3_extended_errcode(db))
    }

    /// Runs `sql`; a failure says what was being done (`what`) and SQLite's reason.
    func exec(_ sql: String, _ what: String) throws {
        guard db != nil else { throw closed }
        if sqlite3_exec(db, sql, nil, nil, nil) != SQLITE_OK { throw error(what) }
    }

    /// The prepared statement for `sql` (cached; the caller resets it after use). Inside `lock`.
    func statement(_ sql: String) throws -> OpaquePointer {
        if let st = statements[sql] { return st }
        guard db != nil else { throw closed }
        var st: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &st, nil) == SQLITE_OK, let st else { throw error("preparing \(sql)") }
        statements[sql] = st
        return st
    }

    /// Runs a cached statement that returns no rows; a failure says what was being done.
    private func run(cached sql: String, _ what: String) throws {
        try execute(try statement(sql), [], what: what)
    }

    /// Runs the cached statement `sql` with `args` bound to its `?`s, in order.
    func run(_ sql: String, _ args: any SQLiteBindable...) throws {
        try execute(try statement(sql), args)
    }

    /// Runs the prepared statement `st` (from `statement`) with `args` bound.
    func step(_ st: OpaquePointer, _ args: any SQLiteBindable...) throws { try execute(st, args) }

    /// Binds `args` to a prepared statement, runs it and resets it for the next use. `what`:
    /// the failure's description (default: the statement's SQL).
    private func execute(_ st: OpaquePointer, _ args: [any SQLiteBindable], what: String? = nil) throws {
        defer { sqlite3_reset(st) }
        for (i, a) in args.enumerated() { a.bind(to: st, at: Int32(i + 1)) }
        guard sqlite3_step(st) == SQLITE_DONE else { throw error(what ?? "running \(String(cString: sqlite3_sql(st)))") }
    }

    func scalar(_ sql: String, _ args: Int64...) throws -> Int64 {
        guard let v = try optionalScalar(sql, args) else { throw OutboxError(path: path, message: "reading \(sql): no value") }
        return v
    }

    /// The first column of the first row, nil if there is no row or it is NULL.
    func optionalScalar(_ sql: String, _ args: Int64...) throws -> Int64? { try optionalScalar(sql, args) }

    private func optionalScalar(_ sql: String, _ args: [Int64]) throws -> Int64? {
        let st = try statement(sql)
        defer { sqlite3_reset(st) }
        for (i, a) in args.enumerated() { sqlite3_bind_int64(st, Int32(i + 1), a) }
        switch sqlite3_step(st) {
        case SQLITE_ROW: return sqlite3_column_type(st, 0) == SQLITE_NULL ? nil : sqlite3_column_int64(st, 0)
        case SQLITE_DONE: return nil
        default: throw error("reading \(sql)")
        }
    }

    /// Runs `body` as one transaction; a failure names the operation (`what`: "storing a
    /// message"), the step and SQLite's reason, and rolls it all back.
    ///
    /// `durable: false` commits without an fsync (`synchronous=NORMAL`):
    /// the transaction is in the write-ahead log, safe from a crash of the process, and reaches
    /// the disk with the next durable commit (whose fsync covers the whole log, written in
    /// order) or checkpoint. A power cut before that undoes it, and only it and those after it:
    /// for what may be undone, such as a removal (the message is sent again, a duplicate).
    func transaction<T>(_ what: String, durable: Bool = true, _ body: () throws -> T) throws -> T {
        // The setting changes only when the kind of commit does (a removal after a removal
        // costs nothing more); a durable commit makes sure of FULL first, or does not begin.
        if syncRelaxed == durable {
            try run(cached: durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                    durable ? "committing with a sync (synchronous=FULL)" : "committing without a sync (synchronous=NORMAL)")
            syncRelaxed = !durable
        }
        do {
            try run(cached: "BEGIN IMMEDIATE", "beginning the transaction")
            do {
                let r = try body()
                try run(cached: "COMMIT", "committing")
                return r
            } catch {
                _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
                throw error
            }
        } catch let e as OutboxError {
            throw OutboxError(path: path, message: "\(what): \(e.message)", code: e.code)
        }
    }
}
