@testable import App
import Domain
import Infra
import Logging
import PostgresNIO
import Testing
import Validators

@Suite struct TenantSupervisorTests {
    /// Creating and retiring actors touches no database, so the store's client never runs here.
    func supervisor(maxTenants: Int, idle: Duration) throws -> TenantSupervisor {
        let client = PostgresClient(configuration: try .init(url: "postgres://ams:ams@127.0.0.1:1/ams"))
        let store = PostgresAgentStore(client: client, defaultTier: .free, logger: Logger(label: "test"))
        let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
        let deps = TenantDependencies(store: store, validators: .builtin, policy: policy, catalog: ToolCatalogCache(store: store), cacheCapacity: 10)
        return TenantSupervisor(deps: deps, maxTenants: maxTenants, idleTimeout: idle, logger: Logger(label: "test"))
    }

    @Test func oneActorPerTenantAndTheLeastRecentlyUsedGoesBeyondTheBound() async throws {
        let supervisor = try supervisor(maxTenants: 2, idle: .seconds(60))
        let a = supervisor.tenant("a")
        #expect(supervisor.tenant("a") === a)
        _ = supervisor.tenant("b")
        _ = supervisor.tenant("a")
        _ = supervisor.tenant("c")
        #expect(supervisor.tenantCount == 2)
        #expect(supervisor.tenant("a") === a)
        #expect(supervisor.tenantCount == 2)
    }

    @Test func idleActorsAreRetired() async throws {
        let supervisor = try supervisor(maxTenants: 10, idle: .seconds(60))
        let a = supervisor.tenant("a")
        _ = supervisor.tenant("b")
        supervisor.retireIdle(now: .now + .seconds(30))
        #expect(supervisor.tenantCount == 2)
        supervisor.retireIdle(now: .now + .seconds(61))
        #expect(supervisor.tenantCount == 0)
        #expect(supervisor.tenant("a") !== a)
    }
}
