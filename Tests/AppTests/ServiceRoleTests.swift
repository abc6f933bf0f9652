import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import App
@testable import Infra

/// The service's own database role: `migrate --app-role` grants it what `serve` needs, the service
/// works as it, and it cannot widen its view, whatever it sets.
@Suite struct ServiceRoleTests {
    static let logger = Logger(label: "test")

    /// CRUD, versions, aliases, templates, idempotency keys, tasks, events (Redis and a socket's
    /// replay) and webhooks for two tenants, served as the service's role; then, as that role,
    /// tenant A's transaction shows no row of tenant B with every `app.*` setting of the policies on,
    /// the role cannot switch Row-Level Security off, and the cross-tenant work still runs.
    @Test func theServicesRoleServesEveryTenantButSeesOneAtATime() async throws {
        let q = try await TestQueues()
        let owner = try await TestSupport.freshDatabase()
        try await ServiceRole.ensure()
        try await Migrator.run(url: owner, appRole: ServiceRole.name, logger: Self.logger)
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        var config = try q.configuration()
        config.databaseURL = try ServiceRole.url(owner)
        config.notifyRedis = true
        config.eventLeader = true
        config.webhookAllowPrivate = true
        let (a, b) = (TestSupport.tenant(), TestSupport.tenant())
        try await buildApplication(config, logger: makeLogger(config)).test(.live) { client in
            var bulkTasks: [TenantID: String] = [:]
            for tenant in [a, b] {
                bulkTasks[tenant] = try await Self.useEverything(client, tenant: tenant, receiver: receiver, queues: q)
            }
            for tenant in [a, b] {
                #expect(
                    try await eventually(20) {
                        let entries = RedisClient.entries(try await q.redis.send("XRANGE", RedisEventSink.key(tenant), "-", "+"))
                        let events = entries.compactMap { $0.fields?["message"].flatMap { JSONValue.parse(Array($0.utf8)) } }
                        return events.contains { $0["event"] == .string("task_completed") }
                    },
                    "the notifier sequenced \(tenant)'s events and the Redis sink got them"
                )
                #expect(
                    try await eventually(20) { receiver.received.contains { $0.path == "/" + tenant && $0.event == "agent_deleted" } },
                    "\(tenant)'s endpoint got its events"
                )
                let replayed = try await Self.replay(client, tenant: tenant, through: try #require(bulkTasks[tenant]))
                #expect(replayed.allSatisfy { $0["tenant_id"] == .string(tenant) }, "\(replayed)")
                let names = Set(replayed.compactMap { $0["data"]?["agent_name"]?.stringValue })
                #expect(names.isSuperset(of: ["Kept", "Once", "Helpdesk", "Gone"]), "\(replayed)")
            }
        }
        try await Self.expectOneTenantAtATime(owner: owner, tenant: a, other: b)
        try await Self.expectCrossTenantWork(owner: owner, tenants: [a, b])
    }

    /// A role that does not own the schema cannot migrate it: on a schema behind this release `serve`
    /// stops, naming the command to run, and starts once it has run.
    @Test func aSchemaBehindTheReleaseStopsTheServicesRoleWithTheCommandToRun() async throws {
        let owner = try await TestSupport.freshDatabase()
        try await ServiceRole.ensure()
        try await Migrator.run(
            url: owner,
            migrations: Array(Migration.all.dropLast()),
            definitions: nil,
            appRole: ServiceRole.name,
            logger: Self.logger
        )
        let config = try TestSupport.configuration(databaseURL: try ServiceRole.url(owner))
        do {
            try await buildApplication(config, logger: makeLogger(config)).runService()
            Issue.record("served on a schema behind its release")
        } catch {
            #expect("\(error)".contains("run `agent-management migrate --app-role \(ServiceRole.name)`"), "\(error)")
        }
        try await Migrator.run(url: owner, appRole: ServiceRole.name, logger: Self.logger)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            #expect(try await admin.create("Served")["version"] == .int(1))
        }
    }

    /// Every `migrate --app-role` grants again, so what a later migration adds is covered; the role
    /// may not write the schema's records, nor may any other role run the cross-tenant functions; and
    /// a role that could widen its view, or none at all, is refused.
    @Test func migrateGrantsWhatEachMigrationAddsAndRefusesARoleThatCouldWidenItsView() async throws {
        let owner = try await TestSupport.freshDatabase()
        try await ServiceRole.ensure()
        try await Migrator.run(url: owner, appRole: ServiceRole.name, logger: Self.logger)
        let later = Migration(version: Migration.all.count + 1000, name: "probe", statements: ["CREATE TABLE probe_later (id int)"])
        try await Migrator.run(url: owner, migrations: Migration.all + [later], appRole: ServiceRole.name, logger: Self.logger)
        try await Self.withClient(try ServiceRole.url(owner)) { client in
            let later = try await Self.count(client, "SELECT count(*)::int FROM probe_later")
            #expect(later == 0)
            let written = try await Self.sqlState { try await client.query("DELETE FROM schema_migrations") }
            #expect(written == "42501")
        }
        try await ServiceRole.ensure(ServiceRole.stranger, "LOGIN PASSWORD 'ams_stranger'")
        try await Self.withClient(try ServiceRole.url(owner, role: ServiceRole.stranger)) { client in
            let ran = try await Self.sqlState { try await client.query("SELECT * FROM ams_outbox_after(0, 10)") }
            #expect(ran == "42501", "a role granted nothing runs a SECURITY DEFINER function")
        }
        try await Self.withClient(try ServiceRole.url(owner)) { client in
            var unpinned: [String] = []
            for try await name in try await client.query(
                """
                SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
                  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, public, pg_temp'], false)
                """
            ).decode(String.self) {
                unpinned.append(name)
            }
            #expect(unpinned.isEmpty, "a SECURITY DEFINER function without the pinned search_path (temporary tables last): \(unpinned)")
        }

        try await ServiceRole.ensure(ServiceRole.bypassing, "NOLOGIN BYPASSRLS")
        for (role, reason) in [
            (ServiceRole.bypassing, "BYPASSRLS"), ("ams", "owns the schema"), ("ams_no_such_role", "does not exist"),
        ] {
            do {
                try await Migrator.run(url: owner, appRole: role, logger: Self.logger)
                Issue.record("granted to \(role)")
            } catch let error as Migrator.AppRoleRefused {
                #expect(error.description.contains(reason), "\(error)")
            }
        }
    }

    /// What the owner makes or re-creates later without `--app-role` (a migration, then the
    /// definitions installed again) is the role's to use too; a grant it lacks anyway (revoked
    /// by hand) stops `serve` with the command to run, rather than failing each use.
    @Test func aLaterInstallKeepsTheRoleServingAndAMissingGrantStopsIt() async throws {
        let owner = try await TestSupport.freshDatabase()
        try await ServiceRole.ensure()
        try await Migrator.run(url: owner, appRole: ServiceRole.name, logger: Self.logger)
        let later = Migration(version: Migration.all.count + 1000, name: "probe", statements: ["CREATE TABLE probe_later (id int)"])
        try await Migrator.run(url: owner, migrations: Migration.all + [later], logger: Self.logger)
        let app = try ServiceRole.url(owner)
        try await Self.withClient(app) { client in
            let claimed = try await Self.count(client, "SELECT count(*)::int FROM ams_claim_webhooks(10, '1 minute')")
            let probed = try await Self.count(client, "SELECT count(*)::int FROM probe_later")
            #expect(claimed == 0 && probed == 0)
        }
        #expect(try await Migrator.runOrCheck(url: app, logger: Self.logger).isEmpty, "the role has all it needs")
        try await Self.withClient(owner) { client in
            try await client.query("REVOKE EXECUTE ON FUNCTION ams_claim_webhooks(integer, interval) FROM \(unescaped: ServiceRole.name)")
        }
        do {
            try await Migrator.runOrCheck(url: app, logger: Self.logger)
            Issue.record("checked a role that may not claim webhooks")
        } catch let error as Migrator.PrivilegesMissing {
            #expect(error.description.contains("ams_claim_webhooks"), "\(error)")
            #expect(error.description.contains("run `agent-management migrate --app-role \(ServiceRole.name)`"), "\(error)")
        }
    }

    /// A role given BYPASSRLS, or CREATE in `public`, after `migrate --app-role` granted it does not
    /// serve: `serve` refuses what `migrate` would.
    @Test func aRoleThatCouldWidenItsViewDoesNotServe() async throws {
        let owner = try await TestSupport.freshDatabase()
        let role = "ams_widening"
        try await ServiceRole.ensure(role, "LOGIN PASSWORD '\(role)' NOSUPERUSER NOBYPASSRLS")
        try await Self.withClient(ServiceRole.adminURL(owner)) { client in
            try await client.query("ALTER ROLE \(unescaped: role) NOBYPASSRLS")
            try await client.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC, \(unescaped: role)")
        }
        try await Migrator.run(url: owner, appRole: role, logger: Self.logger)
        let app = try ServiceRole.url(owner, role: role)
        #expect(try await Migrator.runOrCheck(url: app, logger: Self.logger).isEmpty, "granted, and nothing more")
        for (give, takeBack, refusal) in [
            ("ALTER ROLE \(role) BYPASSRLS", "ALTER ROLE \(role) NOBYPASSRLS", "has BYPASSRLS"),
            ("GRANT CREATE ON SCHEMA public TO \(role)", "REVOKE CREATE ON SCHEMA public FROM \(role)", "may create objects in schema public"),
        ] {
            try await Self.withClient(ServiceRole.adminURL(owner)) { client in try await client.query(PostgresQuery(unsafeSQL: give)) }
            do {
                try await Migrator.runOrCheck(url: app, logger: Self.logger)
                Issue.record("served as a role that \(refusal)")
            } catch let error as Migrator.AppRoleRefused {
                #expect(error.description.contains(refusal), "\(error)")
            }
            try await Self.withClient(ServiceRole.adminURL(owner)) { client in try await client.query(PostgresQuery(unsafeSQL: takeBack)) }
        }
    }

    /// `migrate` names the role by its flag, or else by `AMS_APP_ROLE`.
    @Test func theRoleIsNamedByTheFlagOrTheVariable() throws {
        #expect(try AppConfiguration.fromEnvironment(["AMS_APP_ROLE": "ams_app"]).appRole == "ams_app")
        #expect(try AppConfiguration.fromEnvironment(["AMS_APP_ROLE": ""]).appRole == nil)
        #expect(try MigrateCommand.parse(["--app-role", "service"]).appRole == "service")
    }

    // MARK: - Support

    /// Makes every kind of row a tenant has, through the API; answers the id of its last task.
    static func useEverything(
        _ client: any TestClientProtocol,
        tenant: TenantID,
        receiver: WebhookReceiver,
        queues: TestQueues
    ) async throws -> String {
        let service = try await Caller.make(client, tenant: nil, roles: [.service])
        #expect(try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"enterprise"}"#).status == .ok)
        let admin = try await Caller.make(client, tenant: tenant)
        let hook = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(receiver.url(tenant))","events":["*"]}"#)
        #expect(hook.status == .created, "\(String(buffer: hook.body))")
        let agent = try await admin.create("Kept", #""tools":["search"]"#)
        #expect(try await admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"second"}"#).status == .ok)
        #expect(try await admin.send(.get, "/v1/agents/\(agent.id)/versions").json()["items"]?.items().count == 2)
        #expect(try await admin.send(.put, "/v1/agents/\(agent.id)/aliases/live", json: #"{"version":1}"#).status == .ok)
        let once = #"{"name":"Once","llm_config":{"model":"gpt-4o-mini"}}"#
        let first = try await admin.send(.post, "/v1/agents", json: once, headers: [HTTPField.Name("Idempotency-Key")!: "key-1"])
        let again = try await admin.send(.post, "/v1/agents", json: once, headers: [HTTPField.Name("Idempotency-Key")!: "key-1"])
        #expect(first.status == .created)
        #expect(try again.json().id == first.json().id, "the replay answers the first create")
        let templated = try await admin.send(
            .post,
            "/v1/agents",
            json: #"{"template_id":"customer-support","template_version":1,"name":"Helpdesk"}"#
        )
        #expect(templated.status == .created, "\(String(buffer: templated.body))")
        let template = try await admin.send(
            .post,
            "/v1/templates",
            json: #"{"name":"Triage","category":"support","type":"conversational","config":{"llm_config":{"model":"gpt-4o-mini"}}}"#
        )
        #expect(template.status == .created, "\(String(buffer: template.body))")
        let gone = try await admin.create("Gone")
        #expect(try await admin.send(.delete, "/v1/agents/\(gone.id)").status == .noContent)
        let bulk = try await admin.send(
            .post,
            "/v1/agents/bulk-update",
            json: #"{"filter":{"type":"conversational"},"patch":{"description":"bulk"}}"#
        )
        #expect(bulk.status == .accepted)
        let task = try #require(try bulk.json()["task_id"]?.stringValue)
        let done = try await queues.finished(admin, task)
        #expect(done["status"] == .string("completed"), "\(done)")
        return task
    }

    /// The tenant's events replayed from the start over `GET /v1/ws`, up to `task`'s completion.
    static func replay(_ client: some TestClientProtocol, tenant: TenantID, through task: String) async throws -> [JSONValue] {
        let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
        let received = Mutex<[JSONValue]>([])
        let headers: HTTPFields = [.authorization: "Bearer \(try #require(viewer.token))"]
        _ = try await withinSeconds(20) {
            try await client.ws("/v1/ws?since=0", configuration: .init(additionalHeaders: headers)) { inbound, outbound, _ in
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message, let event = JSONValue.parse(Array(text.utf8)) else { continue }
                    received.withLock { $0.append(event) }
                    if event["event"] == .string("task_completed") && event["task_id"]?.stringValue?.lowercased() == task.lowercased() { break }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
        return received.withLock { $0 }
    }

    /// As the service's role, in tenant A's transaction with every `app.*` setting the policies
    /// read turned on: no table with a tenant column shows a row of B (each of which the superuser
    /// sees), and Row-Level Security cannot be switched off.
    static func expectOneTenantAtATime(owner: String, tenant: TenantID, other: TenantID) async throws {
        var tables: [String] = []
        var settings: [String] = []
        var others: [String: Int] = [:]
        try await withClient(try ServiceRole.adminURL(owner)) { admin in
            for try await table in try await admin.query(
                """
                SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id' AND NOT a.attisdropped
                ORDER BY 1
                """
            ).decode(String.self) {
                tables.append(table)
            }
            for try await setting in try await admin.query(
                """
                SELECT DISTINCT m[1] FROM pg_policies p,
                    regexp_matches(coalesce(p.qual, '') || ' ' || coalesce(p.with_check, ''), 'current_setting\\(''(app\\.[a-z_]+)''', 'g') m
                WHERE p.schemaname = 'public' ORDER BY 1
                """
            ).decode(String.self) {
                settings.append(setting)
            }
            for table in tables {
                others[table] = try await count(admin, "SELECT count(*)::int FROM \(unescaped: table) WHERE tenant_id = \(other)")
            }
        }
        #expect(settings.contains("app.tenant_id") && settings.count > 1, "\(settings)")
        let made = Set(others.filter { $0.value > 0 }.keys)
        #expect(
            made.isSuperset(of: [
                "agent_aliases", "agent_history", "agent_templates", "agent_versions", "agents", "idempotency_keys", "outbox", "tasks",
                "template_usage",
                "tenants", "webhook_deliveries", "webhooks",
            ]),
            "rows of the other tenant: \(others)"
        )
        try await withClient(try ServiceRole.url(owner)) { client in
            try await client.withTransaction(logger: logger) { conn in
                for setting in settings where setting != "app.tenant_id" {
                    try await conn.query("SELECT set_config(\(setting), 'on', true)", logger: logger)
                }
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                for table in tables {
                    let seen = try await count(conn, "SELECT count(*)::int FROM \(unescaped: table) WHERE tenant_id <> \(tenant)")
                    #expect(seen == 0, "\(table) shows \(seen) rows of other tenants")
                }
                let own = try await count(conn, "SELECT count(*)::int FROM agents")
                #expect(own > 0, "tenant A's own rows are seen")
            }
            for table in tables {
                let state = try await sqlState { try await client.query("ALTER TABLE \(unescaped: table) NO FORCE ROW LEVEL SECURITY") }
                #expect(state == "42501", "\(table): NO FORCE ROW LEVEL SECURITY gave \(state ?? "no error")")
            }
            let disabled = try await sqlState { try await client.query("ALTER TABLE agents DISABLE ROW LEVEL SECURITY") }
            #expect(disabled == "42501")
            let became = try await sqlState { try await client.query("SET ROLE ams") }
            #expect(became == "42501")
        }
    }

    /// The catalog scan and the purge of deleted agents, each across tenants, as the service's role.
    static func expectCrossTenantWork(owner: String, tenants: [TenantID]) async throws {
        try await withClient(try ServiceRole.url(owner)) { client in
            var using: Set<String> = []
            for try await tenant in try await client.query("SELECT ams_tenants_using_tools(ARRAY['search'])").decode(String.self) {
                using.insert(tenant)
            }
            #expect(using.isSuperset(of: tenants), "the catalog scan found \(using)")
            let stores = PostgresStores(client: client, defaultTier: .free, logger: logger)
            let young = try await stores.agents.purgeDeleted(retention: .zero)
            #expect(young == 0, "the retention is an hour at least")
            try await withClient(try ServiceRole.adminURL(owner)) { admin in
                try await admin.query("UPDATE agents SET deleted_at = deleted_at - interval '2 hours' WHERE deleted_at IS NOT NULL")
            }
            let purged = try await stores.agents.purgeDeleted(retention: .zero)
            #expect(purged == tenants.count)
        }
        try await withClient(try ServiceRole.adminURL(owner)) { admin in
            let deleted = try await count(admin, "SELECT count(*)::int FROM agents WHERE deleted_at IS NOT NULL")
            #expect(deleted == 0)
        }
    }

    static func withClient(_ url: String, _ body: (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: try .init(url: url))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }

    static func count(_ client: PostgresClient, _ query: PostgresQuery) async throws -> Int {
        for try await n in try await client.query(query).decode(Int.self) { return n }
        return 0
    }

    static func count(_ conn: PostgresConnection, _ query: PostgresQuery) async throws -> Int {
        for try await n in try await conn.query(query, logger: logger).decode(Int.self) { return n }
        return 0
    }

    /// The SQLSTATE `body` failed with, or `nil` if it did not.
    static func sqlState(_ body: () async throws -> Void) async throws -> String? {
        do {
            try await body()
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState]
        }
    }
}

/// The service's own login role as scripts/lib.sh makes it, owning nothing; shared by every test
/// (roles belong to the whole server), made through the superuser when missing.
enum ServiceRole {
    static let name = "ams_app"
    /// A login role that was granted nothing.
    static let stranger = "ams_stranger"
    static let bypassing = "ams_bypassing"

    static func ensure(_ role: String = name, _ options: String = "LOGIN PASSWORD 'ams_app' NOSUPERUSER NOBYPASSRLS") async throws {
        guard let admin = ProcessInfo.processInfo.environment["AMS_TEST_ADMIN_URL"], !admin.isEmpty else {
            throw TestSupport.ConfigurationMissing()
        }
        try await ServiceRoleTests.withClient(admin) { client in
            guard try await ServiceRoleTests.count(client, "SELECT count(*)::int FROM pg_roles WHERE rolname = \(role)") == 0 else { return }
            do {
                try await client.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(role) \(options)"))
            } catch let error as PSQLError where ["42710", "23505"].contains(error.serverInfo?[.sqlState]) {
                // Another suite made it at the same moment.
            }
        }
    }

    /// `owner`'s database, as `role` (whose password is its name, as `ensure` made it).
    static func url(_ owner: String, role: String = name) throws -> String {
        var parts = try #require(URLComponents(string: owner))
        parts.user = role
        parts.password = role
        return try #require(parts.string)
    }

    /// `owner`'s database, as the superuser.
    static func adminURL(_ owner: String) throws -> String {
        guard let admin = ProcessInfo.processInfo.environment["AMS_TEST_ADMIN_URL"], !admin.isEmpty else {
            throw TestSupport.ConfigurationMissing()
        }
        var parts = try #require(URLComponents(string: admin))
        parts.path = try #require(URLComponents(string: owner)).path
        return try #require(parts.string)
    }
}

private struct TimedOut: Error {}

/// `body`'s answer, or `TimedOut` after `seconds`.
private func withinSeconds<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
