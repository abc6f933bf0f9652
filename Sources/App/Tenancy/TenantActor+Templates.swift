import Domain
import Foundation

/// Templates: the shipped ones (read-only) and the tenant's own, checked against the tenant's
/// tier and catalog like the agents made from them.
extension TenantActor {
    static let templateNameLimit = 100
    static let categoryLimit = 64

    /// System templates first (by id), then the tenant's own, newest first.
    func templates(
        category: String?,
        type: AgentType?,
        limit: Int,
        after cursor: TemplateCursor?
    ) async throws -> (items: [Template], next: TemplateCursor?) {
        var items: [Template] = []
        var next: TemplateCursor?
        var ownBefore: Int64?
        switch cursor {
        case nil, .system:
            let start: Int = if case .system(let i) = cursor { i } else { 0 }
            let system = deps.systemTemplates.filter { (category == nil || $0.category == category) && (type == nil || $0.type == type) }
            let slice = system.dropFirst(start).prefix(limit)
            let counts = try await store().usage(of: slice.map(\.id), tenant: tenantID)
            items = slice.map {
                var t = $0
                t.usageCount = counts[t.id] ?? 0
                return t
            }
            if start + slice.count < system.count { return (items, .system(start + slice.count)) }
        case .own(let before):
            ownBefore = before
        }
        if items.count < limit {
            let page = try await store().templates(tenant: tenantID, category: category, type: type, limit: limit - items.count, before: ownBefore)
            items += page.items
            next = page.next.map(TemplateCursor.own)
        } else if try await !store().templates(tenant: tenantID, category: category, type: type, limit: 1, before: nil).items.isEmpty {
            next = .own(nil)
        }
        return (items, next)
    }

    func template(_ id: String) async throws -> Template {
        if let system = deps.systemTemplates.first(where: { $0.id == id }) {
            var template = system
            template.usageCount = try await store().usage(of: [id], tenant: tenantID)[id] ?? 0
            return template
        }
        guard let uuid = UUID(canonical: id), let own = try await store().template(uuid, tenant: tenantID) else {
            throw ServiceError.templateNotFound(id)
        }
        return own
    }

    func createTemplate(_ json: JSONValue, id: UUID? = nil, audit: Audit) async throws -> Template {
        let now = Date.storedNow()
        var template = try Template(json: json, id: (id ?? UUID.v7(now: now)).uuidString.lowercased(), tenantID: tenantID)
        template.createdAt = now
        template.updatedAt = now
        template.createdBy = audit.actor
        template.updatedBy = audit.actor
        try await check(template)
        try await store().insertTemplate(template)
        return template
    }

    /// A template from the agent's current configuration.
    func templateFromAgent(_ id: UUID, name: String, category: String, description: String?, audit: Audit) async throws -> Template {
        guard let agent = try await deps.agents.agent(id, tenant: tenantID) else { throw ServiceError.agentNotFound() }
        let config = (agent.config.json.objectValue ?? [:]).filter { Template.configFields.contains($0.key) }
        var fields: [String: JSONValue] = [
            "name": .string(name), "category": .string(category), "type": .string(agent.config.type.rawValue), "config": .object(config),
        ]
        if let description { fields["description"] = .string(description) }
        return try await createTemplate(.object(fields), audit: audit)
    }

    /// An RFC 7396 merge patch of the template's fields; system templates are read-only.
    func patchTemplate(_ id: String, with patch: JSONValue, audit: Audit) async throws -> Template {
        guard case .object = patch else { throw ServiceError.malformed("A merge patch must be a JSON object") }
        try Template.checkPatchFields(patch)
        for _ in 0..<Self.writeAttempts {
            let current = try await template(id)
            guard !current.isSystem else { throw Self.readOnly }
            var next = try Template(json: current.fieldsJSON.merging(patch: patch), id: current.id, tenantID: tenantID)
            guard next.fieldsJSON != current.fieldsJSON else { return current }
            try await check(next)
            next.version = current.version + 1
            next.usageCount = current.usageCount
            next.createdAt = current.createdAt
            next.createdBy = current.createdBy
            next.updatedAt = Date.storedNow()
            next.updatedBy = audit.actor
            if try await store().updateTemplate(next) { return next }
        }
        throw ServiceError(.databaseUnavailable, "The template kept changing while this update was applied; retry")
    }

    func deleteTemplate(_ id: String) async throws {
        if deps.systemTemplates.contains(where: { $0.id == id }) { throw Self.readOnly }
        guard let uuid = UUID(canonical: id), try await store().deleteTemplate(uuid, tenant: tenantID) else {
            throw ServiceError.templateNotFound(id)
        }
    }

    /// A create body on top of its template: objects merge key by key, arrays and scalars replace.
    func configFromTemplate(_ id: String, version: Int?, body: JSONValue) async throws -> (AgentConfig, Template) {
        let template = try await template(id)
        if let version, version != template.version { throw ServiceError.templateNotFound(id, version: version) }
        return (try AgentConfig(json: template.agentBase.overlaid(with: body)), template)
    }

    private static let readOnly = ServiceError(.forbidden, "System templates are read-only")

    private func store() throws -> any TemplateStore {
        guard let store = deps.templates else { throw ServiceError(.internalError, "No template store") }
        return store
    }

    /// The template's own fields, then its configuration as an agent of this tenant would have it.
    /// Issues of configuration fields point into `/config`.
    private func check(_ template: Template) async throws {
        var issues: [ValidationIssue] = []
        if template.name.trimmingCharacters(in: .whitespaces).isEmpty || template.name.unicodeScalars.count > Self.templateNameLimit {
            issues.append(.error(.outOfRange, "/name", "name must be 1–\(Self.templateNameLimit) characters, not only whitespace"))
        }
        if template.category.isEmpty || template.category.unicodeScalars.count > Self.categoryLimit {
            issues.append(.error(.outOfRange, "/category", "category must be 1–\(Self.categoryLimit) characters"))
        }
        let report = await validate(try template.agentConfig(), try await validationContext())
        for var issue in report.errors where issue.path != "/name" {
            if issue.path != "/type" { issue.path = "/config" + issue.path }
            issues.append(issue)
        }
        guard issues.isEmpty else { throw ServiceError.validationFailed(issues) }
    }
}

/// Where a page of `GET /v1/templates` continues: inside the system templates, or in the tenant's own.
enum TemplateCursor: Hashable {
    case system(Int)
    case own(Int64?)

    var encoded: String {
        let text =
            switch self {
            case .system(let i): "t1:s\(i)"
            case .own(let seq): "t1:o\(seq.map(String.init) ?? "")"
            }
        return Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    init?(_ cursor: String) {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8), text.hasPrefix("t1:") else { return nil }
        let rest = text.dropFirst(3)
        if rest.hasPrefix("s"), let i = Int(rest.dropFirst()), i >= 0 {
            self = .system(i)
            return
        }
        if rest == "o" {
            self = .own(nil)
            return
        }
        if rest.hasPrefix("o"), let seq = Int64(rest.dropFirst()), seq > 0 {
            self = .own(seq)
            return
        }
        return nil
    }
}
