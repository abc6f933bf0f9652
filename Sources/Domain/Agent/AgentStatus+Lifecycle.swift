extension AgentStatus {
    /// The lifecycle: where an agent in this status may go next. Archived agents come back only
    /// as drafts, so a retired configuration is reviewed before it serves again.
    public var allowedTargets: [AgentStatus] {
        switch self {
        case .draft: [.active, .archived]
        case .active: [.inactive, .archived]
        case .inactive: [.active, .archived]
        case .archived: [.draft]
        default: []
        }
    }

    public func canMove(to target: AgentStatus) -> Bool { allowedTargets.contains(target) }
}
