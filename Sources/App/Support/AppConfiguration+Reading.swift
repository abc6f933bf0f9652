import Configuration
import Foundation
import Logging

/// The variables, read through swift-configuration; a variable that is unset keeps its default.
extension AppConfiguration {
    /// Values swift-configuration must redact wherever it prints or reports them: the secrets, and the
    /// URLs that can carry a password.
    static let secretVariables: Set<String> = [
        "AMS_JWT_SECRET", "AMS_SERVICE_JWT_SECRET", "AMS_SERVICE_TOKEN", "AMS_DATABASE_URL", "AMS_REDIS_URL",
    ]

    /// The service's own variables from `env` (the process environment by default), secrets marked.
    /// Only `AMS_…` variables are held, so nothing else from the environment can show in the provider's output.
    static func environmentProvider(_ env: [String: String] = ProcessInfo.processInfo.environment) -> EnvironmentVariablesProvider {
        EnvironmentVariablesProvider(environmentVariables: env.filter { $0.key.hasPrefix("AMS_") }, secretsSpecifier: .specific(secretVariables))
    }

    /// The configuration `env` sets: for the command line, and for tests that build one from a dictionary.
    static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> AppConfiguration {
        try AppConfiguration(reader: ConfigReader(provider: environmentProvider(env)))
    }

    /// Reads every `AMS_…` variable from `reader`; a bad value is a `ConfigurationError` naming the variable.
    init(reader: ConfigReader) throws {
        self.init()
        let v = ConfigVariables(reader: reader)
        host = v.string("AMS_HTTP_HOST") ?? host
        port = try v.int("AMS_HTTP_PORT") ?? port
        databaseURL = v.string("AMS_DATABASE_URL", isSecret: true) ?? databaseURL
        appRole = v.nonEmpty("AMS_APP_ROLE")
        redisURL = v.nonEmpty("AMS_REDIS_URL", isSecret: true) ?? redisURL
        redisTimeout = try v.duration("AMS_REDIS_TIMEOUT") ?? redisTimeout
        jwtSecret = try v.secret("AMS_JWT_SECRET") ?? jwtSecret
        serviceJWTSecret = try v.secret("AMS_SERVICE_JWT_SECRET")
        jwtIssuer = v.nonEmpty("AMS_JWT_ISSUER")
        jwtAudience = v.nonEmpty("AMS_JWT_AUDIENCE")
        try readIdentityProvider(v)
        defaultTier = try v.choice("AMS_DEFAULT_TIER") { "unknown tier '\($0)'" } ?? defaultTier
        tiersFile = v.string("AMS_TIERS_FILE") ?? tiersFile
        toolsFile = v.string("AMS_TOOLS_FILE") ?? toolsFile
        templatesDirectory = v.string("AMS_TEMPLATES_DIR") ?? templatesDirectory
        logLevel = try v.choice("AMS_LOG_LEVEL", lowercased: true) { "unknown level '\($0)'" } ?? logLevel
        logFormat = try v.choice("AMS_LOG_FORMAT", lowercased: true) { _ in "must be json or text" } ?? logFormat
        try readCapacities(v)
        try readTasksAndEvents(v)
        try readSinks(v)
    }

    private mutating func readIdentityProvider(_ v: ConfigVariables) throws {
        jwtClaims.roles = try v.claimPath("AMS_JWT_ROLES_CLAIM") ?? jwtClaims.roles
        jwtClaims.tenant = try v.claimPath("AMS_JWT_TENANT_CLAIM") ?? jwtClaims.tenant
        jwtJWKSURL = v.nonEmpty("AMS_JWT_JWKS_URL")
        jwtJWKSFile = v.nonEmpty("AMS_JWT_JWKS_FILE")
        jwtJWKSRefresh = try v.duration("AMS_JWT_JWKS_REFRESH") ?? jwtJWKSRefresh
    }

    private mutating func readCapacities(_ v: ConfigVariables) throws {
        bodyLimit = try v.int("AMS_MAX_BODY_BYTES") ?? bodyLimit
        maxTenants = try v.int("AMS_MAX_TENANTS") ?? maxTenants
        tenantIdleTimeout = try v.duration("AMS_TENANT_IDLE_TIMEOUT") ?? tenantIdleTimeout
        cacheCapacity = try v.int("AMS_CACHE_CAPACITY") ?? cacheCapacity
        databaseTimeout = try v.duration("AMS_DB_TIMEOUT") ?? databaseTimeout
        listenerHeartbeat = try v.duration("AMS_LISTENER_HEARTBEAT") ?? listenerHeartbeat
        httpIdleTimeout = try v.duration("AMS_HTTP_IDLE_TIMEOUT") ?? httpIdleTimeout
        // Unset, the name follows the HTTP port, whatever sets it later (`--port`).
        if let name = v.nonEmpty("AMS_REPLICA_NAME") { replicaName = name }
        databasePoolMaximum = try v.int("AMS_DB_POOL_MAX") ?? databasePoolMaximum
        metricsPort = try v.nonEmpty("AMS_METRICS_PORT").map { try Self.int($0, "AMS_METRICS_PORT") }
        accessLog = try v.flag("AMS_ACCESS_LOG") ?? accessLog
        metrics = try v.flag("AMS_METRICS") ?? metrics
        deletedRetention = try v.duration("AMS_DELETED_RETENTION") ?? deletedRetention
        taskRetention = try v.duration("AMS_TASK_RETENTION") ?? taskRetention
        purgeInterval = try v.duration("AMS_PURGE_INTERVAL") ?? purgeInterval
        rateLimits = try v.flag("AMS_RATE_LIMITS") ?? rateLimits
        rateLimitFailClosed = try v.flag("AMS_RATE_LIMIT_FAIL_CLOSED") ?? rateLimitFailClosed
    }

    private mutating func readTasksAndEvents(_ v: ConfigVariables) throws {
        taskConsumer = try v.flag("AMS_TASK_CONSUMER") ?? taskConsumer
        taskVisibilityTimeout = try v.duration("AMS_TASK_VISIBILITY_TIMEOUT") ?? taskVisibilityTimeout
        taskConcurrency = try v.int("AMS_TASK_CONCURRENCY") ?? taskConcurrency
        taskBatch = try v.int("AMS_TASK_BATCH") ?? taskBatch
        taskRetryBackOff = try v.duration("AMS_TASK_RETRY_BACKOFF") ?? taskRetryBackOff
        eventLeader = try v.flag("AMS_EVENT_LEADER") ?? eventLeader
        notifyRedis = try v.flag("AMS_NOTIFY_REDIS") ?? notifyRedis
        eventSocketAuthTimeout = try v.duration("AMS_WS_AUTH_TIMEOUT") ?? eventSocketAuthTimeout
        eventRetention = try v.duration("AMS_EVENT_RETENTION") ?? eventRetention
        notifyStreamLength = try v.int("AMS_NOTIFY_STREAM_MAXLEN") ?? notifyStreamLength
    }

    private mutating func readSinks(_ v: ConfigVariables) throws {
        orchestratorURL = v.nonEmpty("AMS_ORCHESTRATOR_WS_URL")
        serviceToken = try v.secret("AMS_SERVICE_TOKEN")
        orchestratorPing = try v.duration("AMS_ORCHESTRATOR_PING") ?? orchestratorPing
        webhooks = try v.flag("AMS_WEBHOOKS") ?? webhooks
        webhookAllowPrivate = try v.flag("AMS_WEBHOOK_ALLOW_PRIVATE") ?? webhookAllowPrivate
        webhookRetrySchedule =
            try v.string("AMS_WEBHOOK_RETRY_SCHEDULE").map { try Self.retrySchedule($0, "AMS_WEBHOOK_RETRY_SCHEDULE") }
            ?? webhookRetrySchedule
    }
}
