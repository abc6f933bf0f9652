import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Yams

/// Export, import and declarative apply of agent files (JSON, or YAML where asked for).
struct PortableRoutes: Sendable {
    static let yamlTypes: Set<String> = ["application/yaml", "application/x-yaml", "text/yaml"]

    let supervisor: TenantSupervisor
    let bodyLimit: Int

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("agents/:id/export", use: export)
        group.post("agents/import", use: importAgent)
        group.post("agents/apply", use: apply)
    }

    @Sendable func export(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (_, tenant) = try context.caller(.read)
        let id = try AgentRoutes.agentID(context)
        let versions = request.uri.queryParameters.get("versions")
        guard versions == nil || versions == "all" || versions == "current" else {
            throw ServiceError.malformed("versions must be all or current", field: "versions")
        }
        let file = try await supervisor.tenant(tenant).export(id, allVersions: versions == "all")
        if Self.wantsYAML(request.headers[.accept]) {
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            return Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: try encoder.encode(file)))
            )
        }
        return .json(file)
    }

    @Sendable func importAgent(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        var request = request
        let config = try AgentFile.config(try await Self.document(&request, limit: bodyLimit))
        if config.status == .active { try identity.require(.admin) }
        let created = try await supervisor.tenant(tenant).create(config, audit: context.audit(identity))
        return .json(
            created.body,
            status: .created,
            headers: [
                .location: "/v1/agents/\(created.id.uuidString.lowercased())", .eTag: created.etag,
            ]
        )
    }

    @Sendable func apply(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (identity, tenant) = try context.caller(.write)
        let params = request.uri.queryParameters
        let dryRun = try Self.flag(params.get("dry_run"), "dry_run")
        let prune = try Self.flag(params.get("prune"), "prune")
        var request = request
        let body = try ObjectReader(try await Self.document(&request, limit: bodyLimit), at: "", allowed: ["agents"])
        guard let items = try body.array("agents") else { throw ServiceError.malformed("agents is required", field: "/agents") }
        let steps = try await supervisor.tenant(tenant).apply(items, prune: prune, dryRun: dryRun, identity: identity, audit: context.audit(identity))
        return .json(.object(["dry_run": .bool(dryRun), "items": .array(steps.map(Self.json))]))
    }

    static func json(_ step: ApplyStep) -> JSONValue {
        var item: [String: JSONValue] = ["name": .string(step.name), "action": .string(step.action.rawValue)]
        if let id = step.current?.id { item["id"] = .string(id.uuidString.lowercased()) }
        if step.action == .update || step.action == .create { item["changes"] = .array(step.changes.map(\.json)) }
        return .object(item)
    }

    static func flag(_ raw: String?, _ name: String) throws -> Bool {
        switch raw {
        case nil, "0", "false": return false
        case "1", "true": return true
        default: throw ServiceError.malformed("\(name) must be 1 or 0", field: name)
        }
    }

    static func wantsYAML(_ accept: String?) -> Bool {
        guard let accept else { return false }
        return accept.split(separator: ",").contains { element in
            let type = element.split(separator: ";", omittingEmptySubsequences: false).first ?? ""
            return yamlTypes.contains(type.trimmingCharacters(in: .whitespaces).lowercased())
        }
    }

    /// A JSON body, or a YAML one (an exported file as it was saved).
    static func document(_ request: inout Request, limit: Int) async throws -> JSONValue {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard yamlTypes.contains(type) else { return try await request.json(limit: limit) }
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ServiceError(.bodyTooLarge, "Request body is over \(limit) bytes", details: ["limit": .int(limit)])
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self), let value = YAMLDocument.parse(text) else {
            throw ServiceError.malformed("Body is not valid YAML, uses aliases, or holds U+0000, NaN or infinity")
        }
        return value
    }
}
