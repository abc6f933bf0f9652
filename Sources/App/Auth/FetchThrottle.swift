/// When a token whose `kid` no known key has may have the JWKS read at once: at most once per
/// `interval`. Tokens that come while that read is due or running wait for it instead of asking
/// again, so a burst of unknown kids costs one read, and a key rotated in works on its first token.
/// The reads are numbered as `JWKSRefresher` starts them, periodic ones included.
struct FetchThrottle: Sendable {
    enum Decision: Equatable, Sendable {
        /// Wake the refresher, then wait until read number `n` is done.
        case fetch(Int)
        /// A read was asked for already: wait until read number `n` is done.
        case wait(Int)
        /// Asked within `interval`: the token is refused now.
        case refuse
    }

    let interval: Duration
    private var lastAsked: ContinuousClock.Instant?
    /// The read the last ask waits for.
    private var awaited: Int?
    /// Reads started and finished (successful or not).
    private(set) var started = 0
    private(set) var completed = 0

    init(interval: Duration = .seconds(5)) { self.interval = interval }

    /// An unknown `kid` at `now`. A read already running may have started before the key was
    /// published: the one asked for is the next to start.
    mutating func unknownKey(at now: ContinuousClock.Instant) -> Decision {
        if let awaited, completed < awaited { return .wait(awaited) }
        if let lastAsked, now < lastAsked.advanced(by: interval) { return .refuse }
        lastAsked = now
        awaited = started + 1
        return .fetch(started + 1)
    }

    mutating func begin() { started += 1 }

    mutating func finish() { completed = started }
}
