import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import App

@Suite struct LiveServerTests {
    @Test func theRealServerAnswersOverASocket() async throws {
        try await TestSupport.app().test(.live) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let agent = try await admin.create("Over the wire")
            let fetched = try await admin.send(.get, "/v1/agents/\(agent.id)")
            #expect(fetched.status == .ok)
            #expect(try fetched.json() == agent)
            #expect(fetched.headers[.contentType] == "application/json; charset=utf-8")
            let missing = try await admin.send(.get, "/v1/agents/\(UUID().uuidString)")
            #expect(missing.errorCode == "AMS-301")
        }
    }

    /// A client that connects and then says nothing must not hold a connection for ever.
    @Test func idleConnectionsAreClosed() async throws {
        var config = try TestSupport.configuration()
        config.httpIdleTimeout = .seconds(1)
        try await buildApplication(config, logger: makeLogger(config)).test(.live) { client in
            let port = try #require(client.port)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            let closedByServer = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await channel.closeFuture.get()
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(5))
                    return false
                }
                defer { group.cancelAll() }
                let first = try await group.next()!
                if !first { try? await channel.close() }
                return first
            }
            #expect(closedByServer, "the server kept an idle connection open for 5 s")
        }
    }
}
