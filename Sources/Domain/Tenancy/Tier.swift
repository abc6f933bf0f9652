/// Commercial tiers, in ascending order of what they allow.
public enum Tier: String, Sendable, Hashable, CaseIterable, Comparable {
    case free, advance, professional, enterprise

    public static func < (lhs: Tier, rhs: Tier) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
