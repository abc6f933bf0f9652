public struct Tenant: Sendable, Hashable {
    public var id: TenantID
    public var tier: Tier

    public init(id: TenantID, tier: Tier) {
        self.id = id
        self.tier = tier
    }
}

extension Tenant {
    /// Tenant ids arrive in headers, claims and paths: 1–128 bytes, printable (no C0 or C1
    /// control character, DEL or space).
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.unicodeScalars.allSatisfy { $0.value > 0x20 && !(0x7F...0x9F).contains($0.value) }
    }
}
