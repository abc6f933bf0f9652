public import Foundation

/// The first response to a POST sent with an `Idempotency-Key`, kept per tenant for 24 hours so a
/// retry gets it again instead of doing the work twice.
public protocol IdempotencyStore: Sendable {
    /// Claims `key` for a request with this `fingerprint` (its method, path and body) as `claim`,
    /// or says why not. A claim left unfinished for a minute (its replica died) may be taken over.
    func claim(_ key: String, tenant: TenantID, fingerprint: String, claim: UUID) async throws -> IdempotencyClaim
    /// Records the response of the request that claimed `key`, if its claim still holds.
    func complete(_ key: String, tenant: TenantID, claim: UUID, with response: StoredResponse) async throws
    /// Gives a claimed key up (the request failed), so that a retry does the work; only its own claim.
    func release(_ key: String, tenant: TenantID, claim: UUID) async throws
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
