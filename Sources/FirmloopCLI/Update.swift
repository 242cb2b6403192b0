import CBuildInfo
import Glibc
import Update

/// `firmloop keygen DIR`: the key pair updates are signed with.
struct Keygen: Command {
    static let name = "keygen"
    static let abstract = "Make an Ed25519 key pair for signing updates."
    static let discussion = """
            Writes DIR/update-key (the private key: keep it where you build, never on a device) and \
            DIR/update-key.pem (the public key: install it on each device as /etc/firmloop/update-key.pem). \
            The same keys as `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
            """
    static let parameters: [Parameter] = [.argument("directory", help: "Where to write the two files.", default: ".")]
    var directory = "."

    init(_ a: ParsedArguments) { directory = a.string("directory") ?? directory }

    func run() throws {
        let privatePath = directory + "/update-key", publicPath = directory + "/update-key.pem"
        for p in [privatePath, publicPath] where access(p, F_OK) == 0 {
            writeErr("firmloop keygen: \(p) is already there: not overwritten (a device trusts the key it has)\n")
            throw ExitCode(1)
        }
        let (priv, pub) = try Ed25519.generate()
        try UpdateFiles.write(privatePath, priv, mode: 0o600)
        try UpdateFiles.write(publicPath, pub, mode: 0o644)
        say("private key: \(privatePath) (keep it off the devices)")
        say("public key:  \(publicPath) (install it as \(UpdatePolicy.defaultKey))")
    }
}

/// `firmloop sign ARTIFACT --key KEY`: the signature and the command that installs it.
struct Sign: Command {
    static let name = "sign"
    static let abstract = "Sign an update (a firmloop .deb): print its sha256, its signature and the update command."
    static let discussion = """
            Writes ARTIFACT.sig (the Ed25519 signature, base64), which `firmloop update ARTIFACT` reads. \
            With --url, prints the command to publish on firmloop/<device>/cmd once the file is there.
            """
    static let parameters: [Parameter] = [
        .argument("artifact", help: "The artifact, e.g. .build/deb/firmloop_0.9.0+git180.1a2b3c4_arm64.deb."),
        .option("key", help: "The private key (from firmloop keygen, or openssl genpkey -algorithm ed25519).", required: true),
        .option("url", help: "Where the devices will download it (https://…)."),
        .option("id", help: "The command's id.", default: "update"),
    ]
    var artifact: String
    var key: String
    var url: String?
    var id = "update"

    init(_ a: ParsedArguments) {
        (artifact, key, url) = (a.required("artifact"), a.required("key"), a.string("url"))
        id = a.string("id") ?? id
    }

    func run() throws {
        let priv = String(decoding: try UpdateFiles.read(key, limit: 64 << 10), as: UTF8.self)
        let bytes = try UpdateFiles.read(artifact, limit: UpdatePolicy.defaultMaxBytes)
        let signature = try bytes.withUnsafeBytes { try Ed25519.sign($0, privateKey: priv, source: key) }
        let sha = bytes.withUnsafeBytes { SHA256Digest.hex(of: $0) }
        let b64 = Base64.encode(signature)
        try UpdateFiles.write(artifact + ".sig", b64 + "\n", mode: 0o644)
        say("sha256 \(sha)")
        say("signature \(b64)")
        say("written \(artifact).sig")
        if let url {
            say("command {\"id\":\"\(id)\",\"update\":{\"url\":\"\(url)\",\"sha256\":\"\(sha)\",\"signature\":\"\(b64)\"}}")
        }
    }
}

/// `firmloop update FILE`: what the `update` command does after its download, on the device.
struct UpdateDevice: Command {
    static let name = "update"
    static let abstract = "Check a signed update and hand it to the installer (firmloop-update.service)."
    static let discussion = """
            The artifact is checked (size limit, sha256 when given, the Ed25519 signature under \
            the device's key) and staged in the state directory; firmloop-update.path starts the \
            installer, which checks it again as root, installs it with dpkg, holds the new \
            version to the health gate and puts the previous one back when it fails. Run it as \
            root or as the firmloop user. Exit 0 when it is staged (with --wait: installed), 1 when \
            it is refused (nothing changes), 3 when --wait saw it rolled back or fail.
            """
    static let parameters: [Parameter] = [
        .argument("artifact", help: "The artifact (a firmloop .deb), a file or an https:// URL."),
        .option("signature", help: "Its Ed25519 signature, base64 (default, for a file: the content of ARTIFACT.sig)."),
        .option("sha256", help: "Its SHA-256, 64 hex digits (checked when given; needed for a URL)."),
        .option("cafile", help: "The CA file for an https:// URL (default: the system's)."),
        .option("key", help: "The public key updates must be signed with.", default: UpdatePolicy.defaultKey),
        .option("state-directory", help: "The service's state directory (default: $STATE_DIRECTORY, else /var/lib/firmloop)."),
        .option("wait", help: "Wait up to this many seconds for the installer's result and print it (0: do not wait).", default: "0"),
    ]
    var artifact: String
    var signature, sha256, cafile, stateDirectory: String?
    var key = UpdatePolicy.defaultKey
    var wait = 0

    init(_ a: ParsedArguments) throws(UsageError) {
        artifact = a.required("artifact")
        (signature, sha256, cafile, stateDirectory) = (a.string("signature"), a.string("sha256"), a.string("cafile"), a.string("state-directory"))
        key = a.string("key") ?? key
        wait = try a.int("wait") ?? wait
    }

    func run() throws {
        let state = stateDirectory ?? nonEmptyEnvironment("STATE_DIRECTORY").map { String($0.split(separator: ":")[0]) } ?? "/var/lib/firmloop"
        let sigText: String
        if let signature { sigText = signature } else if artifact.hasPrefix("https://") {
            throw UpdateRefused("a URL needs --signature (firmloop sign prints it)")
        } else {
            do { sigText = String(decoding: try UpdateFiles.read(artifact + ".sig", limit: 4096), as: UTF8.self) } catch {
                throw UpdateRefused("no --signature and no \(artifact).sig: \(error)")
            }
        }
        guard let sig = Base64.decode(sigText.filter { !$0.isWhitespace }) else { throw UpdateRefused("the signature is not base64") }
        let id = "cli-\(time(nil))"
        let request = UpdateRequest(id: id, url: artifact, sha256: sha256?.lowercased(), signature: sig)
        var policy = UpdatePolicy()
        policy.keyPath = key
        policy.caFile = cafile
        let staging = UpdateStaging(stateDirectory: state)
        let before = staging.result()
        let version = String(cString: firmloop_build_version())
        do {
            let (bytes, sha): (Int, String)
            if artifact.hasPrefix("https://") {
                guard sha256 != nil else { throw UpdateError("a URL needs --sha256 (firmloop sign prints it)") }
                (bytes, sha) = try staging.fetch(request, policy: policy, version: version, progress: DownloadProgress())
            } else {
                (bytes, sha) = try Artifact.verify(artifact, request: request, policy: policy)
                try staging.stage(artifact, request: request, sha256: sha, from: version)
            }
            handOver(staging, to: state)
            say("staged \(artifact) (\(bytes) bytes, sha256 \(sha), signed by \(key)) as \(staging.ready): the installer takes it from here")
        } catch {
            throw UpdateRefused("\(error)")
        }
        guard wait > 0 else { return }
        var waited = 0
        while waited < wait * 10 {
            if let r = staging.result(), r != before, r.id == id {
                say("\(r.result): \(r.from) -> \(r.to)\(r.reason.isEmpty ? "" : ": " + r.reason)")
                if !r.succeeded { throw ExitCode(3) }
                return
            }
            usleep(100_000)
            waited += 1
        }
        say("no result from the installer within \(wait) s (journalctl -u firmloop-update)")
        throw ExitCode(3)
    }

    /// Run as root, the staged files go to the state directory's owner (the service's user),
    /// so the service can clean up and stage the next one.
    func handOver(_ staging: UpdateStaging, to state: String) {
        guard getuid() == 0 else { return }
        var st = stat()
        guard stat(state, &st) == 0 else { return }
        for p in [staging.directory, staging.ready, staging.ready + "/firmloop.deb", staging.ready + "/request"] {
            chown(p, st.st_uid, st.st_gid)
        }
    }
}

/// A refused update: the reason, exit 1, nothing changed.
struct UpdateRefused: Error, CustomStringConvertible {
    let why: String
    init(_ why: String) { self.why = why }
    var description: String { "refused: \(why)" }
}
