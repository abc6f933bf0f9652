public struct MemoryConfig: Sendable, Hashable {
    public var memoryType: MemoryType
    public var windowSize: Int
    public var summarizeThreshold: Int?
    public var includeKnowledgeContext: Bool

    /// What an agent gets when it names no memory: a short conversation window.
    public static let `default` = MemoryConfig(memoryType: .conversation, windowSize: 10)

    public init(memoryType: MemoryType, windowSize: Int, summarizeThreshold: Int? = nil, includeKnowledgeContext: Bool = false) {
        self.memoryType = memoryType
        self.windowSize = windowSize
        self.summarizeThreshold = summarizeThreshold
        self.includeKnowledgeContext = includeKnowledgeContext
    }
}
