import Domain

/// What every tenant actor shares: handles, not state.
struct TenantDependencies: Sendable {
    let store: any AgentStore
    let validators: ValidatorRegistry
    let policy: TierPolicy
    let catalog: ToolCatalogCache
    let cacheCapacity: Int
}
