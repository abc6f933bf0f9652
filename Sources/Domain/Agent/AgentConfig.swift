/// Everything a caller configures about an agent: what is validated, versioned and compared to
/// decide whether a PATCH changed anything.
public struct AgentConfig: Sendable, Hashable {
    public var name: String
    public var description: String?
    public var type: AgentType
    public var status: AgentStatus
    public var systemPrompt: String
    public var llmConfig: LLMConfig
    public var memoryConfig: MemoryConfig
    public var tools: [AgentTool]
    public var collections: [String]
    public var tags: [String]
    public var metadata: [String: JSONValue]

    public init(
        name: String,
        description: String? = nil,
        type: AgentType = .conversational,
        status: AgentStatus = .draft,
        systemPrompt: String = "",
        llmConfig: LLMConfig,
        memoryConfig: MemoryConfig = .default,
        tools: [AgentTool] = [],
        collections: [String] = [],
        tags: [String] = [],
        metadata: [String: JSONValue] = [:]
    ) {
        self.name = name
        self.description = description
        self.type = type
        self.status = status
        self.systemPrompt = systemPrompt
        self.llmConfig = llmConfig
        self.memoryConfig = memoryConfig
        self.tools = tools
        self.collections = collections
        self.tags = tags
        self.metadata = metadata
    }
}
