/// One entry of the tool catalog that agents' `tools` must reference.
public struct ToolDefinition: Sendable, Hashable {
    public var id: String
    public var name: String
    public var minTier: Tier?
    public var requiredConfig: [String]

    public init(id: String, name: String, minTier: Tier? = nil, requiredConfig: [String] = []) {
        self.id = id
        self.name = name
        self.minTier = minTier
        self.requiredConfig = requiredConfig
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["id": .string(id), "name": .string(name), "required_config": .array(requiredConfig.map(JSONValue.string))]
        o["min_tier"] = minTier.map { .string($0.rawValue) } ?? .null
        return .object(o)
    }

    /// The keys a catalog entry may have, shared with the YAML loader so both refuse the same typos.
    public static let fields: Set<String> = ["id", "name", "min_tier", "required_config"]

    /// Reads one catalog entry, naming the first problem found.
    public init(json: JSONValue, at path: String) throws(ServiceError) {
        let reader = try ObjectReader(json, at: path, allowed: Self.fields)
        let id = try reader.string("id") ?? ""
        guard !id.isEmpty else { throw .malformed("Tool id is required", field: "\(path)/id") }
        let name = try reader.string("name") ?? id
        var minTier: Tier?
        if let raw = try reader.string("min_tier") {
            guard let tier = Tier(rawValue: raw) else { throw .malformed("Unknown tier '\(raw)'", field: "\(path)/min_tier") }
            minTier = tier
        }
        self.init(id: id, name: name, minTier: minTier, requiredConfig: try reader.strings("required_config") ?? [])
    }
}

/// The catalog as an immutable value: validators get a snapshot, a PUT replaces it whole.
public struct ToolCatalog: Sendable, Hashable {
    public var tools: [ToolDefinition]
    private var byID: [String: ToolDefinition]

    public init(_ tools: [ToolDefinition]) {
        self.tools = tools
        self.byID = Dictionary(tools.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
    }

    public subscript(id: String) -> ToolDefinition? { byID[id] }
}
