import Board
import Glibc
import Testing

/// The ways an SD card leaves an outbox after a power cut or wear (issue 30), each applied to an
/// outbox file (SQLite, 4 KiB pages, a few hundred messages) while no firmware has it open.
public enum OutboxDamage: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case truncatedMidFile, truncatedAtAPageBoundaryNearTheEnd, headerOverwritten, aPageZeroed, notADatabase

    public var testDescription: String { rawValue }
    public static let page = 4096

    public func apply(to path: String) throws {
        let size = try #require(fileBytes(path)).count
        let fd = open(path, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        switch self {
        case .truncatedMidFile:
            try #require(ftruncate(fd, off_t(size * 37 / 100)) == 0)
        case .truncatedAtAPageBoundaryNearTheEnd:
            try #require(ftruncate(fd, off_t((size / Self.page - 2) * Self.page)) == 0)
        case .headerOverwritten:
            let junk = [UInt8](repeating: 0xA5, count: 100)
            try #require(pwrite(fd, junk, junk.count, 0) == junk.count)
        case .aPageZeroed:
            // One page among those holding pending rows (the second half of the file), picked
            // by a fixed seed so a failure replays.
            var rng = SeededRandom(seed: 30)
            let pages = size / Self.page
            let victim = pages / 2 + Int(rng.next() % UInt64(pages / 2 - 1))
            let zeros = [UInt8](repeating: 0, count: Self.page)
            try #require(pwrite(fd, zeros, zeros.count, off_t(victim * Self.page)) == zeros.count)
        case .notADatabase:
            let text = Array(String(repeating: "this is not an outbox: an editor saved a note over it\n", count: 80).utf8)
            try #require(ftruncate(fd, 0) == 0 && pwrite(fd, text, text.count, 0) == text.count)
        }
    }

    /// SQLite can still read the outbox's `meta` table: the numbering, the epoch, the loss and
    /// the outputs carry over exactly. Otherwise the numbers payloads carry are searched for
    /// (`seqFound`), or nothing is readable.
    public var metaReadable: Bool { ![.headerOverwritten, .notADatabase].contains(self) }
    public var seqFound: Bool { self != .notADatabase }
}

public func fileBytes(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { return out }
        out += buf[0..<n]
    }
}
