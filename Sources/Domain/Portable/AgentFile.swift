public import Foundation

/// The portable agent file of export and import: a format tag, the configuration (status
/// included), and optionally every version. Ids, tenants and bookkeeping stay behind, so the file
/// can be imported into any tenant as a new agent.
public enum AgentFile {
    public static let format = "agent-management/agent@1"

    public static func encode(_ agent: Agent, versions: [AgentVersion]? = nil, exportedAt: Date) -> JSONValue {
        var file: [String: JSONValue] = [
            "format": .string(format), "exported_at": .string(Agent.timestamp(exportedAt)), "agent": agent.config.json,
        ]
        if let versions {
            file["versions"] = .array(
                versions.map { v in
                    .object([
                        "version": .int(v.version), "created_at": .string(Agent.timestamp(v.createdAt)), "created_by": .string(v.createdBy),
                        "config": v.config?.json ?? .null,
                    ])
                }
            )
        }
        return .object(file)
    }

    /// The configuration an exported file or a create body describes. `at` prefixes field paths
    /// (`/agents/3` in an apply). An exported file's versions are history, not imported.
    public static func config(_ json: JSONValue, at path: String = "") throws(ServiceError) -> AgentConfig {
        guard case .object(let fields) = json else {
            throw ServiceError.malformed("An agent must be a JSON object", field: path.isEmpty ? nil : path)
        }
        var body = json
        var base = path
        if fields["format"] != nil {
            let file = try ObjectReader(json, at: path, allowed: ["format", "exported_at", "agent", "versions"])
            guard try file.string("format") == format else {
                throw ServiceError.malformed("format must be \(format)", field: path + "/format")
            }
            guard let agent = file.value("agent") else { throw ServiceError.malformed("agent is required", field: path + "/agent") }
            body = agent
            base = path + "/agent"
        }
        do {
            return try AgentConfig(json: body)
        } catch {
            var moved = error
            if let field = error.details["field"]?.stringValue { moved.details["field"] = .string(base + field) }
            throw moved
        }
    }
}

/// What `POST /v1/agents/apply` does to one named agent.
public struct ApplyStep: Sendable {
    public enum Action: String, Sendable { case create, update, unchanged, delete }

    public var name: String
    public var action: Action
    /// The desired configuration (`create`, `update`); the stored agent for the others.
    public var config: AgentConfig?
    public var validation: ValidationReport?
    /// The stored agent (`update`, `unchanged`, `delete`).
    public var current: Agent?
    public var changes: [JSONPatch.Operation]

    public init(
        name: String,
        action: Action,
        config: AgentConfig? = nil,
        validation: ValidationReport? = nil,
        current: Agent? = nil,
        changes: [JSONPatch.Operation] = []
    ) {
        self.name = name
        self.action = action
        self.config = config
        self.validation = validation
        self.current = current
        self.changes = changes
    }
}
