import Domain
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Infra
import Logging
import NIOCore
import PostgresNIO
import Validators

/// Handles the router needs; passed in, never global.
struct RouterDependencies: Sendable {
    let tenants: any TenantStore
    let toolCatalog: any ToolCatalogStore
    let tasks: any TaskStore
    let webhooks: any WebhookStore
    let idempotency: any IdempotencyStore
    let supervisor: TenantSupervisor
    let catalog: ToolCatalogCache
    let verifier: TokenVerifier
    let database: DatabaseProbe
    let bodyLimit: Int
    let contract: APIContract
    let metrics: AppMetrics
    /// Reported in readiness (tests that build their own dependencies may leave it out).
    var redis: RedisClient?
    /// Whether this replica leads the notifier, how far events go and each sink's lag, for
    /// readiness (absent in tests without a notifier).
    var notifier: Notifier?
    /// The orchestrator link's state for readiness (`nil`: the sink is off).
    var orchestrator: LinkStatus?
    /// `nil`: no rate limits (`AMS_RATE_LIMITS=0`, and tests that need none).
    var rateLimiter: RateLimiter?
    /// `false` when `/metrics` has a listener of its own.
    var servesMetrics = true
    var accessLog = true
    /// Lifts the webhook address guard (`AMS_WEBHOOK_ALLOW_PRIVATE=1`).
    var webhooksAllowPrivate = false
    var resolver = AddressResolver()
    /// Queues the revalidations that tier and catalog changes record (absent in tests without one).
    var revalidations: RevalidationRelay?
    /// Each request a SERVER span when tracing is on.
    var traces = Traces.off
}

func buildRouter(_ deps: RouterDependencies) -> AppResponderBuilder {
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    let envelope = EnvelopeMiddleware(metrics: deps.metrics.requests, accessLog: deps.accessLog, traces: deps.traces)
    registerAPI(on: router, deps, envelope: envelope)
    deps.metrics.requests?.register(router.routes.map { (method: $0.method, route: $0.path.description) })
    router.refuseOtherMethods()
    let hot = HotReads(
        envelope: envelope,
        tenantAuth: AuthMiddleware(verifier: deps.verifier, scope: .tenant),
        rateLimit: RateLimitMiddleware(limiter: deps.rateLimiter, supervisor: deps.supervisor),
        internalAuth: AuthMiddleware(verifier: deps.verifier, scope: .internal),
        agents: AgentRoutes(
            supervisor: deps.supervisor,
            bodyLimit: deps.bodyLimit,
            idempotency: Idempotency(store: deps.idempotency, bodyLimit: deps.bodyLimit)
        ),
        internalAgents: InternalAgentRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit)
    )
    return AppResponderBuilder(router: router, hot: hot)
}

/// Every route of the API; `openapi.yaml` documents exactly these (a test compares the two).
func registerAPI(on router: Router<AppRequestContext>, _ deps: RouterDependencies, envelope: EnvelopeMiddleware? = nil) {
    router.add(middleware: envelope ?? EnvelopeMiddleware(metrics: deps.metrics.requests, accessLog: deps.accessLog, traces: deps.traces))
    HealthRoutes(
        database: deps.database,
        redis: deps.redis,
        supervisor: deps.supervisor,
        notifier: deps.notifier,
        orchestrator: deps.orchestrator
    ).register(on: router)
    MetaRoutes(contract: deps.contract).register(on: router)
    ConsoleRoutes().register(on: router)
    if deps.servesMetrics { MetricsRoute(metrics: deps.metrics).register(on: router) }
    let v1 = router.group("v1")
        .add(middleware: AuthMiddleware(verifier: deps.verifier, scope: .tenant))
        .add(middleware: RateLimitMiddleware(limiter: deps.rateLimiter, supervisor: deps.supervisor))
    let idempotency = Idempotency(store: deps.idempotency, bodyLimit: deps.bodyLimit)
    AgentRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit, idempotency: idempotency).register(on: v1)
    AgentVersionRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit, idempotency: idempotency).register(on: v1)
    AgentLifecycleRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit, idempotency: idempotency).register(on: v1)
    AgentAliasRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit).register(on: v1)
    TemplateRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit).register(on: v1)
    PortableRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit).register(on: v1)
    TenantRoutes(supervisor: deps.supervisor).register(on: v1)
    EventSocketRoutes().register(on: v1)
    WebhookRoutes(
        store: deps.webhooks,
        supervisor: deps.supervisor,
        bodyLimit: deps.bodyLimit,
        resolver: deps.resolver,
        allowPrivate: deps.webhooksAllowPrivate
    ).register(on: v1)
    let enqueuer = TaskEnqueuer(redis: deps.redis, tasks: deps.tasks, traces: deps.traces)
    TaskRoutes(supervisor: deps.supervisor, tasks: deps.tasks, enqueuer: enqueuer, bodyLimit: deps.bodyLimit).register(on: v1)
    let internalGroup = router.group("internal/v1").add(middleware: AuthMiddleware(verifier: deps.verifier, scope: .internal))
    InternalAgentRoutes(supervisor: deps.supervisor, bodyLimit: deps.bodyLimit).register(on: internalGroup)
    InternalRoutes(
        tenants: deps.tenants,
        toolCatalog: deps.toolCatalog,
        supervisor: deps.supervisor,
        catalog: deps.catalog,
        bodyLimit: deps.bodyLimit,
        enqueuer: enqueuer,
        revalidations: deps.revalidations
    ).register(on: internalGroup)
}

/// Wires Postgres, the change listener, the tenant supervisor and the router into one application.
/// `traces` stands in for the tracing the `OTEL_*` variables configure (tests pass their own tracer).
func buildApplication(_ config: AppConfiguration, logger: Logger, traces: Traces? = nil) async throws -> some ApplicationProtocol {
    try config.check()
    let export = try TraceExport.make(given: traces, logger: logger)
    let traces = export.traces
    let policy = try TierPolicyFile.load(path: config.tiersFile)
    let seedTools = try ToolCatalogFile.load(path: config.toolsFile)
    var pool = try PostgresClient.Configuration(url: config.databaseURL, statementTimeout: config.databaseTimeout)
    // The pool re-arms a keep-alive and an idle timer on every release, and a cancelled `Task.sleep`
    // on Linux holds its dispatch timer until the deadline: under load ~40 MB sat in pending timers
    // (heaptrack). So no keep-alive pings (a server that closes a connection is noticed at once, a
    // silently dead one is closed by the call deadline) and a short idle timeout. The minimum stays
    // at one: PostgresNIO 1.33.2 traps when a larger minimum is not met after an outage.
    pool.options.keepAliveBehavior = nil
    pool.options.connectionIdleTimeout = .seconds(5)
    pool.options.minimumConnections = 1
    pool.options.maximumConnections = config.databasePoolMaximum
    let client = PostgresClient(configuration: pool, backgroundLogger: logger)
    let feed = EventFeed()
    let metrics = AppMetrics(enabled: config.metrics, logs: (logger.handler as? LineLogHandler)?.sink, feed: feed)
    // Postgres ends slow statements at `databaseTimeout`; the client's deadline, a little later,
    // only has to catch a connection that stopped answering.
    let stores = PostgresStores(
        client: client,
        defaultTier: config.defaultTier,
        timeout: config.databaseTimeout + .milliseconds(500),
        metrics: metrics.database,
        traces: traces,
        logger: logger
    )
    let catalog = ToolCatalogCache(store: stores.tools, caching: false)
    let redis = RedisClient(configuration: .init(url: try RedisURL(config.redisURL), timeout: config.redisTimeout), traces: traces, logger: logger)
    let rateLimiter =
        config.rateLimits
        ? RateLimiter(redis: redis, policy: policy, failClosed: config.rateLimitFailClosed, metrics: metrics, logger: logger) : nil
    let supervisor = TenantSupervisor(
        deps: TenantDependencies(
            agents: stores.agents,
            versions: stores.versions,
            aliases: stores.aliases,
            tenants: stores.tenants,
            validators: .builtin,
            policy: policy,
            catalog: catalog,
            cacheCapacity: config.cacheCapacity,
            metrics: metrics,
            retention: config.deletedRetention,
            templates: stores.templates,
            systemTemplates: try TemplateFiles.load(directory: config.templatesDirectory),
            rateLimiter: rateLimiter
        ),
        maxTenants: config.maxTenants,
        idleTimeout: config.tenantIdleTimeout,
        logger: logger
    )
    let notifier = Notifier(store: stores.events, feed: feed, metrics: metrics, logger: logger)
    let subscribers = Subscribers()
    let identityProvider = try await IdentityProviderKeys.make(config)
    let verifier = await TokenVerifier.make(config, identityProvider: identityProvider)
    let listener = ChangeListener(
        configuration: .init(
            databaseURL: config.databaseURL,
            heartbeat: config.listenerHeartbeat,
            applicationName: "ams-listener:" + config.replicaName
        ),
        logger: logger,
        onChange: { await supervisor.route($0) },
        onListening: { await supervisor.setListening($0) },
        events: notifier.hooks(leaderKey: config.eventLeader ? PostgresEventStore.notifierLock : nil)
    )
    let orchestrator = config.orchestratorURL == nil ? nil : LinkStatus(gauge: metrics.orchestratorLink)
    let resolver = AddressResolver()
    let revalidations = RevalidationRelay(
        tasks: stores.tasks,
        enqueuer: TaskEnqueuer(redis: redis, tasks: stores.tasks),
        migrated: notifier.migrated,
        logger: logger
    )
    let router = buildRouter(
        RouterDependencies(
            tenants: stores.tenants,
            toolCatalog: stores.tools,
            tasks: stores.tasks,
            webhooks: stores.webhooks,
            idempotency: stores.idempotency,
            supervisor: supervisor,
            catalog: catalog,
            verifier: verifier,
            database: DatabaseProbe(database: stores.database),
            bodyLimit: config.bodyLimit,
            contract: try APIContract(),
            metrics: metrics,
            redis: redis,
            notifier: notifier,
            orchestrator: orchestrator,
            rateLimiter: rateLimiter,
            servesMetrics: config.metricsPort == nil,
            accessLog: config.accessLog,
            webhooksAllowPrivate: config.webhookAllowPrivate,
            resolver: resolver,
            revalidations: revalidations,
            traces: traces
        )
    )
    let socket = EventSocket(
        verifier: verifier,
        store: stores.events,
        subscribers: subscribers,
        authTimeout: config.eventSocketAuthTimeout,
        envelope: EnvelopeMiddleware(metrics: metrics.requests, accessLog: config.accessLog, traces: traces),
        rateLimit: RateLimitMiddleware(limiter: rateLimiter, supervisor: supervisor)
    )
    var app = Application(
        router: router,
        server: HTTPServerBuilder { responder in
            let idle = TimeAmount.nanoseconds(Int64(config.httpIdleTimeout.components.seconds) * 1_000_000_000)
            return FirstRequestDeadline(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(http1: .init(idleTimeout: idle), ws: .init(maxFrameSize: 1 << 20)),
                    shouldUpgrade: { request, channel, _ in await socket.shouldUpgrade(request, channel: channel) }
                ),
                timeout: idle
            )
        },
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "agent-management"),
        logger: logger
    )
    if let exporter = export.exporter { app.addServices(exporter) }
    app.addServices(
        client,
        redis,
        listener,
        supervisor,
        notifier,
        RetentionPurge(
            agents: stores.agents,
            tasks: stores.tasks,
            deletedRetention: config.deletedRetention,
            taskRetention: config.taskRetention,
            interval: config.purgeInterval,
            logger: logger
        ),
        revalidations
    )
    app.addServices(
        SubscriberSink(store: stores.events, feed: feed, subscribers: subscribers, lag: metrics.eventLag(SubscriberSink.name), logger: logger),
        EventPurge(store: stores.events, retention: config.eventRetention, interval: config.purgeInterval, notifier: notifier, logger: logger)
    )
    if let identityProvider {
        app.addServices(JWKSRefresher(keys: identityProvider, interval: config.jwtJWKSRefresh, logger: logger))
    }
    if config.notifyRedis {
        app.addServices(
            SharedSink(
                name: "redis",
                sink: RedisEventSink(redis: redis, maxLength: config.notifyStreamLength),
                store: stores.events,
                feed: feed,
                notifier: notifier,
                lag: metrics.eventLag("redis"),
                logger: logger
            )
        )
    }
    if let orchestrator, let url = config.orchestratorURL, let token = config.serviceToken {
        var link = OrchestratorLink.Configuration(url: url, serviceToken: token)
        link.authTimeout = config.orchestratorAuthTimeout
        app.addServices(
            OrchestratorSink(
                link: OrchestratorLink(configuration: link, logger: logger),
                store: stores.events,
                feed: feed,
                notifier: notifier,
                status: orchestrator,
                pingInterval: config.orchestratorPing,
                lag: metrics.eventLag(OrchestratorSink.name),
                logger: logger
            )
        )
    }
    if config.webhooks {
        let http = WebhookClient.makeHTTPClient()
        var delivery = WebhookClient.Configuration(allowPrivate: config.webhookAllowPrivate)
        delivery.timeout = config.webhookTimeout
        app.addServices(
            WebhookDispatcher(
                store: stores.webhooks,
                client: WebhookClient(http: http, resolver: resolver, configuration: delivery, traces: traces),
                http: http,
                feed: feed,
                notifier: notifier,
                schedule: config.webhookRetrySchedule,
                lag: metrics.eventLag(WebhookDispatcher.name),
                logger: logger
            )
        )
    }
    if config.taskConsumer {
        let settings = config.taskSettings
        app.addServices(
            TaskConsumer(
                redis: redis,
                keyEvents: RedisKeyEvents(url: try RedisURL(config.redisURL), event: "xadd", timeout: config.redisTimeout, logger: logger),
                runner: TaskRunner(
                    redis: redis,
                    tasks: stores.tasks,
                    supervisor: supervisor,
                    settings: settings,
                    metrics: metrics,
                    logger: logger,
                    traces: traces
                ),
                settings: settings,
                logger: logger
            )
        )
    }
    if let port = config.metricsPort {
        let metricsRouter = Router()
        MetricsRoute(metrics: metrics).register(on: metricsRouter)
        app.addServices(
            Application(
                router: metricsRouter,
                configuration: .init(address: .hostname(config.host, port: port), serverName: "agent-management-metrics"),
                logger: logger
            )
        )
    }
    app.beforeServerStarts {
        try await Migrator.runOrCheck(url: config.databaseURL, logger: logger)
        try await stores.tools.seedToolCatalog(seedTools)
        notifier.migrated.open()
    }
    return app
}

func makeLogger(_ config: AppConfiguration) -> Logger {
    var logger = Logger(label: "agent-management") { LineLogHandler(label: $0, format: config.logFormat) }
    logger.logLevel = config.logLevel
    return logger
}
