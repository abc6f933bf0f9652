extension Migration {
    /// The newest of its tenant's events that the purge took before the endpoint got them (0:
    /// none): an endpoint that was disabled, or that nothing served for the whole retention, hears
    /// of the gap (`events_skipped`) before its next event, as sequence numbers, global, cannot show it.
    static let webhookGaps: [String] = [
        "ALTER TABLE webhooks ADD COLUMN missed_through bigint NOT NULL DEFAULT 0"
    ]
}
