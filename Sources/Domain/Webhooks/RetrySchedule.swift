/// The waits between a webhook delivery's attempts: an event gets one more attempt than there are
/// waits, then it is given up and the endpoint moves on to the next one.
public struct RetrySchedule: Sendable, Hashable {
    public var delays: [Duration]

    public init(delays: [Duration]) { self.delays = delays }

    /// 8 attempts: 1 s, then ×4 up to about 68 minutes, about an hour and a half in all, so a
    /// receiver that is down for a deploy or a short outage still gets the event.
    public static let standard = RetrySchedule(delays: (0..<7).map { .seconds(1 << (2 * $0)) })

    public var attempts: Int { delays.count + 1 }

    /// The wait after failed attempt `attempt` (1-based); `nil` once the attempts are used up.
    public func delay(after attempt: Int) -> Duration? {
        attempt >= 1 && attempt <= delays.count ? delays[attempt - 1] : nil
    }
}
