import Domain
import Foundation
import Hummingbird

/// What a GET serves: the response bytes of one version, encoded once. Nothing else is kept, since
/// writes read the current state from Postgres and notices need only the version.
struct CachedAgent: Sendable {
    let id: UUID
    let version: Int
    let body: ByteBuffer

    init(_ agent: Agent) {
        self.id = agent.id
        self.version = agent.version
        self.body = ByteBuffer(bytes: agent.encodedJSON)
    }

    var etag: String { "\"\(version)\"" }
}
