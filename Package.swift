// swift-tools-version:6.0
import Foundation
import PackageDescription

/// libgpiod's major version, read from the `libgpiod.pc` that pkg-config would use
/// (PKG_CONFIG_PATH first, then the system's directories): 1 on Debian 12 / Raspberry Pi OS
/// bookworm, 2 on Debian 13 / trixie. LinuxBoard builds the matching backend
/// (LinuxBoard/GPIOD.swift or GPIOD2.swift); `firmloop --version` and `probe` say which.
func libgpiodMajorVersion() -> Int {
    let env = ProcessInfo.processInfo.environment
    let dirs = (env["PKG_CONFIG_PATH"] ?? "").split(separator: ":").map(String.init) + [
        "/usr/local/lib/pkgconfig", "/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/aarch64-linux-gnu/pkgconfig",
        "/usr/lib/arm-linux-gnueabihf/pkgconfig", "/usr/lib/pkgconfig", "/usr/share/pkgconfig",
    ]
    for d in dirs {
        guard let text = try? String(contentsOfFile: d + "/libgpiod.pc", encoding: .utf8) else { continue }
        for line in text.split(separator: "\n") where line.hasPrefix("Version:") {
            let v = line.dropFirst("Version:".count).drop { $0 == " " }
            return Int(v.prefix { $0.isNumber }) ?? 1
        }
    }
    return 1
}
let gpiodSettings: [SwiftSetting] = libgpiodMajorVersion() >= 2 ? [.define("FIRMLOOP_GPIOD_V2")] : []

// Dynamic exclusivity checks on the kernel's hot loop cost ~10% per switch (measured when the
// kernel was designed; `make bench`'s yield row shows it); the kernel alone drops them in
// release builds. Its tests and the allocation/speed benchmarks run on exactly that build.
//
// `kernelIsDefaultExecutor`: the kernel becomes the process's default executor (Swift 6.3's
// ExecutorFactory, an experimental SPI; Kernel/Core/DefaultExecutor.swift) in binaries that ask
// for it (the firmloop command line, the benchmarks), so its tasks need no executor preference.
// false builds the preference path only.
let kernelIsDefaultExecutor = true
let simBoardSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
] + (kernelIsDefaultExecutor ? [.define("FIRMLOOP_DEFAULT_EXECUTOR")] : [])

let package = Package(
    name: "firmloop",
    platforms: [.macOS(.v15)],
    products: [
        // Every layer a firmware builds on (Kernel → Board → LinuxBoard / SimBoard → Firmware →
        // FirmloopCLI), and the firmloop binary (FirmloopCLI with the stock firmware).
        .library(name: "Kernel", targets: ["Kernel"]),
        .library(name: "Board", targets: ["Board"]),
        .library(name: "MQTT", targets: ["MQTT"]),
        .library(name: "TLS", targets: ["TLS"]),
        .library(name: "Update", targets: ["Update"]),
        .library(name: "LinuxBoard", targets: ["LinuxBoard"]),
        .library(name: "SimBoard", targets: ["SimBoard"]),
        .library(name: "SimWorld", targets: ["SimWorld"]),
        .library(name: "Firmware", targets: ["Firmware"]),
        .library(name: "FirmwareSim", targets: ["FirmwareSim"]),
        .library(name: "FirmloopCLI", targets: ["FirmloopCLI"]),
        .executable(name: "firmloop", targets: ["firmloop"]),
    ],
    // No package dependencies: the command line's parser is FirmloopCLI/Arguments.swift (issue 28:
    // swift-argument-parser linked FoundationEssentials, 5 MB of the binary an update ships).
    dependencies: [],
    targets: [
        .target(name: "CSystem"),
        // The version `firmloop --version` prints, stamped by the Makefile (scripts/buildinfo.sh).
        .target(name: "CBuildInfo"),
        .target(name: "Kernel", dependencies: ["CSystem"], exclude: ["Core/README.md"], swiftSettings: kernelSettings),
        .target(name: "Board", dependencies: ["Kernel"]),
        .target(name: "MQTT", dependencies: ["Kernel", "Board"]),
        // The simulated board drops them too, in release: its hot paths (a UART read per 16
        // bytes, an event-log entry per event) spent ~6% of a simulated day in them (callgrind).
        // Debug builds (the example package's tests) keep them.
        .target(name: "SimBoard", dependencies: ["Kernel", "Board"], swiftSettings: simBoardSettings),
        // The world around a simulated board: the in-process MQTT broker on its network,
        // scenarios, and simulated runs.
        .target(name: "SimWorld", dependencies: ["Kernel", "Board", "MQTT", "TLS", "SimBoard"], swiftSettings: simBoardSettings),
        // SQLite 3 (Debian's libsqlite3-dev): the firmware's durable outbox.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // OpenSSL (Debian's libssl-dev): TLS over any Connection, through memory BIOs (mqtts://).
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "TLS", dependencies: ["Kernel", "Board", "COpenSSL"]),
        // Over-the-air updates: Ed25519 signatures and SHA-256 (OpenSSL's EVP), the artifact's
        // checks, the download.
        .target(name: "Update", dependencies: ["Kernel", "Board", "COpenSSL"]),
        .target(name: "Firmware", dependencies: ["Kernel", "Board", "MQTT", "CSQLite", "Update"]),
        // The firmware on the simulated board, with its invariants (firmloop simulate, tests, bench).
        .target(name: "FirmwareSim", dependencies: ["Kernel", "Board", "MQTT", "SimBoard", "SimWorld", "Firmware", "TLS"]),
        // libgpiod (Debian's libgpiod-dev; `make` installs it): v1.6 on Debian 12, v2 on Debian 13.
        // Used only by LinuxBoard/GPIOD.swift (v1) or GPIOD2.swift (v2), chosen above.
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        .target(name: "LinuxBoard", dependencies: ["Kernel", "Board", "CGPIOD", "CSystem"], swiftSettings: gpiodSettings),
        // The command line as a library: `FirmloopCommand.main(firmware:)` for any firmware.
        .target(name: "FirmloopCLI", dependencies: [
            "Kernel", "Board", "SimBoard", "SimWorld", "LinuxBoard", "Firmware", "FirmwareSim", "MQTT", "CBuildInfo", "TLS", "Update",
        ]),
        .executableTarget(name: "firmloop", dependencies: ["Firmware", "FirmloopCLI"]),
        // Test and benchmark support only: replaces malloc process-wide to count calls; and the C
        // helpers only tests and benchmarks use (openpty, gettid, process CPU time).
        .target(name: "CAllocCount"),
        .target(name: "CTestSupport"),
        // The board-layer demo firmware (every role kind, Board protocols only): a simulated
        // run's load in SimWorldTests and `make bench`, not in the product.
        .target(name: "BoardDemo", dependencies: ["Kernel", "Board"], path: "Tests/Demo"),
        .executableTarget(name: "firmloop-bench", dependencies: ["Kernel", "CSystem", "CAllocCount", "CTestSupport", "BoardDemo", "Board", "SimBoard", "SimWorld", "Firmware", "FirmwareSim", "LinuxBoard", "TLS", "MQTT"],
                          path: "bench/Sources/firmloop-bench"),
        // Fuzz targets (fuzz/README.md): `make fuzz` builds them with libFuzzer; built plainly
        // they replay the seed corpus (`make test`). One executable, the target by name.
        .executableTarget(name: "firmloop-fuzz", dependencies: ["Kernel", "Board", "MQTT", "Firmware"], path: "fuzz/Sources/firmloop-fuzz",
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        // Tests: one target per module; they share the one-kernel-at-a-time turn in Tests/Support.
        .target(name: "KernelTestSupport", dependencies: ["Kernel", "Board", "CSystem", "CTestSupport"], path: "Tests/Support"),
        .testTarget(name: "KernelTests", dependencies: ["Kernel", "CSystem", "CAllocCount", "CTestSupport", "KernelTestSupport"], exclude: ["traces"]),
        .testTarget(name: "BoardTests", dependencies: ["Board", "Kernel", "KernelTestSupport"]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT", "Board", "Kernel", "SimBoard", "SimWorld", "LinuxBoard", "KernelTestSupport"]),
        .testTarget(name: "UpdateTests", dependencies: ["Update", "KernelTestSupport"], exclude: ["range-server.py"]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "Board", "Kernel", "LinuxBoard", "MQTT", "KernelTestSupport"], exclude: ["make-certs.sh"]),
        .testTarget(name: "LinuxBoardTests", dependencies: ["LinuxBoard", "Board", "Kernel", "CSystem", "CTestSupport", "CGPIOD", "KernelTestSupport"],
                    swiftSettings: gpiodSettings),
        .testTarget(name: "FirmwareTests", dependencies: ["Firmware", "Board", "Kernel", "MQTT", "SimBoard", "SimWorld", "LinuxBoard", "KernelTestSupport"]),
        .testTarget(name: "FirmwareSimTests", dependencies: ["FirmwareSim", "Firmware", "SimBoard", "SimWorld", "Board", "Kernel", "MQTT", "KernelTestSupport"]),
        .testTarget(name: "SimBoardTests", dependencies: ["SimBoard", "Board", "Kernel", "Firmware", "KernelTestSupport"]),
        // The package as a whole: its layers (no import back up).
        .testTarget(name: "PackageTests", dependencies: ["KernelTestSupport"]),
        // The command line, through the firmloop binary built beside the tests.
        .testTarget(name: "FirmloopCLITests", dependencies: ["Board", "Firmware", "LinuxBoard", "CSystem", "CTestSupport", "KernelTestSupport"],
                    swiftSettings: gpiodSettings),   // FIRMLOOP_GPIOD_V2: which backend the binary beside it has
        .testTarget(name: "SimWorldTests", dependencies: ["SimWorld", "SimBoard", "Board", "Kernel", "MQTT", "BoardDemo", "KernelTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
