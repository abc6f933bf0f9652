import Domain
import Foundation
import Hummingbird
import NIOCore

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
    var body: ByteBuffer { cacheValue.buffer }
    var etag: String { "\"\(version)\"" }
}

/// What the cache keeps per agent (its id is the key, its revision the entry's): the response
/// bytes packed (`PackedJSON`: the keys every agent repeats as two-byte tokens, about half the
/// bytes), in one exact-size array. The version, for the `ETag`, and the response's length ride in
/// the array's first eight bytes, so an entry stays one pointer: with 100,000 agents cached, every
/// word counts. A read writes the response in one pass over it, without parsing.
struct CachedBody: Sendable {
    private let storage: [UInt8]
    private static let header = 8

    init(version: Int, bytes: [UInt8]) {
        var packed: [UInt8] = []
        packed.reserveCapacity(Self.header + bytes.count)
        Self.append(UInt32(truncatingIfNeeded: version), to: &packed)
        Self.append(UInt32(truncatingIfNeeded: bytes.count), to: &packed)
        PackedJSON.pack(bytes, into: &packed)
        storage = Self.exact(packed)
    }

    private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        for shift in [24, 16, 8, 0] { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    private func field(at offset: Int) -> Int {
        Int(storage[offset]) << 24 | Int(storage[offset + 1]) << 16 | Int(storage[offset + 2]) << 8 | Int(storage[offset + 3])
    }

    var version: Int { field(at: 0) }
    /// The response's length.
    var count: Int { field(at: 4) }
    /// What the entry takes in memory, besides the array's header.
    var storedCount: Int { storage.count }

    /// The response bytes, unpacked into a new array.
    var bytes: ArraySlice<UInt8> {
        storage.withUnsafeBufferPointer { PackedJSON.expanded(UnsafeBufferPointer(rebasing: $0[Self.header...])) }[...]
    }

    /// The response bytes, unpacked straight into the buffer a response sends.
    var buffer: ByteBuffer {
        let count = count
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        storage.withUnsafeBufferPointer { packed in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { out in
                PackedJSON.expand(UnsafeBufferPointer(rebasing: packed[Self.header...]), into: UnsafeMutableRawBufferPointer(rebasing: out[..<count]))
                return count
            }
        }
        return buffer
    }

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
