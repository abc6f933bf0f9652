/// Live agents allowed per tier, handed to the store so the quota is judged where the count is locked.
public struct AgentQuota: Sendable, Hashable {
    public var maxAgents: [Tier: Int]

    public init(_ maxAgents: [Tier: Int]) { self.maxAgents = maxAgents }

    public subscript(tier: Tier) -> Int { maxAgents[tier] ?? 0 }
}
