public import Domain

extension ValidatorRegistry {
    /// The built-in plugins, in the order their issues are reported.
    public static let builtin = ValidatorRegistry([
        FieldRulesValidator(),
        TierPolicyValidator(),
        ToolCatalogValidator(),
        SecretsValidator(),
        DeclarativeRulesValidator(),
    ])
}
