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

/// The real agent store, recording each group of creates it writes (their tenants); the next
/// groups can be held at gates before they are written, so that the creates coming meanwhile wait.
final class GroupRecordingStore: ForwardingAgentStore {
    let base: PostgresAgentStore
    let groups = Mutex<[[TenantID]]>([])
    private let held = Mutex<[Gate]>([])

    init(_ base: PostgresAgentStore) { self.base = base }

    /// Holds each of the next `count` groups at a gate of its own.
    func holdNextGroups(_ count: Int) -> [Gate] {
        held.withLock {
            $0 = (0..<count).map { _ in Gate() }
            return $0
        }
    }

    var sizes: [Int] { groups.withLock { $0.map(\.count) } }

    func insert(_ creates: [(agent: Agent, audit: Audit)], quota: AgentQuota) async throws -> [Result<Void, any Error>] {
        if let gate = held.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            await gate.pass()
        }
        groups.withLock { $0.append(creates.map(\.agent.tenantID)) }
        return try await base.insert(creates, quota: quota)
    }
}

@Suite struct GroupCommitTests {
    static let logger = Logger(label: "test")

    static func actor(_ client: PostgresClient, tier: Tier) throws -> (GroupRecordingStore, TenantActor, TenantID) {
        let (store, deps) = try dependencies(client, tier: tier)
        let tenant = TestSupport.tenant()
        return (store, TenantActor(tenantID: tenant, deps: deps, caching: true), tenant)
    }

    static func dependencies(_ client: PostgresClient, tier: Tier) throws -> (GroupRecordingStore, TenantDependencies) {
        let stores = PostgresStores(client: client, defaultTier: tier, logger: logger)
        let store = GroupRecordingStore(stores.agents)
        let deps = TenantDependencies(
            stores,
            agents: store,
            validators: .builtin,
            policy: try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml"),
            catalog: ToolCatalogCache(store: stores.tools),
            cacheCapacity: 10
        )
        return (store, deps)
    }

    static func config(_ name: String) -> AgentConfig { AgentConfig(name: name, llmConfig: LLMConfig(model: "gpt-4o-mini")) }

    /// Starts as many creates as batches go at once, each held at the store's gate (`first`, then
    /// `second`), then `names`' creates, which wait meanwhile; opens the gates and answers every
    /// create's outcome by name.
    static func createsBehindAHeldOne(
        _ actor: TenantActor,
        _ store: GroupRecordingStore,
        first: String,
        second: String = "Second",
        then names: [String]
    ) async throws -> [String: Result<CachedAgent, ServiceError>] {
        #expect(CreateBatcher.inFlight == 2)
        let gates = store.holdNextGroups(2)
        return try await withThrowingTaskGroup(of: (String, Result<CachedAgent, ServiceError>).self) { group in
            func create(_ name: String) {
                group.addTask {
                    do {
                        return (name, .success(try await actor.create(Self.config(name), audit: .test)))
                    } catch let error as ServiceError {
                        return (name, .failure(error))
                    }
                }
            }
            create(first)
            try await gates[0].reached()
            create(second)
            try await gates[1].reached()
            for name in names { create(name) }
            #expect(try await eventually { await actor.deps.creates.waitingCount == names.count }, "the later creates wait for the held ones")
            for gate in gates { gate.open() }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    /// Each event of the tenant's agents (event, agent id, version, and the transaction's time).
    static func events(_ client: PostgresClient, tenant: TenantID) async throws -> [(event: String, agent: UUID, version: Int?, at: Date)] {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
            let rows = try await conn.query(
                "SELECT event, agent_id, (data ->> 'version')::int, created_at FROM outbox WHERE tenant_id = \(tenant) ORDER BY id",
                logger: logger
            )
            var events: [(event: String, agent: UUID, version: Int?, at: Date)] = []
            for try await (event, agent, version, at) in rows.decode((String, UUID, Int?, Date).self) { events.append((event, agent, version, at)) }
            return events
        }
    }

    /// The creates that came while one was in flight are written together, in one transaction,
    /// and each still gets its own agent, version and event.
    @Test func waitingCreatesGoInOneTransactionEachWithItsOwnAgentAndEvent() async throws {
        try await withDatabase { client in
            let (store, actor, tenant) = try Self.actor(client, tier: .enterprise)
            let names = (1...8).map { "Waiting \($0)" }
            let outcomes = try await Self.createsBehindAHeldOne(actor, store, first: "Leader", then: names)
            #expect(store.sizes == [1, 1, 8], "the two leaders alone, then every waiting create in one group")
            let made = try outcomes.mapValues { try $0.get() }
            #expect(Set(made.values.map(\.id)).count == 10)
            #expect(made.values.allSatisfy { $0.version == 1 })
            for (name, agent) in made {
                let stored = try #require(try await store.base.agent(agent.id, tenant: tenant))
                #expect(stored.config.name == name && stored.version == 1)
            }

            let events = try await Self.events(client, tenant: tenant)
            #expect(events.map(\.event) == Array(repeating: "agent_created", count: 10))
            #expect(Set(events.map(\.agent)) == Set(made.values.map(\.id)), "one event for each create")
            #expect(events.allSatisfy { $0.version == 1 })
            let waitingIDs = Set(names.compactMap { made[$0]?.id })
            #expect(Set(events.filter { waitingIDs.contains($0.agent) }.map(\.at)).count == 1, "the waiting ones committed in one transaction")
        }
    }

    /// In a group, a create whose name is taken and one past the quota fail alone; the others are
    /// written, and the quota counts exactly what was.
    @Test func aRefusedCreateFailsAloneInItsGroup() async throws {
        try await withDatabase { client in
            // The free tier holds two agents.
            let (store, actor, tenant) = try Self.actor(client, tier: .free)
            _ = try await actor.create(Self.config("Taken"), audit: .test)
            store.groups.withLock { $0 = [] }
            let outcomes = try await Self.createsBehindAHeldOne(actor, store, first: "Taken", second: "Taken", then: ["Taken", "One", "Other"])
            #expect(store.sizes == [1, 1, 3])
            #expect(outcomes["Taken"].flatMap { try? $0.get() } == nil)
            if case .failure(let error) = outcomes["Taken"] { #expect(error.code == .nameConflict) }
            // One of the two new names takes the last place; the other finds the quota full.
            let fresh = [outcomes["One"], outcomes["Other"]].compactMap { $0 }
            let created = fresh.compactMap { try? $0.get() }
            #expect(created.count == 1)
            let refused = fresh.compactMap { outcome -> ServiceError? in
                guard case .failure(let error) = outcome else { return nil }
                return error
            }
            #expect(refused.map(\.code) == [.quotaReached])
            #expect(try await store.base.countAgents(tenant: tenant) == 2)
            let events = try await Self.events(client, tenant: tenant)
            #expect(events.map(\.event) == ["agent_created", "agent_created"])
            #expect(events.last?.agent == created.first?.id)
        }
    }

    /// The batch is the replica's, not a tenant's: creates of several tenants that wait together go
    /// in one transaction, each into its own tenant, judged by its own tenant's quota.
    @Test func createsOfSeveralTenantsGoInOneTransaction() async throws {
        try await withDatabase { client in
            let (store, deps) = try Self.dependencies(client, tier: .free)
            let tenants = [TestSupport.tenant(), TestSupport.tenant(), TestSupport.tenant()]
            let actors = tenants.map { TenantActor(tenantID: $0, deps: deps, caching: true) }
            // The first tenant (free: two agents) already holds one.
            _ = try await actors[0].create(Self.config("Before"), audit: .test)
            let gates = store.holdNextGroups(CreateBatcher.inFlight)
            let outcomes = try await withThrowingTaskGroup(of: (String, Result<CachedAgent, ServiceError>).self) { group in
                func create(_ name: String, in index: Int) {
                    group.addTask {
                        do {
                            return (name, .success(try await actors[index].create(Self.config(name), audit: .test)))
                        } catch let error as ServiceError {
                            return (name, .failure(error))
                        }
                    }
                }
                for (i, gate) in gates.enumerated() {
                    create("Leader \(i)", in: 2)
                    try await gate.reached()
                }
                for (name, index) in [("A1", 0), ("B1", 1), ("A2", 0), ("B2", 1)] { create(name, in: index) }
                #expect(try await eventually { await deps.creates.waitingCount == 4 })
                for gate in gates { gate.open() }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            let waitingGroup = try #require(store.groups.withLock { $0.last })
            #expect(Set(waitingGroup) == [tenants[0], tenants[1]] && waitingGroup.count == 4, "both tenants' creates in one group")
            // The first tenant had room for one more: one of A1 and A2 is refused for the quota, alone.
            let a = [outcomes["A1"], outcomes["A2"]].compactMap { $0 }
            #expect(a.compactMap { try? $0.get() }.count == 1)
            #expect(try await store.base.countAgents(tenant: tenants[0]) == 2)
            #expect(try outcomes["B1"]?.get() != nil && (try outcomes["B2"]?.get()) != nil)
            #expect(try await store.base.countAgents(tenant: tenants[1]) == 2)
            for (index, tenant) in tenants.prefix(2).enumerated() {
                let events = try await Self.events(client, tenant: tenant)
                #expect(events.map(\.event) == ["agent_created", "agent_created"], "tenant \(index)")
            }
        }
    }

    /// Through the API: concurrent creates into one tenant each answer 201 with an agent of their
    /// own, and never more than the quota holds.
    @Test func concurrentCreatesIntoOneTenantAllSucceedUpToTheQuotaExactly() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = try await TestSupport.tenant(on: .professional, client)
            let admin = try await Caller.make(client, tenant: tenant)
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for i in 0..<26 {
                    group.addTask {
                        let response = try await admin.send(.post, "/v1/agents", json: #"{"name":"A\#(i)","llm_config":{"model":"gpt-4o-mini"}}"#)
                        return (response.status, response.status == .created ? try response.json()["id"]?.stringValue : response.errorCode)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = answers.filter { $0.0 == .created }.compactMap(\.1)
            #expect(created.count == 20 && Set(created).count == 20, "the professional tier holds 20")
            #expect(answers.filter { $0.0 == .forbidden }.map(\.1) == Array(repeating: "AMS-207", count: 6))
            #expect(try await admin.send(.get, "/v1/tenant").json()["usage"] == .object(["agents": .int(20)]))
        }
    }
}
