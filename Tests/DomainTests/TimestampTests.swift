import Domain
import Foundation
import Testing

@Suite struct TimestampTests {
    @Test func formatsRFC3339WithMillisecondsInUTC() {
        #expect(Agent.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Agent.timestamp(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
        #expect(Agent.timestamp(Date(timeIntervalSince1970: 1_798_761_599.999)) == "2026-12-31T23:59:59.999Z")
        #expect(Agent.timestamp(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
    }

    /// A date that went through Postgres' microseconds may come back just below the millisecond it
    /// was written as; both must print the same.
    @Test func roundsToTheNearestMillisecond() {
        #expect(Agent.timestamp(Date(timeIntervalSince1970: 1_764_205_000.122_999)) == "2025-11-27T00:56:40.123Z")
        #expect(Agent.timestamp(Date(timeIntervalSince1970: 1_764_205_000.123_4)) == "2025-11-27T00:56:40.123Z")
    }

    /// Dates 0.4 ms past a millisecond, where rounding and truncating agree.
    @Test func agreesWithFoundationOverManyDates() {
        var generator = SystemRandomNumberGenerator()
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for _ in 0..<2000 {
            let ms = Double(Int64.random(in: 0...4_102_444_800_000, using: &generator))
            let date = Date(timeIntervalSince1970: (ms + 0.4) / 1000)
            #expect(Agent.timestamp(date) == date.formatted(style), "\(ms)")
        }
    }

    @Test func readsBackWhatItWrites() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let ms = Int64.random(in: -2_208_988_800_000...4_102_444_800_000, using: &generator)
            let text = Agent.timestamp(Date(timeIntervalSince1970: Double(ms) / 1000))
            let date = Agent.date(timestamp: text)
            #expect(date.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } == ms, "\(text)")
        }
        for bad in [
            "", "2026-11-27T10:34:44Z", "2026-11-27 10:34:44.123Z", "2026-13-27T10:34:44.123Z", "2026-11-27T10:34:44.12xZ",
            "2026-11-27T24:00:00.000Z", "2026-11-27T10:34:44.123+",
        ] {
            #expect(Agent.date(timestamp: bad) == nil, "\(bad)")
        }
    }
}
