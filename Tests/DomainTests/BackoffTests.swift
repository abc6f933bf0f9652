import Domain
import Testing

@Suite struct BackoffTests {
    /// The orchestrator link's reconnects (`OrchestratorSink`).
    static let orchestrator = Backoff(initial: .seconds(1), multiplier: 1.5, maximum: .seconds(30), jitter: 0.2)

    @Test func orchestratorStartsAtOneSecondGrowsByHalfAndStopsAtThirty() {
        var backoff = Self.orchestrator
        var waits: [Duration] = []
        for _ in 0..<12 {
            waits.append(backoff.base)
            _ = backoff.next()
        }
        #expect(Array(waits.prefix(4)) == [.seconds(1), .milliseconds(1500), .milliseconds(2250), .microseconds(3_375_000)])
        #expect(waits.allSatisfy { $0 <= .seconds(30) })
        #expect(waits.last == .seconds(30), "capped")
    }

    @Test func orchestratorJitterStaysWithinTwentyPercentAndUsesItsRange() {
        var generator = SplitMix(state: 42)
        var ratios: [Double] = []
        for _ in 0..<1000 {
            var backoff = Self.orchestrator
            _ = backoff.next(using: &generator)
            let base = backoff.base
            let wait = backoff.next(using: &generator)
            ratios.append(wait / base)
        }
        #expect(ratios.allSatisfy { (0.8...1.2).contains($0) })
        #expect(ratios.min()! < 0.82 && ratios.max()! > 1.18, "the whole ±20% is used")
        #expect(abs(ratios.reduce(0, +) / Double(ratios.count) - 1) < 0.02, "centred on the base")
    }

    /// The loops without jitter, each with its own numbers: the exact waits of successive failures.
    @Test(arguments: [
        // Reconnecting to Redis (`RedisClient`, `RedisKeyEvents`) and Postgres (`ChangeListener`).
        (Backoff(initial: .milliseconds(100), maximum: .seconds(5)), [100, 200, 400, 800, 1600, 3200, 5000, 5000]),
        // Delivering to a shared event sink again (`SharedSink`).
        (Backoff(initial: .milliseconds(200), maximum: .seconds(5)), [200, 400, 800, 1600, 3200, 5000, 5000]),
        // Starting a batch of tasks while Postgres is away (`TaskRunner`, default `AMS_TASK_RETRY_BACKOFF`).
        (Backoff(initial: .milliseconds(200), maximum: .seconds(2)), [200, 400, 800, 1600, 2000, 2000]),
    ])
    func doublesUpToItsMaximum(backoff: Backoff, milliseconds: [Int]) {
        var backoff = backoff
        var generator = SplitMix(state: 7)
        let waits = milliseconds.map { _ in backoff.next(using: &generator) }
        #expect(waits == milliseconds.map { .milliseconds($0) })
        #expect(generator.state == SplitMix(state: 7).state, "no jitter, no random draw")
    }

    /// A task's retries (`TaskRunner`): the wait after its nth failed attempt, counted in Postgres.
    @Test func taskRetryWaitDoublesPerFailedAttemptUpToThirtySeconds() {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
        #expect(backoff.delay(after: 0) == .zero)
        let waits = (1...10).map { backoff.delay(after: $0) }
        #expect(waits == [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000].map { .milliseconds($0) })
        #expect(backoff.delay(after: 100) == .seconds(30))
    }

    @Test func nextWaitsWhatDelayAfterEachFailureSays() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        let template = backoff
        for failures in 1...10 { #expect(backoff.next() == template.delay(after: failures)) }
    }

    /// Losing a write race to another replica (`TenantActor`): 1–5 ms after the first loss, at most 40 ms.
    @Test func aLostRaceWaitsAFewMillisecondsSpreadWide() {
        let backoff = Backoff(initial: .milliseconds(3), maximum: .milliseconds(24), jitter: 0.66)
        var generator = SplitMix(state: 9)
        #expect(backoff.jittered(after: 0, using: &generator) == .zero)
        let first = (0..<500).map { _ in backoff.jittered(after: 1, using: &generator) }
        #expect(first.allSatisfy { $0 >= .milliseconds(1) && $0 <= .milliseconds(5) })
        #expect(first.min()! < .milliseconds(1.2) && first.max()! > .milliseconds(4.8), "the whole spread is used")
        let late = (0..<500).map { _ in backoff.jittered(after: 9, using: &generator) }
        #expect(late.allSatisfy { $0 >= .milliseconds(8) && $0 <= .milliseconds(40) })
    }

    @Test func aSuccessStartsOver() {
        var backoff = Self.orchestrator
        for _ in 0..<5 { _ = backoff.next() }
        #expect(backoff.base > .seconds(5))
        backoff.reset()
        #expect(backoff.base == .seconds(1))
    }
}
