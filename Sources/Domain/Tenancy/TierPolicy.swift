/// The tier table and the declarative rules, as read from the policy file at startup.
public struct TierPolicy: Sendable, Hashable {
    public var limits: [Tier: TierLimits]
    public var rules: [DeclarativeRule]

    /// Every tier must be present; the loader guarantees it.
    public init(limits: [Tier: TierLimits], rules: [DeclarativeRule] = []) {
        precondition(Tier.allCases.allSatisfy { limits[$0] != nil }, "every tier needs limits")
        self.limits = limits
        self.rules = rules
    }

    public subscript(tier: Tier) -> TierLimits { limits[tier]! }
}
