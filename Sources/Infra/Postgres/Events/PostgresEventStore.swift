public import Domain
public import Foundation
import Logging
import PostgresNIO

/// `EventStore` on PostgreSQL: the outbox, its sequence counter, and each shared sink's row.
public struct PostgresEventStore: EventStore, PostgresStore {
    /// The channel on which a committed write that recorded events wakes the notifier.
    public static let outboxChannel = "ams_outbox"
    /// The channel on which the leader tells every replica the newest sequence it gave.
    public static let eventsChannel = "ams_events"
    /// The advisory lock of the replica that sequences events and feeds the shared sinks ("AMSE").
    public static let notifierLock: Int64 = 0x414D_5345

    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func newestSequence() async throws -> Int64 {
        try await single { conn in
            for try await last in try await conn.query("SELECT last FROM outbox_counter", logger: logger).decode(Int64.self) { return last }
            return 0
        }
    }

    public func sequenceEvents(limit: Int) async throws -> (newest: Int64, events: [ChangeEvent]) {
        try await single { conn in
            // An explicit transaction: in an implicit one the rows arrive before the commit, whose
            // failure the query then never reports, and numbers that were never given would be
            // kept as given. Here a failed COMMIT fails the round.
            try await conn.transaction(logger: logger) { conn in
                let rows = try await conn.query(
                    """
                    SELECT sequence, event_id, tenant_id, event, agent_id, task_id, global_task_id, data, created_at, traceparent
                    FROM ams_sequence_outbox_events(\(limit)::int)
                    """,
                    logger: logger
                )
                let events = try await Self.events(rows).sorted { $0.sequence < $1.sequence }
                if let newest = events.last?.sequence { return (newest, events) }
                for try await last in try await conn.query("SELECT last FROM outbox_counter", logger: logger).decode(Int64.self) {
                    return (last, [])
                }
                return (0, [])
            }
        }
    }

    public func events(after sequence: Int64, limit: Int) async throws -> [ChangeEvent] {
        try await single { conn in try await Self.events(after: sequence, limit: limit, on: conn, logger: logger) }
    }

    public func events(tenant: TenantID, after sequence: Int64, limit: Int) async throws -> [ChangeEvent]? {
        try await inTenant(tenant) { conn in
            let rows = try await conn.query(
                """
                SELECT sequence, event_id, tenant_id, event, agent_id, task_id, global_task_id, data::text, created_at, traceparent FROM outbox
                WHERE tenant_id = \(tenant) AND sequence > \(sequence) ORDER BY sequence LIMIT \(limit)
                """,
                logger: logger
            )
            let events = try await Self.events(rows)
            // Checked after the read: a purge that committed before it shows here.
            for try await purged in try await conn.query("SELECT purged_through FROM outbox_counter", logger: logger).decode(Int64.self)
            where purged > sequence {
                return nil
            }
            return events
        }
    }

    public func purgeEvents(retention: Duration) async throws -> Int {
        var total = 0
        while true {
            let count = try await single { conn in
                for try await count in try await conn.query(
                    "SELECT ams_purge_outbox(make_interval(secs => \(retention.seconds)), 1000)",
                    logger: logger
                ).decode(Int.self) { return count }
                return 0
            }
            total += count
            if count < 1000 { break }
        }
        // Webhook attempts are kept as long as the events they delivered.
        while try await single({ conn in
            for try await count in try await conn.query(
                "SELECT ams_purge_webhook_deliveries(make_interval(secs => \(retention.seconds)), 1000)",
                logger: logger
            ).decode(Int.self) { return count }
            return 0
        }) == 1000 {}
        return total
    }

    public func deliver(sink: String, limit: Int, _ deliver: @escaping @Sendable ([ChangeEvent]) async throws -> Void) async throws -> Int64? {
        // Long enough for the sink's own timeouts: the row lock is what keeps other replicas out.
        try await single(timeout: .seconds(30)) { conn in
            try await conn.query("INSERT INTO outbox_sinks (name, delivered) VALUES (\(sink), 0) ON CONFLICT (name) DO NOTHING", logger: logger)
            return try await conn.transaction(logger: logger) { conn in
                // The transaction waits on the sink while it holds the row: the pool's 3 s idle limit
                // would end it after the sink took the batch, and the batch would go out again.
                try await conn.query("SET LOCAL idle_in_transaction_session_timeout = '25s'", logger: logger)
                var held: Int64?
                let rows = try await conn.query("SELECT delivered FROM outbox_sinks WHERE name = \(sink) FOR UPDATE SKIP LOCKED", logger: logger)
                for try await delivered in rows.decode(Int64.self) { held = delivered }
                guard let from = held else { return nil }
                let events = try await Self.events(after: from, limit: limit, on: conn, logger: logger)
                guard let last = events.last?.sequence else { return from }
                try await deliver(events)
                try await conn.query("UPDATE outbox_sinks SET delivered = \(last), updated_at = now() WHERE name = \(sink)", logger: logger)
                return last
            }
        }
    }

    public func delivered(sink: String) async throws -> Int64 {
        try await single { conn in
            for try await delivered in try await conn.query("SELECT delivered FROM outbox_sinks WHERE name = \(sink)", logger: logger).decode(
                Int64.self
            ) {
                return delivered
            }
            return 0
        }
    }

    public func confirmed(sink: String) async throws -> Int64 {
        try await single { conn in
            let rows = try await conn.query(
                """
                WITH fresh AS (
                    INSERT INTO outbox_sinks (name, delivered) SELECT \(sink), last FROM outbox_counter
                    ON CONFLICT (name) DO NOTHING RETURNING delivered
                )
                SELECT delivered FROM fresh UNION ALL SELECT delivered FROM outbox_sinks WHERE name = \(sink)
                """,
                logger: logger
            )
            for try await delivered in rows.decode(Int64.self) { return delivered }
            // Another replica inserted the row after this statement's snapshot: it is there now.
            for try await delivered in try await conn.query("SELECT delivered FROM outbox_sinks WHERE name = \(sink)", logger: logger).decode(
                Int64.self
            ) {
                return delivered
            }
            return 0
        }
    }

    public func confirm(sink: String, through sequence: Int64) async throws {
        try await single { conn in
            try await conn.query(
                """
                UPDATE outbox_sinks SET delivered = \(sequence), updated_at = now() WHERE name = \(sink) AND delivered < \(sequence)
                """,
                logger: logger
            )
        }
    }

    /// Decoded column by column (see the package notes on wide tuple decodes).
    static func events(after sequence: Int64, limit: Int, on conn: Connection, logger: Logger) async throws -> [ChangeEvent] {
        let rows = try await conn.query(
            """
            SELECT sequence, event_id, tenant_id, event, agent_id, task_id, global_task_id, data, created_at, traceparent
            FROM ams_outbox_after(\(sequence), \(limit)::int)
            """,
            logger: logger
        )
        return try await events(rows)
    }
}
