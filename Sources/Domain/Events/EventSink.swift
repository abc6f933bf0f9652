/// Somewhere committed changes are announced. A sink gets events in `sequence` order and throws
/// when it could not take them all; they are handed to it again, so it may see some twice.
public protocol EventSink: Sendable {
    func deliver(_ events: [ChangeEvent]) async throws
}
