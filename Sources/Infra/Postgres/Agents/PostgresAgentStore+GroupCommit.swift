public import Domain
public import Foundation
import Logging
import PostgresNIO

extension PostgresAgentStore {
    /// One create alone is the single write; more go in one call of `ams_create_agents`, whose
    /// blocks undo a refused create alone. A create that broke another unique index than the live
    /// names (a task's own id made again), or whose tenant stayed locked, answers `WriteAlone`.
    public func insert(_ creates: [(agent: Agent, audit: Audit)], quota: AgentQuota) async throws -> [Result<Void, any Error>] {
        guard creates.count > 1 else {
            var outcomes: [Result<Void, any Error>] = []
            for create in creates {
                do {
                    try await insert(create.agent, quota: quota, audit: create.audit)
                    outcomes.append(.success(()))
                } catch {
                    outcomes.append(.failure(error))
                }
            }
            return outcomes
        }
        let batch = Self.text(.array(creates.map { Self.createElement($0.agent, $0.audit) }))
        let limits = Self.text(Self.limits(quota))
        let judged = try await single { conn in
            let rows = try await conn.query(
                """
                SELECT n, full_tier, violated FROM ams_create_agents(\(defaultTier.rawValue), \(limits)::jsonb, \(batch)::jsonb)
                """,
                logger: logger
            )
            var judged = [(full: String?, violated: String?)?](repeating: nil, count: creates.count)
            for try await (n, full, violated) in rows.decode((Int, String?, String?).self) where judged.indices.contains(n - 1) {
                judged[n - 1] = (full, violated)
            }
            return judged
        }
        let answers = judged.compactMap { $0 }
        guard answers.count == creates.count else { throw ServiceError(.internalError, "A batch of creates returned another number of outcomes") }
        var outcomes: [Result<Void, any Error>] = []
        for (create, outcome) in zip(creates, answers) {
            if let full = outcome.full {
                let tier = Tier(rawValue: full) ?? defaultTier
                outcomes.append(.failure(ServiceError.quotaReached(tier: tier, limit: quota[tier])))
            } else if outcome.violated == "agents_live_name" {
                outcomes.append(.failure(ServiceError.nameConflict(create.agent.config.name)))
            } else if outcome.violated != nil {
                outcomes.append(.failure(WriteAlone()))
            } else {
                outcomes.append(.success(()))
            }
        }
        return outcomes
    }

    /// One update alone is the single write; more go in one call of `ams_update_agents`, each in a
    /// block of its own. `true` when stored, `false` when the row moved on or is gone.
    public func update(_ updates: [AgentUpdate]) async throws -> [Result<Bool, any Error>] {
        guard updates.count > 1 else {
            var outcomes: [Result<Bool, any Error>] = []
            for u in updates {
                do {
                    outcomes.append(.success(try await update(u.agent, from: u.revision, action: u.action, changes: u.changes, audit: u.audit)))
                } catch {
                    outcomes.append(.failure(error))
                }
            }
            return outcomes
        }
        let batch = Self.text(.array(updates.map(Self.updateElement)))
        let judged = try await single { conn in
            let rows = try await conn.query("SELECT n, version, violated FROM ams_update_agents(\(batch)::jsonb)", logger: logger)
            var judged = [(version: Int?, violated: String?)?](repeating: nil, count: updates.count)
            for try await (n, version, violated) in rows.decode((Int, Int?, String?).self) where judged.indices.contains(n - 1) {
                judged[n - 1] = (version, violated)
            }
            return judged
        }
        let answers = judged.compactMap { $0 }
        guard answers.count == updates.count else { throw ServiceError(.internalError, "A batch of updates returned another number of outcomes") }
        return zip(updates, answers).map { update, answer in
            if answer.violated == "agents_live_name" { return .failure(ServiceError.nameConflict(update.agent.config.name)) }
            if answer.violated != nil { return .failure(WriteAlone()) }
            return .success(answer.version == update.agent.version)
        }
    }

    /// One update of `ams_update_agents`: the arguments of `ams_update_agent`, its time as
    /// `createElement` gives it.
    static func updateElement(_ update: AgentUpdate) -> JSONValue {
        let (agent, c) = (update.agent, update.agent.config)
        var element: [String: JSONValue] = [
            "tenant": .string(agent.tenantID), "id": .string(agent.id.uuidString.lowercased()), "revision": .int(update.revision),
            "name": .string(c.name), "type": .string(c.type.rawValue), "config": c.json, "validation": agent.validation.json,
            "by": .string(agent.updatedBy), "roles": roles(update.audit), "request_id": .string(update.audit.requestID),
            "action": .string(update.action.rawValue), "changes": update.changes,
        ]
        element.merge(instant(agent.updatedAt), uniquingKeysWith: { $1 })
        if let traceparent = update.audit.traceparent { element["traceparent"] = .string(traceparent) }
        return .object(element)
    }

    /// A time as the whole seconds and microseconds that a bound timestamp would carry (PostgresNIO
    /// truncates to the microsecond since 2000), so that a batched write stores the same instant a
    /// single one does.
    static func instant(_ date: Date) -> [String: JSONValue] {
        let micros = Int64(date.timeIntervalSince(postgresEpoch) * 1_000_000)
        return ["seconds": .int(Int(micros / 1_000_000) + 946_684_800), "microseconds": .int(Int(micros % 1_000_000))]
    }

    /// The quota of every tier, as the create functions take it.
    static func limits(_ quota: AgentQuota) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0.rawValue, JSONValue.int(quota[$0])) }))
    }

    /// What version 1 changed: everything versioned, from nothing.
    static func creationChanges(_ config: AgentConfig) -> JSONValue {
        .array(JSONPatch.diff(.object([:]), config.versionedJSON).map(\.json))
    }

    /// One create of `ams_create_agents`: the arguments of `ams_create_agent`, its time as `instant`.
    static func createElement(_ agent: Agent, _ audit: Audit) -> JSONValue {
        let c = agent.config
        var element: [String: JSONValue] = [
            "tenant": .string(agent.tenantID), "id": .string(agent.id.uuidString.lowercased()), "name": .string(c.name),
            "type": .string(c.type.rawValue),
            "status": .string(c.status.rawValue), "config": c.json, "validation": agent.validation.json,
            "by": .string(agent.createdBy), "roles": roles(audit), "request_id": .string(audit.requestID),
            "changes": creationChanges(c),
        ]
        element.merge(instant(agent.createdAt), uniquingKeysWith: { $1 })
        if let templateID = agent.templateID { element["template_id"] = .string(templateID) }
        if let templateVersion = agent.templateVersion { element["template_version"] = .int(templateVersion) }
        if let traceparent = audit.traceparent { element["traceparent"] = .string(traceparent) }
        return .object(element)
    }

    /// 2000-01-01 00:00:00 UTC, where Postgres counts its timestamps from.
    private static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)
}
