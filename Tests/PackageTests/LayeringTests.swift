import Glibc
import KernelTestSupport
import Testing

/// The product's modules in layers, lowest first: a module may import only modules of a lower
/// layer (the README's "Layers"). A new module fails this test until it is given a layer.
let layers: [[String]] = [
    ["CSystem", "CBuildInfo", "CSQLite", "COpenSSL", "CGPIOD"],   // C: system calls, libraries from Debian
    ["Kernel"],                       // the scheduler, time, I/O readiness, the offload pool
    ["Board"],                        // roles and the board protocols
    // The boards, and the protocols over a board's connections: side by side, so a board
    // knows no MQTT and the MQTT client no board.
    ["LinuxBoard", "SimBoard", "MQTT", "TLS", "Update"],
    ["SimWorld", "Firmware"],         // the world around a simulated board; the firmware
    ["FirmwareSim"],                  // the firmware in a simulated world, with its invariants
    ["FirmloopCLI"],                  // the command line
    ["firmloop"],                     // the binary
]

/// The `import`s of every Swift file under `Sources/<module>`, as (module, file, imported).
func sourceImports() -> [(module: String, file: String, imported: String)] {
    var found: [(String, String, String)] = []
    for module in sourceModules() {
        for file in swiftFiles(under: "\(repositoryRoot)/Sources/\(module)") {
            guard let text = readFile(file) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                // `import X`, `@_exported import X`, `public import X`, `import struct X.Y`.
                guard let i = words.firstIndex(of: "import"), i + 1 < words.count,
                      words[..<i].allSatisfy({ $0.hasPrefix("@") || ["public", "internal", "package", "private"].contains($0) }) else { continue }
                let target = words[(i + 1)...].first { !["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"].contains($0) }
                if let name = target?.split(separator: ".").first { found.append((module, file, String(name))) }
            }
        }
    }
    return found
}

/// The module folders under `Sources/`.
func sourceModules() -> [String] { files(in: "\(repositoryRoot)/Sources", prefix: "").filter { !$0.hasPrefix(".") } }

@Suite struct LayeringTests {
    @Test func everyModuleHasALayer() {
        let placed = Set(layers.joined())
        let modules = sourceModules().filter { !["CAllocCount", "CTestSupport"].contains($0) }
        #expect(!modules.isEmpty)
        for m in modules { #expect(placed.contains(m), "Sources/\(m) has no layer in Tests/PackageTests/LayeringTests.swift") }
    }

    @Test func noImportRunsBackUpOrAcross() {
        let imports = sourceImports()
        #expect(imports.count > 100)   // the scan sees the sources
        #expect(layerViolations(imports) == [])
    }

    /// The rule bites: the broker's old home (SimBoard importing MQTT and TLS) and an import back
    /// up are refused; one from below is not.
    @Test func theRuleRefusesWhatItShould() {
        let found = layerViolations([("SimBoard", "Broker.swift", "MQTT"), ("Kernel", "K.swift", "Board"),
                                     ("Firmware", "F.swift", "MQTT"), ("Board", "B.swift", "Glibc"), ("Board", "B.swift", "CTestSupport")])
        #expect(found.count == 3, "\(found)")
        #expect(found.first?.hasPrefix("Broker.swift: SimBoard (layer 3) imports MQTT (layer 3)") == true, "\(found)")
    }
}

/// What breaks the layers: an import of the module's own layer or above, or of a test-only module.
func layerViolations(_ imports: [(module: String, file: String, imported: String)]) -> [String] {
    func layer(_ m: String) -> Int? { layers.firstIndex { $0.contains(m) } }
    var found: [String] = []
    for (module, file, imported) in imports {
        if ["CAllocCount", "CTestSupport"].contains(imported) { found.append("\(file): imports the test-only \(imported)"); continue }
        // Modules of no layer are the toolchain's (Glibc, Synchronization, Testing, ...).
        guard let own = layer(module), let theirs = layer(imported), imported != module, theirs >= own else { continue }
        found.append("\(file): \(module) (layer \(own)) imports \(imported) (layer \(theirs)): " + (theirs > own ? "an import back up" : "an import across"))
    }
    return found
}
