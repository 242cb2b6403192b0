import Glibc
import Kernel

// The command line's parser: subcommands, `--name VALUE` / `--name=VALUE` options, flags,
// positional arguments, `--help` at every level and `--version` at the top, help text made
// from the same declarations. Written here rather than taken from swift-argument-parser,
// which links FoundationEssentials (and its Unicode tables) into the binary for two small
// uses: 5.3 MB of the 17.4 MB stripped binary an over-the-air update ships (issue 28).

/// A command of the `firmloop` command line: what it takes, its help, and what it does.
protocol Command {
    /// The word that selects it (`run`); the top command's is the program's name.
    static var name: String { get }
    static var abstract: String { get }
    /// More help, printed after the abstract (paragraphs; wrapped to the terminal's 80 columns).
    static var discussion: String { get }
    static var parameters: [Parameter] { get }
    static var subcommands: [any Command.Type] { get }
    /// The command with its parameters read from `arguments`; a bad value throws `UsageError`.
    init(_ arguments: ParsedArguments) throws(UsageError)
    func run() throws
}

extension Command {
    static var discussion: String { "" }
    static var parameters: [Parameter] { [] }
    static var subcommands: [any Command.Type] { [] }
}

/// One thing a command takes: `--name VALUE`, a `--name` flag, or a positional ARGUMENT.
struct Parameter {
    enum Kind: Equatable {
        case option
        /// `--name [VALUE]`: the value may be left out (last, or before another option), then it is `implicit`.
        case optionalValue(implicit: String)
        case flag
        /// A positional argument; `required: false` for one with a default.
        case argument(required: Bool)
    }
    let kind: Kind
    /// The long name without its dashes (`snapshot-interval`), or an argument's name (`device`).
    let name: String
    let help: String
    /// What the help shows for the value: `<board>` by default.
    let valueName: String
    /// What the help says the default is, if any.
    let defaultText: String?
    /// An option the command cannot do without (`sign --key`).
    var isRequired = false

    static func option(_ name: String, help: String, valueName: String? = nil, default d: String? = nil,
                       required: Bool = false) -> Parameter {
        Parameter(kind: .option, name: name, help: help, valueName: valueName ?? name, defaultText: d, isRequired: required)
    }
    static func option(_ name: String, implicit: String, help: String, valueName: String) -> Parameter {
        Parameter(kind: .optionalValue(implicit: implicit), name: name, help: help, valueName: valueName, defaultText: nil)
    }
    static func flag(_ name: String, help: String) -> Parameter {
        Parameter(kind: .flag, name: name, help: help, valueName: "", defaultText: nil)
    }
    static func argument(_ name: String, help: String, default d: String? = nil) -> Parameter {
        Parameter(kind: .argument(required: d == nil), name: name, help: help, valueName: name, defaultText: d,
                  isRequired: d == nil)
    }

    var isPositional: Bool { if case .argument = kind { true } else { false } }

    /// How the usage line shows it: `--board <board>`, `[--all]`, `<device>`, `[<directory>]`.
    var usage: String {
        switch kind {
        case .option: "--\(name) <\(valueName)>"
        case .optionalValue: "--\(name) [<\(valueName)>]"
        case .flag: "--\(name)"
        case .argument: "<\(valueName)>"
        }
    }
}

/// A command line that cannot be run: printed with the command's usage, exit 64 (EX_USAGE).
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Ends the process with `code` and nothing more printed (the command said why already).
struct ExitCode: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}

/// A command's arguments, parsed against its parameters. Errors name the option.
struct ParsedArguments {
    var values: [String: String] = [:]
    var flags: Set<String> = []
    var positionals: [String: String] = [:]

    func string(_ name: String) -> String? { values[name] ?? positionals[name] }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    func int(_ name: String) throws(UsageError) -> Int? { try number(name) }
    func uint64(_ name: String) throws(UsageError) -> UInt64? { try number(name) }

    /// A whole number; the error names the option, and the range for an unsigned one.
    private func number<N: FixedWidthInteger>(_ name: String) throws(UsageError) -> N? {
        guard let v = string(name) else { return nil }
        guard let n = N(v) else {
            throw UsageError("--\(name) \(v): expected a whole number" + (N.isSigned ? "" : " from 0 to \(N.max)"))
        }
        return n
    }

    /// A required option or argument (the parser has checked it is there).
    func required(_ name: String) -> String { string(name)! }

    /// Parses `args` (the words after the command's name) against `parameters`.
    static func parse(_ args: [String], _ parameters: [Parameter]) throws(UsageError) -> ParsedArguments {
        var p = ParsedArguments()
        let positional = parameters.filter(\.isPositional)
        var nextPositional = 0
        var i = 0, onlyPositionals = false
        func takePositional(_ word: String) throws(UsageError) {
            guard nextPositional < positional.count else { throw UsageError("Unexpected argument '\(word)'") }
            p.positionals[positional[nextPositional].name] = word
            nextPositional += 1
        }
        while i < args.count {
            let word = args[i]
            i += 1
            if onlyPositionals || !word.hasPrefix("-") || word == "-" {
                try takePositional(word)
                continue
            }
            if word == "--" { onlyPositionals = true; continue }
            guard word.hasPrefix("--") else { throw UsageError("Unknown option '\(word)'") }
            var name = String(word.dropFirst(2)), inline: String? = nil
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let param = parameters.first(where: { $0.name == name && !$0.isPositional }) else {
                throw UsageError("Unknown option '--\(name)'")
            }
            switch param.kind {
            case .flag:
                if inline != nil { throw UsageError("--\(name) takes no value") }
                p.flags.insert(name)
            case .option:
                if let inline { p.values[name] = inline; continue }
                guard i < args.count, !args[i].hasPrefix("--") else {
                    throw UsageError("Missing value for '\(param.usage)'")
                }
                p.values[name] = args[i]
                i += 1
            case .optionalValue(let implicit):
                if let inline { p.values[name] = inline; continue }
                if i < args.count, !args[i].hasPrefix("-") {
                    p.values[name] = args[i]
                    i += 1
                } else {
                    p.values[name] = implicit
                }
            case .argument:
                break
            }
        }
        for a in parameters where a.isRequired && p.string(a.name) == nil {
            throw UsageError("Missing expected argument '\(a.usage)'")
        }
        return p
    }
}

/// Runs the command `arguments` name under `top`: parses, prints help or the version when asked,
/// runs, and exits the process with the command's status.
func runCommandLine(_ top: any Command.Type, version: String, _ arguments: [String]) -> Never {
    var path: [any Command.Type] = [top]
    var rest = arguments[...]
    // `firmloop help config check` is `firmloop config check --help`.
    let askedForHelp = rest.first == "help"
    if askedForHelp { rest = rest.dropFirst() }
    while let word = rest.first, let sub = path.last!.subcommands.first(where: { $0.name == word }) {
        path.append(sub)
        rest = rest.dropFirst()
    }
    let command = path.last!
    let words = Array(rest)
    let optionWords = words.prefix { $0 != "--" }
    if askedForHelp || optionWords.contains("--help") || optionWords.contains("-h")
        || (words.isEmpty && !command.subcommands.isEmpty) {
        writeAll(1, helpText(path))
        exit(0)
    }
    if path.count == 1, optionWords.contains("--version") {
        writeAll(1, version + "\n")
        exit(0)
    }
    do {
        try execute(command, words)
        exit(0)
    } catch let e as UsageError {
        writeAll(2, "Error: \(e)\nUsage: \(usageLine(path))\n  See '\(path.map { $0.name }.joined(separator: " ")) --help' for more information.\n")
        exit(64)
    } catch let e as ExitCode {
        exit(e.code)
    } catch {
        writeAll(2, "\(path.map { $0.name }.joined(separator: " ")): \(error)\n")
        exit(1)
    }
}

/// Parses `words` for `command` and runs it.
private func execute(_ command: any Command.Type, _ words: [String]) throws {
    if !command.subcommands.isEmpty, let word = words.first { throw UsageError("Unknown subcommand '\(word)'") }
    let parsed = try ParsedArguments.parse(words, command.parameters)
    try command.init(parsed).run()
}

func usageLine(_ path: [any Command.Type]) -> String {
    let c = path.last!
    let words = path.map { $0.name }.joined(separator: " ")
    if !c.subcommands.isEmpty { return "\(words) <subcommand>" }
    // Every parameter, or (for a command with many options: run) the required ones and [<options>].
    let shown = c.parameters.filter(\.isPositional) + c.parameters.filter { !$0.isPositional }
    let optional = shown.filter { !$0.isRequired }
    let parts = optional.count > 8
        ? shown.filter(\.isRequired).map(\.usage) + ["[<options>]"]
        : shown.map { $0.isRequired ? $0.usage : "[\($0.usage)]" }
    return ([words] + parts).joined(separator: " ")
}

/// `--help`: the abstract, the discussion, the usage, and every parameter with its help.
func helpText(_ path: [any Command.Type]) -> String {
    let c = path.last!
    var out = "OVERVIEW: \(c.abstract)\n\n"
    if !c.discussion.isEmpty { out += wrap(c.discussion, indent: 0) + "\n\n" }
    out += "USAGE: \(usageLine(path))\n"
    let positional = c.parameters.filter(\.isPositional)
    if !positional.isEmpty {
        out += "\nARGUMENTS:\n"
        for p in positional { out += entry(p.usage, p.help + (p.defaultText.map { " (default: \($0))" } ?? "")) }
    }
    out += "\nOPTIONS:\n"
    for p in c.parameters where !p.isPositional {
        out += entry(p.usage, p.help + (p.defaultText.map { " (default: \($0))" } ?? ""))
    }
    if path.count == 1 { out += entry("--version", "Show the version.") }
    out += entry("-h, --help", "Show help information.")
    if !c.subcommands.isEmpty {
        out += "\nSUBCOMMANDS:\n"
        for s in c.subcommands { out += entry(s.name, s.abstract) }
        out += "\n  See '\(path.map { $0.name }.joined(separator: " ")) <subcommand> --help' for detailed help.\n"
    }
    return out
}

private func entry(_ left: String, _ help: String) -> String {
    let column = 26
    let head = "  " + left
    let body = wrap(help, indent: column)
    let text = head.count < column ? head + String(repeating: " ", count: column - head.count) + body.dropFirst(column)
        : head + "\n" + body
    return text + "\n"
}

/// `text` wrapped at 80 columns, each line indented by `indent` spaces.
func wrap(_ text: String, indent: Int, width: Int = 80) -> String {
    var lines: [String] = [], line = ""
    let pad = String(repeating: " ", count: indent)
    for word in text.split(separator: " ", omittingEmptySubsequences: true) {
        if !line.isEmpty && indent + line.count + 1 + word.count > width {
            lines.append(pad + line)
            line = ""
        }
        line += (line.isEmpty ? "" : " ") + word
    }
    if !line.isEmpty || lines.isEmpty { lines.append(pad + line) }
    return lines.joined(separator: "\n")
}
