import Glibc
import KernelTestSupport
import Testing
@testable import Update

/// What the firmware checks before an update reaches the root side, and the files the two
/// sides hand over.
@Suite struct StagingTests {
    struct Fixture {
        let dir = temporaryDirectory("firmloop-staging")
        let policy: UpdatePolicy
        let privateKey: String
        let artifact: String
        let bytes: [UInt8]
        let signature: [UInt8]

        init() throws {
            let (priv, pub) = try Ed25519.generate()
            privateKey = priv
            var p = UpdatePolicy()
            p.keyPath = dir + "/update-key.pem"
            p.maxBytes = 1 << 20
            policy = p
            try UpdateFiles.write(p.keyPath, pub)
            artifact = dir + "/firmloop.deb"
            bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }
            #expect(writeBytes(artifact, bytes))
            signature = try bytes.withUnsafeBytes { try Ed25519.sign($0, privateKey: priv, source: "k") }
        }

        func request(sha256: String? = nil, signature: [UInt8]? = nil) -> UpdateRequest {
            UpdateRequest(id: "u1", url: "https://example.org/firmloop.deb", sha256: sha256, signature: signature ?? self.signature)
        }
        func cleanUp() { removeDirectory(dir) }
    }

    @Test func aSignedArtifactIsStagedWhole() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let sha = f.bytes.withUnsafeBytes { SHA256Digest.hex(of: $0) }
        let (n, got) = try Artifact.verify(f.artifact, request: f.request(sha256: sha), policy: f.policy)
        #expect(n == 200_000 && got == sha)
        let staging = UpdateStaging(stateDirectory: f.dir)
        #expect(!staging.isPending)
        try staging.stage(f.artifact, request: f.request(), sha256: sha, from: "0.9.0+git1.abc")
        #expect(staging.isPending)
        #expect(fileBytes(staging.ready + "/firmloop.deb") == f.bytes)
        let request = try #require(readFile(staging.ready + "/request"))
        #expect(request == "id=u1\nsha256=\(sha)\nsignature=\(Base64.encode(f.signature))\nfrom=0.9.0+git1.abc\nurl=https://example.org/firmloop.deb\n")
        // One at a time: the installer has not taken the first.
        #expect(throws: UpdateError("an update is already staged and waiting for the installer (\(staging.ready))")) {
            try staging.stage(f.artifact, request: f.request(), sha256: sha, from: "x")
        }
    }

    @Test func everyRefusalSaysWhy() throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let sha = f.bytes.withUnsafeBytes { SHA256Digest.hex(of: $0) }
        #expect(throws: UpdateError("sha256 mismatch: the artifact's is \(sha), the command says \(String(repeating: "0", count: 64))")) {
            try Artifact.verify(f.artifact, request: f.request(sha256: String(repeating: "0", count: 64)), policy: f.policy)
        }
        var other = f.signature
        other[0] ^= 1
        #expect(throws: UpdateError("bad signature: the artifact is not signed by the key in \(f.policy.keyPath)")) {
            try Artifact.verify(f.artifact, request: f.request(signature: other), policy: f.policy)
        }
        #expect(throws: UpdateError("signature: expected 64 bytes (base64), got 0")) {
            try Artifact.verify(f.artifact, request: f.request(signature: []), policy: f.policy)
        }
        // Truncated: the first half, with the whole one's signature.
        #expect(writeBytes(f.dir + "/half.deb", Array(f.bytes.prefix(100_000))))
        #expect(throws: UpdateError("bad signature: the artifact is not signed by the key in \(f.policy.keyPath)")) {
            try Artifact.verify(f.dir + "/half.deb", request: f.request(), policy: f.policy)
        }
        var small = f.policy
        small.maxBytes = 100_000
        #expect(throws: UpdateError("\(f.artifact): 200000 bytes is over the update limit of 100000 bytes")) {
            try Artifact.verify(f.artifact, request: f.request(), policy: small)
        }
        var noKey = f.policy
        noKey.keyPath = f.dir + "/none.pem"
        #expect(throws: UpdateError("no update key: \(f.dir)/none.pem: cannot open it: No such file or directory (install the public key made by `firmloop keygen` there)")) {
            try Artifact.verify(f.artifact, request: f.request(), policy: noKey)
        }
        #expect(throws: UpdateError("\(f.dir)/missing.deb: cannot open it: No such file or directory")) {
            try Artifact.verify(f.dir + "/missing.deb", request: f.request(), policy: f.policy)
        }
    }

    /// The installer's answer, as deploy/update/firmloop-update writes it.
    @Test func theInstallersResult() throws {
        let r = try #require(UpdateResult("id=u7\nfrom=0.9.0+git1.a\nto=0.9.0+git2.b\nresult=rolled-back\nreason=it restarted (exit status 1) 2 s after the install\nat=2026-12-04T19:00:00Z\n"))
        #expect(r.id == "u7" && r.from == "0.9.0+git1.a" && r.to == "0.9.0+git2.b" && r.result == "rolled-back")
        #expect(r.reason == "it restarted (exit status 1) 2 s after the install" && !r.succeeded)
        #expect(r.key == "u7|2026-12-04T19:00:00Z")
        #expect(UpdateResult("id=\nresult=installed\n")?.id == nil)
        #expect(UpdateResult("id=u1\n") == nil)   // no result: not an answer
        // The reason may hold '=' (the first one splits).
        #expect(UpdateResult("result=refused\nreason=a=b\n")?.reason == "a=b")
    }
}
