import Domain

extension Audit {
    /// The writer of the tests that write through a store or an actor directly.
    static let test = Audit(actor: "u", roles: ["admin"], requestID: "test")
}
