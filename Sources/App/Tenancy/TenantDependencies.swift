import Domain

/// What every tenant actor shares: handles, not state. A class, so that each of up to
/// `AMS_MAX_TENANTS` actors holds one reference rather than its own copy of every handle.
final class TenantDependencies: Sendable {
    let agents: any AgentStore
    let versions: any VersionStore
    let aliases: any AliasStore
    /// The tenant's tier, read when the actor loads it.
    let tenants: any TenantStore
    let validators: ValidatorRegistry
    let policy: TierPolicy
    let catalog: ToolCatalogCache
    let cacheCapacity: Int
    let quota: AgentQuota
    /// Every tenant's creates and updates, written in batches (group commit).
    let creates: GroupCommit<(agent: Agent, audit: Audit), Void>
    let updates: GroupCommit<AgentUpdate, Bool>
    let metrics: AppMetrics
    /// How long a deleted agent can be restored (`AMS_DELETED_RETENTION`).
    let retention: Duration
    /// Tenants' own templates; `nil` where a test needs none.
    let templates: (any TemplateStore)?
    /// The shipped templates, by id.
    let systemTemplates: [Template]
    /// Counts the writes an apply or a bulk update makes; `nil`: no rate limits.
    let rateLimiter: RateLimiter?

    init(
        agents: any AgentStore,
        versions: any VersionStore,
        aliases: any AliasStore,
        tenants: any TenantStore,
        validators: ValidatorRegistry,
        policy: TierPolicy,
        catalog: ToolCatalogCache,
        cacheCapacity: Int,
        metrics: AppMetrics = AppMetrics(),
        retention: Duration = AppConfiguration.defaultRetention,
        templates: (any TemplateStore)? = nil,
        systemTemplates: [Template] = [],
        rateLimiter: RateLimiter? = nil
    ) {
        self.rateLimiter = rateLimiter
        self.templates = templates
        self.systemTemplates = systemTemplates
        self.agents = agents
        self.versions = versions
        self.aliases = aliases
        self.tenants = tenants
        self.retention = retention
        self.metrics = metrics
        self.validators = validators
        self.policy = policy
        self.catalog = catalog
        self.cacheCapacity = cacheCapacity
        self.quota = AgentQuota(Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0, policy[$0].maxAgents) }))
        let quota = self.quota
        self.creates = GroupCommit(
            batch: { try await agents.insert($0, quota: quota) },
            single: { try await agents.insert($0.agent, quota: quota, audit: $0.audit) }
        )
        self.updates = GroupCommit(
            batch: { try await agents.update($0) },
            single: { try await agents.update($0.agent, from: $0.revision, action: $0.action, changes: $0.changes, audit: $0.audit) }
        )
    }
}
