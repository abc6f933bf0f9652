import Domain
import Yams

/// YAML read as untrusted input: aliases refused before anything is expanded (a few kilobytes of
/// nested `*a` would otherwise decode into billions of nodes), and only what JSON and Postgres can
/// hold accepted (no U+0000, no NaN or infinity).
enum YAMLDocument {
    static let nodeLimit = 100_000

    static func parse(_ text: String) -> JSONValue? {
        guard let root = try? Yams.compose(yaml: text), isPlain(root, budget: nodeLimit) >= 0 else { return nil }
        guard let value = try? YAMLDecoder().decode(JSONValue.self, from: text), isStorable(value) else { return nil }
        return value
    }

    /// What is left of `budget` after counting the nodes under `node`; negative when over it or
    /// when an alias is met.
    private static func isPlain(_ node: Node, budget: Int) -> Int {
        var left = budget - 1
        guard left >= 0 else { return -1 }
        switch node {
        case .alias: return -1
        case .scalar: return left
        case .sequence(let items):
            for item in items {
                left = isPlain(item, budget: left)
                if left < 0 { return -1 }
            }
        case .mapping(let mapping):
            for (key, value) in mapping {
                left = isPlain(key, budget: left)
                if left >= 0 { left = isPlain(value, budget: left) }
                if left < 0 { return -1 }
            }
        }
        return left
    }

    static func isStorable(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): !s.unicodeScalars.contains("\u{0}")
        case .double(let d): d.isFinite
        case .array(let items): items.allSatisfy(isStorable)
        case .object(let fields): fields.allSatisfy { !$0.key.unicodeScalars.contains("\u{0}") && isStorable($0.value) }
        default: true
        }
    }
}
