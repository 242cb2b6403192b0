import Glibc
import KernelTestSupport
import Testing
@testable import Update

/// RFC 8032, section 7.1, test 1 (the empty message) and test 2 (one byte).
let rfcSecret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
let rfcSignature1 = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
let rfcSecret2 = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
let rfcSignature2 = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"

func bytes(hex: String) -> [UInt8] {
    let h = Array(hex.utf8)
    return stride(from: 0, to: h.count, by: 2).map { UInt8(String(decoding: h[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

/// A raw Ed25519 secret as PKCS#8 PEM (its DER prefix is fixed for Ed25519, RFC 8410).
func pem(secret: String) -> String {
    let der = bytes(hex: "302e020100300506032b657004220420") + bytes(hex: secret)
    return "-----BEGIN PRIVATE KEY-----\n\(Base64.encode(der))\n-----END PRIVATE KEY-----\n"
}

/// Runs a shell command line; its exit status and output.
func shell(_ command: String) -> (Int32, String) {
    guard let p = popen("\(command) 2>&1", "r") else { return (-1, "") }
    var out = ""
    var buffer = [CChar](repeating: 0, count: 4096)
    while fgets(&buffer, Int32(buffer.count), p) != nil { out += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    let st = pclose(p)
    return ((st >> 8) & 0xFF, out)
}

@Suite struct SignatureTests {
    @Test func rfc8032Vectors() throws {
        let s1 = try [UInt8]().withUnsafeBytes { try Ed25519.sign($0, privateKey: pem(secret: rfcSecret), source: "test 1") }
        #expect(hexString(s1) == rfcSignature1)
        let s2 = try [UInt8]([0x72]).withUnsafeBytes { try Ed25519.sign($0, privateKey: pem(secret: rfcSecret2), source: "test 2") }
        #expect(hexString(s2) == rfcSignature2)
        let pub = try Ed25519.publicKey(ofPrivateKey: pem(secret: rfcSecret2), source: "test 2")
        #expect(try [UInt8]([0x72]).withUnsafeBytes { try Ed25519.verify($0, signature: s2, publicKey: pub, source: "pub") })
    }

    @Test func aChangedByteAWrongKeyOrAShortSignatureFail() throws {
        let (priv, pub) = try Ed25519.generate()
        let (_, otherPub) = try Ed25519.generate()
        var message = [UInt8](repeating: 0xA5, count: 100_000)
        let sig = try message.withUnsafeBytes { try Ed25519.sign($0, privateKey: priv, source: "key") }
        #expect(try message.withUnsafeBytes { try Ed25519.verify($0, signature: sig, publicKey: pub, source: "pub") })
        #expect(try !message.withUnsafeBytes { try Ed25519.verify($0, signature: sig, publicKey: otherPub, source: "other") })
        #expect(try !message.withUnsafeBytes { try Ed25519.verify($0, signature: Array(sig.prefix(63)), publicKey: pub, source: "pub") })
        message[99_999] ^= 1
        #expect(try !message.withUnsafeBytes { try Ed25519.verify($0, signature: sig, publicKey: pub, source: "pub") })
        // The first 99,999 bytes alone: a truncated artifact.
        #expect(try !message.withUnsafeBytes { try Ed25519.verify(UnsafeRawBufferPointer(rebasing: $0.prefix(99_999)), signature: sig, publicKey: pub, source: "pub") })
    }

    @Test func keysThatAreNotEd25519KeysAreNamed() throws {
        #expect(throws: UpdateError("/etc/firmloop/update-key.pem: not a PEM public key")) {
            try [UInt8]().withUnsafeBytes { try Ed25519.verify($0, signature: [], publicKey: "junk", source: "/etc/firmloop/update-key.pem") }
        }
        let (_, rsa) = shell("openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout")
        #expect(throws: UpdateError("rsa.pem: not an Ed25519 key (make one with `firmloop keygen` or `openssl genpkey -algorithm ed25519`)")) {
            try [UInt8]().withUnsafeBytes { try Ed25519.verify($0, signature: [], publicKey: rsa, source: "rsa.pem") }
        }
    }

    /// What `openssl pkeyutl -rawin` signs, we verify, and the other way round: a user may sign
    /// with either, and the root side of an update checks with the openssl command.
    @Test func theSameSignaturesAsTheOpenSSLCommand() throws {
        let dir = temporaryDirectory("firmloop-sig")
        defer { removeDirectory(dir) }
        #expect(shell("openssl genpkey -algorithm ed25519 -out \(dir)/key.pem && openssl pkey -in \(dir)/key.pem -pubout -out \(dir)/pub.pem && head -c 300000 /dev/urandom > \(dir)/artifact && openssl pkeyutl -sign -rawin -inkey \(dir)/key.pem -in \(dir)/artifact -out \(dir)/sig").0 == 0)
        let artifact = try #require(fileBytes("\(dir)/artifact"))
        let theirs = try #require(fileBytes("\(dir)/sig"))
        let pub = try #require(readFile("\(dir)/pub.pem"))
        #expect(try artifact.withUnsafeBytes { try Ed25519.verify($0, signature: theirs, publicKey: pub, source: "pub.pem") })
        let ours = try artifact.withUnsafeBytes { try Ed25519.sign($0, privateKey: readFile("\(dir)/key.pem")!, source: "key.pem") }
        #expect(ours == theirs)   // Ed25519 is deterministic
        let (_, ourPub) = try Ed25519.generate()
        let (ourPriv2, ourPub2) = try Ed25519.generate()
        _ = ourPub
        #expect(writeBytes("\(dir)/pub2.pem", Array(ourPub2.utf8)))
        let sig2 = try artifact.withUnsafeBytes { try Ed25519.sign($0, privateKey: ourPriv2, source: "k") }
        #expect(writeBytes("\(dir)/sig2", sig2))
        let (status, out) = shell("openssl pkeyutl -verify -pubin -inkey \(dir)/pub2.pem -rawin -in \(dir)/artifact -sigfile \(dir)/sig2")
        #expect(status == 0 && out.contains("Signature Verified Successfully"), "\(out)")
    }

    @Test func sha256AndBase64() throws {
        #expect([UInt8]().withUnsafeBytes { SHA256Digest.hex(of: $0) } == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let d = SHA256Digest()
        Array("ab".utf8).withUnsafeBytes { d.update($0) }
        Array("c".utf8).withUnsafeBytes { d.update($0) }
        #expect(d.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        for n in 0..<8 {
            let b = (0..<n).map { UInt8($0 * 37 & 0xFF) }
            let e = Base64.encode(b)
            #expect(Base64.decode(e) == b, "\(n): \(e)")
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.decode("Zm9vYg==") == Array("foob".utf8))
        #expect(Base64.decode("Zm9v YmFy") == nil)
        #expect(Base64.decode("Zm9") == nil)
        #expect(Base64.decode("") == [])
    }
}
