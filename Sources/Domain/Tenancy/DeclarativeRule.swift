/// An operator-written rule from the policy file: a JSON Pointer and a constraint, optionally only
/// for some tiers, so simple policies need no recompiling.
public struct DeclarativeRule: Sendable, Hashable {
    public var id: String
    public var path: String
    public var min: Double?
    public var max: Double?
    public var allowed: [JSONValue]?
    /// The regex as written, for messages; `compiledPattern` follows it.
    public var pattern: String? {
        didSet { compiledPattern = pattern.flatMap { try? CompiledPattern($0) } }
    }
    /// `nil` when there is no pattern or it does not compile (the policy loader refuses the latter).
    public private(set) var compiledPattern: CompiledPattern?
    public var tiers: Set<Tier>?
    public var severity: ValidationIssue.Severity
    public var message: String?

    public init(
        id: String,
        path: String,
        min: Double? = nil,
        max: Double? = nil,
        allowed: [JSONValue]? = nil,
        pattern: String? = nil,
        tiers: Set<Tier>? = nil,
        severity: ValidationIssue.Severity = .error,
        message: String? = nil
    ) {
        self.id = id
        self.path = path
        self.min = min
        self.max = max
        self.allowed = allowed
        self.pattern = pattern
        self.compiledPattern = pattern.flatMap { try? CompiledPattern($0) }
        self.tiers = tiers
        self.severity = severity
        self.message = message
    }
}
