public import Domain
import Foundation
import HTTPTypes
public import Hummingbird

extension HTTPField.Name {
    static let requestID = Self("X-Request-ID")!
    static let tenantID = Self("X-Tenant-ID")!
}

/// The one place a `ServiceError` becomes the documented envelope.
extension ServiceError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: code.httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let requestID = (context as? AppRequestContext)?.requestID ?? request.headers[.requestID] ?? ""
        return response(requestID: requestID)
    }

    func response(requestID: String) -> Response {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", code.rawValue)
        // An internal error's own message is for the log, never for the client.
        w.field("message", code == .internalError ? "Internal error" : message)
        w.field("details", .object(details))
        w.field("request_id", requestID)
        w.field("timestamp", Agent.timestamp(Date()))
        w.endObject()
        w.endObject()
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        switch code {
        case .databaseUnavailable, .queueUnavailable: headers[.retryAfter] = "1"
        case .rateLimited:
            if let retry = details["retry_after"]?.numberValue { headers[.retryAfter] = String(Int(retry)) }
            if let limit = details["limit"]?.numberValue { headers[.rateLimitLimit] = String(Int(limit)) }
            headers[.rateLimitRemaining] = "0"
            if let reset = details["reset"]?.numberValue { headers[.rateLimitReset] = String(Int(reset)) }
        case .missingToken, .invalidToken, .expiredToken: headers[.wwwAuthenticate] = "Bearer"
        default: break
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    /// Framework errors (unknown route, body too large) in the same envelope.
    static func from(_ error: HTTPError) -> ServiceError {
        switch error.status {
        case .notFound: ServiceError(.routeNotFound, "No such endpoint")
        case .methodNotAllowed: ServiceError(.methodNotAllowed, "This endpoint does not answer this method")
        case .contentTooLarge: ServiceError(.bodyTooLarge, "Request body is too large")
        case .unsupportedMediaType: ServiceError(.unsupportedMediaType, "Content type must be application/json")
        case .badRequest: ServiceError(.malformedBody, error.body ?? "Bad request")
        default: ServiceError(.internalError, "Internal error")
        }
    }
}
