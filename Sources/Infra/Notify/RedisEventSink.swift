public import Domain

/// Sink 3: each event goes to its tenant's notifications stream (capped, so consumers can replay
/// from an id) and is published on the channel of the same name (for live listeners).
public struct RedisEventSink: EventSink {
    let redis: RedisClient
    let maxLength: Int

    public init(redis: RedisClient, maxLength: Int) {
        self.redis = redis
        self.maxLength = maxLength
    }

    public static func key(_ tenant: TenantID) -> String { "agent-management.notifications.\(tenant)" }

    public func deliver(_ events: [ChangeEvent]) async throws {
        var commands: [[String]] = []
        commands.reserveCapacity(events.count * 2)
        let cap = String(maxLength)
        for event in events {
            let key = Self.key(event.tenantID)
            let envelope = String(decoding: event.envelope, as: UTF8.self)
            commands.append(["XADD", key, "MAXLEN", "~", cap, "*", "message", envelope])
            commands.append(["PUBLISH", key, envelope])
        }
        for case .error(let message) in try await redis.pipeline(commands) { throw RedisError.server(message) }
    }
}
