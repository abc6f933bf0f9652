import Crypto

/// The current functions, triggers and policies, one `.sql` file per subject. Tables come from the
/// numbered history (`History/`); these definitions are applied after it, so each function has
/// exactly one definition in the tree, and an edit is a change of its subject's file.
public struct SchemaDefinitions: Sendable {
    /// Bump it with any change to a subject file: a database holding a higher release is left as it
    /// is, so an older replica never overwrites a newer one's functions.
    public static let release = 1

    /// In dependency order: a policy or trigger names what an earlier file made.
    static let subjects: [(name: String, sql: String)] = [
        ("tenants", EmbeddedFiles.tenantsSQL),
        ("agents", EmbeddedFiles.agentsSQL),
        ("versions", EmbeddedFiles.versionsSQL),
        ("templates", EmbeddedFiles.templatesSQL),
        ("idempotency", EmbeddedFiles.idempotencySQL),
        ("tasks", EmbeddedFiles.tasksSQL),
        ("events", EmbeddedFiles.eventsSQL),
        ("webhooks", EmbeddedFiles.webhooksSQL),
    ]

    public let release: Int
    let statements: [String]
    /// Tells two builds of one release apart, so a definition edited without a bump still lands in development.
    let checksum: String

    public static let current = SchemaDefinitions(release: release, sources: subjects.map(\.sql))

    init(release: Int, sources: [String]) {
        self.release = release
        self.statements = sources.flatMap(Self.statements(in:))
        self.checksum = SHA256.hash(data: Array(sources.joined(separator: "\n").utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// The statements of a file, without their leading comments: each ends with `;` at the end of a
    /// line outside a dollar-quoted body.
    static func statements(in source: String) -> [String] {
        var statements: [String] = []
        var current: [Substring] = []
        var quote: Substring?
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            if current.isEmpty && quote == nil && (line.allSatisfy(\.isWhitespace) || line.hasPrefix("--")) { continue }
            current.append(line)
            for tag in dollarTags(in: line) {
                if quote == nil { quote = tag } else if quote == tag { quote = nil }
            }
            if quote == nil, line.hasSuffix(";") {
                var statement = current.joined(separator: "\n")
                statement.removeLast()
                statements.append(statement)
                current = []
            }
        }
        return statements
    }

    /// `$$` and `$name$` quote delimiters, in order (a `$1` parameter is none).
    private static func dollarTags(in line: Substring) -> [Substring] {
        var tags: [Substring] = []
        var rest = line[...]
        while let start = rest.firstIndex(of: "$") {
            let after = rest.index(after: start)
            let name = rest[after...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            let end = name.endIndex
            if end < rest.endIndex, rest[end] == "$", !(name.first?.isNumber ?? false) {
                tags.append(rest[start...end])
                rest = rest[rest.index(after: end)...]
            } else {
                rest = rest[after...]
            }
        }
        return tags
    }
}
