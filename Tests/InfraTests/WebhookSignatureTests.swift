import Infra
import Testing

struct WebhookSignatureTests {
    /// A vector computed apart from this code (Python's `hmac` module).
    @Test func theSignatureIsHMACSHA256OfTheTimestampAndBody() {
        #expect(
            WebhookClient.signature(secret: "whsec_test", timestamp: 1_700_000_000, body: Array(#"{"a":1}"#.utf8))
                == "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
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
