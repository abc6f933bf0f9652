import Domain

/// The catalog all tenants validate against: loaded once, dropped when any replica replaces it, and
/// under the same rules as the agent caches (bypassed while the listener is down, dropped when it is back).
actor ToolCatalogCache {
    private let store: any ToolCatalogStore
    private var cache: NoticeCoherentCache<Int, ToolCatalog>

    init(store: any ToolCatalogStore, caching: Bool = true) {
        self.store = store
        self.cache = NoticeCoherentCache(capacity: 1, enabled: caching)
    }

    func current() async throws -> ToolCatalog {
        if let catalog = cache[0] { return catalog }
        let ticket = cache.ticket()
        defer { cache.settle(ticket) }
        let loaded = ToolCatalog(try await store.toolCatalog())
        cache.fill(0, version: 0, loaded, since: ticket)
        return loaded
    }

    func invalidate() { cache.notice(0, version: nil) }

    func setCaching(_ enabled: Bool) { cache.reset(enabled: enabled) }

    var isCached: Bool { cache[0] != nil }
}
