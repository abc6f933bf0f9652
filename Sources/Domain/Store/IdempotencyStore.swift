/// The first response to a POST sent with an `Idempotency-Key`, kept per tenant for 24 hours so a
/// retry gets it again instead of doing the work twice.
public protocol IdempotencyStore: Sendable {
    /// Claims `key` for a request with this `fingerprint` (its method, path and body), or says why not.
    func claim(_ key: String, tenant: TenantID, fingerprint: String) async throws -> IdempotencyClaim
    /// Records the response of the request that claimed `key`.
    func complete(_ key: String, tenant: TenantID, with response: StoredResponse) async throws
    /// Gives a claimed key up (the request failed), so that a retry does the work.
    func release(_ key: String, tenant: TenantID) async throws
}

public enum IdempotencyClaim: Sendable, Hashable {
    /// The caller does the work, then completes or releases the key.
    case claimed
    /// The key's request was done: answer this.
    case replay(StoredResponse)
    /// The key was used with another request.
    case mismatch
    /// The key's first request is still running.
    case inProgress
}

public struct StoredResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
