public import Foundation

extension ChangeEvent {
    /// The event that tells a webhook endpoint which of its tenant's events it will never get: the
    /// purge took them before it got them. Sequence numbers are global, so a receiver cannot see
    /// such a gap from the sequences it gets.
    public static let eventsSkipped = "events_skipped"

    /// `events_skipped`: the tenant's events after `delivered` through `through` are gone. It
    /// carries `through` as its sequence, the position the endpoint is at once it got it.
    public static func skipped(tenant: TenantID, eventID: UUID, after delivered: Int64, through: Int64, at timestamp: Date) -> ChangeEvent {
        var w = JSONWriter(capacity: 48)
        w.beginObject()
        w.key("from")
        w.raw(String(delivered + 1).utf8)
        w.key("to")
        w.raw(String(through).utf8)
        w.endObject()
        return ChangeEvent(
            sequence: through,
            eventID: eventID,
            tenantID: tenant,
            event: eventsSkipped,
            agentID: nil,
            taskID: nil,
            globalTaskID: nil,
            data: String(decoding: w.bytes, as: UTF8.self),
            timestamp: timestamp
        )
    }
}
