import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Outermost middleware: gives every request an id, puts it on every response and on the log lines
/// of failures, and turns every error into the AMS envelope (internal ones are logged, never shown).
/// The logger's metadata is left alone on the hot path: copying it on every request cost ~7% of a
/// cached GET, so the ids are attached only where a line is written.
struct EnvelopeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let ids = RequestIDGenerator()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incoming = request.headers[.requestID].flatMap { $0.isEmpty || $0.utf8.count > 128 ? nil : $0 }
        context.requestID = incoming ?? ids.next()
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as ServiceError {
            response = error.response(requestID: context.requestID)
        } catch let error as HTTPError {
            response = ServiceError.from(error).response(requestID: context.requestID)
        } catch {
            context.logger.error("request failed", metadata: [
                "request_id": .string(context.requestID),
                "error": .string(String(reflecting: error)),
            ])
            response = ServiceError(.internalError, "Internal error").response(requestID: context.requestID)
        }
        response.headers[.requestID] = context.requestID
        return response
    }
}
