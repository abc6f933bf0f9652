import Domain

/// What every tenant actor shares: handles, not state.
struct TenantDependencies: Sendable {
    let store: any AgentStore
    let validators: ValidatorRegistry
    let policy: TierPolicy
    let catalog: ToolCatalogCache
    let cacheCapacity: Int
    let quota: AgentQuota
    let metrics: AppMetrics

    init(
        store: any AgentStore, validators: ValidatorRegistry, policy: TierPolicy, catalog: ToolCatalogCache, cacheCapacity: Int,
        metrics: AppMetrics = AppMetrics()
    ) {
        self.store = store
        self.metrics = metrics
        self.validators = validators
        self.policy = policy
        self.catalog = catalog
        self.cacheCapacity = cacheCapacity
        self.quota = AgentQuota(Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0, policy[$0].maxAgents) }))
    }
}
