import Glibc
import KernelTestSupport
import Testing

/// The kernel as the process's default executor (Kernel/Core/DefaultExecutor.swift). The test
/// runner cannot switch executors (its harness needs a thread pool; every other kernel test
/// runs on the executor-preference path), so this runs the `firmloop` binary, which does switch
/// (FirmloopCommand.main), once each way: the same simulated hours give the same digest.
@Suite(.serialized) struct DefaultExecutorTests {
    func firmloop(_ args: [String], environment: [String: String] = [:]) throws -> String {
        let out = temporaryDirectory("executor") + "/out"
        let p = try ChildProcess(firmloopExecutable, args, output: out, environment: environment)
        #expect(p.wait() == 0, "firmloop \(args.joined(separator: " ")): \(readFile(out) ?? "")")
        return readFile(out) ?? ""
    }

    @Test func theBinaryRunsOnTheKernelAsDefaultExecutorAndTheFallbackGivesTheSameDay() throws {
        let version = try firmloop(["--version"])
        #expect(version.contains("kernel tasks on the process default executor"), "\(version)")
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(version.hasPrefix("firmloop ") && version.split(separator: "\n").first?.hasSuffix(" for \(machine) Linux") == true, "\(version)")
        let fallback = ["FIRMLOOP_EXECUTOR": "preference"]
        #expect(try firmloop(["--version"], environment: fallback).contains("kernel tasks on the task executor preference"))

        let args = ["simulate", "--duration", "3h"]
        let digest = { (text: String) in text.split(separator: "\n").first { $0.contains("digest:") }.map(String.init) }
        let viaDefault = digest(try firmloop(args))
        let viaPreference = digest(try firmloop(args, environment: fallback))
        #expect(viaDefault != nil)
        #expect(viaDefault == viaPreference)
    }
}
