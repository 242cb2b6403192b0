import Firmware
import Glibc
import Kernel
import KernelTestSupport
import Testing

func tempPath(_ name: String) -> String {
    var template = Array("/tmp/firmloop-outbox-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    return dir + "/" + name
}

@Suite struct OutboxTests {
    @Test func sequenceNumbersStartAtOneStayContiguousAndSurviveRestarts() throws {
        let path = tempPath("outbox.db")
        do {
            let o = try Outbox(path: path)
            #expect(try (1...5).map { try o.appendNow(topic: "t", payload: Array("m\($0)".utf8)) } == [1, 2, 3, 4, 5])
            try o.removeNow([1, 2])
        }
        let again = try Outbox(path: path)   // a restart
        #expect(try again.appendNow(topic: "t", payload: []) == 6)
        #expect(try again.pendingNow().map(\.seq) == [3, 4, 5, 6])
        #expect(try again.pendingNow().first?.payload == Array("m3".utf8))
        #expect(try again.pendingNow(after: 4, limit: 1).map(\.seq) == [5])
        #expect(try again.countsNow() == Outbox.Counts(pending: 4, nextSeq: 7, dropped: 0))
    }

    @Test func whenFullTheOldestAreDroppedAndCounted() throws {
        let path = tempPath("outbox.db")
        do {
            let o = try Outbox(path: path, capacity: 10)
            for i in 1...25 { _ = try o.appendNow(topic: "t", payload: [UInt8(i)]) }
            #expect(try o.pendingNow().map(\.seq) == Array(16...25))
        }
        #expect(try Outbox(path: path, capacity: 10).countsNow() == Outbox.Counts(pending: 10, nextSeq: 26, dropped: 15))
    }

    @Test func fromTheKernelTheDiskWorkIsOffloaded() throws {
        let path = tempPath("outbox.db")
        let o = try Outbox(path: path)
        let (seqs, left) = try kernelTest { () async throws -> ([Int64], Int) in
            var seqs: [Int64] = []
            for i in 1...20 { seqs.append(try await o.append(topic: "firmloop/d/snapshot", payload: Array("\(i)".utf8))) }
            try await o.remove([1, 2, 3])
            return (seqs, try await o.counts().pending)
        }
        #expect(seqs == Array(1...20))
        #expect(left == 17)
    }

    @Test func anUnusableFileIsAnErrorNamingIt() {
        #expect(throws: OutboxError.self) { try Outbox(path: "/nonexistent-dir/outbox.db") }
        do { _ = try Outbox(path: "/nonexistent-dir/outbox.db") } catch {
            #expect("\(error)".hasPrefix("outbox /nonexistent-dir/outbox.db: "), "\(error)")
        }
    }
}
