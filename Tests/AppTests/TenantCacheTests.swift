import Domain
import Foundation
import Infra
import Logging
import PostgresNIO
import Synchronization
import Testing
import Validators

@testable import App

/// The real store, counting the reads that reach Postgres.
final class CountingStore: ForwardingAgentStore {
    let base: PostgresAgentStore
    let reads = Atomic<Int>(0)

    init(_ base: PostgresAgentStore) { self.base = base }

    func agent(_ id: UUID, tenant: TenantID) async throws -> Agent? {
        reads.add(1, ordering: .relaxed)
        return try await base.agent(id, tenant: tenant)
    }

}

@Suite struct TenantCacheTests {
    /// A store that counts its reads, and tenant dependencies over it.
    static func countingDependencies(_ client: PostgresClient) throws -> (CountingStore, TenantDependencies) {
        let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
        let store = CountingStore(stores.agents)
        let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
        let deps = TenantDependencies(
            stores,
            agents: store,
            validators: .builtin,
            policy: policy,
            catalog: ToolCatalogCache(store: stores.tools),
            cacheCapacity: 10
        )
        return (store, deps)
    }

    @Test func cachedReadsNeverReachPostgresAndUncachedOnesAlways() async throws {
        try await withDatabase { client in
            let (store, deps) = try Self.countingDependencies(client)
            let config = AgentConfig(name: "Cached", llmConfig: LLMConfig(model: "gpt-4o-mini"))

            let tenant = TestSupport.tenant()
            let caching = TenantActor(tenantID: tenant, deps: deps, caching: true)
            let created = try await caching.create(config, audit: .test)
            for _ in 0..<3 {
                let served = try await caching.agent(created.id)
                #expect(served.version == created.version && served.body == created.body)
            }
            #expect(store.reads.load(ordering: .relaxed) == 0)

            // Another replica writes version 2 and says so: the next read goes to Postgres, once.
            var next = try #require(try await store.base.agent(created.id, tenant: tenant))
            next.version = 2
            next.config.description = "v2"
            #expect(try await store.base.update(next, from: next.revision, action: .updated, changes: .array([]), audit: .test))
            await caching.apply(ChangeNotification(kind: .agent, tenantID: tenant, agentID: created.id, revision: 2))
            #expect(try await caching.agent(created.id).version == 2)
            #expect(try await caching.agent(created.id).version == 2)
            #expect(store.reads.load(ordering: .relaxed) == 1)

            let bypassing = TenantActor(tenantID: tenant, deps: deps, caching: false)
            _ = try await bypassing.agent(created.id)
            _ = try await bypassing.agent(created.id)
            #expect(store.reads.load(ordering: .relaxed) == 3)
        }
    }

    /// A PATCH starts from the cached version: no read of the row. When that version is stale (a
    /// notice not yet here), the write loses on the revision, reads the row and applies on top of it.
    @Test func writesStartFromTheCacheAndAStaleEntryCostsARetryNotAnUpdate() async throws {
        try await withDatabase { client in
            let (store, deps) = try Self.countingDependencies(client)
            let tenant = TestSupport.tenant()
            let actor = TenantActor(tenantID: tenant, deps: deps, caching: true)
            let created = try await actor.create(AgentConfig(name: "Cached", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)

            let second = try await actor.patch(created.id, with: .object(["description": .string("two")]), ifMatch: 1, audit: .test)
            #expect(second.version == 2)
            #expect(store.reads.load(ordering: .relaxed) == 0, "the cached version was the starting point")

            // Another replica writes version 3; its notice has not arrived.
            var other = try #require(try await store.base.agent(created.id, tenant: tenant))
            other.version = 3
            other.config.tags = ["elsewhere"]
            #expect(try await store.base.update(other, from: other.revision, action: .updated, changes: .array([]), audit: .test))

            let fourth = try await actor.patch(created.id, with: .object(["description": .string("four")]), ifMatch: nil, audit: .test)
            #expect(fourth.version == 4)
            let stored = try #require(try await store.base.agent(created.id, tenant: tenant))
            #expect(stored.version == 4 && stored.config.description == "four" && stored.config.tags == ["elsewhere"], "both changes kept")
            #expect(store.reads.load(ordering: .relaxed) == 1, "one read of the row after the lost attempt")

            // If-Match naming a version the cache has not seen goes to the row, and is checked there.
            await #expect(throws: ServiceError.self) {
                _ = try await actor.patch(created.id, with: .object(["description": .string("five")]), ifMatch: 3, audit: .test)
            }
            #expect(store.reads.load(ordering: .relaxed) == 2)
        }
    }

    /// A refusal worked out on a cached version that the row confirms is not worked out again:
    /// the candidate is validated once.
    @Test func aRefusalOnAFreshCachedVersionIsValidatedOnce() async throws {
        try await withDatabase { client in
            let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
            let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
            let counter = RefusingValidator()
            let deps = TenantDependencies(
                stores,
                validators: ValidatorRegistry([counter]),
                policy: policy,
                catalog: ToolCatalogCache(store: stores.tools),
                cacheCapacity: 10
            )
            let actor = TenantActor(tenantID: TestSupport.tenant(), deps: deps, caching: true)
            let created = try await actor.create(AgentConfig(name: "Once", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)
            #expect(actor.cached(created.id) != nil)
            await #expect(throws: ServiceError.self) {
                _ = try await actor.patch(created.id, with: .object(["description": .string("bad")]), ifMatch: nil, audit: .test)
            }
            #expect(counter.refusals.load(ordering: .relaxed) == 1)
        }
    }

    /// What looks like a no-op, or a refusal, on a stale cached version is decided on the row: the
    /// change is written, a stale If-Match is refused, a deleted agent is not found.
    @Test func aNoOpOnAStaleCachedVersionIsDecidedOnTheRow() async throws {
        try await withDatabase { client in
            let (store, deps) = try Self.countingDependencies(client)
            let tenant = TestSupport.tenant()
            let actor = TenantActor(tenantID: tenant, deps: deps, caching: true)
            let created = try await actor.create(AgentConfig(name: "Stale", llmConfig: LLMConfig(model: "gpt-4o-mini")), audit: .test)
            let y: JSONValue = .object(["description": .string("y")])
            #expect(try await actor.patch(created.id, with: y, ifMatch: nil, audit: .test).version == 2)

            func elsewhere(_ description: String) async throws -> Int {
                var other = try #require(try await store.base.agent(created.id, tenant: tenant))
                other.version += 1
                other.config.description = description
                #expect(try await store.base.update(other, from: other.revision, action: .updated, changes: .array([]), audit: .test))
                return other.version
            }
            #expect(try await elsewhere("x") == 3)
            let written = try await actor.patch(created.id, with: y, ifMatch: nil, audit: .test)
            #expect(written.version == 4)
            #expect(try await store.base.agent(created.id, tenant: tenant)?.config.description == "y", "not lost as a no-op")

            #expect(try await elsewhere("z") == 5)
            do {
                _ = try await actor.patch(created.id, with: y, ifMatch: 4, audit: .test)
                Issue.record("a stale If-Match was accepted")
            } catch let error as ServiceError {
                #expect(error.code == .preconditionFailed)
            }

            _ = try await store.base.delete(created.id, tenant: tenant, ifVersion: nil, audit: .test)
            do {
                _ = try await actor.patch(created.id, with: .object(["description": .string("z")]), ifMatch: nil, audit: .test)
                Issue.record("a deleted agent was patched")
            } catch let error as ServiceError {
                #expect(error.code == .agentNotFound)
            }
        }
    }
}

/// Refuses a description of "bad", counting how often it did.
final class RefusingValidator: AgentValidator {
    let id = "refusing"
    let refusals = Atomic<Int>(0)

    func validate(_ candidate: AgentConfig, context: ValidationContext) async -> [ValidationIssue] {
        guard candidate.description == "bad" else { return [] }
        refusals.add(1, ordering: .relaxed)
        return [ValidationIssue(.invalidValue, path: "/description", "bad")]
    }
}
