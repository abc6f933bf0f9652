import Domain
import Foundation

/// Where a long task reports how far it got (0–100), with the work done since its last report
/// (appended to what it reported before), so that a replica that takes it over after a crash
/// resumes from there.
typealias TaskProgress = @Sendable (_ percent: Int, _ added: JSONValue) async throws -> Void

/// The work of each task type, run on the tenant's actor like the requests that do the same.
/// Every handler can run again for the same task without doing its work twice: creates use the
/// task's id as the new agent's or template's, merge patches applied twice change nothing, and bulk
/// work skips what its saved progress lists as done.
extension TenantActor {
    /// `decoded`: the agents the task's batch decoded so far, for validations of the same agent.
    func perform(_ task: TaskMessage, record: TaskRecord, progress: TaskProgress, decoded: DecodedAgents = DecodedAgents()) async throws -> JSONValue
    {
        let audit = Audit(
            actor: task.metadata["user_id"]?.stringValue ?? "system",
            roles: [],
            requestID: "task:" + task.taskID.uuidString.lowercased()
        )
        let p = task.payload
        switch task.type {
        case .agentValidate:
            if let id = task.agentID {
                let outcome = try await revalidate(id, audit: audit, decoded: decoded)
                return .object(["agent_id": .string(id.uuidString.lowercased()), "version": .int(outcome.version), "validation": outcome.report.json])
            }
            let config = try AgentConfig(json: p["config"] ?? .null)
            return .object(["validation": try await dryRun(config).json])
        case .agentCreate:
            if let existing = try await deps.agents.agent(task.taskID, tenant: tenantID) {
                return Self.summary(existing.id, existing.config.name, existing.version)
            }
            var fields = p["config"]?.objectValue ?? [:]
            if let name = p["agent_name"] { fields["name"] = name }
            if let type = p["agent_type"] { fields["type"] = type }
            if let tools = p["tools"] { fields["tools"] = tools }
            let config = try AgentConfig(json: .object(fields))
            let agent = try await create(config, id: task.taskID, audit: audit)
            return Self.summary(task.taskID, config.name, agent.version)
        case .agentUpdate:
            let cached = try await patch(task.agentID!, with: p["config"] ?? .object([:]), ifMatch: nil, audit: audit)
            guard let agent = Agent(encoded: cached.bytes, revision: cached.revision) else { throw ServiceError(.internalError, "Agent unreadable") }
            return Self.summary(agent.id, agent.config.name, agent.version)
        case .agentDelete:
            let id = task.agentID!
            do {
                try await delete(id, ifMatch: nil, audit: audit)
            } catch let error as ServiceError where error.code == .agentNotFound {
                // Already gone, by this task's earlier run or otherwise: the task's end is reached.
                return .object(["agent_id": .string(id.uuidString.lowercased()), "deleted": .bool(false)])
            }
            return .object(["agent_id": .string(id.uuidString.lowercased()), "deleted": .bool(true)])
        case .agentNotify:
            guard let agent = try await deps.agents.agent(task.agentID!, tenant: tenantID) else { throw ServiceError.agentNotFound() }
            try await deps.agents.announce([agent], tenant: tenantID)
            return Self.summary(agent.id, agent.config.name, agent.version)
        case .templateCreate:
            let id = task.taskID.uuidString.lowercased()
            if let existing = try? await template(id) { return Self.templateSummary(existing) }
            return Self.templateSummary(try await createTemplate(p["template"] ?? .null, id: task.taskID, audit: audit))
        case .sync:
            var announced = 0
            try await eachAgent(AgentQuery(limit: 200)) { page in
                try await self.deps.agents.announce(page, tenant: self.tenantID)
                announced += page.count
            }
            return .object(["announced": .int(announced)])
        case .revalidateTenant:
            return try await revalidateAll(audit: audit)
        case .bulkUpdate:
            return try await bulkUpdate(
                filter: p["filter"] ?? .null,
                patch: p["patch"] ?? .null,
                done: record.result,
                audit: audit,
                progress: progress
            )
        }
    }

    /// Validates an agent's configuration against today's tier and catalog and stores the result
    /// when it changed; the configuration and version stay. A cached agent is decoded through
    /// `decoded`, once per revision for all the validations that share it.
    func revalidate(
        _ id: UUID,
        audit: Audit,
        decoded: DecodedAgents = DecodedAgents()
    ) async throws -> (agentID: UUID, version: Int, report: ValidationReport, changed: Bool) {
        let context = try await validationContext()
        for _ in 0..<Self.writeAttempts {
            let current: Agent
            if let hit = cachedEntry(id), let cached = decoded.agent(id, revision: hit.revision, bytes: hit.body.bytes) {
                current = cached
            } else if let stored = try await deps.agents.agent(id, tenant: tenantID) {
                current = stored
            } else {
                throw ServiceError.agentNotFound()
            }
            let report = await validate(current.config, context)
            guard report != current.validation else { return (id, current.version, report, false) }
            var next = current
            next.validation = report
            if try await deps.agents.setValidation(next, from: current.revision, audit: audit) {
                noticeChanged(id, revision: current.revision + 1)
                return (id, current.version, report, true)
            }
            // Moved on (a write here or elsewhere): drop what is cached and judge the new state.
            noticeChanged(id, revision: current.revision + 1)
        }
        throw ServiceError(.databaseUnavailable, "The agent kept changing while it was validated; retry")
    }

    private func revalidateAll(audit: Audit) async throws -> JSONValue {
        var checked = 0
        var changed = 0
        var invalid: [JSONValue] = []
        try await eachAgent(AgentQuery(limit: 200)) { page in
            for agent in page {
                do {
                    let outcome = try await self.revalidate(agent.id, audit: audit)
                    checked += 1
                    if outcome.changed { changed += 1 }
                    if outcome.report.status == .invalid { invalid.append(.string(agent.id.uuidString.lowercased())) }
                } catch let error as ServiceError where error.code == .agentNotFound {
                    continue
                }
            }
        }
        return .object(["checked": .int(checked), "changed": .int(changed), "invalid": .array(invalid)])
    }

    /// A merge patch over every agent the filter selects, each as its own new version. Agents the
    /// patch would make invalid are skipped and listed; progress is saved every few agents, each
    /// time only the agents done since the last save (a save of everything would cost O(n²)).
    private func bulkUpdate(filter: JSONValue, patch: JSONValue, done: JSONValue?, audit: Audit, progress: TaskProgress) async throws -> JSONValue {
        let f = try ObjectReader(filter, at: "payload.filter", allowed: ["status", "type", "tag", "ids"])
        guard case .object(let fields) = patch else { throw ServiceError.malformed("payload.patch must be an object", field: "payload.patch") }
        guard fields["status"] == nil else { throw ServiceError.malformed("a bulk update cannot change status", field: "payload.patch.status") }
        // Who the filter selects, newest first, as ids only (memory stays small for large tenants).
        var targets: [UUID] = []
        if let ids = try f.strings("ids") {
            for raw in ids {
                guard let id = UUID(uuidString: raw) else {
                    throw ServiceError.malformed("payload.filter.ids must hold agent ids", field: "payload.filter.ids")
                }
                targets.append(id)
            }
        } else {
            let status = try f.string("status").map(AgentStatus.init(rawValue:))
            let type = try f.string("type").map(AgentType.init(rawValue:))
            try await eachAgent(AgentQuery(limit: 200, status: status, type: type, tag: try f.string("tag"))) { page in
                targets += page.map(\.id)
            }
        }
        var updated = done?["updated"]?.arrayValue ?? []
        var unchanged = done?["unchanged"]?.arrayValue ?? []
        var skipped = done?["skipped"]?.arrayValue ?? []
        var finished = Set((updated + unchanged).compactMap(\.stringValue))
        finished.formUnion(skipped.compactMap { $0["agent_id"]?.stringValue })
        func result() -> JSONValue {
            .object(["matched": .int(targets.count), "updated": .array(updated), "unchanged": .array(unchanged), "skipped": .array(skipped)])
        }
        // What the saved progress holds already, list by list.
        var saved = (updated: updated.count, unchanged: unchanged.count, skipped: skipped.count)
        func added() -> JSONValue {
            .object([
                "matched": .int(targets.count), "updated": .array(Array(updated[saved.updated...])),
                "unchanged": .array(Array(unchanged[saved.unchanged...])), "skipped": .array(Array(skipped[saved.skipped...])),
            ])
        }
        var sinceSaved = 0
        for id in targets {
            let key = id.uuidString.lowercased()
            guard !finished.contains(key) else { continue }
            do {
                let before = try await agent(id).version
                // Each agent it changes counts against the tier's updates per hour.
                let after = try await countingWrites(updates: 1) {
                    let version = try await self.patch(id, with: patch, ifMatch: nil, audit: audit).version
                    return (version, version != before)
                }
                (after != before ? { updated.append(.string(key)) } : { unchanged.append(.string(key)) })()
            } catch let error as ServiceError where Self.skips.contains(error.code) {
                var entry: [String: JSONValue] = ["agent_id": .string(key), "code": .string(error.code.rawValue), "message": .string(error.message)]
                if let issues = error.details["issues"] { entry["issues"] = issues }
                skipped.append(.object(entry))
            }
            finished.insert(key)
            sinceSaved += 1
            if sinceSaved == 25 {
                sinceSaved = 0
                try await progress(min(99, finished.count * 100 / max(targets.count, 1)), added())
                saved = (updated.count, unchanged.count, skipped.count)
            }
        }
        return result()
    }

    /// What makes a bulk update pass an agent by rather than fail: the patch does not fit it, or
    /// the tier's updates per hour are used up.
    private static let skips: Set<ErrorCode> = [.validationFailed, .agentNotFound, .malformedBody, .nameConflict, .rateLimited]

    /// Every live agent the query selects, a page at a time.
    private func eachAgent(_ query: AgentQuery, _ body: ([Agent]) async throws -> Void) async throws {
        var query = query
        while true {
            let page = try await deps.agents.agents(tenant: tenantID, query: query)
            try await body(page.items)
            guard let next = page.next else { return }
            query.after = next
        }
    }

    private static func summary(_ id: UUID, _ name: String, _ version: Int) -> JSONValue {
        .object(["agent_id": .string(id.uuidString.lowercased()), "agent_name": .string(name), "version": .int(version)])
    }

    private static func templateSummary(_ t: Template) -> JSONValue {
        .object(["template_id": .string(t.id), "template_name": .string(t.name), "category": .string(t.category), "version": .int(t.version)])
    }
}
