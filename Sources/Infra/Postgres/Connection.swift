import Logging
import NIOCore
import PostgresNIO

/// A Postgres connection whose queries fail, instead of waiting for ever, once it is closed.
///
/// PostgresNIO hands a query to its channel handler without a write promise. Once the channel is
/// closed, NIO removes that handler and drops the write, and the query's caller waits for good: a
/// `ROLLBACK` after a deadline closed the connection did exactly that. Here the closed check and the
/// write run in one job on the connection's event loop, where the close and the removal run too.
struct Connection: Sendable {
    struct Closed: Error {}

    let raw: PostgresConnection
    private let loop: EventLoopExecutor

    init(_ raw: PostgresConnection) {
        self.raw = raw
        self.loop = EventLoopExecutor(raw.eventLoop)
    }

    @discardableResult
    func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        try await withTaskExecutorPreference(loop) { try await Self.send(query, on: raw, logger: logger) }
    }

    /// Nonisolated, so it runs on the preferred executor (the loop) with no suspension before the write.
    private static func send(_ query: PostgresQuery, on raw: PostgresConnection, logger: Logger) async throws -> PostgresRowSequence {
        raw.eventLoop.assertInEventLoop()
        guard !raw.isClosed else { throw Closed() }
        return try await raw.query(query, logger: logger)
    }

    /// `BEGIN`, the body, then `COMMIT`, or `ROLLBACK` and the body's own error.
    func transaction<R>(logger: Logger, _ body: (Connection) async throws -> R) async throws -> R {
        try await query("BEGIN", logger: logger)
        let value: R
        do {
            value = try await body(self)
        } catch {
            _ = try? await query("ROLLBACK", logger: logger)
            throw error
        }
        try await query("COMMIT", logger: logger)
        return value
    }

    func close() async throws { try await raw.close() }
}

/// Runs a task's jobs on one NIO event loop.
final class EventLoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
