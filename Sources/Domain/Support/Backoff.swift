/// The waits of a retry loop: from `initial`, each failure multiplies the wait by `multiplier`, up to
/// `maximum`; `jitter` spreads each wait by up to ±that fraction so that many replicas do not knock
/// at the same instant. Every retry loop uses this one type, each with its own parameters.
public struct Backoff: Sendable {
    public var initial: Duration
    public var multiplier: Double
    public var maximum: Duration
    public var jitter: Double
    private var failures = 0

    public init(initial: Duration, multiplier: Double = 2, maximum: Duration, jitter: Double = 0) {
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The wait before the next attempt, without jitter.
    public var base: Duration { delay(after: failures + 1) }

    /// The wait after `failures` failures in a row, without jitter: `initial × multiplier^(failures − 1)`,
    /// at most `maximum`; none before the first failure. For loops whose count of failures is kept elsewhere.
    public func delay(after failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var wait = initial
        for _ in 1..<failures {
            if wait >= maximum { return maximum }
            wait = wait * multiplier
        }
        return min(wait, maximum)
    }

    /// `delay(after:)` spread by the jitter.
    public func jittered<G: RandomNumberGenerator>(after failures: Int, using generator: inout G) -> Duration {
        let wait = delay(after: failures)
        guard jitter > 0, wait > .zero else { return wait }
        return wait * Double.random(in: (1 - jitter)...(1 + jitter), using: &generator)
    }

    public func jittered(after failures: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return jittered(after: failures, using: &generator)
    }

    /// Counts a failure and answers how long to wait before trying again.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        failures += 1
        return jittered(after: failures, using: &generator)
    }

    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// After a success the next failure waits `initial` again.
    public mutating func reset() { failures = 0 }
}
