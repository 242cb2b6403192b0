import Board
import Kernel
import Update

/// Over-the-air updates, the firmware's side (the root side is firmloop-update.service).
///
/// - The command `{"id":…,"update":{"url":"https://…","sha256":"…","signature":"…"}}`: the
///   artifact is downloaded (HTTPSDownload, on a worker thread, resumed when it stopped),
///   checked (size limit, SHA-256, the Ed25519 signature under `update_key`) and staged for
///   the installer. Progress acks (`"update":{"state":"downloading","bytes":…,"total":…}`) as
///   it starts and at each quarter, the command's ack when it is staged (`"state":"staged"`) or refused (why).
///   One update at a time; nothing changes on the device until the installer takes it.
/// - What the installer did, reported once on `…/ack` under the command's id
///   (`"update":{"from","to","result":"installed"}`, or `"ok":false` with the reason for a
///   refusal or a rollback), in every snapshot as `"update": {"from","to","result","reason","at"}`,
///   and in the log (a rollback or a failure at `error`).
/// - The status line: `update 45% of 4.2 MB` while downloading, `update staged` until taken.
///
/// `firmloop run` adds it under systemd (`$STATE_DIRECTORY`), where the installer is.
@KernelActor
public final class Updates: Component {
    /// How often the installer's result file is looked at (a stat and a small read, offloaded).
    public static let pollMilliseconds = 2000
    private unowned var device: Device!
    let staging: UpdateStaging
    let policy: UpdatePolicy
    let version: String
    private(set) var last: UpdateResult?
    private var pending = false
    /// The command being done, and how far its download is.
    private var job: (request: UpdateRequest, run: CommandRun)?
    private var working = false
    private let progress = DownloadProgress()
    private var quartersAcked = 0
    private let wake = Notify()

    public init(stateDirectory: String, policy: UpdatePolicy = UpdatePolicy(), version: String) {
        staging = UpdateStaging(stateDirectory: stateDirectory)
        self.policy = policy
        self.version = version
    }

    public func attach(to device: Device) throws {
        self.device = device
        device.commands.register("update") { [unowned self] value in
            switch Self.parse(value) {
            case .failure(let e): return .failure(e)
            case .success(let request):
                let action: CommandTable.Action = { [unowned self] run in self.begin(request, run) }
                return .success(action)
            }
        }
    }

    /// `"update": {"url": "https://…", "sha256": "<64 hex>", "signature": "<base64>"}`.
    nonisolated static func parse(_ value: JSON) -> Result<UpdateRequest, CommandError> {
        guard value.members != nil else { return .failure(CommandError("update: expected an object with url, sha256 and signature")) }
        guard let url = value["url"]?.string, url.hasPrefix("https://") else {
            return .failure(CommandError("update.url: expected an https:// URL, got \(value["url"]?.text ?? "nothing")"))
        }
        guard let sha = value["sha256"]?.string?.lowercased(), sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
            return .failure(CommandError("update.sha256: expected 64 hex digits, got \(value["sha256"]?.text ?? "nothing")"))
        }
        guard let text = value["signature"]?.string, let sig = Base64.decode(text), sig.count == Ed25519.signatureSize else {
            return .failure(CommandError("update.signature: expected the artifact's Ed25519 signature in base64 (\(Ed25519.signatureSize) bytes), got \(value["signature"]?.text ?? "nothing")"))
        }
        if let extra = value.members?.first(where: { !["url", "sha256", "signature"].contains($0.key) }) {
            return .failure(CommandError("update.\(extra.key): unknown (url, sha256, signature)"))
        }
        return .success(UpdateRequest(id: nil, url: url, sha256: sha, signature: sig))
    }

    func begin(_ request: UpdateRequest, _ run: CommandRun) {
        guard job == nil, !working else { run.fail("an update is already being downloaded"); return }
        guard !pending else { run.fail("an update is already staged and waiting for the installer"); return }
        var r = request
        r.id = run.id
        job = (r, run)
        wake.notifyAll()
    }

    public func start(in group: TaskGroupScope) {
        group.spawn("updates") { [unowned self] in
            var nextPoll: Int64 = 0
            while true {
                if Kernel.now >= nextPoll {
                    try await poll()
                    nextPoll = Kernel.now + Int64(Self.pollMilliseconds) * 1_000_000
                }
                ackProgress()
                try await sleep(ms: working ? 250 : Self.pollMilliseconds, tolerance: Kernel.coarseTolerance)
            }
        }
        group.spawn("update-job") { [unowned self] in
            while true {
                while job == nil { try await wake.wait() }
                let (request, run) = job!
                working = true
                defer { working = false; job = nil }
                device.ack(request.id) { w in
                    w.key("update")
                    w.object { w in
                        w.key("state"); w.string("downloading")
                        w.key("bytes"); w.int(0)
                    }
                }
                do {
                    let (bytes, sha) = try await perform(request)
                    pending = true
                    run.done { w in
                        w.key("update")
                        w.object { w in
                            w.key("state"); w.string("staged")
                            w.key("bytes"); w.int(bytes)
                            w.key("sha256"); w.string(sha)
                        }
                    }
                    device.onLog(.info, "update\(request.id.map { " " + $0 } ?? ""): \(bytes) bytes from \(request.url) checked and staged for the installer")
                } catch let e as UpdateError {
                    device.onLog(.error, "update\(request.id.map { " " + $0 } ?? ""): refused: \(e)")
                    run.fail(e.description)
                }
            }
        }
    }

    /// Download (resumed when the last attempt was this artifact), check, stage: all on worker threads.
    func perform(_ request: UpdateRequest) async throws -> (Int, String) {
        let staging = staging, policy = policy, version = version, progress = progress
        progress.bytes.store(0, ordering: .relaxed)
        progress.total.store(-1, ordering: .relaxed)
        quartersAcked = 0
        return try await offload { try staging.fetch(request, policy: policy, version: version, progress: progress) }
    }

    /// A progress ack at each quarter of a download whose size is known.
    func ackProgress() {
        guard working, let id = job?.request.id else { return }
        let bytes = progress.bytes.load(ordering: .relaxed), total = progress.total.load(ordering: .relaxed)
        guard total > 0 else { return }
        let quarter = min(3, bytes * 4 / total)
        guard quarter > quartersAcked else { return }
        quartersAcked = quarter
        device.ack(id) { w in
            w.key("update")
            w.object { w in
                w.key("state"); w.string("downloading")
                w.key("bytes"); w.int(bytes)
                w.key("total"); w.int(total)
            }
        }
    }

    func poll() async throws {
        let staging = self.staging
        let (result, reported, pending) = try await offload { (staging.result(), staging.reported(), staging.isPending) }
        self.pending = pending
        guard let result, result != last else { return }
        last = result
        guard reported != result.key else { return }
        let what = "update\(result.id.map { " " + $0 } ?? ""): \(result.from) -> \(result.to): \(result.result)\(result.reason.isEmpty ? "" : ": " + result.reason)"
        device.onLog(result.succeeded ? .info : .error, what)
        device.ack(result.id, error: result.succeeded ? nil : "\(result.result): \(result.reason)") { w in
            w.key("update")
            Self.write(result, &w)
        }
        try await offload { staging.markReported(result.key) }
    }

    public func sample(into s: inout Snapshot) async {
        guard let last else { return }
        s.add("update") { w in Self.write(last, &w) }
    }

    public func status(into line: inout StatusLine) {
        if working {
            let bytes = progress.bytes.load(ordering: .relaxed), total = progress.total.load(ordering: .relaxed)
            line.add(total > 0 ? "update \(bytes * 100 / total)% of \(megabytes(total)) MB" : "update \(megabytes(bytes)) MB")
        } else if pending {
            line.add("update staged")
        }
    }

    func megabytes(_ n: Int) -> String { "\(n / 1_000_000).\((n % 1_000_000) / 100_000)" }

    nonisolated static func write(_ r: UpdateResult, _ w: inout JSONWriter) {
        w.object { w in
            w.key("from"); w.string(r.from)
            w.key("to"); w.string(r.to)
            w.key("result"); w.string(r.result)
            if !r.reason.isEmpty { w.key("reason"); w.string(r.reason) }
            w.key("at"); w.string(r.at)
        }
    }
}
