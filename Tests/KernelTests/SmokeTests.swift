import Testing
@testable import Kernel
@Test func smoke() throws {
    let r = try Kernel.simulate { () async throws -> Int in try await sleep(ms: 5); return 42 }
    #expect(r == 42)
}
