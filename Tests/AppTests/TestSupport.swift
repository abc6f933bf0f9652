import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Synchronization
import Testing
import Validators

@testable import App

/// Builds the real application against the test database that `scripts/test.sh` provisions.
enum TestSupport {
    static let secret = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func databaseURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["AMS_TEST_DATABASE_URL"], !url.isEmpty else {
            throw ConfigurationMissing()
        }
        return url
    }

    struct ConfigurationMissing: Error, CustomStringConvertible {
        var description: String { "AMS_TEST_DATABASE_URL or AMS_TEST_ADMIN_URL is not set: run the tests with scripts/test.sh" }
    }

    /// A new, empty database owned by the service's role, for suites that change shared state
    /// (the tool catalog) or must see a fresh schema. Needs `AMS_TEST_ADMIN_URL` (a superuser).
    private static let spares = Atomic<Int>(0)

    static func freshDatabase() async throws -> String {
        guard let admin = ProcessInfo.processInfo.environment["AMS_TEST_ADMIN_URL"], !admin.isEmpty else {
            throw ConfigurationMissing()
        }
        // scripts/test.sh makes empty databases before the run (see there why).
        if ProcessInfo.processInfo.environment["AMS_TEST_SPARE_DATABASES"] == "1" {
            let n = spares.add(1, ordering: .relaxed).newValue
            if n <= 32 {
                var parts = URLComponents(string: try databaseURL())!
                parts.path = "/ams_spare_app_\(n)"
                return parts.string!
            }
        }
        let name = "ams_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let client = PostgresClient(configuration: try .init(url: admin))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // CREATE DATABASE copies template1 and fails while another session is copying it too
            // (55006, "being accessed by other users"); suites create databases in parallel.
            for attempt in 1... {
                do {
                    try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) OWNER ams"))
                    break
                } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55006" && attempt < 50 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        var parts = URLComponents(string: try databaseURL())!
        parts.path = "/" + name
        return parts.string!
    }

    static func configuration(databaseURL: String? = nil) throws -> AppConfiguration {
        var config = AppConfiguration()
        config.databaseURL = try databaseURL ?? Self.databaseURL()
        config.jwtSecret = secret
        if let redis = ProcessInfo.processInfo.environment["AMS_TEST_REDIS_URL"], !redis.isEmpty { config.redisURL = redis }
        config.port = 0
        config.tiersFile = root + "/config/tiers.yaml"
        config.toolsFile = root + "/config/tools.yaml"
        config.templatesDirectory = root + "/config/templates"
        // Dozens of suites run at once against one server (500 connections, see scripts/lib.sh).
        config.databasePoolMaximum = 6
        // Dozens of apps share two loaded cores: a 3 s deadline fails calls that are only slow.
        // The suites about deadlines (PartitionTests, DegradedDatabaseTests) set their own.
        config.databaseTimeout = .seconds(10)
        config.logLevel = .warning
        // Tests make many requests per tenant; the rate limit tests turn limits on.
        config.rateLimits = false
        // The suites share one database, where one replica would sequence everyone's events and
        // feed the shared sinks: event tests turn that on over a database of their own.
        config.notifyRedis = false
        config.eventLeader = false
        // Every suite's app would read the shared Redis database's queues, and so run (and make
        // tenant actors for) tasks that other suites queued; queue tests turn it on in their own.
        config.taskConsumer = false
        return config
    }

    /// The router's dependencies over `client`, for tests that build a router themselves (the
    /// stores' deadline is `config.databaseTimeout`).
    static func routerDependencies(_ config: AppConfiguration, client: PostgresClient, logger: Logger) async throws -> RouterDependencies {
        let stores = PostgresStores(client: client, defaultTier: .free, timeout: config.databaseTimeout, logger: logger)
        let catalog = ToolCatalogCache(store: stores.tools)
        let supervisor = TenantSupervisor(
            deps: TenantDependencies(
                stores,
                validators: .builtin,
                policy: try TierPolicyFile.load(path: config.tiersFile),
                catalog: catalog,
                cacheCapacity: 10
            ),
            maxTenants: 10,
            idleTimeout: .seconds(60),
            logger: logger
        )
        return RouterDependencies(
            tenants: stores.tenants,
            toolCatalog: stores.tools,
            tasks: stores.tasks,
            webhooks: stores.webhooks,
            idempotency: stores.idempotency,
            supervisor: supervisor,
            catalog: catalog,
            verifier: await TokenVerifier(secret: config.jwtSecret),
            database: DatabaseProbe(database: stores.database),
            bodyLimit: config.bodyLimit,
            contract: try APIContract(),
            metrics: AppMetrics()
        )
    }

    static func app(databaseURL: String? = nil) async throws -> some ApplicationProtocol {
        let config = try configuration(databaseURL: databaseURL)
        return try await buildApplication(config, logger: makeLogger(config))
    }

    static func token(tenant: String?, roles: [Role] = [.admin], subject: String = "user-1", ttl: Duration = .seconds(600)) async throws -> String {
        try await TokenVerifier(secret: secret).sign(subject: subject, tenant: tenant, roles: roles, ttl: ttl)
    }

    static func tenant() -> String { "t-" + UUID().uuidString.lowercased() }

    /// A new tenant on `tier`, set through the internal API as the platform would.
    static func tenant(on tier: Tier, _ client: any TestClientProtocol) async throws -> String {
        let tenant = tenant()
        let service = Caller(client: client, token: try await token(tenant: nil, roles: [.service]))
        let response = try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"\#(tier.rawValue)"}"#)
        try #require(response.status == .ok, "setting the tier failed: \(String(buffer: response.body))")
        return tenant
    }
}

/// A caller bound to one tenant and role set, so tests read like the API.
struct Caller {
    let client: any TestClientProtocol
    let token: String?
    var extraHeaders: HTTPFields = [:]

    static func make(_ client: any TestClientProtocol, tenant: String?, roles: [Role] = [.admin], subject: String = "user-1") async throws -> Caller {
        Caller(client: client, token: try await TestSupport.token(tenant: tenant, roles: roles, subject: subject))
    }

    @discardableResult
    func send(_ method: HTTPRequest.Method, _ uri: String, json: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        var all = extraHeaders
        if let token { all[.authorization] = "Bearer \(token)" }
        if json != nil { all[.contentType] = "application/json" }
        for field in headers { all[field.name] = field.value }
        return try await client.execute(uri: uri, method: method, headers: all, body: json.map { ByteBuffer(string: $0) })
    }

    /// Creates an agent and returns its JSON.
    func create(_ name: String, _ extra: String = "") async throws -> JSONValue {
        let body = #"{"name":"\#(name)","llm_config":{"model":"gpt-4o-mini"}\#(extra.isEmpty ? "" : "," + extra)}"#
        let response = try await send(.post, "/v1/agents", json: body)
        try #require(response.status == .created, "create failed: \(String(buffer: response.body))")
        return try response.json()
    }
}

extension TestResponse {
    func json() throws -> JSONValue {
        try #require(JSONValue.parse(Array(body.readableBytesView)), "not JSON: \(String(buffer: body))")
    }

    /// The AMS error code of an error response.
    var errorCode: String? {
        JSONValue.parse(Array(body.readableBytesView))?["error"]?["code"]?.stringValue
    }
}

extension JSONValue {
    var id: String { self["id"]?.stringValue ?? "" }
    /// The elements of an array; fails the test when this is not one.
    func items(sourceLocation: SourceLocation = #_sourceLocation) throws -> [JSONValue] {
        guard case .array(let items) = self else {
            Issue.record("expected a JSON array, got \(typeName)", sourceLocation: sourceLocation)
            throw NotAnArray()
        }
        return items
    }
    var int: Int? { numberValue.map { Int($0) } }
}

/// Polls until `check` holds or `seconds` pass; for effects that cross replicas asynchronously.
func eventually(_ seconds: Double = 10, _ check: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await check() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await check()
}

struct NotAnArray: Error {}
