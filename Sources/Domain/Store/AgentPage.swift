/// One page of a listing, and the keyset position of the next (`nil`: this was the last).
public struct AgentPage: Sendable {
    public var items: [Agent]
    public var next: Int64?

    public init(items: [Agent], next: Int64?) {
        self.items = items
        self.next = next
    }
}
