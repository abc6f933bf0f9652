/// What inner middleware learns about a request that the outer one logs when it is done: the
/// context travels inward by value, so this one box is shared by reference. Made only when the
/// access log is on; one request is handled by one task at a time, so its fields need no lock.
final class RequestNotes: @unchecked Sendable {
    var tenantID: String?
    var subject: String?
}
