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

/// The real agent store, with writes that can be held at a gate: lets a test put a change notice
/// between a write's commit and the cache fill that follows it.
final class PausingStore: ForwardingAgentStore {
    let base: PostgresAgentStore
    private let held = Mutex<Gate?>(nil)

    init(_ base: PostgresAgentStore) { self.base = base }

    /// The next update commits, then waits until the gate opens.
    func holdNextUpdate() -> Gate {
        held.withLock {
            $0 = Gate()
            return $0!
        }
    }

    func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool {
        let stored = try await base.update(agent, from: revision, action: action, changes: changes, audit: audit)
        if let gate = held.withLock({ g in
            defer { g = nil }
            return g
        }) {
            await gate.pass()
        }
        return stored
    }
}

/// The real tool catalog, with loads that are counted and can be held at a gate, for the same race
/// on the catalog's cache.
final class PausingCatalog: ToolCatalogStore {
    let base: PostgresToolCatalogStore
    let loads = Atomic<Int>(0)
    private let held = Mutex<Gate?>(nil)

    init(_ base: PostgresToolCatalogStore) { self.base = base }

    /// The next load reads the catalog, then waits until the gate opens.
    func holdNextLoad() -> Gate {
        held.withLock {
            $0 = Gate()
            return $0!
        }
    }

    func toolCatalog() async throws -> [ToolDefinition] {
        loads.add(1, ordering: .relaxed)
        let tools = try await base.toolCatalog()
        if let gate = held.withLock({ g in
            defer { g = nil }
            return g
        }) {
            await gate.pass()
        }
        return tools
    }

    func replaceToolCatalog(_ tools: [ToolDefinition]) async throws { try await base.replaceToolCatalog(tools) }
}

/// A one-shot barrier: `pass()` waits until `open()`; `reached()` waits until someone is waiting.
final class Gate: Sendable {
    struct NotReached: Error {}

    private let opened = AsyncStream<Void>.makeStream()
    private let arrived = AsyncStream<Void>.makeStream()

    func pass() async {
        arrived.continuation.yield()
        for await _ in opened.stream { return }
    }

    /// Fails rather than hangs when the call never gets to the gate (it failed before, say).
    func reached(within limit: Duration = .seconds(15)) async throws {
        let arrived = self.arrived
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in arrived.stream { return true }
                return false
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else { throw NotReached() }
        }
    }

    func open() { opened.continuation.yield() }
}

@Suite struct CoherenceTests {
    static func actor(_ store: PausingStore, _ stores: PostgresStores, tenant: TenantID = TestSupport.tenant()) throws -> TenantActor {
        let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
        let deps = TenantDependencies(
            stores,
            agents: store,
            validators: .builtin,
            policy: policy,
            catalog: ToolCatalogCache(store: stores.tools),
            cacheCapacity: 10
        )
        return TenantActor(tenantID: tenant, deps: deps, caching: true)
    }

    static let identity = Identity(subject: "u", roles: [.admin], tenantID: nil)

    /// The caches ride on the committed events: an agent event's commit is what evicts a cached
    /// copy, and an agent notice on the old channel alone (the previous release's) evicts nothing.
    @Test func cachesFollowTheCommittedEvents() async throws {
        try await TestSupport.app().test(.router) { client in
            #expect(try await eventually(10) { try await client.execute(uri: "/health/ready", method: .get).status == .ok })
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Coherent", #""description":"before""#)
            let id = try #require(UUID(uuidString: agent.id))
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").json()["description"] == .string("before"))
            let database = try TestSupport.databaseURL()
            let logger = Logger(label: "test")
            // Changed behind the service's back: no event, no notice, and the cached copy is served.
            try await asSuperuser(database) { conn in
                try await conn.query("UPDATE agents SET config = jsonb_set(config, '{description}', '\"after\"') WHERE id = \(id)", logger: logger)
            }
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").json()["description"] == .string("before"))
            try await asSuperuser(database) { conn in
                try await conn.query("SELECT pg_notify('agent_management_changes', ams_change_notice(\(tenant), \(id), NULL, false))", logger: logger)
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(
                try await admin.send(.get, "/v1/agents/\(agent.id)").json()["description"] == .string("before"),
                "the old channel's notice is not applied"
            )
            // An event of the agent commits: every replica's copy goes.
            try await asSuperuser(database) { conn in
                try await conn.query(
                    "INSERT INTO outbox (tenant_id, event, agent_id, data) VALUES (\(tenant), 'agent_updated', \(id), '{}')",
                    logger: logger
                )
            }
            #expect(try await eventually(10) { try await admin.send(.get, "/v1/agents/\(agent.id)").json()["description"] == .string("after") })
        }
    }

    /// Another replica's PATCH lands (and its notice arrives) while this replica's PATCH is between
    /// its commit and its cache fill: the older state must not be cached.
    @Test func aWriteOvertakenByANoticeDoesNotFillTheCache() async throws {
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
            let store = PausingStore(stores.agents)
            let tenant = TestSupport.tenant()
            let actor = try Self.actor(store, stores, tenant: tenant)
            let created = try await actor.create(AgentConfig(name: "Raced", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)

            let gate = store.holdNextUpdate()
            async let mine = actor.patch(created.id, with: .object(["description": .string("mine, v2")]), ifMatch: nil, audit: .test)
            try await gate.reached()
            // The other replica: v3 in Postgres, and its notice reaches this actor.
            var other = try #require(try await store.base.agent(created.id, tenant: tenant))
            other.config.description = "theirs, v3"
            other.version = 3
            #expect(try await store.base.update(other, from: other.revision, action: .updated, changes: .array([]), audit: .test))
            await actor.apply(ChangeNotification(kind: .agent, tenantID: tenant, agentID: created.id, revision: 3))
            gate.open()
            #expect(try await mine.version == 2)

            let served = try await actor.agent(created.id)
            #expect(served.version == 3)
            #expect(JSONValue.parse(served.body.readableBytesView)?["description"] == .string("theirs, v3"))
        }
    }

    @Test func aWriteOvertakenByADeleteDoesNotResurrectTheAgent() async throws {
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
            let store = PausingStore(stores.agents)
            let tenant = TestSupport.tenant()
            let actor = try Self.actor(store, stores, tenant: tenant)
            let created = try await actor.create(AgentConfig(name: "Doomed", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)

            let gate = store.holdNextUpdate()
            async let mine = actor.patch(created.id, with: .object(["description": .string("v2")]), ifMatch: nil, audit: .test)
            try await gate.reached()
            #expect(try await store.base.delete(created.id, tenant: tenant, ifVersion: nil, audit: .test) == .deleted(version: 2))
            await actor.apply(ChangeNotification(kind: .agent, tenantID: tenant, agentID: created.id, deleted: true))
            gate.open()
            _ = try await mine
            await #expect(throws: ServiceError.agentNotFound()) { try await actor.agent(created.id) }
        }
    }

    /// The catalog has the same race on load, is bypassed while the listener is down, and is
    /// reloaded when it comes back.
    @Test func theToolCatalogFollowsTheSameRules() async throws {
        try await withDatabase { client in
            let store = PausingCatalog(PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test")).tools)
            let catalog = ToolCatalogCache(store: store, caching: true)
            let gate = store.holdNextLoad()
            async let stale = catalog.current()
            try await gate.reached()
            await catalog.invalidate()
            gate.open()
            _ = try await stale
            #expect(await !catalog.isCached)
            _ = try await catalog.current()
            _ = try await catalog.current()
            #expect(store.loads.load(ordering: .relaxed) == 2)

            await catalog.setCaching(false)
            _ = try await catalog.current()
            _ = try await catalog.current()
            #expect(store.loads.load(ordering: .relaxed) == 4)

            await catalog.setCaching(true)
            _ = try await catalog.current()
            _ = try await catalog.current()
            #expect(store.loads.load(ordering: .relaxed) == 5)
        }
    }

    /// A row written by a newer release (an added field) must still be served: strictness is for
    /// request bodies only.
    @Test func storedRowsWithUnknownFieldsAreStillServed() async throws {
        let tenant = TestSupport.tenant()
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            let agent = try await admin.create("Newer")
            try await withDatabase { pg in
                try await pg.withTransaction(logger: Logger(label: "test")) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Logger(label: "test"))
                    try await conn.query(
                        """
                        UPDATE agents SET version = 2,
                            config = config || '{"future_field": {"x": 1}}'::jsonb
                                || jsonb_build_object('llm_config', (config -> 'llm_config') || '{"future_knob": true}'::jsonb)
                        WHERE id = \(UUID(uuidString: agent.id)!)
                        """,
                        logger: Logger(label: "test")
                    )
                }
            }
            try await TestSupport.app().test(.router) { other in
                let reader = try await Caller.make(other, tenant: tenant)
                let read = try await reader.send(.get, "/v1/agents/\(agent.id)")
                #expect(read.status == .ok)
                #expect(try read.json()["version"] == .int(2))
                let listed = try #require(try await reader.send(.get, "/v1/agents").json()["items"]).items()
                #expect(listed.map(\.id) == [agent.id])
            }
        }
    }
}
