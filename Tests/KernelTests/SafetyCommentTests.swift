import Glibc
import KernelTestSupport
import Testing

/// Unsafe in one place: outside the kernel's unsafe core (`Sources/Kernel/Core/`, whose README
/// states its rules), every construct that steps outside Swift's checking says why it holds in
/// a `// safety:` comment just above it (as embassy does).
@Suite struct SafetyCommentTests {
    static let constructs = ["@unchecked Sendable", "unsafeBitCast(", "nonisolated(unsafe)", "Unmanaged.pass", "_unsafeInheritExecutor"]

    @Test func everyUnsafeConstructOutsideTheCoreSaysWhyItHolds() throws {
        var unexplained: [String] = []
        var found = 0
        for path in swiftFiles(under: repositoryRoot + "/Sources") where !path.contains("/Sources/Kernel/Core/") {
            let text = try #require(ReadmeExampleTests.read(path))
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() where !line.drop(while: { $0 == " " }).hasPrefix("//") {
                guard Self.constructs.contains(where: { line.contains($0) }) else { continue }
                found += 1
                // The comment block right above (or a trailing comment on the line).
                var j = i - 1
                var explained = line.contains("// safety:")
                while !explained, j >= 0, lines[j].drop(while: { $0 == " " }).hasPrefix("//") {
                    if lines[j].contains("safety:") { explained = true }
                    j -= 1
                }
                if !explained { unexplained.append("\(path.dropFirst(repositoryRoot.count + 1)):\(i + 1): \(line.drop(while: { $0 == " " }))") }
            }
        }
        #expect(found > 5, "the scan found the constructs it looks for")
        #expect(unexplained.isEmpty, "no // safety: comment above:\n\(unexplained.joined(separator: "\n"))")
    }
}
