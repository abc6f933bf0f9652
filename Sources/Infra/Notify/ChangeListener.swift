public import Domain
public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// LISTENs on `agent_management_changes` and hands every change to `onChange`. LISTEN lives on a
/// connection of its own, outside the pool (it is held for good, and a pooled connection that the
/// server closes while leased has been seen to stall the pool), and ends when that connection drops,
/// so the loop reconnects with backoff; `onListening(false)` on a drop and `onListening(true)` once
/// LISTEN is back tell the caches when they cannot be trusted.
public struct ChangeListener: Service {
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    let onChange: @Sendable (ChangeNotification) async -> Void
    let onListening: @Sendable (Bool) async -> Void

    public init(
        configuration: PostgresConnection.Configuration, logger: Logger,
        onChange: @escaping @Sendable (ChangeNotification) async -> Void,
        onListening: @escaping @Sendable (Bool) async -> Void
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onChange = onChange
        self.onListening = onListening
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Duration.milliseconds(100)
            while !Task.isCancelled {
                do {
                    let conn = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                    do {
                        try await conn.listen(on: PostgresAgentStore.channel) { notifications in
                            logger.info("listening for changes")
                            backoff = .milliseconds(100)
                            await onListening(true)
                            for try await notification in notifications {
                                if let change = ChangeNotification(payload: notification.payload) {
                                    await onChange(change)
                                }
                            }
                        }
                        try? await conn.close()
                    } catch {
                        try? await conn.close()
                        throw error
                    }
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("change listener lost its connection", metadata: ["error": "\(String(reflecting: error))"])
                }
                await onListening(false)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }
}
