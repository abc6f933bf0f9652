extension Migration {
    /// The trace of the call that wrote each event: its session's `app.traceparent`, which a traced
    /// database call sets (`SessionTraceparents`), so that every write function's events carry it
    /// without taking it as an argument, and the sinks and webhooks carry the trace on.
    static let eventTraces: [String] = [
        "ALTER TABLE outbox ADD COLUMN traceparent text DEFAULT nullif(current_setting('app.traceparent', true), '')"
    ]
}
