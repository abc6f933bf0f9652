@testable import App
import Domain
import Foundation
import Infra
import Logging
import PostgresNIO
import Synchronization
import Testing
import Validators

/// The real store, counting the reads that reach Postgres.
final class CountingStore: ForwardingStore {
    let base: PostgresAgentStore
    let reads = Atomic<Int>(0)

    init(_ base: PostgresAgentStore) { self.base = base }

    func agent(_ id: UUID, tenant: TenantID) async throws -> Agent? {
        reads.add(1, ordering: .relaxed)
        return try await base.agent(id, tenant: tenant)
    }

}

@Suite struct TenantCacheTests {
    @Test func cachedReadsNeverReachPostgresAndUncachedOnesAlways() async throws {
        try await withDatabase { client in
            let store = CountingStore(PostgresAgentStore(client: client, defaultTier: .free, logger: Logger(label: "test")))
            let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
            let deps = TenantDependencies(store: store, validators: .builtin, policy: policy, catalog: ToolCatalogCache(store: store), cacheCapacity: 10)
            let identity = Identity(subject: "u", roles: [.admin], tenantID: nil)
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
}
