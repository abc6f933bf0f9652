import Logging
import PostgresNIO

/// A deferred constraint trigger on `outbox_counter` that fails, at its commit, every transaction
/// that moved the counter: the sequencing's rows are answered, then its commit is refused.
/// Installed as the superuser (`asSuperuser`); each refusal is counted in a sequence, which a
/// rollback does not undo.
enum CommitFault {
    private static let logger = Logger(label: "test")

    static func install(on url: String) async throws {
        try await asSuperuser(url) { conn in
            try await conn.query("CREATE SEQUENCE IF NOT EXISTS test_commit_refusals", logger: logger)
            try await conn.query("GRANT USAGE ON SEQUENCE test_commit_refusals TO PUBLIC", logger: logger)
            try await conn.query(
                """
                CREATE OR REPLACE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM nextval('test_commit_refusals');
                    RAISE EXCEPTION 'commit refused by the test';
                END
                $$
                """,
                logger: logger
            )
            try await conn.query(
                """
                CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER UPDATE ON outbox_counter
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_commit()
                """,
                logger: logger
            )
        }
    }

    static func remove(on url: String) async throws {
        try await asSuperuser(url) { conn in
            try await conn.query("DROP TRIGGER test_refuse_commit ON outbox_counter", logger: logger)
        }
    }

    /// How many commits the trigger refused so far.
    static func refusals(on url: String) async throws -> Int64 {
        try await asSuperuser(url) { conn in
            let rows = try await conn.query(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM test_commit_refusals",
                logger: logger
            )
            for try await count in rows.decode(Int64.self) { return count }
            return 0
        }
    }
}
