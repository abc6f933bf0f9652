import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing
import Validators

@testable import App

@Suite struct DegradedDatabaseTests {
    /// With nothing listening on the database port, tenant calls answer 503 AMS-502 with
    /// `Retry-After` rather than hanging, and readiness says why. Each 5xx logs its cause with the
    /// request id; the client sees only the envelope.
    @Test func aDeadDatabaseAnswersFastWithAMS502() async throws {
        var config = try TestSupport.configuration(databaseURL: "postgres://ams:ams@127.0.0.1:1/ams")
        config.databaseTimeout = .seconds(3)
        let timeout = config.databaseTimeout
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let client = PostgresClient(configuration: try .init(url: config.databaseURL), backgroundLogger: logger)
        let router = buildRouter(try await TestSupport.routerDependencies(config, client: client, logger: logger))
        let logs = LogCapture()
        let app = Application(router: router, services: [client], logger: logs.logger())
        try await app.test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let read = try await admin.send(.get, "/v1/agents/\(UUID().uuidString)", headers: [.requestID: "dead-db-read"])
            #expect(read.status == .serviceUnavailable && read.errorCode == "AMS-502")
            let failure = try #require(logs.lines.first { $0.level == .error && $0.metadata["request_id"] == "dead-db-read" })
            #expect(failure.metadata["code"] == "AMS-502")
            #expect(try read.json()["error"]?["message"] == .string("Database unavailable, retry later"), "the cause stays in the log")
            #expect(failure.metadata["error"]?.isEmpty == false && failure.metadata["error"] != "Database unavailable, retry later")
            #expect(read.headers[.retryAfter] == "1")
            let started = ContinuousClock.now
            let write = try await admin.send(.post, "/v1/agents", json: #"{"name":"A","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(write.errorCode == "AMS-502")
            // Right after a failure the guard answers without waiting for the pool again.
            #expect(ContinuousClock.now - started < timeout)
            let message = try write.json()["error"]?["message"]?.stringValue ?? ""
            #expect(!message.contains("127.0.0.1") && !message.lowercased().contains("psql"))
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(try ready.json()["components"]?["postgres"]?["status"] == .string("down"))
        }
    }
}
