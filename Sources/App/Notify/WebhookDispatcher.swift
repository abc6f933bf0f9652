import AsyncHTTPClient
import CoreMetrics
import Domain
import Foundation
import Infra
import Logging
import ServiceLifecycle
import Synchronization

/// Delivers events to the tenants' webhook endpoints, on the replica that leads the notifier.
///
/// Each round leases the endpoints that have events after their position and are due, and a
/// worker per endpoint posts those events in order. A failed attempt gives the lease back with the
/// time the endpoint is due again, so a dead receiver holds a worker for one attempt, not for its
/// whole retry schedule, and never holds back other endpoints. Workers are bounded; positions,
/// attempts and leases live in Postgres, so another replica resumes where this one stopped.
struct WebhookDispatcher: Service {
    static let name = "webhooks"

    let store: any WebhookStore
    let client: WebhookClient
    let http: HTTPClient
    let feed: EventFeed
    let notifier: Notifier
    let schedule: RetrySchedule
    /// Newest sequence minus the position of the active endpoint furthest behind.
    let lag: CoreMetrics.Gauge
    var workers = 16
    /// A worker stops taking new events after this long and gives its lease back; the lease
    /// outlasts it with room for one more attempt.
    var turn: Duration = .seconds(20)
    var lease: Duration = .seconds(60)
    /// How often the notifier wakes its followers anyway; retries due later wait for it.
    var sweep: Duration = .seconds(5)
    let logger: Logger

    func run() async throws {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let busy = Workers()
        await cancelWhenGracefulShutdown {
            await notifier.migrated.wait()
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in feed.follow() { wake.yield() }
                    wake.finish()
                }
                var timer: ContinuousClock.Instant?
                // With no active endpoint, a second between looks: the events that come meanwhile
                // cost no query each (a registration is seen within that second).
                var quietUntil: ContinuousClock.Instant?
                var lookAgain = false
                for await _ in wakes {
                    guard notifier.isLeading else { continue }
                    if let due = timer, due <= .now { timer = nil }
                    if let quiet = quietUntil, quiet > .now {
                        // Something came meanwhile: one look when the second is over.
                        if !lookAgain {
                            lookAgain = true
                            group.addTask {
                                try? await Task.sleep(until: quiet)
                                wake.yield()
                            }
                        }
                        continue
                    }
                    let free = workers - busy.count
                    guard free > 0 else { continue }
                    let claimed: WebhookClaim
                    do {
                        claimed = try await store.claimWebhooks(limit: free, lease: lease)
                    } catch {
                        logger.warning("webhooks could not be claimed", metadata: ["error": "\(String(reflecting: error))"])
                        continue
                    }
                    if let behind = claimed.behind {
                        feed.report(Self.name, delivered: behind)
                        lag.record(max(0, feed.newest - behind))
                        quietUntil = nil
                    } else {
                        quietUntil = ContinuousClock.now + .seconds(1)
                        lookAgain = false
                    }
                    for job in claimed.jobs {
                        busy.add(1)
                        group.addTask {
                            await deliver(job)
                            busy.add(-1)
                            wake.yield()
                        }
                    }
                    // A timer for the earliest endpoint waiting for a retry, if it is due before the
                    // notifier's sweep wakes this loop anyway; a new one only when clearly earlier.
                    if let wait = claimed.nextDue, wait < sweep {
                        let due = ContinuousClock.now + wait
                        if timer.map({ due < $0 - .milliseconds(20) }) ?? true {
                            timer = due
                            group.addTask {
                                try? await Task.sleep(until: due)
                                wake.yield()
                            }
                        }
                    }
                }
            }
        }
        try? await http.shutdown()
    }

    /// Posts the endpoint's events in order until it is done, must wait for a retry, is disabled,
    /// or its turn is over.
    private func deliver(_ job: WebhookJob) async {
        let ends = ContinuousClock.now + turn
        var position = job.delivered
        var attempts = job.attempts
        var metadata: Logger.Metadata { ["tenant_id": "\(job.tenantID)", "webhook_id": "\(job.id)"] }
        do {
            turn: while ContinuousClock.now < ends, !Task.isCancelled {
                let events: [ChangeEvent]
                if let missed = job.missed, position < missed.through {
                    // The purge took events it had yet to get: it hears of that before the next one.
                    events = [.skipped(tenant: job.tenantID, eventID: missed.eventID, after: position, through: missed.through, at: Date())]
                } else {
                    events = try await store.webhookEvents(tenant: job.tenantID, after: position, limit: 100)
                }
                guard !events.isEmpty else { break }
                for event in events {
                    guard job.wants(event.event) else {
                        position = event.sequence
                        continue
                    }
                    guard ContinuousClock.now < ends, !Task.isCancelled else { break turn }
                    attempts += 1
                    guard let delivery = await client.post(event, to: job.url, secrets: job.secrets, attempt: attempts) else {
                        // No lookup to spare: not the receiver's failure. A pause, then the endpoint
                        // goes back, due as it was.
                        try? await Task.sleep(for: .seconds(1))
                        break turn
                    }
                    // Stopping (a deploy) is not the receiver's failure: the lease runs out and the
                    // event goes again, this attempt uncounted.
                    if Task.isCancelled { return }
                    if let error = delivery.error {
                        logger.info("webhook attempt failed", metadata: metadata.merging(["attempt": "\(attempts)", "error": "\(error)"]) { $1 })
                    }
                    switch try await store.recordAttempt(job, delivery, skipped: position, schedule: schedule) {
                    case .next:
                        position = event.sequence
                        attempts = 0
                    case .retry, .stop:
                        return
                    }
                }
            }
            try await store.releaseWebhook(job, through: position)
        } catch {
            // The lease runs out and the endpoint is claimed again from its stored position.
            logger.warning("webhook delivery interrupted", metadata: metadata.merging(["error": "\(String(reflecting: error))"]) { $1 })
        }
    }
}

/// How many workers run; their tasks and the dispatching loop share it.
private final class Workers: Sendable {
    private let running = Atomic(0)
    var count: Int { running.load(ordering: .relaxed) }
    func add(_ n: Int) { running.add(n, ordering: .relaxed) }
}
