public import Domain
import Foundation
import Yams

/// Reads the shipped tool catalog (`config/tools.yaml`) that seeds an empty database.
public enum ToolCatalogFile {
    public static func load(path: String) throws -> [ToolDefinition] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("tool catalog \(path): cannot be read")
        }
        let json: JSONValue
        do {
            json = try YAMLDecoder().decode(JSONValue.self, from: text)
        } catch {
            throw ConfigurationError("tool catalog \(path): not valid YAML")
        }
        guard case .array(let items) = json["tools"] ?? .null else {
            throw ConfigurationError("tool catalog \(path): needs a top-level 'tools' list")
        }
        do {
            return try items.enumerated().map { i, item throws(ServiceError) in try ToolDefinition(json: item, at: "/tools/\(i)") }
        } catch {
            throw ConfigurationError("tool catalog \(path): \(error.details["field"]?.stringValue ?? ""): \(error.message)")
        }
    }
}
