import Domain
import Foundation
import Infra
import Logging

/// Everything the service reads at start, through swift-configuration (see `AppConfiguration+Reading`):
/// environment first, command-line flags over it. Secrets come only from the environment, or from files
/// named by `<VARIABLE>_FILE`; never flags. Its description redacts them (`AppConfiguration+Description`).
struct AppConfiguration: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var databaseURL = "postgres://ams:ams@127.0.0.1:5432/ams"
    /// The role `serve` connects as, which `migrate` grants what the service needs (`AMS_APP_ROLE`).
    var appRole: String?
    /// `redis://[[user]:password@]host[:port][/db]` (`AMS_REDIS_URL`).
    var redisURL = "redis://127.0.0.1:6379"
    /// How long a Redis connect or call may take (`AMS_REDIS_TIMEOUT`).
    var redisTimeout = Duration.seconds(2)
    /// Signs user tokens (`AMS_JWT_SECRET` or `AMS_JWT_SECRET_FILE`).
    var jwtSecret = ""
    /// When set, the only key for tokens with the `service` role, and used for nothing else
    /// (`AMS_SERVICE_JWT_SECRET` or `AMS_SERVICE_JWT_SECRET_FILE`).
    var serviceJWTSecret: String?
    /// When set, tokens must carry this `iss` (`AMS_JWT_ISSUER`).
    var jwtIssuer: String?
    /// When set, tokens' `aud` must contain this (`AMS_JWT_AUDIENCE`).
    var jwtAudience: String?
    /// Where every token carries its roles and tenant (`AMS_JWT_ROLES_CLAIM`, `AMS_JWT_TENANT_CLAIM`;
    /// dotted paths such as `realm_access.roles`).
    var jwtClaims = ClaimPaths.standard
    /// An identity provider's JWKS: its RS256, ES256 and EdDSA keys verify tokens beside the secrets
    /// (`AMS_JWT_JWKS_URL`, `http` or `https`).
    var jwtJWKSURL: String?
    /// A JWKS file, read at start and at every refresh (`AMS_JWT_JWKS_FILE`).
    var jwtJWKSFile: String?
    /// How often the JWKS is read again (`AMS_JWT_JWKS_REFRESH`); an unknown `kid` reads it sooner.
    var jwtJWKSRefresh = Duration.seconds(300)
    var defaultTier = Tier.free
    var tiersFile = "config/tiers.yaml"
    var toolsFile = "config/tools.yaml"
    /// The system templates, one `*.yaml` file each (`AMS_TEMPLATES_DIR`).
    var templatesDirectory = "config/templates"
    var logLevel = Logger.Level.info
    var logFormat = LogFormat.text
    var bodyLimit = 1024 * 1024
    /// Tenant actors kept at once; the least recently used goes first beyond this.
    var maxTenants = 10_000
    /// A tenant actor unused this long is retired with its cache.
    var tenantIdleTimeout = Duration.seconds(600)
    /// Cached agents per tenant.
    var cacheCapacity = 10_000
    var databaseTimeout = Duration.seconds(3)
    /// Postgres connections at most (`AMS_DB_POOL_MAX`).
    var databasePoolMaximum = 20
    /// How often the change listener checks its connection (`AMS_LISTENER_HEARTBEAT`).
    var listenerHeartbeat = Duration.seconds(2)
    /// An HTTP connection idle this long is closed (`AMS_HTTP_IDLE_TIMEOUT`).
    var httpIdleTimeout = Duration.seconds(60)
    /// When set, `/metrics` moves off the API port to a listener of its own (`AMS_METRICS_PORT`).
    var metricsPort: Int?
    /// One `info` line per request (`AMS_ACCESS_LOG=0` turns it off).
    var accessLog = true
    static let defaultRetention = Duration.seconds(30 * 86_400)
    /// How long a deleted agent can be restored before the purge removes it (`AMS_DELETED_RETENTION`).
    var deletedRetention = defaultRetention
    /// How long a finished task (`completed` or `failed`) is kept before the purge removes it (`AMS_TASK_RETENTION`).
    var taskRetention = defaultRetention
    /// How often a replica tries the purge (`AMS_PURGE_INTERVAL`); one replica at a time does it.
    var purgeInterval = Duration.seconds(3600)
    /// `AMS_METRICS=0` makes every instrument a no-op (`/metrics` stays, empty): for measuring their cost.
    var metrics = true
    /// Names this replica in Postgres (`application_name` of its listener), in logs and as its consumer
    /// in the task queues' group (`AMS_REPLICA_NAME`). By default the host name and HTTP port, the same
    /// after a restart, so a restarted replica does not leave a consumer behind; with port 0 (a port
    /// picked at start) the host name and a random suffix.
    var replicaName: String {
        get { namedReplica ?? hostName + (port == 0 ? "-" + replicaSuffix : ":\(port)") }
        set { namedReplica = newValue }
    }
    private var namedReplica: String?
    private let replicaSuffix = String(UInt32.random(in: 0 ... .max), radix: 16)
    /// The host name, looked up once when the configuration is made (on Linux the lookup can block on DNS).
    let hostName = ProcessInfo.processInfo.hostName
    /// Per-tenant rate limits of the tier policy (`AMS_RATE_LIMITS`, default on).
    var rateLimits = true
    /// Refuse requests when Redis cannot count them (`AMS_RATE_LIMIT_FAIL_CLOSED=1`); default: let them through.
    var rateLimitFailClosed = false
    /// Whether this replica consumes the task queues (`AMS_TASK_CONSUMER`, default on).
    var taskConsumer = true
    /// `AMS_TASK_VISIBILITY_TIMEOUT`: how long a task entry may go unacknowledged before another replica claims it.
    var taskVisibilityTimeout = Duration.seconds(30)
    /// `AMS_TASK_CONCURRENCY`: tenants whose tasks run at once on this replica.
    var taskConcurrency = 4
    /// `AMS_TASK_BATCH`: entries read per queue in a tenant's turn.
    var taskBatch = 32
    /// `AMS_TASK_RETRY_BACKOFF`: the first retry's wait; it doubles with each attempt.
    var taskRetryBackOff = Duration.milliseconds(200)
    /// Sink 3: every event to the tenant's Redis notifications stream and channel.
    var notifyRedis = true
    /// Whether this replica may lead the notifier (sequence events, feed the shared sinks).
    var eventLeader = true
    var notifyStreamLength = 10_000
    /// How long announced events are kept for replays (`GET /v1/ws?since=`).
    var eventRetention = Duration.seconds(7 * 86_400)
    /// How long `GET /v1/ws` waits for a first frame with the token, when no header carried one.
    var eventSocketAuthTimeout = Duration.seconds(5)
    /// Sink 1, the orchestrator's WebSocket (`AMS_ORCHESTRATOR_WS_URL`; unset: off).
    var orchestratorURL: String?
    /// What this service presents to the orchestrator (`AMS_SERVICE_TOKEN` or `AMS_SERVICE_TOKEN_FILE`).
    var serviceToken: String?
    /// How often the orchestrator link pings (`AMS_ORCHESTRATOR_PING`); a ping unanswered this long ends the connection.
    var orchestratorPing = Duration.seconds(30)
    /// Connect, upgrade and `{"status": "authenticated"}` within this (10 s by the protocol; tests shorten it).
    var orchestratorAuthTimeout = Duration.seconds(10)
    /// Sink 4: deliveries to the tenants' webhook endpoints (`AMS_WEBHOOKS`, default on).
    var webhooks = true
    /// The waits between a webhook delivery's attempts (`AMS_WEBHOOK_RETRY_SCHEDULE`, e.g. `200ms,400ms`).
    var webhookRetrySchedule = RetrySchedule.standard
    /// Lets webhooks reach loopback and private addresses (`AMS_WEBHOOK_ALLOW_PRIVATE=1`; tests, local receivers).
    var webhookAllowPrivate = false
    /// One delivery attempt's deadline (5 s by the contract; tests shorten it).
    var webhookTimeout = Duration.seconds(5)

    var taskSettings: TaskSettings {
        TaskSettings(
            consumer: replicaName,
            visibilityTimeout: taskVisibilityTimeout,
            batch: taskBatch,
            concurrency: taskConcurrency,
            retryBackOff: taskRetryBackOff
        )
    }

    enum LogFormat: String, Sendable { case text, json }

    /// Refuses to start without what the service cannot run safely without.
    func check() throws {
        guard jwtSecret.utf8.count >= 32 else {
            throw ConfigurationError("AMS_JWT_SECRET or AMS_JWT_SECRET_FILE must be set (32 bytes or more, as HS256 needs)")
        }
        if let serviceJWTSecret {
            guard serviceJWTSecret.utf8.count >= 32 else { throw ConfigurationError("AMS_SERVICE_JWT_SECRET must be 32 bytes or more") }
            guard serviceJWTSecret != jwtSecret else { throw ConfigurationError("AMS_SERVICE_JWT_SECRET must differ from AMS_JWT_SECRET") }
        }
        try checkIdentityProvider()
        guard (0...65535).contains(port) else { throw ConfigurationError("AMS_HTTP_PORT must be 0–65535") }
        _ = try RedisURL(redisURL)
        if let metricsPort {
            guard (0...65535).contains(metricsPort) else { throw ConfigurationError("AMS_METRICS_PORT must be 0–65535") }
            guard metricsPort != port || port == 0 else { throw ConfigurationError("AMS_METRICS_PORT must differ from AMS_HTTP_PORT") }
        }
        guard maxTenants > 0, cacheCapacity > 0, bodyLimit > 0, purgeInterval > .zero else {
            throw ConfigurationError("AMS_MAX_TENANTS, AMS_CACHE_CAPACITY, AMS_MAX_BODY_BYTES and AMS_PURGE_INTERVAL must be positive")
        }
        guard databasePoolMaximum > 0 else { throw ConfigurationError("AMS_DB_POOL_MAX must be positive") }
        guard taskConcurrency > 0, taskBatch > 0, taskVisibilityTimeout >= .seconds(1), taskRetryBackOff > .zero else {
            throw ConfigurationError(
                "AMS_TASK_CONCURRENCY, AMS_TASK_BATCH and AMS_TASK_RETRY_BACKOFF must be positive, AMS_TASK_VISIBILITY_TIMEOUT at least 1s"
            )
        }
        if let orchestratorURL {
            guard serviceToken != nil else {
                throw ConfigurationError("AMS_ORCHESTRATOR_WS_URL needs AMS_SERVICE_TOKEN (or AMS_SERVICE_TOKEN_FILE)")
            }
            do { _ = try OrchestratorLink.Target(orchestratorURL) } catch {
                throw ConfigurationError("AMS_ORCHESTRATOR_WS_URL must be a ws:// or wss:// URL")
            }
            guard orchestratorPing >= .milliseconds(100) else { throw ConfigurationError("AMS_ORCHESTRATOR_PING must be at least 100ms") }
        }
        guard listenerHeartbeat > .zero, httpIdleTimeout > .zero else {
            throw ConfigurationError("AMS_LISTENER_HEARTBEAT and AMS_HTTP_IDLE_TIMEOUT must be positive")
        }
    }

    private func checkIdentityProvider() throws {
        if let conflict = jwtClaims.conflict { throw ConfigurationError("AMS_JWT_ROLES_CLAIM, AMS_JWT_TENANT_CLAIM: \(conflict)") }
        if let jwtJWKSURL {
            guard let url = URL(string: jwtJWKSURL), ["http", "https"].contains(url.scheme?.lowercased()), url.host?.isEmpty == false else {
                throw ConfigurationError("AMS_JWT_JWKS_URL must be an http:// or https:// URL")
            }
        }
        guard jwtJWKSRefresh >= .seconds(1) else { throw ConfigurationError("AMS_JWT_JWKS_REFRESH must be at least 1s") }
    }
}
