public struct Tenant: Sendable, Hashable {
    public var id: TenantID
    public var tier: Tier

    public init(id: TenantID, tier: Tier) {
        self.id = id
        self.tier = tier
    }
}

extension Tenant {
    /// Tenant ids arrive in headers, claims and paths: 1–128 bytes, printable, no spaces.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F }
    }
}
