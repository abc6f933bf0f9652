public struct MemoryType: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let none = Self(rawValue: "none")
    public static let conversation = Self(rawValue: "conversation")
    public static let summary = Self(rawValue: "summary")
    public static let vector = Self(rawValue: "vector")
    public static let known: [Self] = [.none, .conversation, .summary, .vector]
}
