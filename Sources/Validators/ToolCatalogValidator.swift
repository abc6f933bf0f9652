public import Domain

/// Every referenced tool exists, is available to the tenant's tier, and has its required config keys.
public struct ToolCatalogValidator: AgentValidator {
    public let id = "tool-catalog"

    public init() {}

    public func validate(_ c: AgentConfig, context: ValidationContext) async -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        for (i, tool) in c.tools.enumerated() where !tool.id.isEmpty {
            guard let definition = context.catalog[tool.id] else {
                issues.append(
                    .error(.toolReference, "/tools/\(i)/id", "unknown tool '\(tool.id)'", suggestion: "Use a tool id from the tool catalog")
                )
                continue
            }
            if let minTier = definition.minTier, context.tenant.tier < minTier {
                issues.append(
                    .error(
                        .notAllowedForTier,
                        "/tools/\(i)/id",
                        "tool '\(tool.id)' needs the \(minTier.rawValue) tier or higher; the tenant is \(context.tenant.tier.rawValue)"
                    )
                )
            }
            for key in definition.requiredConfig where tool.config[key] == nil || tool.config[key] == .null {
                issues.append(.error(.required, "/tools/\(i)/config/\(key)", "tool '\(tool.id)' needs config key '\(key)'"))
            }
        }
        return issues
    }
}
