import Domain
import Foundation
import Testing

@Suite struct ChangeEventTests {
    func event(_ kind: String, agent: UUID? = UUID(), data: String) -> ChangeEvent {
        ChangeEvent(
            sequence: 7,
            eventID: UUID(),
            tenantID: "t1",
            event: kind,
            agentID: agent,
            taskID: nil,
            globalTaskID: "g-1",
            data: data,
            timestamp: Date(timeIntervalSince1970: 0)
        )
    }

    @Test func theEnvelopeHasTheFixedNames() throws {
        let e = event("agent_updated", data: #"{"agent_id":"a","version":2}"#)
        let json = try #require(JSONValue.parse(e.envelope))
        #expect(
            json
                == .object([
                    "event": .string("agent_updated"), "service": .string("agent-management-service"),
                    "event_id": .string(e.eventID.uuidString.lowercased()),
                    "sequence": .int(7), "task_id": .null, "global_task_id": .string("g-1"), "tenant_id": .string("t1"),
                    "timestamp": .string("1970-01-01T00:00:00.000Z"), "data": .object(["agent_id": .string("a"), "version": .int(2)]),
                ])
        )
    }

    @Test func agentEventsHaveATenantChannelFrame() throws {
        let id = UUID()
        let created = event("agent_created", agent: id, data: #"{"agent_id":"x","agent_name":"Helper \"one\""}"#)
        #expect(
            JSONValue.parse(try #require(created.tenantChannelFrame))
                == .object([
                    "channel": .string("tenant:t1"), "event": .string("agent_created"),
                    "data": .object(["agent_id": .string(id.uuidString.lowercased()), "agent_name": .string(#"Helper "one""#)]),
                ])
        )
        let status = event("agent_status_changed", agent: id, data: #"{"agent_id":"x","from":"draft","to":"active"}"#)
        #expect(JSONValue.parse(try #require(status.tenantChannelFrame))?["data"]?["agent_name"] == .null)
    }

    @Test func otherEventsHaveNone() {
        #expect(event("agent_template_created", agent: nil, data: "{}").tenantChannelFrame == nil)
        #expect(event("task_completed", data: "{}").tenantChannelFrame == nil)
        #expect(event("validation_complete", data: "{}").tenantChannelFrame == nil)
    }
}
