import Glibc
import KernelTestSupport
import Testing

/// `firmloop keygen`, `sign` and `update FILE`: the user's side of an over-the-air update, run
/// as the binary.
@Suite struct UpdateCommandTests {
    @Test func keygenSignAndUpdateStageASignedFile() throws {
        let dir = temporaryDirectory("firmloop-cli-update")
        defer { removeDirectory(dir) }
        let (k, kout) = try firmloop(["keygen", dir])
        #expect(k == 0, "\(kout)")
        #expect(kout.contains("public key:  \(dir)/update-key.pem (install it as /etc/firmloop/update-key.pem)"), "\(kout)")
        // A second keygen does not overwrite the key the devices trust.
        let (k2, k2out) = try firmloop(["keygen", dir])
        #expect(k2 != 0 && k2out.contains("\(dir)/update-key is already there: not overwritten"), "\(k2out)")
        writeBytes(dir + "/a.deb", (0..<50_000).map { UInt8(truncatingIfNeeded: $0) })
        let (s, sout) = try firmloop(["sign", dir + "/a.deb", "--key", dir + "/update-key", "--url", "https://files.example.org/a.deb", "--id", "up-1"])
        #expect(s == 0, "\(sout)")
        let sig = try #require(readFile(dir + "/a.deb.sig")).filter { !$0.isWhitespace }
        let sha = try #require(sout.split(separator: "\n").first { $0.hasPrefix("sha256 ") }).dropFirst(7)
        #expect(sout.contains(#"command {"id":"up-1","update":{"url":"https://files.example.org/a.deb","sha256":"\#(sha)","signature":"\#(sig)"}}"#), "\(sout)")
        mkdir(dir + "/state", 0o750)
        let (u, uout) = try firmloop(["update", dir + "/a.deb", "--key", dir + "/update-key.pem", "--state-directory", dir + "/state", "--sha256", String(sha)])
        #expect(u == 0 && uout.contains("staged \(dir)/a.deb (50000 bytes, sha256 \(sha)"), "\(uout)")
        #expect(access(dir + "/state/update/ready/firmloop.deb", R_OK) == 0)
        // One at a time.
        let (u2, u2out) = try firmloop(["update", dir + "/a.deb", "--key", dir + "/update-key.pem", "--state-directory", dir + "/state"])
        #expect(u2 == 1 && u2out.contains("refused: an update is already staged"), "\(u2out)")
    }

    @Test func refusalsExitOneAndSayWhy() throws {
        let dir = temporaryDirectory("firmloop-cli-update")
        defer { removeDirectory(dir) }
        _ = try firmloop(["keygen", dir + "/"])
        mkdir(dir + "/other", 0o755)
        _ = try firmloop(["keygen", dir + "/other"])
        writeBytes(dir + "/a.deb", Array(repeating: 9, count: 10_000))
        _ = try firmloop(["sign", dir + "/a.deb", "--key", dir + "/other/update-key"])
        let state = ["--key", dir + "/update-key.pem", "--state-directory", dir + "/state"]
        let (s1, o1) = try firmloop(["update", dir + "/a.deb"] + state)
        #expect(s1 == 1 && o1.contains("refused: bad signature: the artifact is not signed by the key in \(dir)/update-key.pem"), "\(o1)")
        let (s2, o2) = try firmloop(["update", dir + "/b.deb"] + state)
        #expect(s2 == 1 && o2.contains("refused: no --signature and no \(dir)/b.deb.sig"), "\(o2)")
        let (s3, o3) = try firmloop(["update", "https://files.example.org/a.deb", "--signature", "AAAA"] + state)
        #expect(s3 == 1 && o3.contains("refused: a URL needs --sha256"), "\(o3)")
        #expect(access(dir + "/state/update/ready", F_OK) != 0, "nothing staged")
    }
}
