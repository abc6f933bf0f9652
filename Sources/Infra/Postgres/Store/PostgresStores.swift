public import Domain
public import Logging
public import PostgresNIO

/// Every aggregate's store over one database, for the places that wire the service together (the
/// app, the CLI, tests); consumers take only the stores they use.
public struct PostgresStores: Sendable {
    public let database: PostgresDatabase
    public let agents: PostgresAgentStore
    public let versions: PostgresVersionStore
    public let aliases: PostgresAliasStore
    public let tenants: PostgresTenantStore
    public let tools: PostgresToolCatalogStore
    public let templates: PostgresTemplateStore
    public let tasks: PostgresTaskStore
    public let events: PostgresEventStore
    public let webhooks: PostgresWebhookStore
    public let idempotency: PostgresIdempotencyStore

    /// `timeout` is the client-side deadline of a call; see `PostgresClient.Configuration(url:statementTimeout:)`
    /// for the server-side ones that should fire first.
    public init(
        client: PostgresClient,
        defaultTier: Tier,
        timeout: Duration = .seconds(3),
        metrics: DatabaseMetrics = .none,
        traces: Traces = .off,
        logger: Logger
    ) {
        self.init(
            database: PostgresDatabase(client: client, timeout: timeout, metrics: metrics, traces: traces, logger: logger),
            defaultTier: defaultTier
        )
    }

    /// `defaultTier` is the tier of a tenant never written.
    public init(database: PostgresDatabase, defaultTier: Tier) {
        self.database = database
        self.agents = PostgresAgentStore(database: database, defaultTier: defaultTier)
        self.versions = PostgresVersionStore(database: database)
        self.aliases = PostgresAliasStore(database: database)
        self.tenants = PostgresTenantStore(database: database, defaultTier: defaultTier)
        self.tools = PostgresToolCatalogStore(database: database)
        self.templates = PostgresTemplateStore(database: database)
        self.tasks = PostgresTaskStore(database: database)
        self.events = PostgresEventStore(database: database)
        self.webhooks = PostgresWebhookStore(database: database)
        self.idempotency = PostgresIdempotencyStore(database: database)
    }
}
