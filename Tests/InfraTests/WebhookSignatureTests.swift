import Domain
import Foundation
import Infra
import Testing

struct WebhookSignatureTests {
    /// The Standard Webhooks specification's own example: its secret, id, timestamp and body.
    @Test func theSignatureIsTheSpecificationsExample() {
        #expect(
            WebhookClient.signature(
                secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
                timestamp: 1_614_265_330,
                body: Array(#"{"test": 2432232314}"#.utf8)
            ) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )
    }

    /// Vectors computed apart from this code (Python's `hmac` and `base64`): during a rotation each
    /// secret signs, space-separated; a secret of an earlier release (`whsec_` and 64 hex digits) is
    /// keyed with what its base64 decodes to, as the libraries key it; one that is no base64, with
    /// its UTF-8 bytes.
    @Test func eachSecretSignsAndOlderSecretsAreKeyedAsTheLibrariesKeyThem() {
        let id = "0190a8b2-7c1e-7d3f-9a4b-5c6d7e8f9a0b"
        let body = Array(#"{"a":1}"#.utf8)
        let hex = "whsec_" + String(repeating: "0123456789abcdef", count: 4)
        #expect(
            WebhookClient.signature(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", hex], id: id, timestamp: 1_700_000_000, body: body)
                == "v1,jdAVMcrjRFfuSzMsNOnJvjjsA0KdAhxlH511+9MfFWo= v1,ZIA3VVSNmyIYMO8rVbYhNIZYK/QT1iuBql9dlvGa690="
        )
        #expect(
            WebhookClient.signature(secrets: ["whsec_x"], id: id, timestamp: 1_700_000_000, body: body)
                == "v1,NLerSCx2Rjj4nPfRvsbvHwnvegE4hV2NeSffUu41OuE="
        )
    }

    /// A delivery names its event and carries the Standard Webhooks headers, and no other signature.
    @Test func aDeliveryCarriesTheStandardHeaders() throws {
        let eventID = try #require(UUID(uuidString: "0190A8B2-7C1E-7D3F-9A4B-5C6D7E8F9A0B"))
        let event = ChangeEvent(
            sequence: 1,
            eventID: eventID,
            tenantID: "t",
            event: "agent_created",
            agentID: nil,
            taskID: nil,
            globalTaskID: nil,
            data: "{}",
            timestamp: Date()
        )
        let body = Array(#"{"a":1}"#.utf8)
        let headers = WebhookClient.headers(event, secrets: ["whsec_x"], at: Date(timeIntervalSince1970: 1_700_000_000.9), body: body)
        #expect(headers.map(\.name) == ["X-AMS-Event", "X-AMS-Delivery", "webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(
            headers.map(\.value) == [
                "agent_created", "0190a8b2-7c1e-7d3f-9a4b-5c6d7e8f9a0b", "0190a8b2-7c1e-7d3f-9a4b-5c6d7e8f9a0b", "1700000000",
                "v1,NLerSCx2Rjj4nPfRvsbvHwnvegE4hV2NeSffUu41OuE=",
            ]
        )
    }

    @Test func addressesAreWrittenAsURLsWriteThem() {
        #expect(AddressResolver.text([127, 0, 0, 1]) == "127.0.0.1")
        #expect(AddressResolver.text([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) == "[::1]")
    }

    @Test func namesAndOddLiteralsResolve() async throws {
        let resolver = AddressResolver()
        #expect(try await resolver.resolve("localhost").contains([127, 0, 0, 1]))
        #expect(try await resolver.resolve("2130706433") == [[127, 0, 0, 1]])
        #expect(try await resolver.resolve("[::1]") == [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]])
        await #expect(throws: AddressResolver.Failure.self) { try await resolver.resolve("no-such-host.invalid") }
    }

    /// Beyond the limit of lookups at once, a lookup fails at once rather than queueing.
    @Test func theLimitOfLookupsAtOnceHolds() async throws {
        let resolver = AddressResolver(limit: 0)
        let started = ContinuousClock.now
        await #expect(throws: AddressResolver.Busy.self) { try await resolver.resolve("localhost", within: .seconds(5)) }
        #expect(ContinuousClock.now - started < .seconds(4), "refused at once, not after a lookup")
    }
}
