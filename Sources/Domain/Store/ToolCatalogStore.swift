/// The one tool catalog all tenants validate against.
public protocol ToolCatalogStore: Sendable {
    func toolCatalog() async throws -> [ToolDefinition]
    /// Replaces the catalog; every tenant with a live agent that uses a tool removed or changed gets a
    /// `revalidate_tenant` task (`Revalidation`), recorded in the same transaction.
    func replaceToolCatalog(_ tools: [ToolDefinition]) async throws
}
