import Domain
import Foundation
import Infra
import Logging
import Tracing

/// Runs one tenant's batch of queue entries: refuses what is malformed (to the dead-letter stream,
/// at once), records the rest as `processing`, runs them on the tenant's actor in urgency order,
/// retries what failed for a passing reason, records how each ended, and only then acknowledges
/// the entries. A crash anywhere before the acknowledgement leaves the entries pending, to be
/// claimed and run again; the tasks' records keep that from doing anything twice. A failed task's
/// dead letter is recorded as written, so a redelivery writes one that is missing.
struct TaskRunner: Sendable {
    let redis: RedisClient
    let tasks: any TaskStore & TaskDeadLetterStore
    let supervisor: TenantSupervisor
    let settings: TaskSettings
    let metrics: AppMetrics
    let logger: Logger
    /// Each task's processing a CONSUMER span when tracing is on.
    var traces = Traces.off

    private var queue: RedisTaskQueue { RedisTaskQueue(redis: redis, consumer: settings.consumer, nonce: settings.nonce) }

    /// How a batch ended: whether every entry was settled once `owed` is acknowledged, and the
    /// entries whose tasks are recorded (and dead letters written) but not yet acknowledged, left
    /// to the caller so the acknowledgement rides with its next Redis call.
    struct Settlement: Sendable {
        var settled: Bool
        var owed: [QueuedEntry]
    }

    /// Runs the batch, up to the acknowledgement of what it finished (the caller's, with its next
    /// Redis call); `decoded` is shared by the batches of one turn. Entries not settled stay
    /// pending, to be claimed again.
    func settle(_ entries: [QueuedEntry], tenant: TenantID, decoded: DecodedAgents = DecodedAgents()) async -> Settlement {
        var logger = logger
        logger[metadataKey: "tenant_id"] = "\(tenant)"
        // Malformed entries are settled whatever happens to the rest.
        var refused: [(QueuedEntry, dead: DeadLetter?)] = []
        var runnable: [(entry: QueuedEntry, task: TaskMessage)] = []
        var seen = Set<UUID>()
        for entry in entries {
            // Deleted while pending (its task was settled elsewhere): nothing left to do.
            guard entry.entry.fields != nil else {
                refused.append((entry, nil))
                continue
            }
            switch Self.parse(entry) {
            case .success(let task) where seen.insert(task.taskID).inserted: runnable.append((entry, task))
            case .success: refused.append((entry, nil))  // the same task twice in one batch: once is enough
            case .failure(let dead): refused.append((entry, dead))
            }
        }
        let refusedSettled = await deliver(refused, tenant: tenant, logger: logger)
        guard !runnable.isEmpty else { return Settlement(settled: refusedSettled, owed: []) }
        runnable = Self.ordered(runnable)
        // The batch's entries (and the tenant's lease) stay this replica's while it works on them.
        let keeper = KeepAlive(queue: queue, settings: settings, tenant: tenant, entries: runnable.map(\.entry), logger: logger)
        return await withTaskGroup(of: Void.self) { group in
            group.addTask { await keeper.run() }
            var outcome = await work(runnable, tenant: tenant, keeper: keeper, decoded: decoded, logger: logger)
            group.cancelAll()
            outcome.settled = outcome.settled && refusedSettled
            return outcome
        }
    }

    private func work(
        _ runnable: [(entry: QueuedEntry, task: TaskMessage)],
        tenant: TenantID,
        keeper: KeepAlive,
        decoded: DecodedAgents,
        logger: Logger
    ) async -> Settlement {
        guard let records = await start(runnable.map(\.task), tenant: tenant, logger: logger) else {
            // Nothing ran: the entries stay pending and are claimed again at the tenant's next turn.
            return Settlement(settled: false, owed: [])
        }
        var acks: [(QueuedEntry, dead: DeadLetter?)] = []
        var failedBefore: [(entry: QueuedEntry, record: TaskRecord)] = []
        var outcomes: [(id: UUID, outcome: TaskOutcome)] = []
        var unrun: [UUID] = []
        for (entry, task) in runnable {
            guard let record = records[task.taskID] else {
                logger.warning("task entry without a task record acknowledged", metadata: ["task_id": "\(task.taskID)"])
                acks.append((entry, nil))
                continue
            }
            if record.status == .failed {
                failedBefore.append((entry, record))
                continue
            }
            if record.status.isFinal {
                acks.append((entry, nil))
                continue
            }
            guard !Task.isCancelled, !keeper.lost,
                let outcome = await traced(task, { await attempt(task, record: record, keeper: keeper, decoded: decoded, logger: logger) })
            else {
                unrun.append(task.taskID)
                continue
            }
            outcomes.append((task.taskID, outcome))
            if case .failed(let message, let type, _) = outcome {
                acks.append((entry, DeadLetter(reason: "\(type): \(message)", taskID: task.taskID)))
                metrics.tasksFailed.increment()
            } else {
                acks.append((entry, nil))
                metrics.tasksCompleted.increment()
            }
        }
        // Recorded even while this replica shuts down (a cancelled call would lose what was done);
        // tasks it did not get to are handed back uncharged, for the next claim. Not after the lease
        // was lost: the new holder may be running them already.
        let (tasks, redisLogger, finished, handedBack) = (self.tasks, logger, outcomes, keeper.lost ? [] : unrun)
        let recorded = await Task {
            do {
                try await tasks.finish(finished, tenant: tenant)
                if !handedBack.isEmpty { try await tasks.release(handedBack, tenant: tenant) }
                return true
            } catch {
                redisLogger.warning("task outcomes could not be recorded", metadata: ["error": "\(error)"])
                return false
            }
        }.value
        // Unacknowledged, they run again later and find their work done.
        guard recorded else { return Settlement(settled: false, owed: []) }
        let (runner, settling, redelivered) = (self, acks, failedBefore)
        let delivered = await Task {
            let owed = await runner.owedDeadLetters(redelivered, tenant: tenant, logger: redisLogger)
            var outcome = await runner.deliver(settling + (owed ?? []), tenant: tenant, logger: redisLogger, acknowledging: false)
            outcome.settled = outcome.settled && owed != nil
            return outcome
        }.value
        return Settlement(settled: delivered.settled && unrun.isEmpty, owed: delivered.owed)
    }

    /// Entries of tasks that had already failed: each is acknowledged, after its dead letter when
    /// that was never written (the first try failed). `nil` when Postgres cannot say which: they
    /// stay pending.
    private func owedDeadLetters(
        _ failed: [(entry: QueuedEntry, record: TaskRecord)],
        tenant: TenantID,
        logger: Logger
    ) async -> [(QueuedEntry, dead: DeadLetter?)]? {
        guard !failed.isEmpty else { return [] }
        let owed: Set<UUID>
        do {
            owed = try await tasks.deadLettersOwed(failed.map(\.record.message.taskID), tenant: tenant)
        } catch {
            logger.warning("owed dead letters could not be looked up", metadata: ["error": "\(error)"])
            return nil
        }
        return failed.map { entry, record in
            let id = record.message.taskID
            guard owed.contains(id) else { return (entry, nil) }
            let type = record.error?["error_type"]?.stringValue ?? "internal"
            let message = record.error?["message"]?.stringValue ?? "Failed"
            return (entry, DeadLetter(reason: "\(type): \(message)", taskID: id))
        }
    }

    /// Records the tasks as started, trying again for a while when Postgres is away (or, at a
    /// first start, not yet migrated); `nil` when it stayed away.
    private func start(_ batch: [TaskMessage], tenant: TenantID, logger: Logger) async -> [UUID: TaskRecord]? {
        var backoff = Backoff(initial: settings.retryBackOff, maximum: .seconds(2))
        for attempt in 1...10 {
            do {
                return try await tasks.start(batch, tenant: tenant)
            } catch {
                logger.warning("tasks could not be started", metadata: ["attempt": "\(attempt)", "error": "\(String(reflecting: error))"])
                do { try await Task.sleep(for: backoff.next()) } catch { return nil }
            }
        }
        return nil
    }

    /// The task's processing as a CONSUMER span when tracing is on: in the trace of its message's
    /// `metadata.traceparent` when that is set (the producer's), else in a trace of its own.
    private func traced(_ task: TaskMessage, _ process: () async -> TaskOutcome?) async -> TaskOutcome? {
        guard traces.tracer != nil else { return await process() }
        let traceparent: String? = if case .string(let value)? = task.metadata[Traces.header] { value } else { nil }
        return await traces.withSpan("process \(task.type.rawValue)", kind: .consumer, parent: traces.context(traceparent: traceparent)) { span in
            span?.updateAttributes { attributes in
                attributes["messaging.system"] = "redis"
                attributes["messaging.operation.type"] = "process"
                attributes["messaging.message.id"] = task.taskID.uuidString.lowercased()
            }
            let outcome = await process()
            if case .failed? = outcome { span?.setStatus(SpanStatus(code: .error)) }
            return outcome
        }
    }

    /// Runs a task, again after a growing wait while it fails for a passing reason (the database
    /// or Redis away), up to its `max_attempts`. `nil`: this replica is shutting down, or lost the
    /// tenant's lease; the task is left to be claimed again.
    private func attempt(
        _ task: TaskMessage,
        record first: TaskRecord,
        keeper: KeepAlive,
        decoded: DecodedAgents,
        logger: Logger
    ) async -> TaskOutcome? {
        var record = first
        var attempts = record.attempts
        let actor = supervisor.tenant(task.tenantID)
        let progress: TaskProgress = { percent, partial in
            try await tasks.progress(task.taskID, tenant: task.tenantID, progress: percent, checkpoint: nil, details: partial)
        }
        while true {
            if attempts > task.maxAttempts {
                return .failed(message: "Gave up after \(task.maxAttempts) attempts", type: "exhausted", details: nil)
            }
            do {
                return .completed(try await actor.perform(task, record: record, progress: progress, decoded: decoded))
            } catch let error as ServiceError where !Self.passing(error) {
                return .failed(
                    message: error.message,
                    type: Self.errorType(error.code),
                    details: error.details.isEmpty ? nil : .object(error.details)
                )
            } catch let error as ServiceError where error.code == .internalError {
                // Unexpected: the cause is for the log, never for whoever reads the task.
                logger.error("task failed unexpectedly", metadata: ["task_id": "\(task.taskID)", "error": "\(error.message)"])
                return .failed(message: "Internal error", type: "internal", details: nil)
            } catch {
                if Task.isCancelled { return nil }
                logger.warning("task attempt failed", metadata: ["task_id": "\(task.taskID)", "attempt": "\(attempts)", "error": "\(error)"])
                guard attempts < task.maxAttempts else {
                    let message = (error as? ServiceError)?.message ?? "A dependency was unavailable"
                    return .failed(message: "\(message) (after \(attempts) attempts)", type: "unavailable", details: nil)
                }
                let wait = Backoff(initial: settings.retryBackOff, maximum: Self.longestWait).delay(after: attempts)
                do { try await Task.sleep(for: wait) } catch { return nil }
                if keeper.lost { return nil }
                attempts += 1
                if let again = try? await tasks.start([task], tenant: task.tenantID)[task.taskID] {
                    // Another replica may have finished it meanwhile; a bulk task resumes from its progress.
                    if again.status.isFinal { return nil }
                    record = again
                    attempts = again.attempts
                }
            }
        }
    }

    /// Dead letters first (a task's then recorded as written), then the acknowledgements, each kind
    /// in one pipeline per queue; whether every entry was acknowledged.
    private func deliver(_ acks: [(QueuedEntry, dead: DeadLetter?)], tenant: TenantID, logger: Logger) async -> Bool {
        let outcome = await deliver(acks, tenant: tenant, logger: logger, acknowledging: true)
        return outcome.settled
    }

    /// As above; without `acknowledging`, the entries ready to be acknowledged are handed back as owed.
    private func deliver(
        _ acks: [(QueuedEntry, dead: DeadLetter?)],
        tenant: TenantID,
        logger: Logger,
        acknowledging: Bool
    ) async -> Settlement {
        guard !acks.isEmpty else { return Settlement(settled: true, owed: []) }
        var letters: [(entry: QueuedEntry, reason: String, taskID: UUID?)] = []
        for (entry, dead) in acks {
            guard let dead else { continue }
            logger.warning("task entry dead-lettered", metadata: ["entry_id": "\(entry.entry.id)", "reason": "\(dead.reason)"])
            letters.append((entry, dead.reason, dead.taskID))
        }
        var settled = acks
        if !letters.isEmpty {
            do {
                try await queue.deadLetter(letters, tenant: tenant, maxLength: settings.deadLetterLength)
                metrics.tasksDeadLettered.increment(by: letters.count)
            } catch {
                // Not dead-lettered, so not acknowledged either: they are claimed and judged again,
                // and a failed task's redelivery finds its letter owed.
                logger.warning("task entries could not be dead-lettered", metadata: ["error": "\(error)"])
                settled = acks.filter { $0.dead == nil }
            }
            let written = letters.compactMap(\.taskID)
            if settled.count == acks.count, !written.isEmpty {
                do {
                    try await tasks.recordDeadLetters(written, tenant: tenant)
                } catch {
                    // Left pending, so the letter is written again rather than thought missing.
                    logger.warning("written dead letters could not be recorded", metadata: ["error": "\(error)"])
                    settled = acks.filter { $0.dead?.taskID == nil }
                }
            }
        }
        guard acknowledging else { return Settlement(settled: settled.count == acks.count, owed: settled.map(\.0)) }
        do {
            try await queue.acknowledge(settled.map(\.0), tenant: tenant)
        } catch {
            // Unacknowledged entries are claimed and run again; their records make that harmless.
            logger.warning("task entries could not be acknowledged", metadata: ["error": "\(error)"])
            return Settlement(settled: false, owed: [])
        }
        return Settlement(settled: settled.count == acks.count, owed: [])
    }

    struct DeadLetter: Sendable {
        var reason: String
        var taskID: UUID?
    }

    /// The entry's task, or why it can never run.
    static func parse(_ queued: QueuedEntry) -> Result<TaskMessage, DeadLetter> {
        guard let fields = queued.entry.fields else { return .failure(DeadLetter(reason: "malformed: the entry was deleted")) }
        guard let raw = fields["message"] else { return .failure(DeadLetter(reason: "malformed: the entry has no field 'message'")) }
        guard let json = JSONValue.parse(Array(raw.utf8)) else { return .failure(DeadLetter(reason: "malformed: 'message' is not JSON")) }
        let task: TaskMessage
        do {
            task = try TaskMessage(json: json)
        } catch {
            return .failure(DeadLetter(reason: "malformed: \(error.message)"))
        }
        guard task.tenantID == queued.tenant else {
            return .failure(
                DeadLetter(reason: "wrong tenant: the task names tenant '\(task.tenantID)', the queue belongs to '\(queued.tenant)'", taskID: nil)
            )
        }
        return .success(task)
    }

    /// Most urgent queue first, then highest priority, otherwise in the order produced; but the
    /// tasks of one agent keep their order among themselves (they take the places the sort gave
    /// that agent's tasks, in the order they were produced).
    static func ordered(_ tasks: [(entry: QueuedEntry, task: TaskMessage)]) -> [(entry: QueuedEntry, task: TaskMessage)] {
        var sorted = tasks.enumerated().sorted { a, b in
            (a.element.entry.queue, -a.element.task.priority, a.offset) < (b.element.entry.queue, -b.element.task.priority, b.offset)
        }.map(\.element)
        var byAgent: [UUID: [(entry: QueuedEntry, task: TaskMessage)]] = [:]
        for item in tasks { if let id = item.task.agentID { byAgent[id, default: []].append(item) } }
        var next: [UUID: Int] = [:]
        for i in sorted.indices {
            guard let id = sorted[i].task.agentID, let own = byAgent[id], own.count > 1 else { continue }
            let n = next[id, default: 0]
            sorted[i] = own[n]
            next[id] = n + 1
        }
        return sorted
    }

    /// The longest wait between two attempts of a task: its tenant's other tasks wait behind it.
    static let longestWait = Duration.seconds(30)

    /// Failures that may pass (the database or Redis away): worth another attempt.
    static func passing(_ error: ServiceError) -> Bool {
        error.code == .databaseUnavailable || error.code == .queueUnavailable
    }

    static func errorType(_ code: ErrorCode) -> String {
        switch code {
        case .validationFailed: "validation"
        case .agentNotFound, .templateNotFound, .versionNotFound: "not_found"
        case .nameConflict, .invalidTransition, .preconditionFailed, .agentNotActive, .idempotencyConflict: "conflict"
        case .quotaReached, .rateLimited: "quota"
        case .malformedBody: "malformed"
        case .databaseUnavailable, .queueUnavailable: "unavailable"
        default: "internal"
        }
    }
}

extension TaskRunner.DeadLetter: Error {}
