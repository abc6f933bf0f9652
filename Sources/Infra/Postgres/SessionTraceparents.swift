import Logging
import PostgresNIO
import Synchronization

/// The `traceparent` each pooled connection's session holds in `app.traceparent`, which the
/// outbox's `traceparent` column takes as its default: so every event a traced call writes, in any
/// of the write functions, carries the trace of the call that wrote it. A session is set only when
/// the value changes (a call of another sampled trace, or the first untraced call after one), so an
/// untraced call after an untraced one costs no round trip. Used only while tracing is on.
final class SessionTraceparents: Sendable {
    /// Pooled connections come and go: past this many, all are forgotten (and set again when next used).
    static let remembered = 256

    /// By connection id (unique within the pool's life); a connection missing here holds an unknown value.
    private let held = Mutex<[PostgresConnection.ID: String]>([:])

    /// Sets the session's `traceparent` (`""`: none) unless it holds it already. Forgotten while the
    /// statement runs, so a call that fails or is cancelled leaves it unknown, to be set again.
    func hold(_ traceparent: String, on conn: Connection, logger: Logger) async throws {
        let id = conn.raw.id
        let current = held.withLock { $0.removeValue(forKey: id) }
        if current != traceparent {
            try await conn.query("SELECT set_config('app.traceparent', \(traceparent), false)", logger: logger)
        }
        held.withLock {
            if $0.count >= Self.remembered { $0.removeAll() }
            $0[id] = traceparent
        }
    }
}
