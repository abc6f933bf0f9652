import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Outermost middleware: gives every request an id, puts it on every response and log line, and
/// turns every error into the AMS envelope (internal ones are logged, never shown).
struct EnvelopeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incoming = request.headers[.requestID].flatMap { $0.isEmpty || $0.utf8.count > 128 ? nil : $0 }
        context.requestID = incoming ?? UUID().uuidString.lowercased()
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as ServiceError {
            response = error.response(requestID: context.requestID)
        } catch let error as HTTPError {
            response = ServiceError.from(error).response(requestID: context.requestID)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            response = ServiceError(.internalError, "Internal error").response(requestID: context.requestID)
        }
        response.headers[.requestID] = context.requestID
        return response
    }
}
