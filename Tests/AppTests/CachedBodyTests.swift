import Domain
import Foundation
import Testing

@testable import App

/// A cache entry holds its agent's response packed, and gives back exactly the bytes written once.
@Suite struct CachedBodyTests {
    static func agent(prompt: String) -> Agent {
        let now = Date(timeIntervalSince1970: 1_764_205_000.123)
        return Agent(
            id: UUID(),
            tenantID: "mem-1",
            version: 3,
            config: AgentConfig(
                name: "agent 1",
                description: "Answers questions about orders and returns",
                systemPrompt: prompt,
                llmConfig: LLMConfig(model: "gpt-4o-mini", temperature: 0.3, maxTokens: 512),
                tools: [AgentTool(id: "search")],
                tags: ["support"],
                metadata: ["team": .string("support")]
            ),
            validation: ValidationReport(issues: []),
            createdAt: now,
            updatedAt: now,
            createdBy: "bench",
            updatedBy: "bench"
        )
    }

    @Test(arguments: ["You are a helpful support agent.", String(repeating: "Ünïcode \"quoted\" ", count: 200)])
    func theEntryServesTheEncodedBytes(prompt: String) throws {
        let agent = Self.agent(prompt: prompt)
        let cached = CachedAgent(agent)
        #expect(cached.version == 3 && cached.etag == "\"3\"")
        #expect(Array(cached.body.readableBytesView) == agent.encodedJSON)
        #expect(Array(cached.bytes) == agent.encodedJSON)
        #expect(Agent(encoded: cached.bytes, revision: agent.revision) == agent)
    }

    /// Memory: with 100,000 agents cached, the keys every agent repeats would be a third of it.
    @Test func anEntryTakesWellUnderItsResponse() {
        let agent = Self.agent(prompt: "You are a helpful support agent for the store. Answer briefly and politely.")
        let cached = CachedAgent(agent)
        #expect(cached.cacheValue.storedCount * 10 < agent.encodedJSON.count * 7, "\(cached.cacheValue.storedCount) of \(agent.encodedJSON.count)")
    }
}
