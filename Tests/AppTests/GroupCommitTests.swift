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
    /// The groups (counted from 0 as they come) that fail whole, as a database error would.
    let failing = Mutex<Set<Int>>([])
    private let arrivals = Mutex(0)

    init(_ base: PostgresAgentStore) { self.base = base }

    /// Holds each of the next `count` groups at a gate of its own.
    func holdNextGroups(_ count: Int) -> [Gate] {
        held.withLock {
            $0 = (0..<count).map { _ in Gate() }
            return $0
        }
    }

    var sizes: [Int] { groups.withLock { $0.map(\.count) } }

    /// The same for updates: the size of each group, and gates to hold the next ones at.
    let updateSizes = Mutex<[Int]>([])
    private let heldUpdates = Mutex<[Gate]>([])

    func holdNextUpdateGroups(_ count: Int) -> [Gate] {
        heldUpdates.withLock {
            $0 = (0..<count).map { _ in Gate() }
            return $0
        }
    }

    func update(_ updates: [AgentUpdate]) async throws -> [Result<Bool, any Error>] {
        if let gate = heldUpdates.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            await gate.pass()
        }
        updateSizes.withLock { $0.append(updates.count) }
        return try await base.update(updates)
    }

    func insert(_ creates: [(agent: Agent, audit: Audit)], quota: AgentQuota) async throws -> [Result<Void, any Error>] {
        let arrival = arrivals.withLock { count in
            defer { count += 1 }
            return count
        }
        if let gate = held.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            await gate.pass()
        }
        groups.withLock { $0.append(creates.map(\.agent.tenantID)) }
        if failing.withLock({ $0.contains(arrival) }) { throw ServiceError(.databaseUnavailable, "The database went away") }
        return try await base.insert(creates, quota: quota)
    }
}

/// The creates of a test that have been answered, by name.
final class Finished: Sendable {
    let values = Mutex<[String: Result<CachedAgent, ServiceError>]>([:])
}

@Suite struct GroupCommitTests {
    static let logger = Logger(label: "test")

    static func actor(_ client: PostgresClient, tier: Tier) throws -> (GroupRecordingStore, TenantActor, TenantID) {
        let (store, deps) = try dependencies(client, tier: tier)
        let tenant = TestSupport.tenant()
        return (store, TenantActor(tenantID: tenant, deps: deps, caching: true), tenant)
    }

    static func dependencies(_ client: PostgresClient, tier: Tier) throws -> (GroupRecordingStore, TenantDependencies) {
        // Calls wait seconds for the database: with every suite running at once, the 3 s deadline
        // of a replica's call was missed before a create could queue.
        let stores = PostgresStores(client: client, defaultTier: tier, timeout: .seconds(30), logger: logger)
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
        #expect(GroupCommitLimits.inFlight == 2)
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
            #expect(try await eventually(30) { await actor.deps.creates.waitingCount == names.count }, "the later creates wait for the held ones")
            // One leader at a time, so the order of the writes is the same however loaded the machine:
            // the first hands its lead to the waiting creates, which are answered before the second
            // is let go (two leaders ending at once would hand a lead each).
            gates[0].open()
            var outcomes: [String: Result<CachedAgent, ServiceError>] = [:]
            for _ in 0...names.count {
                if let (name, outcome) = try await group.next() { outcomes[name] = outcome }
            }
            gates[1].open()
            return try await group.reduce(into: outcomes) { $0[$1.0] = $1.1 }
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
            #expect(store.sizes == [1, 8, 1], "the first leader alone, every waiting create in one group, then the second leader")
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
            let outcomes = try await Self.createsBehindAHeldOne(actor, store, first: "Taken", then: ["Taken", "One", "Other"])
            #expect(store.sizes == [1, 3, 1])
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
            // The first tenant (free: two agents) already holds one. Every actor has loaded its
            // tenant: a loaded database must not keep a create from queuing in time.
            _ = try await actors[0].create(Self.config("Before"), audit: .test)
            for actor in actors { _ = try await actor.validationContext() }
            let gates = store.holdNextGroups(GroupCommitLimits.inFlight)
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
                #expect(try await eventually(30) { await deps.creates.waitingCount == 4 })
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

    /// A batch whose write fails answers each of its creates that failure, once; the next create
    /// finds a batch free (the lead was handed on, nothing hangs).
    @Test func aFailedBatchAnswersEachOfItsCreatesAndTheNextLeads() async throws {
        try await withDatabase { client in
            let (store, actor, tenant) = try Self.actor(client, tier: .enterprise)
            // The two leaders are groups 0 and 1; the waiting creates, group 2.
            store.failing.withLock { $0 = [2] }
            let outcomes = try await Self.createsBehindAHeldOne(actor, store, first: "Leader", then: ["W1", "W2", "W3"])
            #expect(store.sizes == [1, 3, 1])
            for name in ["W1", "W2", "W3"] {
                guard case .failure(let error) = outcomes[name] else {
                    Issue.record("\(name) did not fail with its batch")
                    continue
                }
                #expect(error.code == .databaseUnavailable)
            }
            #expect(try outcomes["Leader"]?.get() != nil && (try outcomes["Second"]?.get()) != nil)
            _ = try await actor.create(Self.config("After"), audit: .test)
            #expect(try await store.base.countAgents(tenant: tenant) == 3)
            #expect(await actor.deps.creates.waitingCount == 0)
        }
    }

    /// More creates waiting than a batch holds go in batches of `GroupCommitLimits.batch`, the lead
    /// handed from one to the next.
    @Test func aBatchHoldsAtMostItsSizeAndTheRestFollow() async throws {
        try await withDatabase { client in
            let (store, actor, tenant) = try Self.actor(client, tier: .enterprise)
            let names = (1...(GroupCommitLimits.batch + 8)).map { "Waiting \($0)" }
            let outcomes = try await Self.createsBehindAHeldOne(actor, store, first: "Leader", then: names)
            #expect(store.sizes.sorted() == [1, 1, 8, GroupCommitLimits.batch])
            #expect(outcomes.values.allSatisfy { (try? $0.get()) != nil })
            #expect(try await store.base.countAgents(tenant: tenant) == names.count + 2)
        }
    }

    /// A tenant whose row another transaction holds does not hold up its batch: the others' creates
    /// are answered at once, and the held tenant's is written alone once the row is free.
    @Test func aTenantLockedElsewhereHoldsUpNoOtherTenantsCreate() async throws {
        try await withDatabase { client in
            let (store, deps) = try Self.dependencies(client, tier: .enterprise)
            let tenants = [TestSupport.tenant(), TestSupport.tenant(), TestSupport.tenant()]
            let actors = tenants.map { TenantActor(tenantID: $0, deps: deps, caching: true) }
            for actor in actors.prefix(2) { _ = try await actor.create(Self.config("Before"), audit: .test) }
            let locked = Gate()
            async let holder: Void = client.withTransaction(logger: Self.logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenants[0]), true)", logger: Self.logger)
                try await conn.query("SELECT 1 FROM tenants WHERE tenant_id = \(tenants[0]) FOR UPDATE", logger: Self.logger)
                await locked.pass()
            }
            try await locked.reached()
            let finished = Finished()
            let gates = store.holdNextGroups(GroupCommitLimits.inFlight)
            try await withThrowingTaskGroup(of: Void.self) { group in
                func create(_ name: String, in index: Int) {
                    group.addTask {
                        let outcome: Result<CachedAgent, ServiceError>
                        do {
                            outcome = .success(try await actors[index].create(Self.config(name), audit: .test))
                        } catch let error as ServiceError {
                            outcome = .failure(error)
                        }
                        finished.values.withLock { $0[name] = outcome }
                    }
                }
                for (i, gate) in gates.enumerated() {
                    create("Leader \(i)", in: 2)
                    try await gate.reached()
                }
                create("Held", in: 0)
                create("Free", in: 1)
                #expect(try await eventually(30) { await deps.creates.waitingCount == 2 })
                for gate in gates { gate.open() }
                #expect(try await eventually(30) { finished.values.withLock { $0["Free"] } != nil }, "the free tenant's create is answered")
                #expect(store.groups.withLock { $0.last.map(Set.init) } == [tenants[0], tenants[1]], "both went in one batch")
                #expect(finished.values.withLock { $0["Held"] } == nil, "the held tenant's create waits for its row")
                locked.open()
                try await group.waitForAll()
            }
            try await holder
            #expect(try finished.values.withLock { $0["Held"] }?.get() != nil, "written alone once the row was free")
            #expect(try finished.values.withLock { $0["Free"] }?.get() != nil)
            #expect(try await store.base.countAgents(tenant: tenants[0]) == 2)
            #expect(try await store.base.countAgents(tenant: tenants[1]) == 2)
        }
    }

    /// Updates of several tenants' agents that wait together go in one transaction, each with its
    /// own version and event.
    @Test func updatesOfSeveralTenantsGoInOneTransaction() async throws {
        try await withDatabase { client in
            let (store, deps) = try Self.dependencies(client, tier: .enterprise)
            let tenants = (0..<4).map { _ in TestSupport.tenant() }
            let actors = tenants.map { TenantActor(tenantID: $0, deps: deps, caching: true) }
            var ids: [UUID] = []
            for actor in actors { ids.append(try await actor.create(Self.config("Agent"), audit: .test).id) }
            let made = ids
            let gates = store.holdNextUpdateGroups(GroupCommitLimits.inFlight)
            let versions = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                func patch(_ i: Int) {
                    group.addTask {
                        let patch = JSONValue.object(["description": .string("Changed \(i)")])
                        return (i, try await actors[i].patch(made[i], with: patch, ifMatch: nil, audit: .test).version)
                    }
                }
                for (i, gate) in gates.enumerated() {
                    patch(i)
                    try await gate.reached()
                }
                patch(2)
                patch(3)
                #expect(try await eventually(30) { await deps.updates.waitingCount == 2 })
                for gate in gates { gate.open() }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(store.updateSizes.withLock { $0 } == [1, 1, 2])
            #expect(versions == [0: 2, 1: 2, 2: 2, 3: 2])
            for (i, tenant) in tenants.enumerated() {
                let events = try await Self.events(client, tenant: tenant)
                #expect(events.map(\.event) == ["agent_created", "agent_updated"] && events.last?.version == 2)
                let stored = try #require(try await store.base.agent(ids[i], tenant: tenant))
                #expect(stored.version == 2 && stored.config.description == "Changed \(i)")
            }
        }
    }

    /// In a group of updates, one whose revision moved on stores nothing and says so (the caller
    /// reads again), and one taking a live name fails alone; the others stand.
    @Test func aStaleOrConflictingUpdateFailsAloneInItsGroup() async throws {
        try await withDatabase { client in
            let (store, deps) = try Self.dependencies(client, tier: .enterprise)
            let tenant = TestSupport.tenant()
            let actor = TenantActor(tenantID: tenant, deps: deps, caching: true)
            var agents: [Agent] = []
            for name in ["A", "B", "C"] {
                let made = try await actor.create(Self.config(name), audit: .test)
                agents.append(try #require(try await store.base.agent(made.id, tenant: tenant)))
            }
            func renamed(_ agent: Agent, _ name: String, from revision: Int) -> AgentUpdate {
                var next = agent
                next.config.name = name
                next.version += 1
                next.revision += 1
                return AgentUpdate(next, from: revision, action: .updated, changes: .array([]), audit: .test)
            }
            let outcomes = try await store.base.update([
                renamed(agents[0], "A2", from: agents[0].revision),
                renamed(agents[1], "C", from: agents[1].revision),
                renamed(agents[2], "C3", from: agents[2].revision - 1),
            ])
            #expect((try? outcomes[0].get()) == true)
            guard case .failure(let error as ServiceError) = outcomes[1] else {
                Issue.record("the taken name did not fail: \(outcomes[1])")
                return
            }
            #expect(error.code == .nameConflict)
            #expect((try? outcomes[2].get()) == false, "a moved-on revision stores nothing")
            #expect(try await store.base.agent(agents[0].id, tenant: tenant)?.config.name == "A2")
            #expect(try await store.base.agent(agents[1].id, tenant: tenant)?.config.name == "B")
            #expect(try await store.base.agent(agents[2].id, tenant: tenant)?.config.name == "C")
        }
    }

    /// A batch holds several requests' writes, perhaps of several tenants: each event keeps its own
    /// request's trace, not the one of the batch's call (the leader's), and a write of no trace none.
    @Test func eachBatchedWritesEventKeepsItsOwnTrace() async throws {
        try await withDatabase { client in
            let (store, _) = try Self.dependencies(client, tier: .enterprise)
            let tenants = [TestSupport.tenant(), TestSupport.tenant()]
            let traces = ["00-\(String(repeating: "a", count: 32))-\(String(repeating: "1", count: 16))-01", nil]
            func audit(_ i: Int) -> Audit { Audit(actor: "u", roles: ["admin"], requestID: "trace-\(i)", traceparent: traces[i]) }
            let now = Date()
            let agents = tenants.map { tenant in
                Agent(
                    id: UUID(),
                    tenantID: tenant,
                    version: 1,
                    config: Self.config("A"),
                    validation: ValidationReport(issues: []),
                    createdAt: now,
                    updatedAt: now,
                    createdBy: "u",
                    updatedBy: "u"
                )
            }
            let created = try await store.base.insert([(agents[0], audit(0)), (agents[1], audit(1))], quota: AgentQuota([.enterprise: 100]))
            #expect(created.allSatisfy { (try? $0.get()) != nil })
            let updates = agents.enumerated().map { i, agent in
                var next = agent
                next.version += 1
                next.revision += 1
                return AgentUpdate(next, from: agent.revision, action: .updated, changes: .array([]), audit: audit(i))
            }
            let updated = try await store.base.update(updates)
            #expect(updated.allSatisfy { (try? $0.get()) == true })
            for (i, tenant) in tenants.enumerated() {
                let events = try await client.withTransaction(logger: Self.logger) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Self.logger)
                    let rows = try await conn.query("SELECT event, traceparent FROM outbox WHERE tenant_id = \(tenant)", logger: Self.logger)
                    var events: [String: String?] = [:]
                    for try await (event, traceparent) in rows.decode((String, String?).self) { events[event] = traceparent }
                    return events
                }
                #expect(events == ["agent_created": traces[i], "agent_updated": traces[i]], "tenant \(i)")
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
