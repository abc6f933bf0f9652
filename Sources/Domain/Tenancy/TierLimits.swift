/// What one tier allows; loaded from the tier policy file.
public struct TierLimits: Sendable, Hashable {
    public enum Models: Sendable, Hashable {
        case all
        case only(Set<String>)

        public func allows(_ model: String) -> Bool {
            switch self {
            case .all: true
            case .only(let set): set.contains(model)
            }
        }
    }

    public var maxAgents: Int
    public var maxToolsPerAgent: Int
    public var maxCollectionsPerAgent: Int
    public var customPrompts: Bool
    public var allowedTypes: Set<AgentType>
    public var allowedModels: Models
    public var maxPromptChars: Int
    public var maxTokens: Int
    /// Rate limits per tenant; `nil` is unlimited.
    public var requestsPerMinute: Int?
    public var agentCreatesPerDay: Int?
    public var agentUpdatesPerHour: Int?
    /// Webhook endpoints a tenant may register.
    public var maxWebhooks: Int

    public init(
        maxAgents: Int,
        maxToolsPerAgent: Int,
        maxCollectionsPerAgent: Int,
        customPrompts: Bool,
        allowedTypes: Set<AgentType>,
        allowedModels: Models,
        maxPromptChars: Int,
        maxTokens: Int,
        requestsPerMinute: Int? = nil,
        agentCreatesPerDay: Int? = nil,
        agentUpdatesPerHour: Int? = nil,
        maxWebhooks: Int = 1
    ) {
        self.maxWebhooks = maxWebhooks
        self.requestsPerMinute = requestsPerMinute
        self.agentCreatesPerDay = agentCreatesPerDay
        self.agentUpdatesPerHour = agentUpdatesPerHour
        self.maxAgents = maxAgents
        self.maxToolsPerAgent = maxToolsPerAgent
        self.maxCollectionsPerAgent = maxCollectionsPerAgent
        self.customPrompts = customPrompts
        self.allowedTypes = allowedTypes
        self.allowedModels = allowedModels
        self.maxPromptChars = maxPromptChars
        self.maxTokens = maxTokens
    }

    public var json: JSONValue {
        let models: JSONValue =
            switch allowedModels {
            case .all: .string("all")
            case .only(let set): .array(set.sorted().map(JSONValue.string))
            }
        return .object([
            "max_agents": .int(maxAgents),
            "max_tools_per_agent": .int(maxToolsPerAgent),
            "max_collections_per_agent": .int(maxCollectionsPerAgent),
            "custom_prompts": .bool(customPrompts),
            "allowed_types": .array(AgentType.known.filter(allowedTypes.contains).map { .string($0.rawValue) }),
            "allowed_models": models,
            "max_prompt_chars": .int(maxPromptChars),
            "max_tokens": .int(maxTokens),
            "requests_per_minute": requestsPerMinute.map(JSONValue.int) ?? .string("unlimited"),
            "agent_creates_per_day": agentCreatesPerDay.map(JSONValue.int) ?? .string("unlimited"),
            "agent_updates_per_hour": agentUpdatesPerHour.map(JSONValue.int) ?? .string("unlimited"),
            "max_webhooks": .int(maxWebhooks),
        ])
    }
}
