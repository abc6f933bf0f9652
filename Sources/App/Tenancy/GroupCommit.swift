import Domain

/// The sizes of every group commit: a batch holds at most `batch` writes (a slow one holds up no
/// more, and it stays under Postgres's 64 cached subtransactions, one per write), and `inFlight`
/// batches are written at once (two keep both of a small machine's cores busy in Postgres, and one
/// slow batch does not stop every write).
enum GroupCommitLimits {
    static let batch = 32
    static let inFlight = 2
}

/// Group commit of one kind of write, for every tenant of the replica: while `inFlight` batches are
/// being written, the writes that come wait, and go together in the next transaction. Postgres
/// makes notifying commits take turns (a cluster-wide lock held through the WAL flush), so a burst
/// pays that turn and the commit once a batch instead of once a write. Each write keeps its own
/// outcome: a refusal (quota, name, a revision moved on) is its alone, and one the batch could not
/// judge (`WriteAlone`) is then written alone, holding up neither its batch nor the next.
actor GroupCommit<Write: Sendable, Outcome: Sendable> {
    typealias Batch = @Sendable ([Write]) async throws -> [Result<Outcome, any Error>]
    typealias Single = @Sendable (Write) async throws -> Outcome

    /// A write that came while the batches in flight were full: it waits to be written with the
    /// others that came meanwhile, or to lead the next batch.
    private struct Waiting {
        enum Turn {
            case written(Result<Outcome, any Error>)
            case lead
        }

        let write: Write
        let turn: CheckedContinuation<Turn, Never>
    }

    private let batch: Batch
    private let single: Single
    private var waiting: [Waiting] = []
    private var leading = 0

    /// `batch` writes one or more in one transaction; `single` writes one the batch answered
    /// `WriteAlone`.
    init(batch: @escaping Batch, single: @escaping Single) {
        self.batch = batch
        self.single = single
    }

    /// The writes waiting for a batch to lead them.
    var waitingCount: Int { waiting.count }

    /// Writes `write` in a batch. The write that finds a batch free leads: it writes itself with up
    /// to `batch - 1` waiting ones, answers them, and hands the lead to the next one waiting.
    func callAsFunction(_ write: Write) async throws -> Outcome {
        let outcome: Result<Outcome, any Error>
        if leading < GroupCommitLimits.inFlight {
            leading += 1
            outcome = await lead(write)
        } else {
            switch await withCheckedContinuation({ waiting.append(Waiting(write: write, turn: $0)) }) {
            case .written(let written): outcome = written
            case .lead: outcome = await lead(write)
            }
        }
        if case .failure(let error) = outcome, error is WriteAlone { return try await single(write) }
        return try outcome.get()
    }

    /// Writes `write` with the writes waiting (up to the batch), answers them, and hands the lead
    /// on; answers `write`'s own outcome. The batch is written in a task of its own: the leader's
    /// request going away must not cancel the others' writes.
    private func lead(_ write: Write) async -> Result<Outcome, any Error> {
        let others = Array(waiting.prefix(GroupCommitLimits.batch - 1))
        waiting.removeFirst(others.count)
        let writes = [write] + others.map(\.write)
        let batch = batch
        var outcomes: [Result<Outcome, any Error>]
        do {
            outcomes = try await Task { try await batch(writes) }.value
            if outcomes.count != writes.count {
                let error = ServiceError(.internalError, "A batch of writes answered another number of outcomes")
                outcomes = Array(repeating: .failure(error), count: writes.count)
            }
        } catch {
            outcomes = Array(repeating: .failure(error), count: writes.count)
        }
        for (other, outcome) in zip(others, outcomes.dropFirst()) { other.turn.resume(returning: .written(outcome)) }
        if waiting.isEmpty {
            leading -= 1
        } else {
            waiting.removeFirst().turn.resume(returning: .lead)
        }
        return outcomes[0]
    }
}
