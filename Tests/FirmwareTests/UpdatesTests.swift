import Board
import Glibc
import KernelTestSupport
import Testing
import Update
@testable import Firmware

/// The `update` command's value, checked before anything is downloaded: each refusal names
/// the key and what it expected.
@Suite struct UpdatesTests {
    let sha = String(repeating: "ab", count: 32)
    let sig = Base64.encode([UInt8](repeating: 7, count: 64))

    func parse(_ text: String) -> Result<UpdateRequest, CommandError> { Updates.parse(try! JSON.parse(text)) }

    @Test func aWholeCommand() throws {
        let r = try parse(#"{"url":"https://files.example.org/firmloop.deb","sha256":"\#(sha.uppercased())","signature":"\#(sig)"}"#).get()
        #expect(r.url == "https://files.example.org/firmloop.deb" && r.sha256 == sha && r.signature == [UInt8](repeating: 7, count: 64))
    }

    @Test func refusals() {
        let cases: [(String, String)] = [
            (#""https://x/y""#, "update: expected an object with url, sha256 and signature"),
            (#"{"url":"http://x/y","sha256":"\#(sha)","signature":"\#(sig)"}"#, #"update.url: expected an https:// URL, got "http://x/y""#),
            (#"{"sha256":"\#(sha)","signature":"\#(sig)"}"#, "update.url: expected an https:// URL, got nothing"),
            (#"{"url":"https://x/y","sha256":"abc","signature":"\#(sig)"}"#, #"update.sha256: expected 64 hex digits, got "abc""#),
            (#"{"url":"https://x/y","sha256":"\#(sha)","signature":"AAAA"}"#, #"update.signature: expected the artifact's Ed25519 signature in base64 (64 bytes), got "AAAA""#),
            (#"{"url":"https://x/y","sha256":"\#(sha)","signature":"\#(sig)","size":5}"#, "update.size: unknown (url, sha256, signature)"),
        ]
        for (text, why) in cases {
            guard case .failure(let e) = parse(text) else { Issue.record("\(text) was taken"); continue }
            #expect(e.description == why, "\(text)")
        }
    }
}

/// The component on the simulated board: the installer's result reported once (ack, snapshot),
/// the command refused with its reason, a download that cannot start answered.
@Suite(.serialized) struct UpdatesComponentTests {
    static func run(state: String, seconds: Int, commands: [String] = []) throws -> BrokerSeen {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        return try runSimulated(board: d, id: "u1", firmware: .stock.adding { Updates(stateDirectory: state, version: "0.9.0+git2.b") },
                                seconds: seconds, commands: commands, spacing: 2000)
    }

    @Test func theInstallersResultIsReportedOnce() throws {
        let state = temporaryDirectory("firmloop-updates")
        defer { removeDirectory(state) }
        mkdir(state + "/update", 0o750)
        let result = "id=up-7\nfrom=0.9.0+git1.a\nto=0.9.0+git2.b\nresult=rolled-back\nreason=it restarted (exit status 1) 1 s after the install\nat=2026-12-04T19:00:00Z\n"
        #expect(writeBytes(state + "/update/result", Array(result.utf8)))
        let first = try Self.run(state: state, seconds: 6)
        let update = #""update":{"from":"0.9.0+git1.a","to":"0.9.0+git2.b","result":"rolled-back","reason":"it restarted (exit status 1) 1 s after the install","at":"2026-12-04T19:00:00Z"}"#
        #expect(first.acks == [#"{"id":"up-7","ok":false,"error":"rolled-back: it restarted (exit status 1) 1 s after the install","# + update + "}"], "\(first.acks)")
        #expect(first.snapshots.count >= 3)
        #expect(first.snapshots.dropFirst(2).allSatisfy { $0.contains(update) }, "\(first.snapshots)")
        #expect(readFile(state + "/update/reported") == "up-7|2026-12-04T19:00:00Z")
        // After a restart: still in the snapshots, not acked again.
        let second = try Self.run(state: state, seconds: 4)
        #expect(second.acks.isEmpty, "\(second.acks)")
        #expect(second.snapshots.last?.contains(update) == true)
    }

    @Test func theCommandIsRefusedOrAnswered() throws {
        let state = temporaryDirectory("firmloop-updates")
        defer { removeDirectory(state) }
        let sha = String(repeating: "0", count: 64), sig = Base64.encode([UInt8](repeating: 1, count: 64))
        let seen = try Self.run(state: state, seconds: 9, commands: [
            #"{"id":"c1","update":{"url":"http://127.0.0.1/x.deb","sha256":"\#(sha)","signature":"\#(sig)"}}"#,
            // Nothing listens on port 1 of 127.0.0.1: the download's connect is refused.
            #"{"id":"c2","update":{"url":"https://127.0.0.1:1/x.deb","sha256":"\#(sha)","signature":"\#(sig)"}}"#,
        ])
        #expect(seen.acks.contains(#"{"id":"c1","ok":false,"error":"update.url: expected an https:// URL, got \"http://127.0.0.1/x.deb\""}"#), "\(seen.acks)")
        #expect(seen.acks.contains(#"{"id":"c2","ok":true,"update":{"state":"downloading","bytes":0}}"#), "\(seen.acks)")
        #expect(seen.acks.contains(#"{"id":"c2","ok":false,"error":"download: cannot connect to 127.0.0.1:1: Connection refused"}"#), "\(seen.acks)")
        #expect(access(state + "/update/ready", F_OK) != 0, "nothing staged")
    }
}
