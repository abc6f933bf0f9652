public import Domain

/// Configurations are shared with other services, so anything that looks like a credential in the
/// prompt or metadata is refused.
public struct SecretsValidator: AgentValidator {
    public let id = "secrets"

    /// `Regex` is not `Sendable` but these are never mutated after initialisation.
    nonisolated(unsafe) private static let patterns: [(name: String, regex: Regex<Substring>)] = [
        ("private key", try! Regex(#"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"#)),
        ("OpenAI-style API key", try! Regex(#"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}"#)),
        ("AWS access key", try! Regex(#"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"#)),
        ("GitHub token", try! Regex(#"\bgh[pousr]_[A-Za-z0-9]{36,}\b"#)),
        ("Slack token", try! Regex(#"\bxox[abposr]-[A-Za-z0-9\-]{10,}"#)),
        ("Google API key", try! Regex(#"\bAIza[0-9A-Za-z_\-]{35}\b"#)),
        ("credential assignment", try! Regex(#"(?i)\b(?:api[_-]?key|secret|password|access[_-]?token)\s*[:=]\s*['"]?[A-Za-z0-9_\-/+]{12,}"#)),
    ]

    public init() {}

    public func validate(_ c: AgentConfig, context: ValidationContext) async -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        if let kind = Self.secretKind(in: c.systemPrompt) {
            issues.append(Self.issue(kind, at: "/system_prompt"))
        }
        scan(.object(c.metadata), at: "/metadata", into: &issues)
        return issues
    }

    private func scan(_ value: JSONValue, at path: String, into issues: inout [ValidationIssue]) {
        switch value {
        case .string(let s):
            if let kind = Self.secretKind(in: s) { issues.append(Self.issue(kind, at: path)) }
        case .array(let items):
            for (i, item) in items.enumerated() { scan(item, at: "\(path)/\(i)", into: &issues) }
        case .object(let members):
            for key in members.keys.sorted() {
                let escaped = key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                scan(members[key]!, at: "\(path)/\(escaped)", into: &issues)
            }
        default:
            break
        }
    }

    static func secretKind(in text: String) -> String? {
        guard text.count >= 12 else { return nil }
        return patterns.first { text.contains($0.regex) }?.name
    }

    private static func issue(_ kind: String, at path: String) -> ValidationIssue {
        .error(.secretDetected, path, "looks like a \(kind); configurations must not carry secrets",
               suggestion: "Store the secret in the platform's secret store and reference it by name")
    }
}
