import Domain
import Hummingbird
import Yams

/// The API contract, `openapi.yaml`, embedded in the binary (by the EmbedFiles build plugin) so
/// it is served wherever the binary runs, with its JSON form and the docs page made once at start.
struct APIContract: Sendable {
    let yaml: ByteBuffer
    let json: ByteBuffer
    let docsPage: ByteBuffer

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(yaml source: String = EmbeddedFiles.openapiYAML) throws {
        guard let root = try Yams.compose(yaml: source) else { throw Invalid(description: "openapi.yaml is empty") }
        var writer = JSONWriter(capacity: source.utf8.count)
        try Self.write(root, to: &writer)
        self.yaml = ByteBuffer(string: source)
        self.json = ByteBuffer(bytes: writer.bytes)
        self.docsPage = ByteBuffer(string: try DocsPage(document: root).render())
    }

    /// YAML to JSON in document order, so the JSON reads like the YAML.
    static func write(_ node: Node, to w: inout JSONWriter) throws {
        switch node {
        case .mapping(let mapping):
            w.beginObject()
            for (key, value) in mapping {
                guard let name = key.string else { throw Invalid(description: "a mapping key is not a string") }
                w.key(name)
                try write(value, to: &w)
            }
            w.endObject()
        case .sequence(let sequence):
            w.beginArray()
            for element in sequence { try write(element, to: &w) }
            w.endArray()
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: w.null()
            case .bool: w.value(node.bool ?? false)
            case .int: w.value(node.int ?? 0)
            case .float: w.value(node.float ?? 0)
            default: w.value(scalar.string)
            }
        case .alias:
            throw Invalid(description: "YAML aliases are not used in the contract")
        }
    }
}
