import KernelTestSupport
import Testing

/// The firmware's components talk through the `Device` and its `SnapshotPipe`, never to one
/// another: no component file names another component's type or looks one up
/// (`device.component(T.self)` is for those outside the firmware that report on it).
@Suite struct ComponentRulesTests {
    static let folder = "\(repositoryRoot)/Sources/Firmware/Components"

    /// Each component file's text and the component type it declares (`… X: Component {`).
    static func components() -> [(file: String, name: String, text: String)] {
        swiftFiles(under: folder).compactMap { file in
            guard let text = readFile(file), let name = declaredComponent(text) else { return nil }
            return (file, name, text)
        }
    }

    static func declaredComponent(_ text: String) -> String? {
        guard let r = text.firstRange(of: ": Component {") else { return nil }
        return text[..<r.lowerBound].split(whereSeparator: { $0 == " " || $0 == "\n" }).last.map(String.init)
    }

    /// How the component in `text` reaches for another (of `others`), outside comments: a
    /// lookup by type, or another's name used in code.
    static func reaches(_ text: String, others: [String]) -> [String] {
        var found: [String] = []
        for line in text.split(separator: "\n") {
            let code = line.drop { $0 == " " }
            if code.hasPrefix("//") { continue }
            if code.contains(".component(") { found.append("looks a component up by type: \(code)") }
            let words = Set(code.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
            for o in others where words.contains(o) { found.append("names \(o): \(code)") }
        }
        return found
    }

    @Test func componentsNeitherLookUpNorNameEachOther() {
        let all = Self.components()
        #expect(all.count >= 9, "\(all.map(\.name))")   // the scan sees the stock components
        for c in all {
            let others = all.map(\.name).filter { $0 != c.name }
            #expect(Self.reaches(c.text, others: others) == [], "\(c.file)")
        }
    }

    /// The scan bites: the old reach of `Snapshots` for the forwarder is found; a comment is not.
    @Test func theScanFindsAReach() {
        let text = "/// Hands on to `OutboxForwarding`.\npublic final class Snapshots: Component {\n    forwarding = device.component(OutboxForwarding.self)\n}"
        #expect(Self.declaredComponent(text) == "Snapshots")
        #expect(Self.reaches(text, others: ["OutboxForwarding", "GPSReader"]).count == 2)
        #expect(Self.reaches("/// OutboxForwarding\nlet x = 1", others: ["OutboxForwarding"]) == [])
    }
}
