@testable import App
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

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
}
