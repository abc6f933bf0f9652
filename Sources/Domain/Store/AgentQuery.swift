/// What a listing of a tenant's live agents asks for: a keyset page and its filters.
public struct AgentQuery: Sendable, Hashable {
    public var limit: Int
    /// Keyset position: rows strictly older than this one.
    public var after: Int64?
    public var status: AgentStatus?
    public var type: AgentType?
    public var tag: String?
    public var text: String?

    public init(limit: Int = 50, after: Int64? = nil, status: AgentStatus? = nil, type: AgentType? = nil, tag: String? = nil, text: String? = nil) {
        self.limit = limit
        self.after = after
        self.status = status
        self.type = type
        self.tag = tag
        self.text = text
    }
}
