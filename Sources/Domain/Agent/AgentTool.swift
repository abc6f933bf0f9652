public struct AgentTool: Sendable, Hashable {
    public var id: String
    public var config: [String: JSONValue]

    public init(id: String, config: [String: JSONValue] = [:]) {
        self.id = id
        self.config = config
    }
}
