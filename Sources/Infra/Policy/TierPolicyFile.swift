public import Domain
import Foundation
import Yams

/// Reads the tier policy YAML; any problem is a `ConfigurationError` that names the file and field.
public enum TierPolicyFile {
    struct File: Decodable {
        var tiers: [String: Limits]
        var rules: [Rule]?

        enum CodingKeys: String, CodingKey, CaseIterable { case tiers, rules }
    }

    struct Limits: Decodable {
        var max_agents: Int
        var max_tools_per_agent: Int
        var max_collections_per_agent: Int
        var custom_prompts: Bool
        var allowed_types: [String]
        var allowed_models: Models
        var max_prompt_chars: Int
        var max_tokens: Int
        var requests_per_minute: Count?
        var agent_creates_per_day: Count?
        var agent_updates_per_hour: Count?
        var max_webhooks: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case max_agents, max_tools_per_agent, max_collections_per_agent, custom_prompts, allowed_types, allowed_models
            case max_prompt_chars, max_tokens, requests_per_minute, agent_creates_per_day, agent_updates_per_hour, max_webhooks
        }
    }

    /// A limit: a whole number, or `unlimited` (also when the key is absent).
    enum Count: Decodable {
        case unlimited
        case limit(Int)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            // A YAML scalar reads as a string too: the number first.
            if let n = try? container.decode(Int.self) {
                guard n > 0 else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be positive (or 'unlimited')") }
                self = .limit(n)
            } else if (try? container.decode(String.self)) == "unlimited" {
                self = .unlimited
            } else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be a whole number or 'unlimited'")
            }
        }

        var value: Int? {
            if case .limit(let n) = self { return n }
            return nil
        }
    }

    enum Models: Decodable {
        case all
        case only([String])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let word = try? container.decode(String.self) {
                guard word == "all" else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be 'all' or a list of models")
                }
                self = .all
            } else {
                self = .only(try container.decode([String].self))
            }
        }
    }

    struct Rule: Decodable {
        var id: String
        var path: String
        var min: Double?
        var max: Double?
        var `enum`: [JSONValue]?
        var pattern: String?
        var tiers: [String]?
        var severity: String?
        var message: String?

        enum CodingKeys: String, CodingKey, CaseIterable { case id, path, min, max, `enum`, pattern, tiers, severity, message }
    }

    /// Every key the file may use; anything else is a typo that must stop the start.
    static let shape = YAMLShape.fields([
        File.CodingKeys.tiers.rawValue: .entries(.fields(Limits.CodingKeys.allCases.map(\.rawValue))),
        File.CodingKeys.rules.rawValue: .list(.fields(Rule.CodingKeys.allCases.map(\.rawValue))),
    ])

    public static func load(path: String) throws -> TierPolicy {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("tier policy \(path): cannot be read")
        }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String = "tier policy") throws -> TierPolicy {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError("\(source): not valid YAML (\(error))")
        }
        if let node { try shape.check(node, source: source) }
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: text)
        } catch let error as DecodingError {
            throw ConfigurationError("\(source): \(describe(error))")
        } catch {
            throw ConfigurationError("\(source): not valid YAML (\(error))")
        }
        var limits: [Tier: TierLimits] = [:]
        for (name, raw) in file.tiers {
            guard let tier = Tier(rawValue: name) else {
                throw ConfigurationError("\(source): tiers.\(name): unknown tier (expected \(Tier.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            limits[tier] = try TierLimits(raw, tier: tier, at: "\(source): tiers.\(name)")
        }
        if let missing = Tier.allCases.first(where: { limits[$0] == nil }) {
            throw ConfigurationError("\(source): tiers.\(missing.rawValue): missing")
        }
        let rules = try (file.rules ?? []).enumerated().map { i, rule in try DeclarativeRule(rule, at: "\(source): rules[\(i)]") }
        return TierPolicy(limits: limits, rules: rules)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let ctx): return "\(path(ctx.codingPath + [key])): missing"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        case .dataCorrupted(let ctx): return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

extension TierLimits {
    /// Webhook endpoints a tier has when its policy does not say.
    static func defaultMaxWebhooks(_ tier: Tier) -> Int {
        switch tier {
        case .free: 1
        case .advance: 3
        case .professional: 10
        case .enterprise: 50
        }
    }

    init(_ raw: TierPolicyFile.Limits, tier: Tier, at where_: String) throws {
        let counts = [
            ("max_agents", raw.max_agents), ("max_tools_per_agent", raw.max_tools_per_agent),
            ("max_webhooks", raw.max_webhooks ?? 0),
            ("max_collections_per_agent", raw.max_collections_per_agent),
            ("max_prompt_chars", raw.max_prompt_chars), ("max_tokens", raw.max_tokens),
        ]
        if let (name, value) = counts.first(where: { $0.1 < 0 }) {
            throw ConfigurationError("\(where_).\(name): must not be negative (\(value))")
        }
        var types = Set<AgentType>()
        for name in raw.allowed_types {
            let type = AgentType(rawValue: name)
            guard type.isKnown else { throw ConfigurationError("\(where_).allowed_types: unknown type '\(name)'") }
            types.insert(type)
        }
        let models: Models =
            switch raw.allowed_models {
            case .all: .all
            case .only(let list): .only(Set(list))
            }
        self.init(
            maxAgents: raw.max_agents,
            maxToolsPerAgent: raw.max_tools_per_agent,
            maxCollectionsPerAgent: raw.max_collections_per_agent,
            customPrompts: raw.custom_prompts,
            allowedTypes: types,
            allowedModels: models,
            maxPromptChars: raw.max_prompt_chars,
            maxTokens: raw.max_tokens,
            requestsPerMinute: raw.requests_per_minute?.value,
            agentCreatesPerDay: raw.agent_creates_per_day?.value,
            agentUpdatesPerHour: raw.agent_updates_per_hour?.value,
            maxWebhooks: raw.max_webhooks ?? Self.defaultMaxWebhooks(tier)
        )
    }
}

extension DeclarativeRule {
    init(_ raw: TierPolicyFile.Rule, at where_: String) throws {
        guard raw.path.hasPrefix("/") else { throw ConfigurationError("\(where_).path: must be a JSON Pointer such as /llm_config/temperature") }
        guard raw.min != nil || raw.max != nil || raw.enum != nil || raw.pattern != nil else {
            throw ConfigurationError("\(where_): needs at least one of min, max, enum, pattern")
        }
        var tiers: Set<Tier>?
        if let names = raw.tiers {
            tiers = try Set(
                names.map { name in
                    guard let tier = Tier(rawValue: name) else { throw ConfigurationError("\(where_).tiers: unknown tier '\(name)'") }
                    return tier
                }
            )
        }
        var severity = ValidationIssue.Severity.error
        if let raw = raw.severity {
            guard let s = ValidationIssue.Severity(rawValue: raw) else { throw ConfigurationError("\(where_).severity: must be error or warning") }
            severity = s
        }
        self.init(
            id: raw.id,
            path: raw.path,
            min: raw.min,
            max: raw.max,
            allowed: raw.enum,
            pattern: raw.pattern,
            tiers: tiers,
            severity: severity,
            message: raw.message
        )
        // The rule compiles its pattern once, here at load; one that does not compile stops the start.
        if raw.pattern != nil && compiledPattern == nil {
            throw ConfigurationError("\(where_).pattern: not a valid regular expression")
        }
    }
}
