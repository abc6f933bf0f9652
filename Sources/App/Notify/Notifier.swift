import Domain
import Infra
import Logging
import ServiceLifecycle
import Synchronization

/// Gives committed events their sequence and tells the sinks how far they go.
///
/// One replica leads (it holds the leader lock on its listener's connection): woken by each
/// committing write's `NOTIFY ams_outbox`, and by a slow sweep as the safety net, it sequences what
/// committed, and its sequencing tells every replica the newest sequence (`NOTIFY ams_events`),
/// which wakes their sinks. The leader alone feeds the sinks that the replicas share.
final class Notifier: Service {
    private let store: any EventStore
    let feed: EventFeed
    private let sweep: Duration
    private let batch: Int
    private let logger: Logger
    /// Counts what the leader sequences (`nil`: tests that count nothing).
    private let metrics: AppMetrics?
    private let leading = Atomic(false)
    /// Set when the listener reconnected: a replica that does not lead asks for the newest sequence.
    private let stale = Atomic(true)
    private let wakeups: AsyncStream<Void>
    private let wakeup: AsyncStream<Void>.Continuation

    /// Opened once the schema is migrated: sequencing waits for it rather than failing (and
    /// warning) on a fresh database while the migration runs.
    let migrated = Gate()

    init(
        store: any EventStore,
        feed: EventFeed,
        sweep: Duration = .seconds(5),
        batch: Int = 1000,
        metrics: AppMetrics? = nil,
        logger: Logger
    ) {
        self.store = store
        self.metrics = metrics
        self.feed = feed
        self.sweep = sweep
        self.batch = batch
        self.logger = logger
        (wakeups, wakeup) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var isLeading: Bool { leading.load(ordering: .relaxed) }

    /// The listener's hooks. They run on its event loop, so they only note what happened.
    func hooks(leaderKey: Int64?) -> EventHooks {
        EventHooks(
            listening: { [weak self] in
                self?.stale.store(true, ordering: .relaxed)
                self?.wakeup.yield()
            },
            outbox: { [weak self] in if self?.isLeading == true { self?.wakeup.yield() } },
            sequenced: { [weak self] in self?.feed.publish($0) },
            leadership: { [weak self] leads in
                guard let self, self.leading.exchange(leads, ordering: .relaxed) != leads else { return }
                if !leads { self.feed.forgetDelivered() }
                if leads {
                    self.wakeup.yield()
                    // Shared sinks look again: they did nothing while another replica led.
                    self.feed.publish(self.feed.newest, again: true)
                }
            },
            leaderKey: leaderKey
        )
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.migrated.wait()
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while (try? await Task.sleep(for: self.sweep)) != nil {
                        self.wakeup.yield()
                        self.feed.publish(self.feed.newest, again: true)
                    }
                }
                group.addTask {
                    for await _ in self.wakeups { await self.catchUp() }
                }
            }
        }
        wakeup.finish()
    }

    /// The leader sequences until a round finds less than a batch; another replica only learns the
    /// newest sequence (after a reconnect it may have missed the leader's notices). A failure is
    /// tried again shortly.
    private func catchUp() async {
        while !Task.isCancelled {
            do {
                guard isLeading else {
                    if stale.exchange(false, ordering: .relaxed) { feed.publish(try await store.newestSequence()) }
                    return
                }
                let (newest, events) = try await store.sequenceEvents(limit: batch)
                metrics?.sequenced(events)
                // Rows just sequenced are announced by their commit's `ams_events` notice; a round
                // that sequenced nothing read a committed number.
                if events.isEmpty { feed.publish(newest) } else if isLeading { feed.stage(events) }
                if events.count < batch { return }
            } catch {
                guard isLeading else {
                    // Asked again at the next sweep.
                    stale.store(true, ordering: .relaxed)
                    return
                }
                logger.warning("events could not be sequenced", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: .milliseconds(500))
                wakeup.yield()
                return
            }
        }
    }
}

/// A one-way latch that tasks can wait on.
final class Gate: Sendable {
    private let isOpen = Atomic(false)

    func open() { isOpen.store(true, ordering: .relaxed) }

    /// Returns once open, or when the task is cancelled.
    func wait() async {
        while !isOpen.load(ordering: .relaxed), !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
