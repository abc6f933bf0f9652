import Domain
import Hummingbird

/// An agent with its response bytes and ETag, encoded once per version.
struct CachedAgent: Sendable {
    let agent: Agent
    let body: ByteBuffer
    let etag: String

    init(_ agent: Agent) {
        self.agent = agent
        self.body = ByteBuffer(bytes: agent.encodedJSON)
        self.etag = "\"\(agent.version)\""
    }
}
