import Domain
import Foundation
import Testing

/// A write may start from the cache's bytes instead of the row: they must give back the same agent.
@Suite struct AgentEncodedTests {
    static func agent(template: String?) throws -> Agent {
        let body = #"""
            {"name":"Support \"bot\"","description":"Answers ~ / questions","type":"conversational","status":"active",
             "system_prompt":"Line one\nline two é","llm_config":{"model":"gpt-4o-mini","temperature":0.3,"max_tokens":512},
             "memory_config":{"memory_type":"vector","window_size":7,"include_knowledge_context":true},
             "tools":["search",{"id":"http","config":{"url":"https://x","retries":2}}],"collections":["kb"],
             "tags":["a","b"],"metadata":{"team":{"name":"x","size":3},"flag":null}}
            """#
        let config = try AgentConfig(json: try #require(JSONValue.parse(Array(body.utf8))))
        let report = ValidationReport(
            json: try #require(
                JSONValue.parse(
                    Array(
                        #"""
                        {"status":"warnings","issues":[{"code":"AMS-104","severity":"warning","path":"/tools/0","message":"m","suggestion":null}]}
                        """#.utf8
                    )
                )
            )
        )
        #expect(report.issues.count == 1)
        return Agent(
            id: UUID(),
            tenantID: "t-1",
            version: 7,
            config: config,
            validation: report,
            createdAt: Date(timeIntervalSince1970: 1_764_205_000.123),
            updatedAt: Date(timeIntervalSince1970: 1_764_205_100.5),
            createdBy: "u-1",
            updatedBy: "svc",
            revision: 11,
            templateID: template,
            templateVersion: template == nil ? nil : 2
        )
    }

    @Test(arguments: [nil, "support-bot"])
    func theCachedBytesGiveBackTheAgent(template: String?) throws {
        let agent = try Self.agent(template: template)
        let decoded = try #require(Agent(encoded: agent.encodedJSON[...], revision: 11))
        #expect(decoded == agent)
        #expect(decoded.encodedJSON == agent.encodedJSON)
    }

    @Test func otherBytesAreRefused() throws {
        let agent = try Self.agent(template: nil)
        #expect(Agent(encoded: ArraySlice(agent.executionJSON()), revision: 1) == nil, "a config body is not an agent")
        #expect(Agent(encoded: ArraySlice("{".utf8), revision: 1) == nil)
        var broken = try #require(JSONValue.parse(agent.encodedJSON)).objectValue ?? [:]
        broken["created_at"] = .string("yesterday")
        #expect(Agent(encoded: JSONValue.object(broken).encoded[...], revision: 1) == nil)
    }
}
