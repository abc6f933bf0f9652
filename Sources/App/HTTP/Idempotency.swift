import Crypto
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `Idempotency-Key` on POST: the first request with a key does the work and its 2xx response is
/// kept for 24 hours; a retry with the same key, path and body gets that response again (with
/// `Idempotent-Replayed: true`) without the work being done twice; the same key with another
/// request is 409 AMS-307. A retry that arrives while the first is still running waits for it.
/// A failed first request (any non-2xx) frees the key, so a retry does the work.
struct Idempotency: Sendable {
    static let keyField = HTTPField.Name("Idempotency-Key")!
    static let replayedField = HTTPField.Name("Idempotent-Replayed")!
    /// Headers of a first response that a replay repeats.
    static let keptFields: [HTTPField.Name] = [.eTag, .location]
    /// How long a retry waits for the first request before giving up with AMS-307.
    static let patience = Duration.seconds(10)

    let store: any IdempotencyStore
    let bodyLimit: Int

    func once(
        _ request: inout Request,
        context: AppRequestContext,
        tenant: TenantID,
        _ work: (inout Request) async throws -> JSONReply
    ) async throws -> Response {
        guard let key = request.headers[Self.keyField] else { return try await work(&request).response }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ServiceError.malformed("Idempotency-Key must be 1–255 visible ASCII characters", field: "Idempotency-Key")
        }
        let fingerprint = try await Self.fingerprint(&request, limit: bodyLimit)
        let deadline = ContinuousClock.now + Self.patience
        let claim = UUID()
        while true {
            switch try await store.claim(key, tenant: tenant, fingerprint: fingerprint, claim: claim) {
            case .claimed:
                return try await perform(key, tenant: tenant, claim: claim, &request, context: context, work)
            case .replay(let stored):
                return Self.response(stored)
            case .mismatch:
                throw ServiceError(.idempotencyConflict, "This Idempotency-Key was used with a different request", details: ["key": .string(key)])
            case .inProgress:
                guard ContinuousClock.now < deadline else {
                    throw ServiceError(
                        .idempotencyConflict,
                        "The first request with this Idempotency-Key is still in progress",
                        details: ["key": .string(key)]
                    )
                }
                try await Task.sleep(for: .milliseconds(25))
            }
        }
    }

    private func perform(
        _ key: String,
        tenant: TenantID,
        claim: UUID,
        _ request: inout Request,
        context: AppRequestContext,
        _ work: (inout Request) async throws -> JSONReply
    ) async throws -> Response {
        let reply: JSONReply
        do {
            reply = try await work(&request)
        } catch {
            try? await store.release(key, tenant: tenant, claim: claim)
            throw error
        }
        guard (200..<300).contains(reply.status.code) else {
            try? await store.release(key, tenant: tenant, claim: claim)
            return reply.response
        }
        var headers: [String: String] = [:]
        for name in Self.keptFields { if let value = reply.headers[name] { headers[name.canonicalName] = value } }
        do {
            try await store.complete(
                key,
                tenant: tenant,
                claim: claim,
                with: StoredResponse(status: reply.status.code, headers: headers, body: Array(reply.body.readableBytesView))
            )
        } catch {
            // The work is done and is answered; a retry within the next minute waits, then does it again.
            context.logger.warning("idempotent response not recorded", metadata: ["error": "\(String(reflecting: error))"])
        }
        return reply.response
    }

    /// SHA-256 of the method, path and body: what "the same request" means for a key.
    static func fingerprint(_ request: inout Request, limit: Int) async throws -> String {
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ServiceError(.bodyTooLarge, "Request body is over \(limit) bytes", details: ["limit": .int(limit)])
        }
        var hash = SHA256()
        hash.update(data: Array("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hash.update(data: Array(body.readableBytesView))
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func response(_ stored: StoredResponse) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", Self.replayedField: "true"]
        for (name, value) in stored.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
        return Response(
            status: HTTPResponse.Status(code: stored.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: stored.body))
        )
    }
}

/// A JSON response whose bytes are at hand, so they can be kept for a replay.
struct JSONReply {
    var status: HTTPResponse.Status = .ok
    var headers: HTTPFields = [:]
    var body: ByteBuffer

    var response: Response { .json(body, status: status, headers: headers) }
}
