/// The outcome of running every validator: stored with the agent and returned as `validation`.
public struct ValidationReport: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable { case valid, warnings, invalid }

    public var issues: [ValidationIssue]

    public init(issues: [ValidationIssue]) { self.issues = issues }

    public var status: Status {
        if issues.contains(where: { $0.severity == .error }) { return .invalid }
        return issues.isEmpty ? .valid : .warnings
    }

    public var errors: [ValidationIssue] { issues.filter { $0.severity == .error } }

    public var json: JSONValue {
        .object(["status": .string(status.rawValue), "issues": .array(issues.map(\.json))])
    }

    public init(json: JSONValue) {
        issues = (json["issues"].flatMap { if case .array(let a) = $0 { a } else { nil } } ?? []).compactMap(ValidationIssue.init(json:))
    }
}
