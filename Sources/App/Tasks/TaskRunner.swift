import Domain
import Foundation
import Infra
import Logging

/// Runs one tenant's batch of queue entries: refuses what is malformed (to the dead-letter stream,
/// at once), records the rest as `processing`, runs them on the tenant's actor in urgency order,
/// retries what failed for a passing reason, records how each ended, and only then acknowledges
/// the entries. A crash anywhere before the acknowledgement leaves the entries pending, to be
/// claimed and run again; the tasks' records keep that from doing anything twice.
struct TaskRunner: Sendable {
    let redis: RedisClient
    let tasks: any TaskStore
    let supervisor: TenantSupervisor
    let settings: TaskSettings
    let metrics: AppMetrics
    let logger: Logger

    private var queue: RedisTaskQueue { RedisTaskQueue(redis: redis, consumer: settings.consumer) }

    func run(_ entries: [QueuedEntry], tenant: TenantID) async {
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
        await deliver(refused, tenant: tenant, logger: logger)
        guard !runnable.isEmpty else { return }
        runnable = Self.ordered(runnable)
        // The batch's entries (and the tenant's lease) stay this replica's while it works on them.
        let keeper = KeepAlive(queue: queue, settings: settings, tenant: tenant, entries: runnable.map(\.entry))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await keeper.run() }
            await work(runnable, tenant: tenant, logger: logger)
            group.cancelAll()
        }
    }

    private func work(_ runnable: [(entry: QueuedEntry, task: TaskMessage)], tenant: TenantID, logger: Logger) async {
        guard let records = await start(runnable.map(\.task), tenant: tenant, logger: logger) else {
            // Nothing ran: the entries stay pending and are claimed again after the visibility timeout.
            return
        }
        var acks: [(QueuedEntry, dead: DeadLetter?)] = []
        var outcomes: [(id: UUID, outcome: TaskOutcome)] = []
        var unrun: [UUID] = []
        for (entry, task) in runnable {
            guard let record = records[task.taskID] else {
                logger.warning("task entry without a task record acknowledged", metadata: ["task_id": "\(task.taskID)"])
                acks.append((entry, nil))
                continue
            }
            if record.status.isFinal {
                acks.append((entry, nil))
                continue
            }
            guard !Task.isCancelled, let outcome = await attempt(task, record: record, logger: logger) else {
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
        // tasks it did not get to are handed back uncharged, for the next claim.
        let (tasks, redisLogger) = (self.tasks, logger)
        let recorded = await Task {
            do {
                try await tasks.finish(outcomes, tenant: tenant)
                if !unrun.isEmpty { try await tasks.release(unrun, tenant: tenant) }
                return true
            } catch {
                redisLogger.warning("task outcomes could not be recorded", metadata: ["error": "\(error)"])
                return false
            }
        }.value
        // Unacknowledged, they run again later and find their work done.
        guard recorded else { return }
        let runner = self
        await Task { await runner.deliver(acks, tenant: tenant, logger: redisLogger) }.value
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

    /// Runs a task, again after a growing wait while it fails for a passing reason (the database
    /// or Redis away), up to its `max_attempts`. `nil`: this replica is shutting down; the task is
    /// left to be claimed again.
    private func attempt(_ task: TaskMessage, record first: TaskRecord, logger: Logger) async -> TaskOutcome? {
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
                return .completed(try await actor.perform(task, record: record, progress: progress))
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

    /// Dead letters first, then the acknowledgements, each kind in one pipeline per queue.
    private func deliver(_ acks: [(QueuedEntry, dead: DeadLetter?)], tenant: TenantID, logger: Logger) async {
        guard !acks.isEmpty else { return }
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
                // Not dead-lettered, so not acknowledged either: they are claimed and judged again.
                logger.warning("task entries could not be dead-lettered", metadata: ["error": "\(error)"])
                settled = acks.filter { $0.dead == nil }
            }
        }
        do {
            try await queue.acknowledge(settled.map(\.0), tenant: tenant)
        } catch {
            // Unacknowledged entries are claimed and run again; their records make that harmless.
            logger.warning("task entries could not be acknowledged", metadata: ["error": "\(error)"])
        }
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

/// Keeps a batch's entries from being claimed by another replica while it runs: every third of
/// the visibility timeout, their idle time is reset (and the tenant's lease renewed).
private struct KeepAlive: Sendable {
    let queue: RedisTaskQueue
    let settings: TaskSettings
    let tenant: TenantID
    let entries: [QueuedEntry]

    func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.visibilityTimeout / 3) } catch { return }
            try? await queue.renewLease(tenant, keeping: entries, for: settings.visibilityTimeout)
        }
    }
}
