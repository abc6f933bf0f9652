public import Domain

/// Applies the operator's rules from the policy file to the candidate's JSON form.
public struct DeclarativeRulesValidator: AgentValidator {
    public let id = "declarative-rules"

    public init() {}

    public func validate(_ c: AgentConfig, context: ValidationContext) async -> [ValidationIssue] {
        let rules = context.rules.filter { $0.tiers?.contains(context.tenant.tier) ?? true }
        guard !rules.isEmpty else { return [] }
        let document = c.json
        var issues: [ValidationIssue] = []
        for rule in rules {
            guard let value = document.resolve(pointer: rule.path), value != .null else { continue }
            if let problem = Self.problem(rule, value) {
                issues.append(.init(.ruleViolated, rule.severity, path: rule.path, rule.message ?? problem, suggestion: "Rule '\(rule.id)'"))
            }
        }
        return issues
    }

    /// The first constraint the value breaks, described; numbers compare by value, strings and
    /// arrays by length.
    static func problem(_ rule: DeclarativeRule, _ value: JSONValue) -> String? {
        let measure: Double? =
            switch value {
            case .int, .double: value.numberValue
            case .string(let s): Double(s.unicodeScalars.count)
            case .array(let a): Double(a.count)
            default: nil
            }
        if let min = rule.min, let measure, measure < min { return "\(rule.path) must be at least \(min)" }
        if let max = rule.max, let measure, measure > max { return "\(rule.path) must be at most \(max)" }
        if let allowed = rule.allowed, !allowed.contains(where: { JSONPatch.same($0, value) }) {
            return "\(rule.path) must be one of " + allowed.map { String(decoding: $0.encoded, as: UTF8.self) }.joined(separator: ", ")
        }
        if let compiled = rule.compiledPattern {
            guard case .string(let s) = value, compiled.wholeMatches(s) else { return "\(rule.path) must match \(compiled.source)" }
        }
        return nil
    }
}
