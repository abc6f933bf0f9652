extension Migration {
    /// When a failed task's dead letter was written (null: not yet). A task is recorded `failed` before
    /// its letter goes to Redis; a letter that could not be written is written by the entry's
    /// redelivery, which finds it missing here.
    static let deadLetters: [String] = [
        "ALTER TABLE tasks ADD COLUMN dead_lettered_at timestamptz"
    ]
}
