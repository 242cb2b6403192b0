import Board
import Glibc

/// The hand-over between the unprivileged firmware and the root side of an update, in the
/// service's state directory (`/var/lib/firmloop/update`):
///
///     download.part      what is being downloaded (kept for a resume while its request is the same)
///     download.request   that request (a resume of another artifact starts again)
///     ready/             a verified artifact and its request: `firmloop.deb`, `request`. Made as
///                        `incoming/` and renamed, so the root side (firmloop-update.path watches
///                        for `ready`) never sees half of it
///     result             the root side's answer (key=value lines): id, from, to, result
///                        (installed, rolled-back, refused, failed), reason, at
///     reported           the id whose result the firmware has acknowledged on `…/ack`
///
/// The files are `key=value` lines so the root side reads them with `sed`, never by sourcing
/// what the firmware wrote.
public struct UpdateStaging: Sendable {
    public let directory: String

    public init(stateDirectory: String) { directory = stateDirectory + "/update" }

    public var ready: String { directory + "/ready" }
    public var part: String { directory + "/download.part" }
    public var partRequest: String { directory + "/download.request" }
    public var resultFile: String { directory + "/result" }
    public var reportedFile: String { directory + "/reported" }

    /// Whether an update is staged and not yet taken by the root side.
    public var isPending: Bool { access(ready, F_OK) == 0 }

    /// Stages the verified artifact at `artifact` (copied, then `ready` appears at once).
    /// Blocking (copies and fsyncs): off the kernel thread.
    public func stage(_ artifact: String, request: UpdateRequest, sha256: String, from version: String) throws(UpdateError) {
        guard !isPending else { throw UpdateError("an update is already staged and waiting for the installer (\(ready))") }
        let incoming = directory + "/incoming"
        try makeDirectory(directory)
        removeTree(incoming)
        try makeDirectory(incoming)
        try copyFile(artifact, to: incoming + "/firmloop.deb")
        try writeFile(incoming + "/request", Self.lines([
            ("id", request.id ?? ""), ("sha256", sha256), ("signature", Base64.encode(request.signature)),
            ("from", version), ("url", request.url),
        ]))
        guard rename(incoming, ready) == 0 else { throw UpdateError("\(ready): cannot rename \(incoming) to it: \(String(cString: strerror(errno)))") }
        fsyncDirectory(directory)
    }

    /// What the `update` command does on a worker thread: download `request.url` (resumed when
    /// the last attempt was for the same artifact), check it, stage it. Returns its size and
    /// SHA-256; throws why it is refused (a download that stopped stays for a resume; one that
    /// fails its checks is deleted).
    public func fetch(_ request: UpdateRequest, policy: UpdatePolicy, version: String, progress: DownloadProgress) throws(UpdateError) -> (Int, String) {
        guard !isPending else { throw UpdateError("an update is already staged and waiting for the installer (\(ready))") }
        try makeDirectory(directory)
        let key = "\(request.url) \(request.sha256 ?? "")"
        let resume = (try? readWhole(partRequest, limit: 4096)).map { String(decoding: $0, as: UTF8.self) } == key
        if !resume { try writeFile(partRequest, key) }
        _ = try HTTPSDownload.get(request.url, into: part, resume: resume, policy: policy, progress: progress)
        let checked: (bytes: Int, sha256: String)
        do { checked = try Artifact.verify(part, request: request, policy: policy) } catch {
            unlink(part); unlink(partRequest)   // not it: the next attempt starts again
            throw error
        }
        try stage(part, request: request, sha256: checked.sha256, from: version)
        unlink(part); unlink(partRequest)
        return checked
    }

    /// The root side's last answer, if any.
    public func result() -> UpdateResult? {
        guard let text = try? readWhole(resultFile, limit: 16 << 10) else { return nil }
        return UpdateResult(String(decoding: text, as: UTF8.self))
    }

    /// The id of the result already acknowledged.
    public func reported() -> String? {
        (try? readWhole(reportedFile, limit: 4096)).map { String(decoding: $0, as: UTF8.self) }
    }

    public func markReported(_ key: String) { try? writeFile(reportedFile, key) }

    static func lines(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\($0.1.filter { $0 != "\n" && $0 != "\r" })\n" }.joined()
    }
}

/// What the root side did with a staged update (`/var/lib/firmloop/update/result`).
public struct UpdateResult: Sendable, Equatable {
    public var id: String?
    public var from: String
    public var to: String
    /// installed, rolled-back, refused, failed.
    public var result: String
    public var reason: String
    public var at: String
    public var succeeded: Bool { result == "installed" }
    /// What names this result for `reported` (one ack per update).
    public var key: String { "\(id ?? "")|\(at)" }

    public init?(_ text: String) {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let result = fields["result"], !result.isEmpty else { return nil }
        id = fields["id"].flatMap { $0.isEmpty ? nil : $0 }
        from = fields["from"] ?? ""
        to = fields["to"] ?? ""
        self.result = result
        reason = fields["reason"] ?? ""
        at = fields["at"] ?? ""
    }
}

// MARK: files

func makeDirectory(_ path: String) throws(UpdateError) {
    if mkdir(path, 0o750) != 0 && errno != EEXIST { throw UpdateError("\(path): cannot make it: \(String(cString: strerror(errno)))") }
}

/// `path` and, when it is a directory (not a symlink to one), everything in it.
func removeTree(_ path: String) {
    var st = stat()
    if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
        for name in directoryEntries(path) { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// Files as the update commands write and read them: whole, replaced atomically, fsynced.
public enum UpdateFiles {
    public static func write(_ path: String, _ text: String, mode: mode_t = 0o640) throws(UpdateError) { try writeFile(path, text, mode: mode) }
    public static func read(_ path: String, limit: Int) throws(UpdateError) -> [UInt8] { try readWhole(path, limit: limit) }
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o640) throws(UpdateError) {
    unlink(path + ".tmp")
    let fd = open(path + ".tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw UpdateError("\(path): cannot write it: \(String(cString: strerror(errno)))") }
    let bytes = Array(text.utf8)
    let ok = bytes.withUnsafeBytes { writeAll(fd, $0) } && fsync(fd) == 0
    close(fd)
    guard ok, rename(path + ".tmp", path) == 0 else { throw UpdateError("\(path): cannot write it: \(String(cString: strerror(errno)))") }
}

func copyFile(_ from: String, to: String) throws(UpdateError) {
    let src = open(from, O_RDONLY | O_CLOEXEC)
    guard src >= 0 else { throw UpdateError("\(from): cannot open it: \(String(cString: strerror(errno)))") }
    defer { close(src) }
    let dst = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
    guard dst >= 0 else { throw UpdateError("\(to): cannot write it: \(String(cString: strerror(errno)))") }
    defer { close(dst) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        let n = read(src, buffer.baseAddress, buffer.count)
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw UpdateError("\(from): read failed: \(String(cString: strerror(errno)))") }
        if n == 0 { break }
        guard writeAll(dst, UnsafeRawBufferPointer(rebasing: buffer[..<n])) else { throw UpdateError("\(to): write failed: \(String(cString: strerror(errno)))") }
    }
    guard fsync(dst) == 0 else { throw UpdateError("\(to): fsync failed: \(String(cString: strerror(errno)))") }
}

func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        done += n
    }
    return true
}

func fsyncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 { fsync(fd); close(fd) }
}
