/// The one tool catalog all tenants validate against, and who a change of it may affect.
public protocol ToolCatalogStore: Sendable {
    func toolCatalog() async throws -> [ToolDefinition]
    func replaceToolCatalog(_ tools: [ToolDefinition]) async throws
    /// Tenants with a live agent that uses one of these tools (a catalog change may affect them).
    func tenantsUsing(tools: [String]) async throws -> [TenantID]
}
