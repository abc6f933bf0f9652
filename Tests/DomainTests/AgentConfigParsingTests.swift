import Domain
import Foundation
import Testing

@Suite struct AgentConfigParsingTests {
    func parse(_ text: String) throws(ServiceError) -> AgentConfig {
        try AgentConfig(json: JSONValue.parse(Array(text.utf8)) ?? .null)
    }

    @Test func readsEveryFieldAndDefaults() throws {
        let c = try parse(
            #"{"name":"A","llm_config":{"model":"m","temperature":1,"max_tokens":10,"stop_sequences":["x"]},"tools":["search",{"id":"http","config":{"url":"u"}}],"tags":["t"],"metadata":{"k":[1]}}"#
        )
        #expect(c.name == "A")
        #expect(c.type == .conversational && c.status == .draft)
        #expect(c.llmConfig == LLMConfig(model: "m", temperature: 1, maxTokens: 10, stopSequences: ["x"]))
        #expect(c.memoryConfig == .default)
        #expect(c.tools == [AgentTool(id: "search"), AgentTool(id: "http", config: ["url": .string("u")])])
        #expect(c.metadata == ["k": .array([.int(1)])])
    }

    @Test func unknownFieldsAreRefusedAndNamed() {
        #expect(throws: ServiceError.malformed("Unknown field 'temprature'", field: "/llm_config/temprature")) {
            try parse(#"{"name":"A","llm_config":{"model":"m","temprature":1}}"#)
        }
        #expect(throws: ServiceError.malformed("Unknown field 'id'", field: "/id")) { try parse(#"{"id":"x","name":"A"}"#) }
        #expect(throws: ServiceError.malformed("Unknown field 'extra'", field: "/tools/0/extra")) {
            try parse(#"{"tools":[{"id":"a","extra":1}]}"#)
        }
    }

    @Test func wrongTypesAreRefusedWithTheirPath() {
        #expect(throws: ServiceError.malformed("/llm_config/temperature must be a number, not string", field: "/llm_config/temperature")) {
            try parse(#"{"llm_config":{"model":"m","temperature":"hot"}}"#)
        }
        #expect(throws: ServiceError.malformed("/tags/1 must be a string, not number", field: "/tags/1")) { try parse(#"{"tags":["a",2]}"#) }
        #expect(throws: ServiceError.malformed("/llm_config/max_tokens must be an integer, not number", field: "/llm_config/max_tokens")) {
            try parse(#"{"llm_config":{"model":"m","max_tokens":1.5}}"#)
        }
        #expect(throws: ServiceError.malformed("Body must be a JSON object")) { try parse("[]") }
    }

    @Test func jsonRoundTripsThroughTheParser() throws {
        let c = try parse(
            #"{"name":"A","description":"d","type":"rag","system_prompt":"p","llm_config":{"model":"m","top_p":0.5},"memory_config":{"memory_type":"vector","window_size":5,"summarize_threshold":3,"include_knowledge_context":true},"collections":["c"]}"#
        )
        #expect(try AgentConfig(json: c.json) == c)
    }

    @Test func changeNotificationPayloadRoundTrips() {
        let change = ChangeNotification(kind: .agent, tenantID: "t1", agentID: .v7(), revision: 4, deleted: true)
        #expect(ChangeNotification(payload: change.payload) == change)
        #expect(ChangeNotification(payload: "garbage") == nil)
    }

    @Test func uuidV7IsVersion7AndTimeOrdered() {
        let a = UUID.v7(now: Date(timeIntervalSince1970: 1_000))
        let b = UUID.v7(now: Date(timeIntervalSince1970: 2_000))
        #expect(a.uuidString.lowercased().dropFirst(14).first == "7")
        #expect(a.uuidString < b.uuidString)
    }
}

@Suite struct StoredAgentConfigTests {
    static let newerRow =
        #"{"name":"A","future_field":1,"llm_config":{"model":"m","reasoning":"high"},"memory_config":{"memory_type":"vector","window_size":5,"ttl":3},"tools":["search",{"id":"http","config":{"url":"u"},"timeout":9}]}"#

    func json(_ text: String) throws -> JSONValue { try #require(JSONValue.parse(Array(text.utf8))) }

    @Test func storedRowsIgnoreUnknownKeysAtEveryLevel() throws {
        let c = try AgentConfig(stored: try json(Self.newerRow))
        #expect(c.name == "A")
        #expect(c.llmConfig == LLMConfig(model: "m"))
        #expect(c.memoryConfig == MemoryConfig(memoryType: .vector, windowSize: 5))
        #expect(c.tools == [AgentTool(id: "search"), AgentTool(id: "http", config: ["url": .string("u")])])
    }

    @Test(arguments: [
        (#"{"name":"A","future_field":1}"#, "/future_field"),
        (#"{"llm_config":{"model":"m","reasoning":"high"}}"#, "/llm_config/reasoning"),
        (#"{"memory_config":{"window_size":5,"ttl":3}}"#, "/memory_config/ttl"),
        (#"{"tools":[{"id":"http","timeout":9}]}"#, "/tools/0/timeout"),
    ])
    func requestBodiesStayStrict(text: String, pointer: String) throws {
        let body = try json(text)
        let error = #expect(throws: ServiceError.self) { try AgentConfig(json: body) }
        #expect(error?.code == .malformedBody)
        #expect(error?.code.rawValue == "AMS-109")
        #expect(error?.details["field"] == .string(pointer))
        #expect(throws: Never.self) { try AgentConfig(stored: body) }
    }

    @Test func storedRowsStillRefuseWrongTypes() throws {
        #expect(throws: ServiceError.malformed("/llm_config/temperature must be a number, not string", field: "/llm_config/temperature")) {
            try AgentConfig(stored: try json(#"{"llm_config":{"model":"m","temperature":"hot"}}"#))
        }
    }

    @Test func lenientReaderIgnoresOnlyUnknownKeys() throws {
        let value = try json(#"{"known":"x","extra":1}"#)
        let reader = try ObjectReader(value, at: "/o", allowed: ["known"], lenient: true)
        #expect(try reader.string("known") == "x")
        #expect(throws: ServiceError.malformed("Unknown field 'extra'", field: "/o/extra")) {
            try ObjectReader(value, at: "/o", allowed: ["known"])
        }
    }
}
