extension Migration {
    /// The secret a rotation replaced, and until when it still signs deliveries beside the new one
    /// (Standard Webhooks' several signatures in one header), judged by the database's clock.
    static let secretRotation: [String] = [
        "ALTER TABLE webhooks ADD COLUMN previous_secret text",
        "ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at timestamptz",
    ]
}
