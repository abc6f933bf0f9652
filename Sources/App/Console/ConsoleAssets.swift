import Crypto
import Domain
import HTTPTypes
import Hummingbird

/// The web console's files (this folder's `.html`, `.css` and `.js`), embedded in the binary by the
/// EmbedFiles plugin, each with its content type and a strong `ETag` made once at start.
struct ConsoleAssets: Sendable {
    struct Asset: Sendable {
        let body: ByteBuffer
        let contentType: String
        let etag: String
    }

    /// Everything from the service's own origin only: no inline script or style, no other host,
    /// no frames, no plugins.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    /// The page and its modules, by the name they are served under (`/console/<name>`).
    static let embedded = ConsoleAssets(files: [
        "index.html": EmbeddedFiles.indexHTML,
        "console.css": EmbeddedFiles.consoleCSS,
        "console.js": EmbeddedFiles.consoleJS,
        "api.js": EmbeddedFiles.apiJS,
        "dom.js": EmbeddedFiles.domJS,
        "live.js": EmbeddedFiles.liveJS,
        "agents.js": EmbeddedFiles.agentsJS,
        "agent.js": EmbeddedFiles.agentJS,
        "versions.js": EmbeddedFiles.versionsJS,
        "webhooks.js": EmbeddedFiles.webhooksJS,
        "tasks.js": EmbeddedFiles.tasksJS,
    ])

    let assets: [String: Asset]

    init(files: [String: String]) {
        var assets: [String: Asset] = [:]
        for (name, text) in files {
            let digest = SHA256.hash(data: Array(text.utf8)).prefix(16).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
            assets[name] = Asset(body: ByteBuffer(string: text), contentType: Self.contentType(name), etag: "\"" + digest.joined() + "\"")
        }
        self.assets = assets
    }

    static func contentType(_ name: String) -> String {
        if name.hasSuffix(".html") { return "text/html; charset=utf-8" }
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        if name.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        return "application/octet-stream"
    }

    /// The file `name` with its caching and security headers; 304 when `If-None-Match` names it.
    func response(_ name: String, _ request: Request) throws -> Response {
        guard let asset = assets[name] else { throw ServiceError(.routeNotFound, "No such endpoint") }
        var headers: HTTPFields = [
            .eTag: asset.etag,
            // The names carry no digest, so a browser asks again each time and mostly gets a 304.
            .cacheControl: "no-cache",
            .contentSecurityPolicy: Self.contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
            Self.referrerPolicy: "no-referrer",
        ]
        if let tags = request.headers[.ifNoneMatch], AgentRoutes.matches(tags, asset.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }
}
