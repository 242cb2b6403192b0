import KernelTestSupport
import Testing

/// The command line's own parser (FirmloopCLI/Arguments.swift), through the binary as a user
/// meets it: help at every level, usage errors that name the word and exit 64 (EX_USAGE), both
/// spellings of an option's value, and an option whose value may be left out.
@Suite struct ArgumentsTests {
    @Test func helpAtEveryLevelListsWhatTheCommandTakes() throws {
        let (top, topOut) = try firmloop(["--help"])
        #expect(top == 0)
        for sub in ["run", "simulate", "probe", "uart", "config", "keygen", "sign", "update", "demo"] {
            #expect(topOut.contains("\n  \(sub) "), "\(sub) missing from: \(topOut)")
        }
        #expect(topOut.contains("--version"))
        let (bare, bareOut) = try firmloop([])
        #expect(bare == 0 && bareOut == topOut)

        let (run, runOut) = try firmloop(["run", "--help"])
        #expect(run == 0)
        for opt in ["--board <board>", "--broker <broker>", "--snapshot-interval <snapshot-interval>",
                    "--ha-discovery [<PREFIX>]", "--seed <seed>", "-h, --help"] {
            #expect(runOut.contains(opt), "\(opt) missing from: \(runOut)")
        }
        #expect(runOut.contains("(default: 1)"), "the seed's default: \(runOut)")

        let (check, checkOut) = try firmloop(["help", "config", "check"])
        #expect(check == 0 && checkOut.contains("USAGE: firmloop config check <file>"), "\(checkOut)")
        #expect(try firmloop(["config", "check", "-h"]).output == checkOut)
        let (sign, signOut) = try firmloop(["sign", "--help"])
        #expect(sign == 0 && signOut.contains("USAGE: firmloop sign <artifact> --key <key> [--url <url>] [--id <id>]"), "\(signOut)")
    }

    @Test func usageErrorsNameTheWordAndExit64() throws {
        let cases: [([String], String)] = [
            (["run", "--bogus"], "Error: Unknown option '--bogus'"),
            (["run", "--duration", "soon"], "Error: --duration soon: expected a whole number"),
            (["run", "--seed=-1"], "Error: --seed -1: expected a whole number from 0"),
            (["run", "--board"], "Error: Missing value for '--board <board>'"),
            (["run", "--board", "--seed", "2"], "Error: Missing value for '--board <board>'"),
            (["uart"], "Error: Missing expected argument '<device>'"),
            (["sign", "a.deb"], "Error: Missing expected argument '--key <key>'"),
            (["probe", "extra"], "Error: Unexpected argument 'extra'"),
            (["probe", "--all=yes"], "Error: --all takes no value"),
            (["config", "lint"], "Error: Unknown subcommand 'lint'"),
            (["frobnicate"], "Error: Unknown subcommand 'frobnicate'"),
        ]
        for (args, message) in cases {
            let (status, out) = try firmloop(args)
            #expect(status == 64, "\(args): exit \(status)")
            #expect(out.contains(message), "\(args): \(out)")
            #expect(out.contains("See 'firmloop"), "\(args): \(out)")
        }
    }

    /// `--name=VALUE` and `--name VALUE` are one thing; `--` ends the options; the last of a
    /// repeated option wins.
    @Test func anOptionsValueEitherWayAndTheLastWins() throws {
        let board = "\(repositoryRoot)/boards/sim.json"
        let a = try firmloop(["simulate", "--board=\(board)", "--duration=90s", "--seed", "7", "--seed=3", "--snapshot-interval", "1000"])
        let b = try firmloop(["simulate", "--seed", "3", "--duration", "90s", "--board", board, "--snapshot-interval=1000"])
        #expect(a.status == 0 && b.status == 0, "\(a.output)\n\(b.output)")
        let digest = { (o: String) in o.split(separator: "\n").first { $0.contains("digest") }.map(String.init) }
        #expect(digest(a.output) != nil && digest(a.output) == digest(b.output), "\(a.output)\n\(b.output)")
        let (status, out) = try firmloop(["config", "check", "--", "--not-an-option.json"])
        #expect(status == 2 && out.contains("--not-an-option.json"), "\(out)")
    }
}
