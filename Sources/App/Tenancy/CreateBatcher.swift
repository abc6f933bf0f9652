import Domain

/// Group commit of creates, for every tenant of the replica: while `inFlight` batches are being
/// written, the creates that come wait, and go together in the next transaction. Postgres makes
/// notifying commits take turns (a cluster-wide lock held through the WAL flush), so a burst pays
/// that turn, the tenant's row lock and the commit once a batch instead of once a create. Each
/// create keeps its own outcome: a refusal (quota, name) is its alone.
actor CreateBatcher {
    /// The most creates one transaction writes: a slow batch holds up no more than these, and it
    /// stays under Postgres's 64 cached subtransactions (one per create).
    static let batch = 32
    /// Batches written at once: two keep both of a small machine's cores busy in Postgres, and one
    /// slow batch (a tenant's row locked elsewhere) does not stop every create.
    static let inFlight = 2

    /// A create that came while the batches in flight were full: it waits to be written with the
    /// others that came meanwhile, or to lead the next batch.
    private struct Waiting {
        enum Turn {
            case written(Result<Void, any Error>)
            case lead
        }

        let agent: Agent
        let audit: Audit
        let turn: CheckedContinuation<Turn, Never>
    }

    private let store: any AgentStore
    private let quota: AgentQuota
    private var waiting: [Waiting] = []
    private var leading = 0

    init(store: any AgentStore, quota: AgentQuota) {
        self.store = store
        self.quota = quota
    }

    /// The creates waiting for a batch to lead them.
    var waitingCount: Int { waiting.count }

    /// Inserts `agent` as `AgentStore.insert` does, in a batch. The create that finds a batch free
    /// leads: it writes itself with up to `batch - 1` waiting ones, answers them, and hands the
    /// lead to the next one waiting, if any.
    func insert(_ agent: Agent, audit: Audit) async throws {
        if leading < Self.inFlight {
            leading += 1
        } else {
            let turn = await withCheckedContinuation { waiting.append(Waiting(agent: agent, audit: audit, turn: $0)) }
            if case .written(let outcome) = turn { return try outcome.get() }
        }
        let others = Array(waiting.prefix(Self.batch - 1))
        waiting.removeFirst(others.count)
        let outcomes: [Result<Void, any Error>]
        do {
            outcomes = try await store.insert([(agent, audit)] + others.map { ($0.agent, $0.audit) }, quota: quota)
        } catch {
            outcomes = Array(repeating: .failure(error), count: others.count + 1)
        }
        for (other, outcome) in zip(others, outcomes.dropFirst()) { other.turn.resume(returning: .written(outcome)) }
        if waiting.isEmpty {
            leading -= 1
        } else {
            waiting.removeFirst().turn.resume(returning: .lead)
        }
        try outcomes[0].get()
    }
}
