import Domain
import Foundation
import Hummingbird

/// What a GET serves: the response bytes of one version, encoded once.
struct CachedAgent: Sendable {
    let id: UUID
    let version: Int
    /// The row's revision (see `Agent.revision`), which the cache compares with change notices.
    let revision: Int
    let bytes: [UInt8]

    init(_ agent: Agent) {
        self.id = agent.id
        self.version = agent.version
        self.revision = agent.revision
        self.bytes = CachedBody.exact(agent.encodedJSON)
    }

    init(id: UUID, revision: Int, _ body: CachedBody) {
        self.id = id
        self.version = body.version
        self.revision = revision
        self.bytes = body.bytes
    }

    var body: ByteBuffer { ByteBuffer(bytes: bytes) }
    var etag: String { "\"\(version)\"" }
    var cacheValue: CachedBody { CachedBody(version: version, bytes: bytes) }
}

/// What the cache keeps per agent (its id is the key, its revision the entry's): the version for
/// the `ETag`, and the bytes as an exact-size array rather than a `ByteBuffer`, whose storage
/// rounds up to a power of two (a 700-byte agent would hold 1 KiB); copying them into a buffer
/// per response costs far less than that memory.
struct CachedBody: Sendable {
    let version: Int
    let bytes: [UInt8]

    /// A copy without the writer's spare capacity.
    static func exact(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, count in
            count = buffer.initialize(fromContentsOf: bytes)
        }
    }
}

/// What the internal config and availability endpoints serve from the cache: the execution
/// configuration's bytes (only while the agent is active), and what availability needs.
struct CachedConfig: Sendable {
    let version: Int
    let status: AgentStatus
    let invalid: Bool
    /// Empty unless `status` is `active`.
    let bytes: [UInt8]

    init(_ agent: Agent) {
        self.version = agent.version
        self.status = agent.config.status
        self.invalid = agent.validation.status == .invalid
        self.bytes = agent.config.status == .active ? CachedBody.exact(agent.executionJSON()) : []
    }

    var etag: String { "\"\(version)\"" }
}
