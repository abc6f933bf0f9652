import Domain
import Foundation
import Hummingbird

/// `/v1/tasks` and the endpoints that start background work on agents.
struct TaskRoutes: Sendable {
    let supervisor: TenantSupervisor
    let tasks: any TaskStore
    let enqueuer: TaskEnqueuer
    let bodyLimit: Int

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("tasks", use: list)
        group.get("tasks/:task_id", use: get)
        group.post("agents/:id/validate", use: validate)
        group.post("agents/bulk-update", use: bulkUpdate)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        guard let id = context.parameters.get("task_id").flatMap(UUID.init(uuidString:)),
            let task = try await tasks.task(id, tenant: tenant)
        else { throw ServiceError.taskNotFound() }
        return .json(task.json)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let params = request.uri.queryParameters
        let (limit, after) = try AgentRoutes.page(params)
        var status: TaskStatus?
        if let raw = params.get("status") {
            guard let s = TaskStatus(rawValue: raw) else {
                throw ServiceError.malformed("status must be one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))", field: "status")
            }
            status = s
        }
        var type: TaskType?
        if let raw = params.get("type") {
            guard let t = TaskType(rawValue: raw) else {
                throw ServiceError.malformed("type must be one of \(TaskType.allCases.map(\.rawValue).joined(separator: ", "))", field: "type")
            }
            type = t
        }
        let page = try await tasks.tasks(tenant: tenant, status: status, type: type, limit: limit, before: after)
        return .json(.object(["items": .array(page.items.map(\.json)), "next_cursor": page.next.map { .string(Cursor.encode($0)) } ?? .null]))
    }

    /// 202 with the task's id; the report lands in the agent's `validation` and the task's result.
    @Sendable func validate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let id = try AgentRoutes.agentID(context)
        _ = try await supervisor.tenant(tenant).agent(id)
        let task = TaskMessage(
            tenantID: tenant,
            type: .agentValidate,
            metadata: Self.metadata(identity),
            payload: ["agent_id": .string(id.uuidString.lowercased())]
        )
        try await enqueuer.enqueue(task)
        return Self.accepted(task)
    }

    @Sendable func bulkUpdate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        var request = request
        let body = try ObjectReader(try await request.json(limit: bodyLimit), at: "", allowed: ["filter", "patch"])
        guard let filter = try body.object("filter") else { throw ServiceError.malformed("filter is required (an object)", field: "filter") }
        let f = try ObjectReader(.object(filter), at: "/filter", allowed: ["status", "type", "tag", "ids"])
        _ = try f.string("status")
        _ = try f.string("type")
        _ = try f.string("tag")
        for raw in try f.strings("ids") ?? [] where UUID(uuidString: raw) == nil {
            throw ServiceError.malformed("filter.ids must hold agent ids", field: "/filter/ids")
        }
        guard let patch = try body.object("patch") else { throw ServiceError.malformed("patch is required (a merge patch object)", field: "patch") }
        guard patch["status"] == nil else {
            throw ServiceError.malformed("status changes through POST /v1/agents/{id}/status", field: "/patch/status")
        }
        try await Self.checkPatch(patch, on: supervisor.tenant(tenant))
        let task = TaskMessage(
            tenantID: tenant,
            type: .bulkUpdate,
            metadata: Self.metadata(identity),
            payload: ["filter": .object(filter), "patch": .object(patch)]
        )
        try await enqueuer.enqueue(task)
        return Self.accepted(task)
    }

    /// A minimal agent a bulk patch is tried on, to refuse a patch no agent could take.
    private static let probe: JSONValue = .object(["name": .string("probe"), "llm_config": .object(["model": .string("gpt-4o-mini")])])

    /// Refuses a patch no agent could take: unknown fields and wrong types (400 AMS-109), and values
    /// the tenant's agents may not have, judged on the fields the patch sets (400 AMS-100).
    static func checkPatch(_ patch: [String: JSONValue], on tenant: TenantActor) async throws {
        try AgentConfig.checkPatchFields(patch, at: "/patch")
        let config: AgentConfig
        do {
            config = try AgentConfig(json: probe.merging(patch: .object(patch)))
        } catch let error as ServiceError where error.code == .malformedBody {
            throw error
        } catch {
            return
        }
        let touched = pointers(.object(patch), at: "")
        let issues = try await tenant.dryRun(config).errors.filter { issue in
            touched.contains { issue.path == $0 || issue.path.hasPrefix($0 + "/") }
        }
        guard issues.isEmpty else { throw ServiceError.validationFailed(issues) }
    }

    /// The JSON Pointers of the values a merge patch sets (objects are walked, anything else is a value).
    private static func pointers(_ value: JSONValue, at path: String) -> [String] {
        guard case .object(let members) = value else { return [path] }
        return members.flatMap { key, member in pointers(member, at: path + "/" + JSONPointer.escape(key)) }
    }

    static func metadata(_ identity: Identity) -> [String: JSONValue] {
        ["user_id": .string(identity.subject), "source": .string("api")]
    }

    static func accepted(_ task: TaskMessage) -> Response {
        .json(
            ByteBuffer(bytes: JSONValue.object(["task_id": .string(task.taskID.uuidString.lowercased())]).encoded),
            status: .accepted,
            headers: [.location: "/v1/tasks/\(task.taskID.uuidString.lowercased())"]
        )
    }
}
