import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing

@testable import App

@Suite struct ReplicaTests {
    @Test func aChangeThroughOneReplicaIsSeenThroughTheOther() async throws {
        let tenant = TestSupport.tenant()
        try await TestSupport.app().test(.router) { one in
            try await TestSupport.app().test(.router) { two in
                let a = try await Caller.make(one, tenant: tenant)
                let b = try await Caller.make(two, tenant: tenant)
                try await waitUntilListening(b)
                let agent = try await a.create("Shared")
                #expect(try await b.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(1))
                #expect(try await b.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(1))

                _ = try await a.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"v2"}"#)
                #expect(try await eventually { try await b.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(2) })
                #expect(try await b.send(.get, "/v1/agents/\(agent.id)").json()["description"] == .string("v2"))

                _ = try await a.send(.delete, "/v1/agents/\(agent.id)")
                #expect(try await eventually { try await b.send(.get, "/v1/agents/\(agent.id)").status == .notFound })
            }
        }
    }

    @Test func tierChangesReachTheOtherReplica() async throws {
        let tenant = TestSupport.tenant()
        try await TestSupport.app().test(.router) { one in
            try await TestSupport.app().test(.router) { two in
                let b = try await Caller.make(two, tenant: tenant)
                try await waitUntilListening(b)
                #expect(try await b.send(.get, "/v1/tenant").json()["tier"] == .string("free"))
                let service = try await Caller.make(one, tenant: nil, roles: [.service])
                _ = try await service.send(.put, "/internal/v1/tenants/\(tenant)", json: #"{"tier":"advance"}"#)
                #expect(
                    try await eventually {
                        try await b.send(.post, "/v1/validations", json: #"{"name":"X","type":"search","llm_config":{"model":"gpt-4o"}}"#)
                            .json()["valid"] == .bool(true)
                    }
                )
            }
        }
    }

    /// A change committed while the listener is disconnected sends no notice this replica hears;
    /// after reconnecting it must drop what it cached rather than serve the old version.
    @Test func listenerReconnectsAndDropsCachesItCannotVouchFor() async throws {
        let tenant = TestSupport.tenant()
        let config = try TestSupport.configuration()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            try await waitUntilListening(admin)
            let agent = try await admin.create("Cached")
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(1))

            try await withDatabase { pg in
                // Only this replica's listener: other suites run in parallel against the same server.
                let terminated = try await pg.query(
                    """
                    SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity
                    WHERE application_name = \("ams-listener:" + config.replicaName)
                    """
                )
                for try await n in terminated.decode(Int.self) { #expect(n == 1) }
                try await pg.withTransaction(logger: Logger(label: "test")) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Logger(label: "test"))
                    try await conn.query(
                        """
                        UPDATE agents SET version = 2, config = jsonb_set(config, '{description}', '"changed behind its back"')
                        WHERE id = \(UUID(uuidString: agent.id)!)
                        """,
                        logger: Logger(label: "test")
                    )
                }
            }
            #expect(
                try await eventually {
                    try await admin.send(.get, "/v1/agents/\(agent.id)").json()["description"] == .string("changed behind its back")
                }
            )
            try await waitUntilListening(admin)
        }
    }
}

func waitUntilListening(_ caller: Caller) async throws {
    let listening = try await eventually {
        let ready = try await caller.client.execute(uri: "/health/ready", method: .get, headers: [:], body: nil)
        return try ready.json()["components"]?["change_listener"]?["status"] == .string("listening")
    }
    try #require(listening, "the change listener never connected")
}

/// A client of the test database, migrated first (suites run in any order, and not all build the app).
func withDatabase<R: Sendable>(_ url: String? = nil, _ body: @escaping @Sendable (PostgresClient) async throws -> R) async throws -> R {
    let url = try url ?? TestSupport.databaseURL()
    try await Migrator.run(url: url, logger: Logger(label: "test"))
    var configuration = try PostgresClient.Configuration(url: url)
    configuration.options.maximumConnections = 6
    let pg = PostgresClient(configuration: configuration)
    return try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask {
            await pg.run()
            return nil
        }
        defer { group.cancelAll() }
        return try await body(pg)
    }
}
