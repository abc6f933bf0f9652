/// The waits between reconnect attempts: exponential from `initial` by `factor`, capped, each
/// spread by up to ±`jitter` so that many replicas do not knock at the same instant.
public struct Backoff: Sendable {
    public var initial: Duration
    public var factor: Double
    public var cap: Duration
    public var jitter: Double
    private var failures = 0

    public init(initial: Duration = .seconds(1), factor: Double = 1.5, cap: Duration = .seconds(30), jitter: Double = 0.2) {
        self.initial = initial
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
    }

    /// The wait before the next attempt, without jitter: `initial × factor^failures`, at most `cap`.
    public var base: Duration {
        var wait = initial
        for _ in 0..<failures {
            wait = wait * factor
            if wait >= cap { return cap }
        }
        return min(wait, cap)
    }

    /// Counts a failure and answers how long to wait before trying again.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        let wait = base * Double.random(in: (1 - jitter)...(1 + jitter), using: &generator)
        failures += 1
        return wait
    }

    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// After a success the next failure waits `initial` again.
    public mutating func reset() { failures = 0 }
}
