import Domain
import HTTPTypes
import Hummingbird
import NIOCore

extension Request {
    /// Reads a JSON body within `limit` bytes: AMS-111 for another content type, AMS-110 when too
    /// large, AMS-109 when it is not JSON.
    mutating func json(limit: Int, mergePatch: Bool = false) async throws -> JSONValue {
        let type = headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard type == "application/json" || (mergePatch && type == "application/merge-patch+json") else {
            throw ServiceError(.unsupportedMediaType, "Content type must be application/json", details: ["content_type": .string(type)])
        }
        let buffer: ByteBuffer
        do {
            buffer = try await collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ServiceError(.bodyTooLarge, "Request body is over \(limit) bytes", details: ["limit": .int(limit)])
        }
        guard let json = JSONValue.parse(buffer.readableBytesView) else {
            throw ServiceError.malformed("Body is not valid JSON")
        }
        return json
    }
}

extension Response {
    /// A JSON response from bytes already encoded.
    static func json(_ bytes: ByteBuffer, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: bytes))
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        json(ByteBuffer(bytes: value.encoded), status: status)
    }
}
