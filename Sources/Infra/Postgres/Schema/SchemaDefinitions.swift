import Crypto

/// The current functions, triggers and policies, one `.sql` file per subject. Tables come from the
/// numbered history (`History/`); these definitions are installed after it, so each function has
/// exactly one definition in the tree, and an edit is a change of its subject's file.
///
/// A file is a list of statements, each ending with `;` at the end of a line outside a dollar-quoted
/// body (a `;` ending a comment line inside a statement would end it early: keep comments between
/// statements). Statements that define one object (a function; a policy's `DROP` and `CREATE`; a
/// trigger) form one definition, installed again only when its text changes: re-creating an unchanged
/// policy or trigger would lock its table against live traffic for nothing.
public struct SchemaDefinitions: Sendable {
    /// Bump it with any change to a subject file, and set `releaseChecksum` to the new files'
    /// checksum (a test says which): a database holding a higher release is left as it is, so an
    /// older replica never overwrites a newer one's definitions.
    public static let release = 4
    static let releaseChecksum = "6f409eb152585c639291af94eaf0e96cb72b2232b08105b50ab6da4163bb074a"

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

    /// The statements that make one object, and the digest of their text.
    struct Definition: Sendable, Equatable {
        var key: String
        var statements: [String]
        var digest: String { Self.hex(SHA256.hash(data: Array(statements.joined(separator: ";\n").utf8))) }

        static func hex(_ digest: SHA256.Digest) -> String { digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
    }

    public let release: Int
    let definitions: [Definition]
    /// Of all the files: tells two builds of one release apart.
    let checksum: String

    public static let current = SchemaDefinitions(release: release, sources: subjects.map(\.sql))

    init(release: Int, sources: [String]) {
        self.release = release
        var definitions: [Definition] = []
        for statement in sources.flatMap(Self.statements(in:)) {
            let key = Self.key(of: statement)
            if definitions.last?.key == key {
                definitions[definitions.count - 1].statements.append(statement)
            } else if let last = definitions.last, last.statements.count == 1,
                let dropped = Self.droppedFunction(last.statements[0]), key == "function \(dropped)"
            {
                // A DROP right before its function's CREATE (a changed result type) is part of that definition.
                definitions[definitions.count - 1] = Definition(key: key, statements: last.statements + [statement])
            } else {
                definitions.append(Definition(key: key, statements: [statement]))
            }
        }
        self.definitions = definitions
        self.checksum = Definition.hex(SHA256.hash(data: Array(sources.joined(separator: "\n").utf8)))
    }

    var statements: [String] { definitions.flatMap(\.statements) }

    /// What a statement defines: `function NAME`, `trigger NAME on TABLE`, `policy NAME on TABLE`;
    /// any other statement stands for itself.
    static func key(of statement: String) -> String {
        let words = statement.split(whereSeparator: { $0.isWhitespace || $0 == "(" }).map { $0.lowercased() }
        func table(after index: Int) -> String? {
            guard let on = words[index...].firstIndex(of: "on"), on + 1 < words.count else { return nil }
            return words[on + 1]
        }
        switch Array(words.prefix(4)) {
        case ["create", "or", "replace", "function"] where words.count > 4:
            return "function \(words[4])"
        case ["create", "or", "replace", "trigger"] where words.count > 4:
            if let table = table(after: 5) { return "trigger \(words[4]) on \(table)" }
        case ["drop", "policy", "if", "exists"] where words.count > 4:
            if let table = table(after: 5) { return "policy \(words[4]) on \(table)" }
        default:
            if words.starts(with: ["create", "policy"]), words.count > 2, let table = table(after: 3) {
                return "policy \(words[2]) on \(table)"
            }
        }
        return statement
    }

    /// The function a `DROP FUNCTION [IF EXISTS] name(…)` drops.
    static func droppedFunction(_ statement: String) -> String? {
        let words = statement.split(whereSeparator: { $0.isWhitespace || $0 == "(" }).map { $0.lowercased() }
        if words.starts(with: ["drop", "function", "if", "exists"]), words.count > 4 { return words[4] }
        if words.starts(with: ["drop", "function"]), words.count > 2 { return words[2] }
        return nil
    }

    /// The statements of a file, without their leading comments.
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
