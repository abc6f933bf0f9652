public struct ValidationIssue: Sendable, Hashable {
    public enum Severity: String, Sendable, Hashable { case error, warning }

    public var code: IssueCode
    public var severity: Severity
    /// JSON Pointer to the offending field, e.g. `/llm_config/temperature`.
    public var path: String
    public var message: String
    public var suggestion: String?

    public init(_ code: IssueCode, _ severity: Severity = .error, path: String, _ message: String, suggestion: String? = nil) {
        self.code = code
        self.severity = severity
        self.path = path
        self.message = message
        self.suggestion = suggestion
    }

    public static func error(_ code: IssueCode, _ path: String, _ message: String, suggestion: String? = nil) -> Self {
        .init(code, .error, path: path, message, suggestion: suggestion)
    }

    public static func warning(_ code: IssueCode, _ path: String, _ message: String, suggestion: String? = nil) -> Self {
        .init(code, .warning, path: path, message, suggestion: suggestion)
    }

    public var json: JSONValue {
        .object([
            "code": .string(code.rawValue), "severity": .string(severity.rawValue), "path": .string(path),
            "message": .string(message), "suggestion": suggestion.map(JSONValue.string) ?? .null,
        ])
    }

    public init?(json: JSONValue) {
        guard let code = json["code"]?.stringValue, let severity = json["severity"]?.stringValue.flatMap(Severity.init),
            let path = json["path"]?.stringValue, let message = json["message"]?.stringValue
        else { return nil }
        self.init(IssueCode(rawValue: code), severity, path: path, message, suggestion: json["suggestion"]?.stringValue)
    }
}
