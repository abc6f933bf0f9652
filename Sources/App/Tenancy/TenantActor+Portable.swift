import Domain
import Foundation

/// Export, import and declarative apply: agents as files that move between tenants and
/// environments, and a tenant made to match a set of them.
extension TenantActor {
    static let applyLimit = 500

    func export(_ id: UUID, allVersions: Bool) async throws -> JSONValue {
        guard let agent = try await deps.agents.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        var versions: [AgentVersion]?
        if allVersions {
            var all: [AgentVersion] = []
            for summary in try await allVersionNumbers(of: id) {
                guard let full = try await deps.versions.version(summary, of: id, tenant: tenantID) else { continue }
                all.append(full)
            }
            versions = all
        }
        return AgentFile.encode(agent, versions: versions, exportedAt: Date.storedNow())
    }

    /// Plans (and unless `dryRun`, writes in one transaction) what makes the tenant's agents match
    /// `items`, keyed by name. Everything is validated before anything is written.
    func apply(_ items: [JSONValue], prune: Bool, dryRun: Bool, identity: Identity, audit: Audit) async throws -> [ApplyStep] {
        guard items.count <= Self.applyLimit else {
            throw ServiceError.malformed("agents holds at most \(Self.applyLimit) agents", field: "/agents")
        }
        var desired: [AgentConfig] = []
        var seen: Set<String> = []
        for (i, item) in items.enumerated() {
            let config = try AgentFile.config(item, at: "/agents/\(i)")
            guard seen.insert(config.name).inserted else {
                throw ServiceError.malformed("Two agents are named '\(config.name)'", field: "/agents/\(i)/name")
            }
            desired.append(config)
        }
        let context = try await validationContext()
        var issues: [ValidationIssue] = []
        var reports: [ValidationReport] = []
        for (i, config) in desired.enumerated() {
            let report = await validate(config, context)
            for var issue in report.errors {
                issue.path = "/agents/\(i)" + issue.path
                issues.append(issue)
            }
            reports.append(report)
        }
        guard issues.isEmpty else { throw ServiceError.validationFailed(issues) }

        let live = try await allLiveAgents()
        let byName = Dictionary(live.map { ($0.config.name, $0) }, uniquingKeysWith: { first, _ in first })
        var steps: [ApplyStep] = []
        for (config, report) in zip(desired, reports) {
            guard let current = byName[config.name] else {
                if config.status == .active { try identity.require(.admin) }
                steps.append(
                    ApplyStep(
                        name: config.name,
                        action: .create,
                        config: config,
                        validation: report,
                        changes: JSONPatch.diff(.object([:]), config.versionedJSON)
                    )
                )
                continue
            }
            // The status is the lifecycle's (POST …/status), not a file's: an existing agent keeps its own.
            var target = config
            target.status = current.config.status
            let changes = JSONPatch.diff(current.config.versionedJSON, target.versionedJSON)
            steps.append(
                changes.isEmpty
                    ? ApplyStep(name: config.name, action: .unchanged, current: current)
                    : ApplyStep(name: config.name, action: .update, config: target, validation: report, current: current, changes: changes)
            )
        }
        if prune {
            try identity.require(.admin)
            for agent in live where !seen.contains(agent.config.name) {
                steps.append(ApplyStep(name: agent.config.name, action: .delete, current: agent))
            }
        }
        guard !dryRun else { return steps }
        // Each agent it creates or updates counts against the tier's write limits, all or none.
        return try await countingWrites(creates: steps.count { $0.action == .create }, updates: steps.count { $0.action == .update }) {
            (try await write(steps, audit: audit), true)
        }
    }

    private func write(_ steps: [ApplyStep], audit: Audit) async throws -> [ApplyStep] {
        let now = Date.storedNow()
        var written = steps
        var creates: [Agent] = []
        var updates: [(agent: Agent, from: Int, changes: JSONValue)] = []
        var deletes: [UUID] = []
        for (i, step) in steps.enumerated() {
            switch step.action {
            case .create:
                guard let config = step.config, let report = step.validation else { continue }
                let agent = Agent(
                    id: .v7(now: now),
                    tenantID: tenantID,
                    version: 1,
                    config: config,
                    validation: report,
                    createdAt: now,
                    updatedAt: now,
                    createdBy: audit.actor,
                    updatedBy: audit.actor
                )
                creates.append(agent)
                written[i].current = agent
            case .update:
                guard let current = step.current, let config = step.config, let report = step.validation else { continue }
                var next = current
                next.config = config
                next.validation = report
                next.version += 1
                next.revision += 1
                next.updatedAt = now
                next.updatedBy = audit.actor
                updates.append((next, current.revision, .array(step.changes.map(\.json))))
                written[i].current = next
            case .delete:
                if let id = step.current?.id { deletes.append(id) }
            case .unchanged:
                break
            }
        }
        try await deps.agents.apply(creates: creates, updates: updates, deletes: deletes, tenant: tenantID, quota: deps.quota, audit: audit)
        for step in written {
            guard let agent = step.current else { continue }
            noticeChanged(agent.id, revision: step.action == .delete ? Int.max : agent.revision)
        }
        return written
    }

    private func allLiveAgents() async throws -> [Agent] {
        var agents: [Agent] = []
        var query = AgentQuery(limit: 200)
        repeat {
            let page = try await deps.agents.agents(tenant: tenantID, query: query)
            agents += page.items
            query.after = page.next
        } while query.after != nil
        return agents
    }

    private func allVersionNumbers(of id: UUID) async throws -> [Int] {
        var numbers: [Int] = []
        var before: Int64?
        repeat {
            guard let page = try await deps.versions.versions(of: id, tenant: tenantID, limit: 200, before: before) else {
                throw ServiceError.agentNotFound()
            }
            numbers += page.items.map(\.version)
            before = page.next
        } while before != nil
        return numbers.reversed()
    }
}
