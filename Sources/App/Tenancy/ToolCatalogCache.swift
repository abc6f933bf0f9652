import Domain

/// The catalog all tenants validate against: loaded once, dropped when any replica replaces it.
actor ToolCatalogCache {
    private let store: any AgentStore
    private var catalog: ToolCatalog?

    init(store: any AgentStore) { self.store = store }

    func current() async throws -> ToolCatalog {
        if let catalog { return catalog }
        let loaded = ToolCatalog(try await store.toolCatalog())
        catalog = loaded
        return loaded
    }

    func invalidate() { catalog = nil }
}
