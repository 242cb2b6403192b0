import Glibc

/// One process per file: an exclusive `flock` on `path`, held until this is freed. The outbox
/// takes one, or two firmwares on one outbox would hand out the same sequence numbers.
///
/// Free it after any other descriptor of the same file a library holds (SQLite's): closing
/// another descriptor of a file first would drop that library's POSIX locks on it.
final class ProcessLock: Sendable {
    private let fd: Int32

    /// Opens (creating if needed) and locks `path`; errors name it.
    init(_ path: String) throws(OutboxError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutboxError(path: path, message: "cannot open: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw OutboxError(path: path, message: "in use by another process (one firmware per outbox)")
        }
        self.fd = fd
    }

    deinit { close(fd) }
}
