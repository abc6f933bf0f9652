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

    func run(_ entries: [QueuedEntry], tenant: TenantID) async {
        var logger = logger
        logger[metadataKey: "tenant_id"] = "\(tenant)"
        // Malformed entries are settled whatever happens to the rest.
        var refused: [(QueuedEntry, dead: DeadLetter?)] = []
        var acks: [(QueuedEntry, dead: DeadLetter?)] = []
        var runnable: [(entry: QueuedEntry, task: TaskMessage)] = []
        var seen = Set<UUID>()
        for entry in entries {
            switch Self.parse(entry) {
            case .success(let task) where seen.insert(task.taskID).inserted: runnable.append((entry, task))
            case .success: refused.append((entry, nil))  // the same task twice in one batch: once is enough
            case .failure(let dead): refused.append((entry, dead))
            }
        }
        runnable = Self.ordered(runnable)
        var outcomes: [(id: UUID, outcome: TaskOutcome)] = []
        if !runnable.isEmpty {
            guard let records = await start(runnable.map(\.task), tenant: tenant, logger: logger) else {
                // Nothing ran: the entries stay pending and are claimed again after the visibility timeout.
                await deliver(refused, tenant: tenant, logger: logger)
                return
            }
            let keeper = KeepAlive(redis: redis, settings: settings, entries: runnable.map(\.entry))
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await keeper.run() }
                for (entry, task) in runnable {
                    guard let record = records[task.taskID] else { continue }
                    if record.status.isFinal {
                        acks.append((entry, nil))
                        continue
                    }
                    guard let outcome = await attempt(task, record: record, logger: logger) else { break }
                    outcomes.append((task.taskID, outcome))
                    if case .failed(let message, let type, _) = outcome {
                        acks.append((entry, DeadLetter(reason: "\(type): \(message)", taskID: task.taskID)))
                        metrics.tasksFailed.increment()
                    } else {
                        acks.append((entry, nil))
                        metrics.tasksCompleted.increment()
                    }
                }
                group.cancelAll()
            }
            do {
                try await tasks.finish(outcomes, tenant: tenant)
            } catch {
                logger.warning("task outcomes could not be recorded", metadata: ["error": "\(error)"])
                // Unacknowledged, they run again later and find their work done.
                await deliver(refused, tenant: tenant, logger: logger)
                return
            }
        }
        await deliver(refused + acks, tenant: tenant, logger: logger)
    }

    /// Records the tasks as started, trying again for a while when Postgres is away (or, at a
    /// first start, not yet migrated); `nil` when it stayed away.
    private func start(_ batch: [TaskMessage], tenant: TenantID, logger: Logger) async -> [UUID: TaskRecord]? {
        var wait = settings.retryBackOff
        for attempt in 1...10 {
            do {
                return try await tasks.start(batch, tenant: tenant)
            } catch {
                logger.warning("tasks could not be started", metadata: ["attempt": "\(attempt)", "error": "\(String(reflecting: error))"])
                do { try await Task.sleep(for: wait) } catch { return nil }
                wait = min(wait * 2, .seconds(2))
            }
        }
        return nil
    }

    /// Runs a task, again after a growing wait while it fails for a passing reason (the database
    /// or Redis away), up to its `max_attempts`. `nil`: this replica is shutting down; the task is
    /// left to be claimed again.
    private func attempt(_ task: TaskMessage, record: TaskRecord, logger: Logger) async -> TaskOutcome? {
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
                return .failed(message: error.message, type: Self.errorType(error.code), details: error.details.isEmpty ? nil : .object(error.details))
            } catch {
                if Task.isCancelled { return nil }
                logger.warning("task attempt failed", metadata: ["task_id": "\(task.taskID)", "attempt": "\(attempts)", "error": "\(error)"])
                guard attempts < task.maxAttempts else {
                    let message = (error as? ServiceError)?.message ?? "A dependency was unavailable"
                    return .failed(message: "\(message) (after \(attempts) attempts)", type: "unavailable", details: nil)
                }
                let wait = settings.retryBackOff * (1 << min(attempts - 1, 16))
                do { try await Task.sleep(for: wait) } catch { return nil }
                attempts += 1
                _ = try? await tasks.start([task], tenant: task.tenantID)
            }
        }
    }

    /// Dead letters first, then the acknowledgements, each kind in one pipeline per queue.
    private func deliver(_ acks: [(QueuedEntry, dead: DeadLetter?)], tenant: TenantID, logger: Logger) async {
        guard !acks.isEmpty else { return }
        var commands: [[String]] = []
        for (entry, dead) in acks {
            guard let dead else { continue }
            metrics.tasksDeadLettered.increment()
            logger.warning("task entry dead-lettered", metadata: ["entry_id": "\(entry.entry.id)", "reason": "\(dead.reason)"])
            var command = ["XADD", TaskQueue.deadLetterKey(tenant), "MAXLEN", "~", String(settings.deadLetterLength), "*",
                           "message", entry.entry.fields?["message"] ?? "", "reason", dead.reason,
                           "queue", entry.queue.key(tenant), "entry_id", entry.entry.id, "failed_at", Agent.timestamp(.now)]
            if let id = dead.taskID { command += ["task_id", id.uuidString.lowercased()] }
            commands.append(command)
        }
        for queue in TaskQueue.allCases {
            let ids = acks.filter { $0.0.queue == queue }.map(\.0.entry.id)
            if !ids.isEmpty { commands.append(["XACK", queue.key(tenant), TaskQueue.group] + ids) }
        }
        do {
            for case .error(let message) in try await redis.pipeline(commands) { throw RedisError.server(message) }
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
            return .failure(DeadLetter(reason: "wrong tenant: the task names tenant '\(task.tenantID)', the queue belongs to '\(queued.tenant)'", taskID: nil))
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

    /// Failures that may pass (the database or Redis away): worth another attempt.
    static func passing(_ error: ServiceError) -> Bool {
        error.code == .databaseUnavailable || error.code == .internalError
    }

    static func errorType(_ code: ErrorCode) -> String {
        switch code {
        case .validationFailed: "validation"
        case .agentNotFound, .templateNotFound, .versionNotFound: "not_found"
        case .nameConflict, .invalidTransition, .preconditionFailed: "conflict"
        case .quotaReached: "quota"
        case .malformedBody: "malformed"
        default: code.rawValue
        }
    }
}

extension TaskRunner.DeadLetter: Error {}

/// Keeps a batch's entries from being claimed by another replica while it runs: every third of
/// the visibility timeout, their idle time is reset.
private struct KeepAlive: Sendable {
    let redis: RedisClient
    let settings: TaskSettings
    let entries: [QueuedEntry]

    func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.visibilityTimeout / 3) } catch { return }
            for queue in TaskQueue.allCases {
                let ids = entries.filter { $0.queue == queue }.map(\.entry.id)
                guard let tenant = entries.first?.tenant else { return }
                try? await redis.touch(queue.key(tenant), group: TaskQueue.group, consumer: settings.consumer, ids: ids)
            }
        }
    }
}
