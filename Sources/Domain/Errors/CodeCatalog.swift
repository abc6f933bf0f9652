/// The one catalog of AMS codes. A client meets a code either as an error answer's `code`
/// (`ErrorCode`) or as a validation issue's (`IssueCode`); both draw from this one numbering, so
/// a code means the same thing wherever it appears.
public enum CodeCatalog {
    public enum Entry: Sendable, Hashable {
        case error(ErrorCode)
        case issue(IssueCode)

        public var code: String {
            switch self {
            case .error(let code): code.rawValue
            case .issue(let code): code.rawValue
            }
        }
    }

    /// Every code, error answers first, each once.
    public static let entries: [Entry] = ErrorCode.allCases.map(Entry.error) + IssueCode.allCases.map(Entry.issue)
}
