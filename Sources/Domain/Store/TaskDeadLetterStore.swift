public import Foundation

/// Whether a failed task's dead letter was written. The task is recorded `failed` before its letter
/// goes to Redis, so a letter that could not be written is owed: the redelivery of the task's entry
/// writes it, then acknowledges.
public protocol TaskDeadLetterStore: Sendable {
    /// Of these tasks, the failed ones whose dead letter is not recorded as written.
    func deadLettersOwed(_ ids: [UUID], tenant: TenantID) async throws -> Set<UUID>
    /// Records that the tasks' dead letters were written.
    func recordDeadLetters(_ ids: [UUID], tenant: TenantID) async throws
}
