/// A rule's regular expression, compiled once when the policy loads instead of on every validation.
/// `Regex` is not `Sendable`; sharing this is safe because the regex is an immutable `let` that
/// matching only reads. Equal when the pattern text is equal.
public final class CompiledPattern: @unchecked Sendable, Hashable {
    public let source: String
    private let regex: Regex<AnyRegexOutput>

    /// Throws when `source` is not a valid regular expression.
    public init(_ source: String) throws {
        self.source = source
        self.regex = try Regex(source)
    }

    /// Whether the whole of `text` matches, as declarative rules require.
    public func wholeMatches(_ text: String) -> Bool {
        text.wholeMatch(of: regex) != nil
    }

    public static func == (lhs: CompiledPattern, rhs: CompiledPattern) -> Bool { lhs.source == rhs.source }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }
}
