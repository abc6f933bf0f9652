import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import App
@testable import Infra

/// `POST /v1/webhooks/{id}/rotate-secret`: a new secret, and the one it replaced signing beside it
/// for a day (by the database's clock), in the one `webhook-signature` header.
@Suite(.serialized) struct WebhookRotationTests {
    private func configuration() async throws -> AppConfiguration {
        var config = try TestSupport.configuration(databaseURL: try await TestSupport.freshDatabase())
        config.eventLeader = true
        config.webhookAllowPrivate = true
        config.webhookRetrySchedule = RetrySchedule(delays: [.milliseconds(200)])
        return config
    }

    private func register(_ admin: Caller, _ url: String) async throws -> (id: String, secret: String) {
        let response = try await admin.send(.post, "/v1/webhooks", json: #"{"url":"\#(url)","events":["agent_created"]}"#)
        try #require(response.status == .created, "\(String(buffer: response.body))")
        let body = try response.json()
        return (body.id, try #require(body["secret"]?.stringValue))
    }

    /// Ends the rotated secret's day now, as the day passing would.
    private func expirePrevious(_ config: AppConfiguration, _ id: String) async throws {
        let id = try #require(UUID(uuidString: id))
        try await asSuperuser(config.databaseURL) { conn in
            try await conn.query(
                "UPDATE webhooks SET previous_secret_expires_at = now() - interval '1 second' WHERE id = \(id)",
                logger: Logger(label: "test")
            )
        }
    }

    /// Whether no worker holds the endpoint: its deliveries so far are recorded and its lease given back.
    private func idle(_ config: AppConfiguration, _ id: String) async throws -> Bool {
        let id = try #require(UUID(uuidString: id))
        return try await asSuperuser(config.databaseURL) { conn in
            let rows = try await conn.query("SELECT lease_token IS NULL FROM webhooks WHERE id = \(id)", logger: Logger(label: "test"))
            for try await idle in rows.decode(Bool.self) { return idle }
            return false
        }
    }

    @Test func aRotationAnswersTheNewSecretOnceAndIsRefusedAsTheOtherWritesAre() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let hook = try await register(admin, "https://hooks.example.com/ams")
            let before = Date()
            let rotated = try await admin.send(.post, "/v1/webhooks/\(hook.id)/rotate-secret")
            #expect(rotated.status == .ok, "\(String(buffer: rotated.body))")
            let body = try rotated.json()
            let secret = try #require(body["secret"]?.stringValue)
            #expect(secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32 && secret != hook.secret)
            #expect(body.id == hook.id && body["url"] == .string("https://hooks.example.com/ams") && body["status"] == .string("active"))
            let expires = try #require(
                body["previous_secret_expires_at"]?.stringValue.flatMap { try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) }
            )
            #expect(abs(expires.timeIntervalSince(before) - 86400) < 60, "a day from now: \(expires)")
            let shown = try await admin.send(.get, "/v1/webhooks/\(hook.id)").json()
            #expect(shown["secret"] == nil && shown["previous_secret_expires_at"] == nil)
            #expect(try await admin.send(.post, "/v1/webhooks/\(hook.id)/rotate-secret").json()["secret"]?.stringValue != secret)

            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            let forbidden = try await viewer.send(.post, "/v1/webhooks/\(hook.id)/rotate-secret")
            #expect(forbidden.status == .forbidden && forbidden.errorCode == "AMS-204")
            let other = try await Caller.make(client, tenant: TestSupport.tenant())
            for (caller, path) in [(other, hook.id), (admin, UUID().uuidString.lowercased()), (admin, "not-an-id")] {
                let missing = try await caller.send(.post, "/v1/webhooks/\(path)/rotate-secret")
                #expect(missing.status == .notFound && missing.errorCode == "AMS-311", "\(path)")
            }
            let anonymous = try await client.execute(uri: "/v1/webhooks/\(hook.id)/rotate-secret", method: .post)
            #expect(anonymous.status == .unauthorized)
        }
    }

    /// The claim hands the dispatcher both secrets until the previous one expires, a rotation takes
    /// the endpoint from the worker that holds it (which signed with the old secret alone), and a
    /// second rotation ends the first secret at once.
    @Test func theClaimCarriesThePreviousSecretUntilItExpires() async throws {
        let config = try await configuration()
        var quiet = config
        quiet.webhooks = false
        try await buildApplication(quiet, logger: makeLogger(quiet)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let admin = try await Caller.make(client, tenant: tenant)
            let hook = try await register(admin, "http://127.0.0.1:9/hook")
            _ = try await admin.create("Rotated")
            try await withDatabase(config.databaseURL) { pg in
                let store = PostgresStores(client: pg, defaultTier: .free, logger: Logger(label: "test")).webhooks
                var claimed: WebhookJob?
                #expect(
                    try await eventually(10) {
                        claimed = try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.first
                        return claimed != nil
                    }
                )
                let first = try #require(claimed)
                #expect(first.secrets == [hook.secret])
                let event = try #require(try await store.webhookEvents(tenant: tenant, after: first.delivered, limit: 10).first)
                let rotated = try #require(try await admin.send(.post, "/v1/webhooks/\(hook.id)/rotate-secret").json()["secret"]?.stringValue)
                let delivery = WebhookDelivery(
                    eventID: event.eventID,
                    event: event.event,
                    sequence: event.sequence,
                    attempt: 1,
                    attemptedAt: Date(),
                    statusCode: 200,
                    latencyMs: 1,
                    error: nil
                )
                #expect(
                    try await store.recordAttempt(first, delivery, skipped: first.delivered, schedule: RetrySchedule(delays: [])) == .stop,
                    "the worker signing with the old secret alone lost the endpoint"
                )
                let id = try #require(UUID(uuidString: hook.id))
                @Sendable func handBack() async throws {
                    try await asSuperuser(config.databaseURL) { conn in
                        try await conn.query(
                            "UPDATE webhooks SET lease_until = NULL, lease_token = NULL WHERE id = \(id)",
                            logger: Logger(label: "test")
                        )
                    }
                }
                #expect(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.isEmpty, "handed back after the attempt in flight")
                try await handBack()
                let second = try #require(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.first)
                #expect(second.secrets == [rotated, hook.secret] && second.delivered == first.delivered, "the event goes again, signed by both")

                let again = try #require(try await admin.send(.post, "/v1/webhooks/\(hook.id)/rotate-secret").json()["secret"]?.stringValue)
                try await handBack()
                let third = try #require(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.first)
                #expect(third.secrets == [again, rotated], "the first secret no longer signs")

                try await expirePrevious(config, hook.id)
                try await handBack()
                let fourth = try #require(try await store.claimWebhooks(limit: 10, lease: .seconds(60)).jobs.first)
                #expect(fourth.secrets == [again] && fourth.previousSecret == nil, "expired: the current secret alone")
            }
        }
    }

    /// End to end: deliveries after a rotation verify with either secret, until the day is over.
    @Test func deliveriesVerifyWithBothSecretsForTheDay() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        let config = try await configuration()
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let admin = try await Caller.make(client, tenant: try await TestSupport.tenant(on: .advance, client))
            let hook = try await register(admin, receiver.url())
            _ = try await admin.create("Before")
            #expect(try await eventually(15) { receiver.received.count >= 1 })
            // A rotation takes the endpoint from a worker still holding it, which would send it again.
            #expect(try await eventually(10) { try await idle(config, hook.id) })
            let rotated = try #require(try await admin.send(.post, "/v1/webhooks/\(hook.id)/rotate-secret").json()["secret"]?.stringValue)
            _ = try await admin.create("During")
            #expect(try await eventually(15) { receiver.received.count >= 2 })
            // The worker that delivered it signs what it finds next with the secrets it claimed.
            #expect(try await eventually(10) { try await idle(config, hook.id) })
            try await expirePrevious(config, hook.id)
            _ = try await admin.create("After")
            #expect(try await eventually(15) { receiver.received.count >= 3 })
            let received = receiver.received
            #expect(received.map { $0.json?["data"]?["agent_name"]?.stringValue } == ["Before", "During", "After"])
            let (before, during, after) = (received[0], received[1], received[2])
            #expect(WebhookReceiver.verify(before, secret: hook.secret) && !WebhookReceiver.verify(before, secret: rotated))
            #expect(during.signature?.split(separator: " ").count == 2)
            #expect(WebhookReceiver.verify(during, secret: hook.secret) && WebhookReceiver.verify(during, secret: rotated))
            #expect(!WebhookReceiver.verify(after, secret: hook.secret) && WebhookReceiver.verify(after, secret: rotated))
            #expect(!WebhookReceiver.verify(during, secret: WebhookSecret.make()))
        }
    }
}
