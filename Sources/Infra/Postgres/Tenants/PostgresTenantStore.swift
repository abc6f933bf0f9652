public import Domain
import Logging
import PostgresNIO

/// `TenantStore` on PostgreSQL; a change of tier is announced to every replica (`PostgresDatabase.channel`).
public struct PostgresTenantStore: TenantStore, PostgresStore {
    let database: PostgresDatabase
    /// The tier of a tenant never written.
    let defaultTier: Tier

    public init(database: PostgresDatabase, defaultTier: Tier) {
        self.database = database
        self.defaultTier = defaultTier
    }

    public func tenant(_ id: TenantID) async throws -> Tenant {
        try await inTenant(id) { conn in
            let rows = try await conn.query("SELECT tier FROM tenants WHERE tenant_id = \(id)", logger: logger)
            for try await raw in rows.decode(String.self) {
                return Tenant(id: id, tier: Tier(rawValue: raw) ?? defaultTier)
            }
            return Tenant(id: id, tier: defaultTier)
        }
    }

    /// A change of tier records the tenant's revalidation in the same transaction.
    public func setTier(_ tier: Tier, for id: TenantID) async throws -> Tenant {
        try await inTenant(id) { conn in
            var previous = defaultTier
            for try await raw in try await conn.query("SELECT tier FROM tenants WHERE tenant_id = \(id) FOR UPDATE", logger: logger)
                .decode(String.self)
            {
                previous = Tier(rawValue: raw) ?? defaultTier
            }
            try await conn.query(
                """
                INSERT INTO tenants (tenant_id, tier) VALUES (\(id), \(tier.rawValue))
                ON CONFLICT (tenant_id) DO UPDATE SET tier = excluded.tier, updated_at = now()
                """,
                logger: logger
            )
            if previous != tier {
                try await conn.query("SELECT ams_record_revalidations(\([id]), 'tier_changed')", logger: logger)
            }
            try await conn.query("SELECT pg_notify(\(Self.channel), \(ChangeNotification(kind: .tenant, tenantID: id).payload))", logger: logger)
            return Tenant(id: id, tier: tier)
        }
    }
}
