public import Foundation

/// A reusable starting point for agents: an agent type and the configuration fields an agent
/// created from it inherits. System templates ship as files and belong to no tenant; a tenant's
/// own live in the database.
public struct Template: Sendable, Hashable {
    /// The configuration keys a template carries (an agent's, less what each agent sets itself).
    public static let configFields: Set<String> = [
        "system_prompt", "llm_config", "memory_config", "tools", "collections", "tags", "metadata",
    ]
    public static let fields: Set<String> = ["name", "description", "category", "type", "config"]

    /// A slug for system templates (`customer-support`), a UUID for a tenant's.
    public var id: String
    /// `nil` for system templates.
    public var tenantID: TenantID?
    public var name: String
    public var description: String?
    public var category: String
    public var type: AgentType
    /// An object of `configFields`.
    public var config: JSONValue
    public var version: Int
    public var usageCount: Int
    public var createdAt: Date?
    public var updatedAt: Date?
    public var createdBy: String?
    public var updatedBy: String?

    public init(
        id: String,
        tenantID: TenantID?,
        name: String,
        description: String?,
        category: String,
        type: AgentType,
        config: JSONValue,
        version: Int = 1,
        usageCount: Int = 0,
        createdAt: Date? = nil,
        updatedAt: Date? = nil,
        createdBy: String? = nil,
        updatedBy: String? = nil
    ) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.description = description
        self.category = category
        self.type = type
        self.config = config
        self.version = version
        self.usageCount = usageCount
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.updatedBy = updatedBy
    }

    public var isSystem: Bool { tenantID == nil }

    /// Reads template fields (a create body, a merged PATCH, a shipped file): structure only, as
    /// `AgentConfig(json:)` does; values are left to `agentConfig` and the validators.
    public init(json: JSONValue, id: String, tenantID: TenantID?) throws(ServiceError) {
        let body = try ObjectReader(json, at: "", allowed: Self.fields)
        var config = JSONValue.object([:])
        if let value = body.value("config") {
            _ = try ObjectReader(value, at: "/config", allowed: Self.configFields)
            config = value
        }
        self.init(
            id: id,
            tenantID: tenantID,
            name: try body.string("name") ?? "",
            description: try body.string("description"),
            category: try body.string("category") ?? "",
            type: AgentType(rawValue: try body.string("type") ?? AgentType.conversational.rawValue),
            config: config
        )
    }

    /// Refuses a merge patch that names a field templates do not have, even to set it to null
    /// (the merge would drop it without a word).
    public static func checkPatchFields(_ patch: JSONValue) throws(ServiceError) {
        let body = try ObjectReader(patch, at: "", allowed: fields)
        guard let config = body.value("config"), case .object(let inner) = config else { return }
        _ = try ObjectReader(config, at: "/config", allowed: configFields)
        if let llm = inner["llm_config"], case .object = llm { _ = try ObjectReader(llm, at: "/config/llm_config", allowed: LLMConfig.fields) }
        if let memory = inner["memory_config"], case .object = memory {
            _ = try ObjectReader(memory, at: "/config/memory_config", allowed: MemoryConfig.fields)
        }
    }

    /// The fields a PATCH merges into and `init(json:)` reads back.
    public var fieldsJSON: JSONValue {
        .object([
            "name": .string(name), "description": description.map(JSONValue.string) ?? .null, "category": .string(category),
            "type": .string(type.rawValue), "config": config,
        ])
    }

    /// What a create from this template starts with, before the body's own fields.
    public var agentBase: JSONValue {
        var fields = config.objectValue ?? [:]
        fields["type"] = .string(type.rawValue)
        return .object(fields)
    }

    /// The configuration as an agent named after the template, for validating the template itself.
    /// A structural error points into the template's `config`, where the field is written.
    public func agentConfig() throws(ServiceError) -> AgentConfig {
        var base = agentBase.objectValue ?? [:]
        base["name"] = .string(name)
        do {
            return try AgentConfig(json: .object(base))
        } catch {
            var moved = error
            if let field = error.details["field"]?.stringValue, field != "/type", field != "/name" {
                moved.details["field"] = .string("/config" + field)
            }
            throw moved
        }
    }

    public var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "description": description.map(JSONValue.string) ?? .null,
            "category": .string(category), "type": .string(type.rawValue), "config": config, "system": .bool(isSystem),
            "version": .int(version), "usage_count": .int(usageCount),
            "created_at": createdAt.map { .string(Agent.timestamp($0)) } ?? .null,
            "updated_at": updatedAt.map { .string(Agent.timestamp($0)) } ?? .null,
        ])
    }
}

extension JSONValue {
    /// `over` laid on this value: objects merge key by key, anything else (arrays included)
    /// replaces, and `null` in `over` keeps what is here (a create body's `null` means absent).
    public func overlaid(with over: JSONValue) -> JSONValue {
        guard case .object(let top) = over else { return over == .null ? self : over }
        guard case .object(var base) = self else { return over }
        for (key, value) in top where value != .null {
            base[key] = base[key].map { $0.overlaid(with: value) } ?? value
        }
        return .object(base)
    }
}
