public import Domain
public import Foundation
import Logging
import PostgresNIO

extension PostgresAgentStore {
    public func insert(_ agent: Agent, quota: AgentQuota, audit: Audit) async throws {
        try await single { conn in try await createRow(agent, quota: quota, audit: audit, on: conn) }
    }

    public func update(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) async throws -> Bool {
        try await single { conn in try await updateRow(agent, from: revision, action: action, changes: changes, audit: audit, on: conn) }
    }

    public func updateLocked(
        _ id: UUID,
        tenant: TenantID,
        action: HistoryEntry.Action,
        audit: Audit,
        _ change: @escaping @Sendable (Agent) async throws -> (next: Agent, changes: JSONValue)?
    ) async throws -> (current: Agent, next: Agent?)? {
        try await single { conn in
            try await conn.transaction(logger: logger) { conn in
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                let rows = try await conn.query(
                    """
                    SELECT \(unescaped: Self.columns) FROM agents
                    WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_at IS NULL FOR UPDATE
                    """,
                    logger: logger
                )
                var found: Agent?
                for try await row in rows { found = try Self.agent(row.makeRandomAccess()) }
                guard let current = found else { return nil }
                guard let (next, changes) = try await change(current) else { return (current, nil) }
                guard try await updateRow(next, from: current.revision, action: action, changes: changes, audit: audit, on: conn) else {
                    throw ServiceError(.databaseUnavailable, "The agent changed while it was locked for this write; retry")
                }
                return (current, next)
            }
        }
    }

    /// Deletes first (they free names and quota), then updates, then creates, in one transaction:
    /// a refusal of any step (quota, name, a row another writer moved on) leaves nothing written.
    public func apply(
        creates: [Agent],
        updates: [(agent: Agent, from: Int, changes: JSONValue)],
        deletes: [UUID],
        tenant: TenantID,
        quota: AgentQuota,
        audit: Audit
    ) async throws {
        try await single(timeout: Self.applyTimeout) { conn in
            try await conn.transaction(logger: logger) { conn in
                // The tenant first, as every single write that takes it does: no lock cycle with them.
                try await conn.query("SELECT set_config('app.tenant_id', \(tenant), true)", logger: logger)
                try await conn.query("SELECT 1 FROM tenants WHERE tenant_id = \(tenant) FOR UPDATE", logger: logger)
                for id in deletes {
                    let rows = try await conn.query(
                        """
                        SELECT deleted FROM ams_delete_agent(\(tenant), \(id), NULL::int, \(Date.now), \(audit.actor),
                            \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID))
                        """,
                        logger: logger
                    )
                    var deleted = false
                    for try await done in rows.decode(Bool.self) { deleted = done }
                    guard deleted else { throw Self.movedOn }
                }
                for update in updates {
                    guard try await updateRow(update.agent, from: update.from, action: .updated, changes: update.changes, audit: audit, on: conn)
                    else {
                        throw Self.movedOn
                    }
                }
                for agent in creates { try await createRow(agent, quota: quota, audit: audit, on: conn) }
            }
        }
    }

    /// An apply writes up to 500 agents in one transaction; each statement still has `AMS_DB_TIMEOUT`.
    static let applyTimeout = Duration.seconds(30)

    static let movedOn = ServiceError(.databaseUnavailable, "An agent changed while the apply was written; retry")

    func createRow(_ agent: Agent, quota: AgentQuota, audit: Audit, on conn: Connection) async throws {
        let c = agent.config
        let limits = Self.limits(quota)
        let changes = Self.creationChanges(c)
        let full = try await Self.uniqueName(c.name) {
            let rows = try await conn.query(
                """
                SELECT ams_create_agent(\(agent.tenantID), \(defaultTier.rawValue), \(Self.text(limits))::jsonb,
                    \(agent.id), \(c.name), \(c.type.rawValue), \(c.status.rawValue),
                    \(Self.text(c.json))::jsonb, \(Self.text(agent.validation.json))::jsonb, \(agent.createdAt), \(agent.createdBy),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID), \(Self.text(changes))::jsonb,
                    \(agent.templateID), \(agent.templateVersion)::int)
                """,
                logger: logger
            )
            for try await tier in rows.decode(String?.self) { return tier }
            throw ServiceError(.internalError, "Create returned no row")
        }
        if let full {
            let tier = Tier(rawValue: full) ?? defaultTier
            throw ServiceError.quotaReached(tier: tier, limit: quota[tier])
        }
    }

    private func updateRow(
        _ agent: Agent,
        from revision: Int,
        action: HistoryEntry.Action,
        changes: JSONValue,
        audit: Audit,
        on conn: Connection
    ) async throws -> Bool {
        let c = agent.config
        return try await Self.uniqueName(c.name) {
            let rows = try await conn.query(
                """
                SELECT ams_update_agent(\(agent.tenantID), \(agent.id), \(revision)::int, \(c.name), \(c.type.rawValue),
                    \(Self.text(c.json))::jsonb, \(Self.text(agent.validation.json))::jsonb, \(agent.updatedAt), \(agent.updatedBy),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID), \(action.rawValue), \(Self.text(changes))::jsonb)
                """,
                logger: logger
            )
            for try await version in rows.decode(Int?.self) { return version == agent.version }
            return false
        }
    }

    public func setStatus(_ agent: Agent, from revision: Int, previous: AgentStatus, reason: String?, audit: Audit) async throws -> Bool {
        var details: [String: JSONValue] = ["from": .string(previous.rawValue), "to": .string(agent.config.status.rawValue)]
        if let reason { details["reason"] = .string(reason) }
        let detailsText = Self.text(.object(details))
        return try await single { conn in
            let rows = try await conn.query(
                """
                SELECT ams_set_agent_status(\(agent.tenantID), \(agent.id), \(revision)::int, \(agent.config.status.rawValue),
                    \(Self.text(agent.config.json))::jsonb, \(agent.updatedAt), \(agent.updatedBy),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID), \(detailsText)::jsonb)
                """,
                logger: logger
            )
            for try await written in rows.decode(Bool.self) { return written }
            return false
        }
    }

    public func delete(_ id: UUID, tenant: TenantID, ifVersion version: Int?, audit: Audit) async throws -> DeleteOutcome {
        try await single { conn in
            let rows = try await conn.query(
                """
                SELECT deleted, version FROM ams_delete_agent(\(tenant), \(id), \(version)::int, \(Date.now), \(audit.actor),
                    \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID))
                """,
                logger: logger
            )
            for try await (deleted, current) in rows.decode((Bool, Int).self) {
                return deleted ? .deleted(version: current) : .stale(current: current)
            }
            return .missing
        }
    }

    public func restore(_ id: UUID, tenant: TenantID, retention: Duration, quota: AgentQuota, audit: Audit) async throws -> Agent? {
        let limits = JSONValue.object(Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0.rawValue, JSONValue.int(quota[$0])) }))
        let outcome = try await single { conn in
            try await Self.uniqueName(nil) {
                let rows = try await conn.query(
                    """
                    SELECT ams_restore_agent(\(tenant), \(defaultTier.rawValue), \(Self.text(limits))::jsonb, \(id),
                        make_interval(secs => \(retention.seconds)), \(Date.now), \(audit.actor),
                        \(Self.text(Self.roles(audit)))::jsonb, \(audit.requestID))
                    """,
                    logger: logger
                )
                for try await outcome in rows.decode(String.self) { return outcome }
                throw ServiceError(.internalError, "Restore returned no row")
            }
        }
        switch outcome {
        case "restored": return try await agent(id, tenant: tenant)
        case "missing": return nil
        default:
            let tier = Tier(rawValue: outcome) ?? defaultTier
            throw ServiceError.quotaReached(tier: tier, limit: quota[tier])
        }
    }

    public func purgeDeleted(retention: Duration) async throws -> Int {
        var total = 0
        while true {
            let purged = try await single { conn in
                let rows = try await conn.query(
                    "SELECT ams_purge_deleted(make_interval(secs => \(retention.seconds)), \(Self.purgeBatch)::int)",
                    logger: logger
                )
                for try await count in rows.decode(Int.self) { return count }
                return 0
            }
            total += purged
            if purged < Self.purgeBatch { return total }
        }
    }

    static let purgeBatch = 500

    /// The agent's validation replaced without a new version, if the row is still at `revision`.
    public func setValidation(_ agent: Agent, from revision: Int, audit: Audit) async throws -> Bool {
        let roles = Self.text(.array(audit.roles.map(JSONValue.string)))
        return try await single { conn in
            let rows = try await conn.query(
                """
                SELECT ams_set_validation(\(agent.tenantID), \(agent.id), \(revision)::int, \(Self.text(agent.validation.json))::jsonb,
                    \(Date.now), \(audit.actor), \(roles)::jsonb, \(audit.requestID))
                """,
                logger: logger
            )
            for try await written in rows.decode(Bool.self) { return written }
            return false
        }
    }

    public func announce(_ agents: [Agent], tenant: TenantID) async throws {
        guard !agents.isEmpty else { return }
        let events = agents.map { agent in
            Self.text(
                .object([
                    "agent_id": .string(agent.id.uuidString.lowercased()), "agent_name": .string(agent.config.name),
                    "version": .int(agent.version), "changes": .array([]), "resync": .bool(true),
                ])
            )
        }
        let ids = agents.map(\.id)
        try await inTenant(tenant) { conn in
            try await conn.query(
                """
                INSERT INTO outbox (tenant_id, event, agent_id, data)
                SELECT \(tenant), 'agent_updated', e.id, e.data::jsonb FROM unnest(\(ids), \(events)) AS e(id, data)
                """,
                logger: logger
            )
        }
    }

    /// Turns the unique-index violation into the documented conflict, naming the name when known.
    private static func uniqueName<R>(_ name: String?, _ write: () async throws -> R) async throws -> R {
        do {
            return try await write()
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && error.serverInfo?[.constraintName] == "agents_live_name" {
            guard let name else { throw ServiceError(.nameConflict, "A live agent already has this agent's name") }
            throw ServiceError.nameConflict(name)
        }
    }

    static func roles(_ audit: Audit) -> JSONValue { .array(audit.roles.map(JSONValue.string)) }
}
