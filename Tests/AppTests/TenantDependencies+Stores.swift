import Domain
import Infra

@testable import App

extension TenantDependencies {
    /// Tenant dependencies over the real stores, with `agents` (a test's wrapper) in place of the
    /// real agent store when given.
    convenience init(
        _ stores: PostgresStores,
        agents: (any AgentStore)? = nil,
        validators: ValidatorRegistry,
        policy: TierPolicy,
        catalog: ToolCatalogCache,
        cacheCapacity: Int,
        retention: Duration = AppConfiguration.defaultRetention
    ) {
        self.init(
            agents: agents ?? stores.agents,
            versions: stores.versions,
            aliases: stores.aliases,
            tenants: stores.tenants,
            validators: validators,
            policy: policy,
            catalog: catalog,
            cacheCapacity: cacheCapacity,
            retention: retention
        )
    }
}
