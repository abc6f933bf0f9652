public struct AgentType: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let conversational = Self(rawValue: "conversational")
    public static let rag = Self(rawValue: "rag")
    public static let search = Self(rawValue: "search")
    public static let workflow = Self(rawValue: "workflow")
    public static let custom = Self(rawValue: "custom")
    public static let known: [Self] = [.conversational, .rag, .search, .workflow, .custom]
}
