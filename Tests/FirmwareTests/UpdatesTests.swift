import Board
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
