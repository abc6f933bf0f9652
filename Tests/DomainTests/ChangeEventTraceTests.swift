import Domain
import Foundation
import Testing

/// Frames carry the trace of the call that wrote their event: a `traceparent` field, only when
/// there is one (an untraced event's frames are as they were).
@Suite struct ChangeEventTraceTests {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    func event(traceparent: String?) -> ChangeEvent {
        ChangeEvent(
            sequence: 3,
            eventID: UUID(),
            tenantID: "t1",
            event: "agent_created",
            agentID: UUID(),
            taskID: nil,
            globalTaskID: nil,
            data: #"{"agent_name":"Traced"}"#,
            timestamp: Date(timeIntervalSince1970: 0),
            traceparent: traceparent
        )
    }

    @Test func theEnvelopeAndTheTenantChannelFrameCarryTheTrace() throws {
        let traced = event(traceparent: traceparent)
        let frame = try #require(traced.tenantChannelFrame)
        #expect(JSONValue.parse(traced.envelope)?["traceparent"] == .string(traceparent))
        #expect(JSONValue.parse(frame)?["traceparent"] == .string(traceparent))
    }

    @Test func anUntracedEventsFramesHaveNoTraceField() throws {
        let untraced = event(traceparent: nil)
        let frame = try #require(untraced.tenantChannelFrame)
        #expect(JSONValue.parse(untraced.envelope)?["event"] == .string("agent_created"))
        #expect(JSONValue.parse(untraced.envelope)?["traceparent"] == nil)
        #expect(JSONValue.parse(frame)?["channel"] == .string("tenant:t1") && JSONValue.parse(frame)?["traceparent"] == nil)
        #expect(!String(decoding: untraced.envelope, as: UTF8.self).contains("traceparent"))
    }
}
