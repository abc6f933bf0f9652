public import Domain

/// What the tenant's tier allows: counts, models, types, prompt, tokens, and (on dry runs) the quota.
public struct TierPolicyValidator: AgentValidator {
    public let id = "tier-policy"

    public init() {}

    public func validate(_ c: AgentConfig, context: ValidationContext) async -> [ValidationIssue] {
        let limits = context.limits
        let tier = context.tenant.tier.rawValue
        var issues: [ValidationIssue] = []
        let upgrade = "Upgrade the tenant's tier or reduce the value"
        if c.tools.count > limits.maxToolsPerAgent {
            issues.append(
                .error(.tierLimit, "/tools", "\(c.tools.count) tools; the \(tier) tier allows \(limits.maxToolsPerAgent)", suggestion: upgrade)
            )
        }
        if c.collections.count > limits.maxCollectionsPerAgent {
            issues.append(
                .error(
                    .tierLimit,
                    "/collections",
                    "\(c.collections.count) collections; the \(tier) tier allows \(limits.maxCollectionsPerAgent)",
                    suggestion: upgrade
                )
            )
        }
        if !c.systemPrompt.isEmpty && !limits.customPrompts {
            issues.append(
                .error(
                    .notAllowedForTier,
                    "/system_prompt",
                    "the \(tier) tier does not allow custom system prompts",
                    suggestion: "Leave system_prompt empty or upgrade the tier"
                )
            )
        }
        // Characters are Unicode code points, as everywhere in the contract (JSON Schema counts so).
        let promptLength = c.systemPrompt.unicodeScalars.count
        if promptLength > limits.maxPromptChars {
            issues.append(
                .error(
                    .tierLimit,
                    "/system_prompt",
                    "system_prompt has \(promptLength) characters; the \(tier) tier allows \(limits.maxPromptChars)",
                    suggestion: upgrade
                )
            )
        }
        if c.type.isKnown && !limits.allowedTypes.contains(c.type) {
            issues.append(
                .error(
                    .notAllowedForTier,
                    "/type",
                    "the \(tier) tier does not allow \(c.type.rawValue) agents",
                    suggestion: "Allowed: " + AgentType.known.filter(limits.allowedTypes.contains).map(\.rawValue).joined(separator: ", ")
                )
            )
        }
        if !c.llmConfig.model.isEmpty && !limits.allowedModels.allows(c.llmConfig.model) {
            var suggestion: String?
            if case .only(let models) = limits.allowedModels { suggestion = "Allowed: " + models.sorted().joined(separator: ", ") }
            issues.append(
                .error(
                    .notAllowedForTier,
                    "/llm_config/model",
                    "the \(tier) tier does not allow model '\(c.llmConfig.model)'",
                    suggestion: suggestion
                )
            )
        }
        if let maxTokens = c.llmConfig.maxTokens, maxTokens > limits.maxTokens {
            issues.append(
                .error(
                    .tierLimit,
                    "/llm_config/max_tokens",
                    "max_tokens \(maxTokens) exceeds the \(tier) tier's \(limits.maxTokens)",
                    suggestion: upgrade
                )
            )
        }
        if let others = context.otherAgents, others >= limits.maxAgents {
            issues.append(
                .error(
                    .quota,
                    "",
                    "the \(tier) tier allows \(limits.maxAgents) agents and the tenant has \(others)",
                    suggestion: "Delete an agent or upgrade the tier"
                )
            )
        }
        return issues
    }
}
