import Domain
import Foundation
import PostgresNIO

extension PostgresStore {
    /// Outbox rows as events (the ten columns of `ams_outbox_after`), for the event and webhook
    /// stores. Decoded column by column (see the package notes on wide tuple decodes).
    static func events(_ rows: PostgresRowSequence) async throws -> [ChangeEvent] {
        var events: [ChangeEvent] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            events.append(
                ChangeEvent(
                    sequence: try cells[0].decode(Int64.self),
                    eventID: try cells[1].decode(UUID.self),
                    tenantID: try cells[2].decode(String.self),
                    event: try cells[3].decode(String.self),
                    agentID: try cells[4].decode(UUID?.self),
                    taskID: try cells[5].decode(UUID?.self),
                    globalTaskID: try cells[6].decode(String?.self),
                    data: try cells[7].decode(String.self),
                    timestamp: try cells[8].decode(Date.self),
                    traceparent: try cells[9].decode(String?.self)
                )
            )
        }
        return events
    }
}
