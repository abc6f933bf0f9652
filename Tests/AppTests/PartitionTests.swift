import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import App

/// Failures that no error reports: a network path that stops carrying packets without closing,
/// and a row lock that another session holds.
@Suite struct PartitionTests {
    /// A replica reaching Postgres through `proxy`.
    static func throughProxy(heartbeat: Duration, timeout: Duration) async throws -> (TCPProxy, AppConfiguration) {
        let direct = try #require(URLComponents(string: try TestSupport.databaseURL()))
        let proxy = try await TCPProxy(upstreamHost: try #require(direct.host), upstreamPort: try #require(direct.port))
        var viaProxy = direct
        viaProxy.port = proxy.port
        var config = try TestSupport.configuration(databaseURL: try #require(viaProxy.string))
        config.listenerHeartbeat = heartbeat
        config.databaseTimeout = timeout
        return (proxy, config)
    }

    /// The listener of the partitioned replica hears nothing and its connection never closes; its
    /// heartbeat must notice, so that within two heartbeats it stops serving what it cached.
    @Test func aSilentlyPartitionedReplicaStopsServingItsCacheWithinTwoHeartbeats() async throws {
        let heartbeat = Duration.seconds(1)
        let (proxy, config) = try await Self.throughProxy(heartbeat: heartbeat, timeout: .seconds(1))
        let tenant = TestSupport.tenant()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { one in
            try await TestSupport.app().test(.router) { two in
                let partitioned = try await Caller.make(one, tenant: tenant)
                let healthy = try await Caller.make(two, tenant: tenant)
                try await waitUntilListening(partitioned)
                try await waitUntilListening(healthy)
                let agent = try await healthy.create("Partitioned")
                #expect(try await partitioned.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(1))

                proxy.partition()
                let patch = try await healthy.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"v2"}"#)
                #expect(patch.status == .ok)
                let changed = ContinuousClock.now
                try await Task.sleep(until: changed + heartbeat * 2)
                let read = try await partitioned.send(.get, "/v1/agents/\(agent.id)")
                let fresh = try read.status == .ok && read.json()["version"] == .int(2)
                #expect(read.status == .serviceUnavailable || fresh, "still serving the superseded version: \(read.status)")
                #expect(read.status != .ok || fresh)
            }
        }
        try await proxy.close()
    }

    /// No reply and no FIN: the request answers 503 within about the timeout and leaves the stuck
    /// query behind; the connection is closed (not handed on), and the service recovers by itself.
    @Test func aQueryOnAConnectionThatStoppedAnsweringIsAbandonedInTime() async throws {
        let timeout = Duration.seconds(1)
        let (proxy, config) = try await Self.throughProxy(heartbeat: .seconds(60), timeout: timeout)
        let tenant = TestSupport.tenant()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            _ = try await admin.create("Before")
            proxy.partition()
            let closedBefore = proxy.closedByClients
            let started = ContinuousClock.now
            let stuck = try await admin.send(.get, "/v1/agents?limit=5")
            // The guard gives up at the timeout + 0.5 s. Two more seconds cover scheduling on a shared
            // 2-core machine running every suite at once (2.4 s was seen there); what this rules out
            // is waiting for the 60 s heartbeat or a TCP timeout of minutes.
            #expect(ContinuousClock.now - started < timeout + .milliseconds(500) + .seconds(2))
            #expect(stuck.status == .serviceUnavailable && stuck.errorCode == "AMS-502")
            #expect(try await eventually(5) { proxy.closedByClients > closedBefore }, "the stuck connection was not closed")

            proxy.heal()
            #expect(try await eventually(10) { try await admin.send(.get, "/v1/agents?limit=5").status == .ok })
        }
        try await proxy.close()
    }

    /// Postgres ends the lock wait itself (its statement timeout): 503 while the lock is still held, and since
    /// that is one request's bad luck, not an outage, other tenants are served throughout.
    @Test func aLockHeldElsewhereEndsInTimeWithoutTurningOtherTenantsAway() async throws {
        let timeout = Duration.seconds(1)
        var config = try TestSupport.configuration()
        config.databaseTimeout = timeout
        let tenant = TestSupport.tenant()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: tenant)
            let other = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("Locked")
            _ = try await other.create("Free")
            try await withDatabase { pg in
                try await pg.withTransaction(logger: Logger(label: "test")) { conn in
                    try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: Logger(label: "test"))
                    try await conn.query("SELECT 1 FROM agents WHERE id = \(UUID(uuidString: agent.id)!) FOR UPDATE", logger: Logger(label: "test"))
                    let started = ContinuousClock.now
                    async let blocked = admin.send(.patch, "/v1/agents/\(agent.id)", json: #"{"description":"blocked"}"#)
                    let waiting = try await eventually(5) {
                        var count = 0
                        for try await n in try await pg.query(
                            """
                            SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%ams_update_agent%'
                            """
                        ).decode(Int.self) { count = n }
                        return count > 0
                    }
                    try #require(waiting, "the PATCH never reached the lock")
                    // While the PATCH waits on the lock, another tenant is served.
                    #expect(try await other.send(.get, "/v1/agents?limit=1").status == .ok)
                    let answer = try await blocked
                    // The lock is held until this answer, so only a timeout could end the wait; the
                    // bound rules out any wait but the database's. Four seconds over the timeout cover
                    // the polling above on a loaded 2-core run (2.8 s was seen there).
                    #expect(ContinuousClock.now - started < timeout + .seconds(4))
                    #expect(answer.status == .serviceUnavailable && answer.errorCode == "AMS-502")
                    // The breaker stayed closed: the very next request of another tenant is served.
                    #expect(try await other.send(.get, "/v1/agents?limit=1").status == .ok)
                }
            }
            #expect(try await admin.send(.get, "/v1/agents/\(agent.id)").json()["version"] == .int(1))
        }
    }
}
