public import Foundation

/// A tenant's own templates, and how often each template (system ones included) was used.
public protocol TemplateStore: Sendable {
    /// The tenant's templates, newest first, filtered by `category` and `type` when given.
    func templates(tenant: TenantID, category: String?, type: AgentType?, limit: Int, before: Int64?) async throws -> Page<Template>
    func template(_ id: UUID, tenant: TenantID) async throws -> Template?
    /// Stores a new template (version 1); `nameConflict` when the tenant has one of that name.
    func insertTemplate(_ template: Template) async throws
    /// Stores `template` if the stored one is still at `template.version - 1`; `false` when it moved on or is gone.
    func updateTemplate(_ template: Template) async throws -> Bool
    func deleteTemplate(_ id: UUID, tenant: TenantID) async throws -> Bool
    /// Agents created from each of `ids` in this tenant.
    func usage(of ids: [String], tenant: TenantID) async throws -> [String: Int]
}
