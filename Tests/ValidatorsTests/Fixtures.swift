import Domain
import Validators

enum Fixtures {
    static let free = TierLimits(
        maxAgents: 2,
        maxToolsPerAgent: 2,
        maxCollectionsPerAgent: 1,
        customPrompts: false,
        allowedTypes: [.conversational, .rag],
        allowedModels: .only(["gpt-4o-mini", "claude-3-haiku"]),
        maxPromptChars: 2000,
        maxTokens: 1024
    )
    static let advance = TierLimits(
        maxAgents: 5,
        maxToolsPerAgent: 5,
        maxCollectionsPerAgent: 3,
        customPrompts: true,
        allowedTypes: [.conversational, .rag, .search],
        allowedModels: .only(["gpt-4o-mini", "claude-3-haiku", "gpt-4o"]),
        maxPromptChars: 8000,
        maxTokens: 4096
    )
    static let enterprise = TierLimits(
        maxAgents: 100,
        maxToolsPerAgent: 25,
        maxCollectionsPerAgent: 50,
        customPrompts: true,
        allowedTypes: Set(AgentType.known),
        allowedModels: .all,
        maxPromptChars: 32000,
        maxTokens: 32768
    )

    static let catalog = ToolCatalog([
        ToolDefinition(id: "search", name: "Search"),
        ToolDefinition(id: "calculator", name: "Calc"),
        ToolDefinition(id: "http_request", name: "HTTP", minTier: .advance, requiredConfig: ["url"]),
    ])

    static func context(_ tier: Tier = .free, rules: [DeclarativeRule] = [], others: Int? = nil) -> ValidationContext {
        let limits =
            switch tier {
            case .free: free
            case .advance: advance
            default: enterprise
            }
        return ValidationContext(tenant: Tenant(id: "t", tier: tier), limits: limits, catalog: catalog, rules: rules, otherAgents: others)
    }

    static func config(_ change: (inout AgentConfig) -> Void = { _ in }) -> AgentConfig {
        var c = AgentConfig(name: "Agent", llmConfig: LLMConfig(model: "gpt-4o-mini"))
        change(&c)
        return c
    }

    /// Issues at a path, for boundary assertions.
    static func issues(_ validator: some AgentValidator, _ config: AgentConfig, _ context: ValidationContext = context()) async -> [ValidationIssue] {
        await validator.validate(config, context: context)
    }
}

extension [ValidationIssue] {
    var paths: [String] { map(\.path) }
    func at(_ path: String) -> [ValidationIssue] { filter { $0.path == path } }
}
