public import Domain
public import Foundation
import PostgresNIO

/// `IdempotencyStore` on PostgreSQL: one row per tenant and key.
public struct PostgresIdempotencyStore: IdempotencyStore, PostgresStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    /// One transaction: take the key if it is new, older than 24 hours, or claimed by a request
    /// that has not finished within a minute (its replica died); otherwise read what it holds.
    public func claim(_ key: String, tenant: TenantID, fingerprint: String, claim: UUID) async throws -> IdempotencyClaim {
        try await inTenant(tenant) { conn in
            let taken = try await conn.query(
                """
                INSERT INTO idempotency_keys (tenant_id, key, fingerprint, claim) VALUES (\(tenant), \(key), \(fingerprint), \(claim))
                ON CONFLICT (tenant_id, key) DO UPDATE
                    SET fingerprint = excluded.fingerprint, claim = excluded.claim, status = 0, headers = '{}', body = NULL,
                        created_at = now()
                    WHERE idempotency_keys.created_at < now() - interval '24 hours'
                       OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < now() - interval '60 seconds')
                RETURNING 1
                """,
                logger: logger
            )
            for try await _ in taken { return .claimed }
            let rows = try await conn.query(
                """
                SELECT fingerprint, status, headers::text, body FROM idempotency_keys WHERE tenant_id = \(tenant) AND key = \(key)
                """,
                logger: logger
            )
            for try await (stored, status, headers, body) in rows.decode((String, Int, String, ByteBuffer?).self) {
                guard stored == fingerprint else { return .mismatch }
                guard status != 0 else { return .inProgress }
                let fields = (Self.json(headers).objectValue ?? [:]).compactMapValues(\.stringValue)
                return .replay(StoredResponse(status: status, headers: fields, body: body.map { Array($0.readableBytesView) } ?? []))
            }
            return .inProgress
        }
    }

    public func complete(_ key: String, tenant: TenantID, claim: UUID, with response: StoredResponse) async throws {
        let headers = Self.text(.object(response.headers.mapValues(JSONValue.string)))
        let body = ByteBuffer(bytes: response.body)
        try await inTenant(tenant) { conn in
            try await conn.query(
                """
                UPDATE idempotency_keys SET status = \(response.status), headers = \(headers)::jsonb, body = \(body)
                WHERE tenant_id = \(tenant) AND key = \(key) AND claim = \(claim) AND status = 0
                """,
                logger: logger
            )
        }
    }

    public func release(_ key: String, tenant: TenantID, claim: UUID) async throws {
        try await inTenant(tenant) { conn in
            try await conn.query(
                "DELETE FROM idempotency_keys WHERE tenant_id = \(tenant) AND key = \(key) AND claim = \(claim) AND status = 0",
                logger: logger
            )
        }
    }
}
