import Domain
import Foundation
import Synchronization

/// The agents a tenant's turn validated, decoded from the tenant's cache, each at the revision it
/// was decoded from: a turn that validates one agent many times decodes its JSON once per revision.
/// It lives as long as the turn (its batches run one after another), holding at most `capacity`
/// agents, so the cache itself keeps only bytes.
final class DecodedAgents: Sendable {
    static let capacity = 256
    private let agents = Mutex<[UUID: Agent]>([:])
    private let decodes = Atomic<Int>(0)

    /// The agent at `revision`, decoded from `bytes` (unpacked only then) when this turn has not
    /// decoded that revision yet.
    func agent(_ id: UUID, revision: Int, bytes: @autoclosure () -> ArraySlice<UInt8>) -> Agent? {
        if let known = agents.withLock({ $0[id] }), known.revision == revision { return known }
        decodes.add(1, ordering: .relaxed)
        guard let agent = Agent(encoded: bytes(), revision: revision) else { return nil }
        agents.withLock { known in
            if known.count >= Self.capacity, known[id] == nil { known.removeAll(keepingCapacity: true) }
            known[id] = agent
        }
        return agent
    }

    /// How many times this turn decoded an agent.
    var decoded: Int { decodes.load(ordering: .relaxed) }
}
