public import Domain
import Foundation
import Yams

/// Reads the shipped tool catalog (`config/tools.yaml`) that seeds an empty database.
public enum ToolCatalogFile {
    /// Every key the file may use; anything else is a typo that must stop the start.
    static let shape = YAMLShape.fields(["tools": .list(.fields(ToolDefinition.fields))])

    public static func load(path: String) throws -> [ToolDefinition] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("tool catalog \(path): cannot be read")
        }
        return try parse(text, source: path)
    }

    /// Any problem is a `ConfigurationError` that starts with `source` and names the entry and key.
    public static func parse(_ text: String, source: String = "tool catalog") throws -> [ToolDefinition] {
        let json: JSONValue
        do {
            if let node = try Yams.compose(yaml: text) { try shape.check(node, source: source) }
            json = try YAMLDecoder().decode(JSONValue.self, from: text)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("\(source): not valid YAML")
        }
        guard case .array(let items) = json["tools"] ?? .null else {
            throw ConfigurationError("\(source): needs a top-level 'tools' list")
        }
        do {
            return try items.enumerated().map { i, item throws(ServiceError) in try ToolDefinition(json: item, at: "/tools/\(i)") }
        } catch {
            throw ConfigurationError("\(source): \(error.details["field"]?.stringValue ?? ""): \(error.message)")
        }
    }
}
