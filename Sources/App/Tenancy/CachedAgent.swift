import Domain
import Foundation
import Hummingbird

/// What a GET serves: the response bytes of one version, encoded once.
struct CachedAgent: Sendable {
    let id: UUID
    /// The row's revision (see `Agent.revision`), which the cache compares with change notices.
    let revision: Int
    let cacheValue: CachedBody

    init(_ agent: Agent) {
        self.id = agent.id
        self.revision = agent.revision
        self.cacheValue = CachedBody(version: agent.version, bytes: agent.encodedJSON)
    }

    init(id: UUID, revision: Int, _ body: CachedBody) {
        self.id = id
        self.revision = revision
        self.cacheValue = body
    }

    var version: Int { cacheValue.version }
    var bytes: ArraySlice<UInt8> { cacheValue.bytes }
    var body: ByteBuffer { ByteBuffer(bytes: bytes) }
    var etag: String { "\"\(version)\"" }
}

/// What the cache keeps per agent (its id is the key, its revision the entry's): the response
/// bytes, in one exact-size array rather than a `ByteBuffer`, whose storage rounds up to a power of
/// two (a 700-byte agent would hold 1 KiB). The version, for the `ETag`, rides in the array's first
/// four bytes, so an entry stays one pointer: with 100,000 agents cached, every word counts.
struct CachedBody: Sendable {
    private let storage: [UInt8]

    init(version: Int, bytes: [UInt8]) {
        let v = UInt32(truncatingIfNeeded: version)
        storage = [UInt8](unsafeUninitializedCapacity: bytes.count + 4) { buffer, count in
            buffer[0] = UInt8(truncatingIfNeeded: v >> 24)
            buffer[1] = UInt8(truncatingIfNeeded: v >> 16)
            buffer[2] = UInt8(truncatingIfNeeded: v >> 8)
            buffer[3] = UInt8(truncatingIfNeeded: v)
            _ = UnsafeMutableBufferPointer(rebasing: buffer[4...]).initialize(fromContentsOf: bytes)
            count = bytes.count + 4
        }
    }

    var version: Int { Int(storage[0]) << 24 | Int(storage[1]) << 16 | Int(storage[2]) << 8 | Int(storage[3]) }
    var bytes: ArraySlice<UInt8> { storage[4...] }

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
