import Domain
import Foundation
import Hummingbird

/// What a GET serves: the response bytes of one version, encoded once. The cache keeps only the
/// bytes (the id is its key, the version its entry's), since writes read the current state from
/// Postgres and notices need only the version. The bytes are an exact-size array rather than a
/// `ByteBuffer`, whose storage rounds up to a power of two (a 700-byte agent would hold 1 KiB);
/// copying them into a buffer per response costs far less than that memory.
struct CachedAgent: Sendable {
    let id: UUID
    let version: Int
    let bytes: [UInt8]

    init(_ agent: Agent) {
        self.id = agent.id
        self.version = agent.version
        self.bytes = Self.exact(agent.encodedJSON)
    }

    init(id: UUID, version: Int, bytes: [UInt8]) {
        self.id = id
        self.version = version
        self.bytes = bytes
    }

    /// A copy without the writer's spare capacity.
    private static func exact(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, count in
            count = buffer.initialize(fromContentsOf: bytes)
        }
    }

    var body: ByteBuffer { ByteBuffer(bytes: bytes) }
    var etag: String { "\"\(version)\"" }
}
