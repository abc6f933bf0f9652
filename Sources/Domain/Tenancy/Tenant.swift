public struct Tenant: Sendable, Hashable {
    public var id: TenantID
    public var tier: Tier

    public init(id: TenantID, tier: Tier) {
        self.id = id
        self.tier = tier
    }
}
