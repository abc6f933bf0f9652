import Domain
import Testing

@Suite struct BackoffTests {
    @Test func startsAtOneSecondGrowsByHalfAndStopsAtThirty() {
        var backoff = Backoff()
        var waits: [Duration] = []
        for _ in 0..<12 {
            waits.append(backoff.base)
            _ = backoff.next()
        }
        #expect(Array(waits.prefix(4)) == [.seconds(1), .milliseconds(1500), .milliseconds(2250), .microseconds(3_375_000)])
        #expect(waits.allSatisfy { $0 <= .seconds(30) })
        #expect(waits.last == .seconds(30), "capped")
    }

    @Test func jitterStaysWithinTwentyPercentAndUsesItsRange() {
        var generator = SplitMix(state: 42)
        var ratios: [Double] = []
        for _ in 0..<1000 {
            var backoff = Backoff()
            _ = backoff.next(using: &generator)
            let base = backoff.base
            let wait = backoff.next(using: &generator)
            ratios.append(wait / base)
        }
        #expect(ratios.allSatisfy { (0.8...1.2).contains($0) })
        #expect(ratios.min()! < 0.82 && ratios.max()! > 1.18, "the whole ±20% is used")
        #expect(abs(ratios.reduce(0, +) / Double(ratios.count) - 1) < 0.02, "centred on the base")
    }

    @Test func aSuccessStartsOver() {
        var backoff = Backoff()
        for _ in 0..<5 { _ = backoff.next() }
        #expect(backoff.base > .seconds(5))
        backoff.reset()
        #expect(backoff.base == .seconds(1))
    }
}
