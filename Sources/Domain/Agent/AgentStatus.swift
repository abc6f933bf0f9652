public struct AgentStatus: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let draft = Self(rawValue: "draft")
    public static let active = Self(rawValue: "active")
    public static let inactive = Self(rawValue: "inactive")
    public static let archived = Self(rawValue: "archived")
    public static let known: [Self] = [.draft, .active, .inactive, .archived]
}
