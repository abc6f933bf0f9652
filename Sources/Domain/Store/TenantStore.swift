/// Tenants and their tiers; a tenant never written has the default tier.
public protocol TenantStore: Sendable {
    /// The tenant as stored, or with the default tier when it was never written; reads write nothing.
    func tenant(_ id: TenantID) async throws -> Tenant
    /// A change of tier also records the tenant's `revalidate_tenant` task (`Revalidation`), in the
    /// same transaction.
    func setTier(_ tier: Tier, for tenant: TenantID) async throws -> Tenant
}
