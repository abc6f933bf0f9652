import Domain
import Infra
import Logging
import PostgresNIO
import Testing
import Validators

@testable import App

@Suite struct TenantSupervisorTests {
    /// Creating and retiring actors touches no database, so the store's client never runs here.
    func supervisor(maxTenants: Int, idle: Duration) throws -> TenantSupervisor {
        let client = PostgresClient(configuration: try .init(url: "postgres://ams:ams@127.0.0.1:1/ams"))
        let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
        let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
        let deps = TenantDependencies(stores, validators: .builtin, policy: policy, catalog: ToolCatalogCache(store: stores.tools), cacheCapacity: 10)
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

    @Test func listenerChangesReachEveryActorAndNewOnesStartInTheNewState() async throws {
        let supervisor = try supervisor(maxTenants: 10, idle: .seconds(60))
        let before = supervisor.tenant("a")
        #expect(await before.isCaching == false, "no listener yet: nothing may be cached")
        await supervisor.setListening(true)
        #expect(await before.isCaching)
        #expect(await supervisor.tenant("b").isCaching)
        await supervisor.setListening(false)
        #expect(await before.isCaching == false)
        #expect(await supervisor.tenant("b").isCaching == false)
        #expect(await supervisor.tenant("c").isCaching == false)
        #expect(supervisor.isListening == false)
    }

    @Test func concurrentLookupsShareOneActorPerTenant() async throws {
        let supervisor = try supervisor(maxTenants: 50, idle: .seconds(60))
        let actors = await withTaskGroup(of: ObjectIdentifier.self) { group in
            for _ in 0..<500 { group.addTask { ObjectIdentifier(supervisor.tenant("shared")) } }
            return await group.reduce(into: Set<ObjectIdentifier>()) { $0.insert($1) }
        }
        #expect(actors.count == 1)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<500 { group.addTask { _ = supervisor.tenant("t\(i)") } }
        }
        #expect(supervisor.tenantCount == 50)
    }
}
