/// One optimistic write of an agent's next version, as `AgentStore.update` takes it: stored with
/// its snapshot and a history entry of `action` if the row is still at `revision`.
public struct AgentUpdate: Sendable {
    public var agent: Agent
    public var revision: Int
    public var action: HistoryEntry.Action
    public var changes: JSONValue
    public var audit: Audit

    public init(_ agent: Agent, from revision: Int, action: HistoryEntry.Action, changes: JSONValue, audit: Audit) {
        self.agent = agent
        self.revision = revision
        self.action = action
        self.changes = changes
        self.audit = audit
    }
}
