/// One numbered schema step of the frozen history; applied in order, each in its own transaction, never edited.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var statements: [String]
}

extension Migration {
    /// Every tenant-scoped table gets forced RLS keyed on `app.tenant_id`, set per transaction.
    static func tenantIsolation(_ table: String) -> [String] {
        [
            "ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE \(table) FORCE ROW LEVEL SECURITY",
            """
            CREATE POLICY tenant_isolation ON \(table)
                USING (tenant_id = current_setting('app.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('app.tenant_id', true))
            """,
        ]
    }

    public static let all: [Migration] = [
        Migration(version: 1, name: "core", statements: [
            """
            CREATE TABLE tenants (
                tenant_id text PRIMARY KEY,
                tier text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE agents (
                seq bigint GENERATED ALWAYS AS IDENTITY,
                id uuid PRIMARY KEY,
                tenant_id text NOT NULL REFERENCES tenants (tenant_id),
                name text NOT NULL,
                type text NOT NULL,
                status text NOT NULL,
                version integer NOT NULL,
                config jsonb NOT NULL,
                validation jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                created_by text NOT NULL,
                updated_by text NOT NULL,
                deleted_at timestamptz
            )
            """,
            "CREATE UNIQUE INDEX agents_live_name ON agents (tenant_id, name) WHERE deleted_at IS NULL",
            "CREATE INDEX agents_live_newest ON agents (tenant_id, seq DESC) WHERE deleted_at IS NULL",
            "CREATE INDEX agents_tags ON agents USING gin ((config -> 'tags')) WHERE deleted_at IS NULL",
            """
            CREATE TABLE tool_catalog (
                position integer NOT NULL,
                id text PRIMARY KEY,
                name text NOT NULL,
                min_tier text,
                required_config jsonb NOT NULL DEFAULT '[]'
            )
            """,
        ] + tenantIsolation("tenants") + tenantIsolation("agents")),
        Migration(version: 2, name: "lean writes", statements: leanWrites),
        Migration(version: 3, name: "versions and history", statements: versions),
        Migration(version: 4, name: "lean updates", statements: leanUpdates),
        Migration(version: 5, name: "lean creates", statements: leanCreates),
        Migration(version: 6, name: "tasks", statements: tasks),
        Migration(version: 7, name: "task batches", statements: taskBatches),
        Migration(version: 8, name: "events", statements: events),
        Migration(version: 9, name: "webhooks", statements: webhooks),
        Migration(version: 10, name: "task upkeep", statements: taskUpkeep),
        Migration(version: 11, name: "webhook gaps", statements: webhookGaps),
        Migration(version: 12, name: "dead letters", statements: deadLetters),
        Migration(version: 13, name: "secret rotation", statements: secretRotation),
        Migration(version: 14, name: "event traces", statements: eventTraces),
    ]
}
