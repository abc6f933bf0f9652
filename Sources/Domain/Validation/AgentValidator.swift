/// A validation rule as a plugin: conform, then register the type in one line of the app's registry.
public protocol AgentValidator: Sendable {
    /// Stable name, for logs and for telling which plugin raised an issue.
    var id: String { get }
    func validate(_ candidate: AgentConfig, context: ValidationContext) async -> [ValidationIssue]
}

/// What a validator may consult besides the candidate; a snapshot, so validators stay pure.
public struct ValidationContext: Sendable {
    public var tenant: Tenant
    public var limits: TierLimits
    public var catalog: ToolCatalog
    public var rules: [DeclarativeRule]
    /// Live agents of the tenant besides the candidate, when the quota is judged here (dry runs);
    /// writes enforce the quota inside their transaction instead.
    public var otherAgents: Int?

    public init(tenant: Tenant, limits: TierLimits, catalog: ToolCatalog, rules: [DeclarativeRule] = [], otherAgents: Int? = nil) {
        self.tenant = tenant
        self.limits = limits
        self.catalog = catalog
        self.rules = rules
        self.otherAgents = otherAgents
    }
}

/// The ordered validators the app was built with; every write runs all of them.
public struct ValidatorRegistry: Sendable {
    public let validators: [any AgentValidator]

    public init(_ validators: [any AgentValidator]) { self.validators = validators }

    /// Runs every validator and gathers every issue, so a client fixes everything in one round.
    public func validate(_ candidate: AgentConfig, context: ValidationContext) async -> ValidationReport {
        var issues: [ValidationIssue] = []
        for validator in validators {
            issues += await validator.validate(candidate, context: context)
        }
        return ValidationReport(issues: issues)
    }
}
