import Domain
import Foundation
import Infra
import Logging
import ServiceLifecycle
import Synchronization

/// This replica's one reader of every tenant's task queues. It learns which tenants have work from
/// Redis keyspace notifications (and a slow `SCAN` after each reconnect and every `sweepInterval`),
/// reads a batch per tenant in turn, and hands each batch to `TaskRunner`, which runs it on the
/// tenant's actor. A tenant has one batch in flight at a time, so its tasks run in order; at most
/// `concurrency` tenants are served at once, round robin, so a flood cannot starve anyone. Whoever
/// holds a tenant's lease owns its unfinished entries too, and runs them before newer ones.
final class TaskConsumer: Service {
    private struct State {
        /// Stream keys heard of and not yet looked at.
        var discovered: Set<String> = []
        /// The queues of each tenant that have our group: the tenants this replica knows.
        var queues: [TenantID: Set<TaskQueue>] = [:]
        /// Tenants that may have unread entries, in turn order, with a mark that changes each time
        /// new work is heard of (so a read that found nothing does not forget newer work).
        var ready: [TenantID] = []
        var marks: [TenantID: UInt64] = [:]
        var busy: Set<TenantID> = []
        /// When each known tenant last had work: one idle for the visibility timeout, with its queues
        /// empty, is forgotten (a new entry's notification brings it back).
        var active: [TenantID: ContinuousClock.Instant] = [:]
        /// Tenants whose last turns left entries unsettled, how many turns in a row, and when they
        /// may be picked again: their entries are claimed again at once, so the turns are spaced out.
        var stalled: [TenantID: (turns: Int, until: ContinuousClock.Instant)] = [:]
    }

    private let queue: RedisTaskQueue
    private let keyEvents: RedisKeyEvents
    private let runner: TaskRunner
    private let settings: TaskSettings
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(redis: RedisClient, keyEvents: RedisKeyEvents, runner: TaskRunner, settings: TaskSettings, logger: Logger) {
        self.queue = RedisTaskQueue(redis: redis, consumer: settings.consumer, nonce: settings.nonce)
        self.keyEvents = keyEvents
        self.runner = runner
        self.settings = settings
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.keyEvents.run(onKey: { self.heard($0) }, onSubscribed: { await self.sweep() }) }
                group.addTask { await self.every(self.settings.sweepInterval) { await self.sweep() } }
                group.addTask { await self.every(max(self.settings.visibilityTimeout / 2, .milliseconds(200))) { await self.upkeep() } }
                // A wake-up now and then, in case a notification was lost between two sweeps.
                group.addTask { await self.every(.seconds(1)) { self.wake.yield() } }
                group.addTask { await self.readLoop() }
            }
        }
        wake.finish()
    }

    /// A key event: called on Redis's event loop, so it only notes the key.
    private func heard(_ key: String) {
        guard TaskQueue.parse(key) != nil else { return }
        let first = state.withLock { $0.discovered.insert(key).inserted }
        if first { wake.yield() }
    }

    private func readLoop() async {
        await withDiscardingTaskGroup { group in
            for await _ in wakeups {
                while !Task.isCancelled {
                    await adoptDiscovered()
                    let picks = pick()
                    guard !picks.isEmpty else { break }
                    do {
                        for (tenant, entries) in try await read(picks) {
                            group.addTask { await self.serve(tenant, entries) }
                        }
                    } catch {
                        logger.warning("task queues could not be read", metadata: ["error": "\(error)"])
                        state.withLock { s in for (tenant, _) in picks { s.busy.remove(tenant) } }
                        try? await Task.sleep(for: .milliseconds(500))
                        break
                    }
                }
            }
        }
    }

    /// Creates our group on newly heard-of queues, and puts their tenants in line.
    private func adoptDiscovered() async {
        let keys = state.withLock { s in
            defer { s.discovered.removeAll(keepingCapacity: true) }
            return s.discovered
        }
        for key in keys {
            guard let (queue, tenant) = TaskQueue.parse(key) else { continue }
            if state.withLock({ $0.queues[tenant]?.contains(queue) }) != true {
                do {
                    try await self.queue.ensureGroup(queue, tenant: tenant)
                } catch {
                    // Redis is away: keep every key not yet adopted for the next try.
                    logger.warning("task queue group could not be created", metadata: ["tenant_id": "\(tenant)", "error": "\(error)"])
                    state.withLock { $0.discovered.formUnion(keys) }
                    return
                }
            }
            state.withLock { s in
                s.queues[tenant, default: []].insert(queue)
                s.marks[tenant, default: 0] &+= 1
                s.active[tenant] = .now
                if !s.ready.contains(tenant) { s.ready.append(tenant) }
            }
        }
    }

    /// The next tenants in line that are not being served nor waiting out a stall, up to the free places.
    private func pick() -> [(TenantID, UInt64)] {
        let now = ContinuousClock.now
        return state.withLock { s in
            var free = settings.concurrency - s.busy.count
            var picks: [(TenantID, UInt64)] = []
            var rest: [TenantID] = []
            for tenant in s.ready {
                if free > 0, !s.busy.contains(tenant), (s.stalled[tenant]?.until).map({ $0 <= now }) ?? true {
                    picks.append((tenant, s.marks[tenant] ?? 0))
                    s.busy.insert(tenant)
                    free -= 1
                } else {
                    rest.append(tenant)
                }
            }
            // Served tenants go to the back of the line.
            s.ready = rest + picks.map(\.0)
            return picks
        }
    }

    /// The picked tenants whose lease this process gets, with their batches: first every entry still
    /// pending in their queues (whoever holds the lease owns the tenant, so they are claimed at once
    /// and run before anything newer), then new entries of the queues with nothing left pending, at
    /// most `batch` per queue in all. Tenants held by another process (which reads them until they
    /// are empty) leave the line until new work is heard of. A tenant whose queues cannot be read
    /// is set aside alone; when Redis does not answer, every lease taken is let go of.
    private func read(_ picks: [(TenantID, UInt64)]) async throws -> [(TenantID, [QueuedEntry])] {
        do {
            return try await claimAndRead(picks)
        } catch {
            for (tenant, _) in picks { await releaseLease(tenant) }
            throw error
        }
    }

    private func claimAndRead(_ picks: [(TenantID, UInt64)]) async throws -> [(TenantID, [QueuedEntry])] {
        let queues = state.withLock { s in picks.map { tenant, _ in (tenant: tenant, queues: (s.queues[tenant] ?? []).sorted()) } }
        let turns = try await queue.takeTurns(queues, batch: settings.batch, for: settings.visibilityTimeout)
        var batches: [(TenantID, [QueuedEntry])] = []
        for (tenant, mark) in picks {
            guard let entries = await entries(of: tenant, turns[tenant] ?? .success(RedisTaskQueue.Turn()), mark: mark) else { continue }
            batches.append((tenant, entries))
        }
        return batches
    }

    /// The entries a tenant's turn hands its runner, or `nil` when it has none (the tenant is no
    /// longer busy then): held by another process, it leaves the line until new work is heard of;
    /// with nothing to read, its lease is let go of and, unless work was heard of since `mark`, it
    /// leaves the line too; when its queues cannot be read, it is set aside.
    private func entries(of tenant: TenantID, _ turn: Result<RedisTaskQueue.Turn, any Error>, mark: UInt64) async -> [QueuedEntry]? {
        let read: RedisTaskQueue.Turn
        do {
            read = try turn.get()
        } catch is RedisTaskQueue.LeaseHeld {
            state.withLock { s in
                s.busy.remove(tenant)
                s.ready.removeAll { $0 == tenant }
                s.marks[tenant] = nil
            }
            return nil
        } catch {
            await setAside(tenant, error)
            return nil
        }
        if read.claimed > 0 {
            logger.info("claimed pending task entries", metadata: ["tenant_id": "\(tenant)", "count": "\(read.claimed)"])
        }
        guard !read.entries.isEmpty else {
            await releaseLease(tenant)
            state.withLock { s in
                s.busy.remove(tenant)
                s.stalled[tenant] = nil
                if s.marks[tenant] == mark {
                    s.ready.removeAll { $0 == tenant }
                    s.marks[tenant] = nil
                }
            }
            return nil
        }
        return read.entries
    }

    /// A tenant whose queues could not be read lets go of its lease. A queue deleted (and perhaps
    /// made again) under us: which of its queues exist is found out anew. Anything else (a queue
    /// key that is not a stream) spaces out its turns, as a batch left unsettled does.
    private func setAside(_ tenant: TenantID, _ error: any Error) async {
        await releaseLease(tenant)
        if error is RedisTaskQueue.GroupMissing {
            state.withLock { s in
                for queue in s.queues[tenant] ?? [] { s.discovered.insert(queue.key(tenant)) }
                s.queues[tenant] = nil
                s.busy.remove(tenant)
            }
            return
        }
        logger.warning("task queues could not be read", metadata: ["tenant_id": "\(tenant)", "error": "\(error)"])
        state.withLock { s in
            s.busy.remove(tenant)
            stall(tenant, &s)
        }
    }

    /// Runs the batch; a batch that left entries unsettled (to be claimed again at the tenant's next
    /// turn) spaces out that tenant's turns, growing as it keeps failing. A full batch settled while
    /// no other tenant waits for a place is followed by the tenant's next turn at once: its
    /// acknowledgement and the next read go in one round trip, and the lease is kept between them.
    private func serve(_ tenant: TenantID, _ entries: [QueuedEntry]) async {
        var entries = entries
        let decoded = DecodedAgents()
        while true {
            let outcome = await runner.settle(entries, tenant: tenant, decoded: decoded)
            guard outcome.settled, entries.count >= settings.batch, !Task.isCancelled, let mark = keepsItsPlace(tenant) else {
                await endTurn(tenant, outcome)
                return
            }
            let queues = state.withLock { ($0.queues[tenant] ?? []).sorted() }
            let turn: Result<RedisTaskQueue.Turn, any Error>
            do {
                turn =
                    try await queue.takeTurns(
                        [(tenant, queues)],
                        batch: settings.batch,
                        for: settings.visibilityTimeout,
                        acknowledging: outcome.owed
                    )[tenant]
                    ?? .success(RedisTaskQueue.Turn())
            } catch {
                // Perhaps unacknowledged: claimed again at the tenant's next turn, where their records tell they are done.
                logger.warning("task queues could not be read", metadata: ["tenant_id": "\(tenant)", "error": "\(error)"])
                await endTurn(tenant, TaskRunner.Settlement(settled: false, owed: []))
                return
            }
            // It goes straight on only after a batch it settled whole: as a turn that ends so.
            state.withLock { s in
                s.active[tenant] = .now
                s.stalled[tenant] = nil
            }
            guard let next = await self.entries(of: tenant, turn, mark: mark) else {
                wake.yield()
                return
            }
            entries = next
        }
    }

    /// The tenant's mark when it may have its next turn at once: no other tenant waits in line for a place.
    private func keepsItsPlace(_ tenant: TenantID) -> UInt64? {
        let now = ContinuousClock.now
        return state.withLock { s in
            let full = s.busy.count >= settings.concurrency
            let waiting = s.ready.contains { other in
                other != tenant && !s.busy.contains(other) && (s.stalled[other]?.until).map({ $0 <= now }) ?? true
            }
            guard !(full && waiting), s.discovered.isEmpty || !full else { return nil }
            return s.marks[tenant] ?? 0
        }
    }

    /// The end of the tenant's turn: what it finished is acknowledged and its lease let go of, in one round trip.
    private func endTurn(_ tenant: TenantID, _ outcome: TaskRunner.Settlement) async {
        var settled = outcome.settled
        do {
            try await queue.acknowledge(outcome.owed, tenant: tenant, releasing: true)
        } catch {
            // Unacknowledged entries are claimed and run again; their records make that harmless.
            logger.warning("task entries could not be acknowledged", metadata: ["tenant_id": "\(tenant)", "error": "\(error)"])
            settled = false
            await releaseLease(tenant)
        }
        state.withLock { s in
            s.busy.remove(tenant)
            s.active[tenant] = .now
            if settled {
                s.stalled[tenant] = nil
            } else {
                stall(tenant, &s)
            }
        }
        wake.yield()
    }

    /// Keeps the tenant out of the next turns for a while, longer each time in a row.
    private func stall(_ tenant: TenantID, _ s: inout State) {
        let spacing = Backoff(initial: settings.retryBackOff, maximum: max(settings.visibilityTimeout / 2, settings.retryBackOff))
        let turns = (s.stalled[tenant]?.turns ?? 0) + 1
        s.stalled[tenant] = (turns, .now + spacing.delay(after: turns))
    }

    /// Lets go of the tenant at once (else it is free when the lease expires).
    private func releaseLease(_ tenant: TenantID) async {
        try? await queue.releaseLease(tenant)
    }

    /// Finds every queue key (`SCAN`), for queues whose notification this replica missed: the
    /// known ones, and those of other tenants that hold entries (an empty queue is no work). The
    /// lengths it reads on the way are the queues' depth at `/metrics`.
    private func sweep() async {
        var cursor = "0"
        var depth: [TaskQueue: Int] = [:]
        repeat {
            guard let page = try? await queue.scanQueues(from: cursor) else { return }
            cursor = page.next
            let queues = page.keys.compactMap { key in TaskQueue.parse(key).map { (key: key, queue: $0.queue, tenant: $0.tenant) } }
            guard let lengths = try? await queue.lengths(queues.map(\.key)) else { return }
            let known = state.withLock { s in queues.map { s.queues[$0.tenant]?.contains($0.queue) == true } }
            for (index, found) in queues.enumerated() {
                depth[found.queue, default: 0] += lengths[index]
                if known[index] || lengths[index] > 0 { heard(found.key) }
            }
        } while cursor != "0" && !Task.isCancelled
        if cursor == "0" { runner.metrics.recordTaskQueueDepth(depth) }
    }

    /// Looks after every known tenant that is neither in line nor being served: deletes its queues'
    /// idle consumers without pending entries, puts it in line when entries are left (a replica died
    /// with them, or their notification was lost; its next turn claims them), and forgets it when its
    /// queues are empty and it has had no work for the visibility timeout. Per chunk, one pipeline;
    /// no lease is taken here, only by the turn that serves the tenant.
    private func upkeep() async {
        let candidates = state.withLock { s in
            let ready = Set(s.ready)
            return s.queues.filter { !s.busy.contains($0.key) && !ready.contains($0.key) }.map { (tenant: $0.key, queues: $0.value.sorted()) }
        }
        for start in stride(from: 0, to: candidates.count, by: 100) where !Task.isCancelled {
            let chunk = Array(candidates[start..<min(start + 100, candidates.count)])
            let found: [TenantID: [(queue: TaskQueue, left: Int?)]]
            do {
                found = try await queue.upkeep(chunk, idle: settings.visibilityTimeout)
            } catch {
                logger.warning("task queues could not be looked after", metadata: ["error": "\(error)"])
                return
            }
            let now = ContinuousClock.now
            let queued = state.withLock { s in
                var queued = false
                for (tenant, queues) in found {
                    let gone = queues.filter { $0.left == nil }.map(\.queue)
                    if !gone.isEmpty {
                        // Deleted under us: a new entry's notification (or the sweep) brings it back.
                        s.queues[tenant]?.subtract(gone)
                        if s.queues[tenant]?.isEmpty == true { s.queues[tenant] = nil }
                    }
                    let left = queues.reduce(0) { $0 + ($1.left ?? 0) }
                    if left > 0 {
                        if !s.ready.contains(tenant) { s.ready.append(tenant) }
                        s.active[tenant] = now
                        queued = true
                    } else if !s.busy.contains(tenant), !s.ready.contains(tenant),
                        s.queues[tenant] == nil || now - (s.active[tenant] ?? now) >= settings.visibilityTimeout
                    {
                        s.queues[tenant] = nil
                        s.marks[tenant] = nil
                        s.active[tenant] = nil
                        s.stalled[tenant] = nil
                    }
                }
                return queued
            }
            if queued { wake.yield() }
        }
    }

    private func every(_ period: Duration, _ body: () async -> Void) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            if Task.isCancelled { return }
            await body()
        }
    }
}
