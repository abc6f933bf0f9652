public import Domain

/// Configurations are shared with other services, so anything that looks like a credential in the
/// prompt, metadata or tool configs is refused.
public struct SecretsValidator: AgentValidator {
    public let id = "secrets"

    /// Most UTF-8 scanned in each source (the prompt, the metadata, each tool's config), so a huge
    /// body cannot buy seconds of regex time, while a long prompt cannot use up the budget of the
    /// tool configs where connection strings leak; tier and size limits refuse such bodies anyway.
    public static let scanLimit = 64 * 1024

    /// `Regex` is not `Sendable` but these are never mutated after initialisation. `needs` is the
    /// literal marker without which the pattern cannot match, checked by a cheap byte scan first.
    nonisolated(unsafe) private static let patterns: [(name: String, needs: Markers, regex: Regex<Substring>)] = [
        ("private key", .privateKey, try! Regex(#"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"#)),
        ("OpenAI-style API key", .openAI, try! Regex(#"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}"#)),
        ("AWS access key", .aws, try! Regex(#"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"#)),
        ("GitHub token", .github, try! Regex(#"\bgh[pousr]_[A-Za-z0-9]{36,}\b"#)),
        ("Slack token", .slack, try! Regex(#"\bxox[abposr]-[A-Za-z0-9\-]{10,}"#)),
        ("Google API key", .google, try! Regex(#"\bAIza[0-9A-Za-z_\-]{35}\b"#)),
        (
            "credential assignment", .assignment,
            try! Regex(#"(?i)\b(?:api[_-]?key|secret|password|access[_-]?token)\s*[:=]\s*['"]?[A-Za-z0-9_\-/+]{12,}"#)
        ),
        // scheme://user:password@host; bounded repeats keep it linear, and `${…}`/`<…>` placeholders pass.
        ("URL with a password", .url, try! Regex(#"\b[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/@]{0,128}:(?![${<])[^\s/@]{1,256}@[^\s/@]"#)),
    ]

    /// Which patterns a string could match, from the literals each one requires.
    struct Markers: OptionSet {
        let rawValue: UInt8
        static let privateKey = Markers(rawValue: 1 << 0)
        static let openAI = Markers(rawValue: 1 << 1)
        static let aws = Markers(rawValue: 1 << 2)
        static let github = Markers(rawValue: 1 << 3)
        static let slack = Markers(rawValue: 1 << 4)
        static let google = Markers(rawValue: 1 << 5)
        static let assignment = Markers(rawValue: 1 << 6)
        static let url = Markers(rawValue: 1 << 7)
    }

    public init() {}

    public func validate(_ c: AgentConfig, context: ValidationContext) async -> [ValidationIssue] {
        var prompt = Scan()
        prompt.text(c.systemPrompt.prefix(max(0, context.limits.maxPromptChars)), at: "/system_prompt")
        var metadata = Scan()
        metadata.json(.object(c.metadata), at: "/metadata")
        var issues = prompt.issues + metadata.issues
        for (i, tool) in c.tools.enumerated() {
            var config = Scan()
            config.json(.object(tool.config), at: "/tools/\(i)/config")
            issues += config.issues
        }
        return issues
    }

    /// One pass over one source's text, spending its budget in report order.
    private struct Scan {
        var budget = SecretsValidator.scanLimit
        var issues: [ValidationIssue] = []

        mutating func json(_ value: JSONValue, at path: String) {
            guard budget > 0 else { return }
            switch value {
            case .string(let s):
                text(s[...], at: path)
            case .array(let items):
                for (i, item) in items.enumerated() { json(item, at: "\(path)/\(i)") }
            case .object(let members):
                for key in members.keys.sorted() {
                    let escaped = JSONPointer.escape(key)
                    json(members[key]!, at: "\(path)/\(escaped)")
                }
            default:
                break
            }
        }

        mutating func text(_ text: Substring, at path: String) {
            let scanned = SecretsValidator.prefix(text, utf8: budget)
            budget -= scanned.utf8.count
            if let kind = SecretsValidator.secretKind(in: scanned) {
                issues.append(SecretsValidator.issue(kind, at: path))
            }
        }
    }

    /// At most `limit` bytes of `text`, cut back to a scalar boundary.
    static func prefix(_ text: Substring, utf8 limit: Int) -> Substring {
        let utf8 = text.utf8
        guard var end = utf8.index(utf8.startIndex, offsetBy: max(0, limit), limitedBy: utf8.endIndex), end < utf8.endIndex else {
            return text
        }
        while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { utf8.formIndex(before: &end) }
        return Substring(text.unicodeScalars[..<end])
    }

    static func secretKind(in text: Substring) -> String? {
        guard text.utf8.count >= 12 else { return nil }
        let found = text.utf8.withContiguousStorageIfAvailable(markers) ?? Array(text.utf8).withUnsafeBufferPointer(markers)
        guard !found.isEmpty else { return nil }
        return patterns.first { found.contains($0.needs) && text.contains($0.regex) }?.name
    }

    /// One byte pass finding the literals the patterns need, so the regexes (the expensive part) run
    /// only where they could match. It may over-report but must never miss a marker a match implies.
    static func markers(_ b: UnsafeBufferPointer<UInt8>) -> Markers {
        func exact(_ i: Int, _ literal: StaticString) -> Bool {
            let n = literal.utf8CodeUnitCount
            guard b.count - i >= n else { return false }
            return (0..<n).allSatisfy { b[i + $0] == literal.utf8Start[$0] }
        }
        /// ASCII case-insensitive; `lowercase` must be letters only.
        func folded(_ i: Int, _ lowercase: StaticString) -> Bool {
            let n = lowercase.utf8CodeUnitCount
            guard b.count - i >= n else { return false }
            return (0..<n).allSatisfy { b[i + $0] | 0x20 == lowercase.utf8Start[$0] }
        }
        var found: Markers = []
        for i in b.indices {
            switch b[i] {
            case UInt8(ascii: "-"): if exact(i, "-----BEGIN") { found.insert(.privateKey) }
            case UInt8(ascii: "s"), UInt8(ascii: "S"):
                if exact(i, "sk-") { found.insert(.openAI) }
                if folded(i, "secret") { found.insert(.assignment) }
            case UInt8(ascii: "A"): if exact(i, "AKIA") || exact(i, "ASIA") { found.insert(.aws) } else if exact(i, "AIza") { found.insert(.google) }
            case UInt8(ascii: "g"): if exact(i, "gh") { found.insert(.github) }
            case UInt8(ascii: "x"): if exact(i, "xox") { found.insert(.slack) }
            case UInt8(ascii: ":"): if exact(i, "://") { found.insert(.url) }
            case UInt8(ascii: "k"), UInt8(ascii: "K"): if folded(i, "key") { found.insert(.assignment) }
            case UInt8(ascii: "p"), UInt8(ascii: "P"): if folded(i, "password") { found.insert(.assignment) }
            case UInt8(ascii: "t"), UInt8(ascii: "T"): if folded(i, "token") { found.insert(.assignment) }
            // The Kelvin sign (U+212A) matches `k` case-insensitively, so "api_\u{212A}ey" counts as a key.
            case 0xE2: if exact(i, "\u{212A}") { found.insert(.assignment) }
            default: break
            }
        }
        return found
    }

    private static func issue(_ kind: String, at path: String) -> ValidationIssue {
        .error(
            .secretDetected,
            path,
            "looks like a \(kind); configurations must not carry secrets",
            suggestion: "Store the secret in the platform's secret store and reference it by name"
        )
    }
}
