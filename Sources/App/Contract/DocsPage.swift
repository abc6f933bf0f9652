import Ink
import Mustache
import Yams

/// `GET /docs`: a human-readable reference rendered from the contract once, at start. It is one
/// self-contained HTML page (no script, font or style from elsewhere), for closed networks. The
/// document's descriptions are Markdown, rendered to HTML here.
struct DocsPage {
    let document: Node
    private let markdown = MarkdownParser()

    func render() throws -> String {
        let template = try MustacheTemplate(string: Self.template)
        return template.render(model())
    }

    // MARK: The page's model, read from the document

    private func model() -> [String: Any] {
        let info = document["info"]
        var byTag: [String: [[String: Any]]] = [:]
        for (pathNode, item) in document["paths"]?.mapping ?? [:] {
            guard let path = pathNode.string, let item = item.mapping else { continue }
            for (methodNode, operation) in item {
                guard let method = methodNode.string, Self.methods.contains(method) else { continue }
                let tag = operation["tags"]?.sequence?.first?.string ?? "other"
                byTag[tag, default: []].append(self.operation(method: method, path: path, operation))
            }
        }
        var tags: [[String: Any]] = (document["tags"]?.sequence ?? []).compactMap { tag in
            guard let name = tag["name"]?.string, let operations = byTag.removeValue(forKey: name) else { return nil }
            return ["name": name, "description": html(tag["description"]), "operations": operations]
        }
        // Operations under a tag the document does not declare still get a section.
        tags += byTag.keys.sorted().map { ["name": $0, "description": "", "operations": byTag[$0]!] }
        return [
            "title": info?["title"]?.string ?? "API",
            "version": info?["version"]?.string ?? "",
            "description": html(info?["description"]),
            "tags": tags,
            "errorCodes": errorCodes(),
        ]
    }

    private static let methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]

    private func operation(method: String, path: String, _ op: Node) -> [String: Any] {
        let requirements = (op["security"] ?? document["security"])?.sequence ?? []
        let secured = requirements.contains { !($0.mapping?.isEmpty ?? true) }
        let roles = requirements.flatMap { requirement in
            (requirement.mapping ?? [:]).flatMap { _, scopes in (scopes.sequence ?? []).compactMap(\.string) }
        }
        let parameters: [[String: Any]] = (op["parameters"]?.sequence ?? []).map(resolve).map { p in
            [
                "name": p["name"]?.string ?? "",
                "in": p["in"]?.string ?? "",
                "required": p["required"]?.bool ?? false,
                "type": typeName(p["schema"].map(resolve)),
                "description": html(p["description"]),
            ]
        }
        var model: [String: Any] = [
            "id": op["operationId"]?.string ?? "\(method)-\(path)",
            "method": method.uppercased(),
            "methodClass": method,
            "path": path,
            "summary": op["summary"]?.string ?? "",
            "description": html(op["description"]),
            "auth": secured ? (roles.isEmpty ? "bearer token" : "bearer token, role: " + roles.joined(separator: " or ")) : "none",
            "parameters": parameters,
            "hasParameters": !parameters.isEmpty,
            "responses": responses(op["responses"]),
        ]
        if let body = op["requestBody"].map(resolve), let (contentType, media) = body["content"]?.mapping?.first {
            let schema = media["schema"].map(resolve)
            model["body"] =
                [
                    "contentType": contentType.string ?? "",
                    "required": body["required"]?.bool ?? false,
                    "schemaName": media["schema"]?["$ref"]?.string.map(Self.refName) ?? typeName(schema),
                    "fields": fields(schema),
                ] as [String: Any]
        }
        return model
    }

    private func responses(_ node: Node?) -> [[String: Any]] {
        (node?.mapping ?? [:]).map { code, response in
            let response = resolve(response)
            let content = response["content"]?.mapping?.first
            return [
                "code": code.string ?? "",
                "class": "s" + String((code.string ?? "x").prefix(1)),
                "description": html(response["description"]),
                "contentType": content?.key.string ?? "",
            ]
        }
    }

    /// One row per property of an object schema (after `$ref` and `allOf`).
    private func fields(_ schema: Node?) -> [[String: Any]] {
        guard let schema else { return [] }
        var properties: [(Node, Node)] = []
        var required = Set<String>()
        for part in [schema] + (schema["allOf"]?.sequence ?? []).map(resolve) {
            properties += (part["properties"]?.mapping ?? [:]).map { ($0, $1) }
            required.formUnion((part["required"]?.sequence ?? []).compactMap(\.string))
        }
        return properties.map { key, value in
            let name = key.string ?? ""
            let property = resolve(value)
            return [
                "name": name,
                "type": value["$ref"]?.string.map(Self.refName) ?? typeName(property),
                "required": required.contains(name),
                "constraints": constraints(property),
                "description": html(property["description"]),
            ]
        }
    }

    /// A schema's type in a few words; nested types go four levels deep (a schema may refer to itself).
    private func typeName(_ schema: Node?, depth: Int = 0) -> String {
        guard let schema else { return "" }
        if let ref = schema["$ref"]?.string { return Self.refName(ref) }
        if let values = schema["enum"]?.sequence { return values.compactMap(\.string).joined(separator: " | ") }
        var names = schema["type"]?.sequence?.compactMap(\.string) ?? [schema["type"]?.string].compactMap { $0 }
        if let items = schema["items"], names.contains("array"), depth < 4 {
            names = names.map { $0 == "array" ? "array of " + typeName(resolve(items), depth: depth + 1) : $0 }
        }
        if names.isEmpty, depth < 4, let variants = (schema["oneOf"] ?? schema["anyOf"])?.sequence {
            return variants.map { typeName($0, depth: depth + 1) }.joined(separator: " | ")
        }
        return names.joined(separator: " | ")
    }

    private func constraints(_ schema: Node) -> String {
        let keys: [(String, String)] = [
            ("minLength", "min length"), ("maxLength", "max length"), ("minimum", "≥"), ("maximum", "≤"),
            ("minItems", "min items"), ("maxItems", "max items"), ("pattern", "pattern"), ("format", "format"),
            ("default", "default"),
        ]
        return keys.compactMap { key, label in schema[key]?.string.map { "\(label) \($0)" } }.joined(separator: ", ")
    }

    /// The catalog of AMS codes, from the `x-error-codes` of the error schema's `code`.
    private func errorCodes() -> [[String: Any]] {
        guard let codes = document["components"]?["schemas"]?["ErrorCode"]?["x-error-codes"]?.mapping else { return [] }
        return codes.map { code, entry in
            ["code": code.string ?? "", "status": entry["status"]?.string ?? "", "meaning": html(entry["description"])]
        }
    }

    /// A description's Markdown as HTML (the document is ours, so its HTML is trusted).
    private func html(_ node: Node?) -> String {
        guard let text = node?.string, !text.isEmpty else { return "" }
        return markdown.html(from: text)
    }

    /// Follows local `$ref`s; a chain longer than any sane document (a cycle) stops where it is.
    private func resolve(_ node: Node) -> Node {
        var node = node
        for _ in 0..<16 {
            guard let ref = node["$ref"]?.string, ref.hasPrefix("#/") else { return node }
            var target: Node? = document
            for part in ref.dropFirst(2).split(separator: "/") {
                target = target?[part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
            }
            guard let target else { return node }
            node = target
        }
        return node
    }

    private static func refName(_ ref: String) -> String {
        String(ref.split(separator: "/").last ?? "")
    }
}
