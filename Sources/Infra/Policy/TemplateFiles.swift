public import Domain
import Foundation
import Yams

/// Reads the system templates shipped as `config/templates/*.yaml`, one template per file. Any
/// problem stops the start with a message naming the file and the field.
public enum TemplateFiles {
    static let fields = Template.fields.union(["id"])

    public static func load(directory: String) throws -> [Template] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw ConfigurationError("templates \(directory): cannot be read")
        }
        var templates: [Template] = []
        var seen: Set<String> = []
        for name in names.sorted() where name.hasSuffix(".yaml") {
            let path = directory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ConfigurationError("template \(path): cannot be read") }
            let template = try parse(text, source: path)
            guard seen.insert(template.id).inserted else { throw ConfigurationError("template \(path): id '\(template.id)' is used twice") }
            templates.append(template)
        }
        return templates
    }

    public static func parse(_ text: String, source: String) throws -> Template {
        let json: JSONValue
        do {
            json = try YAMLDecoder().decode(JSONValue.self, from: text)
        } catch {
            throw ConfigurationError("\(source): not valid YAML")
        }
        guard case .object(var fields) = json else { throw ConfigurationError("\(source): must be a mapping") }
        guard let id = fields.removeValue(forKey: "id")?.stringValue, isSlug(id) else {
            throw ConfigurationError("\(source): id: required, lowercase letters, digits and '-'")
        }
        do throws(ServiceError) {
            let template = try Template(json: .object(fields), id: id, tenantID: nil)
            guard !template.name.isEmpty else { throw ServiceError.malformed("name is required", field: "/name") }
            guard !template.category.isEmpty else { throw ServiceError.malformed("category is required", field: "/category") }
            guard template.type.isKnown else { throw ServiceError.malformed("type is not a known agent type", field: "/type") }
            _ = try template.agentConfig()
            return template
        } catch {
            throw ConfigurationError("\(source): \(error.details["field"]?.stringValue ?? ""): \(error.message)")
        }
    }

    static func isSlug(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64
            && id.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-")
            }
    }
}
