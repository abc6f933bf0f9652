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
/// `concurrency` tenants are served at once, round robin, so a flood cannot starve anyone.
final class TaskConsumer: Service {
    private struct State {
        /// Stream keys heard of and not yet looked at.
        var discovered: Set<String> = []
        /// The queues of each tenant that have our group.
        var queues: [TenantID: Set<TaskQueue>] = [:]
        /// Tenants that may have unread entries, in turn order, with a mark that changes each time
        /// new work is heard of (so a read that found nothing does not forget newer work).
        var ready: [TenantID] = []
        var marks: [TenantID: UInt64] = [:]
        var busy: Set<TenantID> = []
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
        self.queue = RedisTaskQueue(redis: redis, consumer: settings.consumer)
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
                group.addTask { await self.every(max(self.settings.visibilityTimeout / 2, .milliseconds(200))) { await self.claimStale() } }
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
                if !s.ready.contains(tenant) { s.ready.append(tenant) }
            }
        }
    }

    /// The next tenants in line that are not being served, up to the free places.
    private func pick() -> [(TenantID, UInt64)] {
        state.withLock { s in
            var free = settings.concurrency - s.busy.count
            var picks: [(TenantID, UInt64)] = []
            var rest: [TenantID] = []
            for tenant in s.ready {
                if free > 0, !s.busy.contains(tenant) {
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

    /// One `XREADGROUP` over the picked tenants' queues: the tenants that have entries, with them.
    /// Only tenants whose lease this replica gets are read; another replica is working on the rest
    /// (it reads them until they are empty), so they leave the line until new work is heard of.
    private func read(_ picks: [(TenantID, UInt64)]) async throws -> [(TenantID, [QueuedEntry])] {
        let leases = try await queue.takeLeases(picks.map(\.0), for: settings.visibilityTimeout)
        var picks = picks
        var held: [TenantID] = []
        for (i, taken) in leases.enumerated() where !taken { held.append(picks[i].0) }
        if !held.isEmpty {
            state.withLock { s in
                for tenant in held {
                    s.busy.remove(tenant)
                    s.ready.removeAll { $0 == tenant }
                    s.marks[tenant] = nil
                }
            }
            picks.removeAll { held.contains($0.0) }
        }
        guard !picks.isEmpty else { return [] }
        let queues = state.withLock { s in picks.map { tenant, _ in (tenant, (s.queues[tenant] ?? []).sorted()) } }
        let found: [TenantID: [QueuedEntry]]
        do {
            found = try await queue.read(queues, count: settings.batch)
        } catch is RedisTaskQueue.GroupMissing {
            // A queue was deleted (and perhaps made again) under us: find out anew which exist.
            for (tenant, _) in picks { await releaseLease(tenant) }
            state.withLock { s in
                for (tenant, _) in picks {
                    for queue in s.queues[tenant] ?? [] { s.discovered.insert(queue.key(tenant)) }
                    s.queues[tenant] = nil
                    s.busy.remove(tenant)
                }
            }
            return []
        }
        var batches: [(TenantID, [QueuedEntry])] = []
        for (tenant, mark) in picks {
            let entries = found[tenant] ?? []
            guard !entries.isEmpty else {
                await releaseLease(tenant)
                state.withLock { s in
                    s.busy.remove(tenant)
                    if s.marks[tenant] == mark {
                        s.ready.removeAll { $0 == tenant }
                        s.marks[tenant] = nil
                    }
                }
                continue
            }
            batches.append((tenant, entries))
        }
        return batches
    }

    private func serve(_ tenant: TenantID, _ entries: [QueuedEntry]) async {
        await runner.run(entries, tenant: tenant)
        await releaseLease(tenant)
        state.withLock { _ = $0.busy.remove(tenant) }
        wake.yield()
    }

    /// Lets go of the tenant at once (else it is free when the lease expires).
    private func releaseLease(_ tenant: TenantID) async {
        try? await queue.releaseLease(tenant)
    }

    /// Finds every queue key (`SCAN`), for queues whose notification this replica missed.
    private func sweep() async {
        var cursor = "0"
        repeat {
            guard let page = try? await queue.scanQueues(from: cursor) else { return }
            cursor = page.next
            for key in page.keys { heard(key) }
        } while cursor != "0" && !Task.isCancelled
    }

    /// Entries another consumer (a replica that died) left unacknowledged past the visibility timeout.
    private func claimStale() async {
        let candidates = state.withLock { s in s.queues.filter { !s.busy.contains($0.key) } }.map { ($0.key, $0.value.sorted()) }
        // In chunks, each a pipeline of leases and one of claims; a Redis that fails ends the pass.
        for start in stride(from: 0, to: candidates.count, by: 50) where !Task.isCancelled {
            let chunk = candidates[start..<min(start + 50, candidates.count)].filter { tenant, _ in
                state.withLock { $0.busy.insert(tenant).inserted }
            }
            guard !chunk.isEmpty else { continue }
            var taken: [(tenant: TenantID, queues: [TaskQueue])] = []
            let batches: [(tenant: TenantID, entries: [QueuedEntry])]
            do {
                let leases = try await queue.takeLeases(chunk.map(\.0), for: settings.visibilityTimeout)
                for (i, held) in leases.enumerated() {
                    if held { taken.append(chunk[i]) } else { state.withLock { _ = $0.busy.remove(chunk[i].0) } }
                }
                batches = try await queue.claimStale(taken, idle: settings.visibilityTimeout, count: settings.batch)
            } catch {
                for (tenant, _) in chunk {
                    await releaseLease(tenant)
                    state.withLock { _ = $0.busy.remove(tenant) }
                }
                return
            }
            for (tenant, entries) in batches {
                if entries.isEmpty {
                    await releaseLease(tenant)
                    state.withLock { _ = $0.busy.remove(tenant) }
                } else {
                    logger.info("claimed stale task entries", metadata: ["tenant_id": "\(tenant)", "count": "\(entries.count)"])
                    await serve(tenant, entries)
                }
            }
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
