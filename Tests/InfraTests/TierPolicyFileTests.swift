import Domain
import Foundation
import Infra
import Testing

@Suite struct TierPolicyFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func theShippedPolicyHasTheDocumentedDefaults() throws {
        let policy = try TierPolicyFile.load(path: Self.root + "/config/tiers.yaml")
        #expect(Tier.allCases.map { policy[$0].maxAgents } == [2, 5, 20, 100])
        #expect(Tier.allCases.map { policy[$0].maxToolsPerAgent } == [2, 5, 10, 25])
        #expect(Tier.allCases.map { policy[$0].maxCollectionsPerAgent } == [1, 3, 10, 50])
        #expect(Tier.allCases.map { policy[$0].customPrompts } == [false, true, true, true])
        #expect(Tier.allCases.map { policy[$0].maxPromptChars } == [2000, 8000, 8000, 32000])
        #expect(Tier.allCases.map { policy[$0].maxTokens } == [1024, 4096, 8192, 32768])
        #expect(Tier.allCases.map { policy[$0].requestsPerMinute } == [60, 120, 300, 1000])
        #expect(Tier.allCases.map { policy[$0].agentCreatesPerDay } == [5, 10, 20, nil], "nil: unlimited")
        #expect(Tier.allCases.map { policy[$0].agentUpdatesPerHour } == [20, 50, 100, nil])
        #expect(policy[.free].allowedTypes == [.conversational, .rag])
        #expect(policy[.professional].allowedTypes == [.conversational, .rag, .search, .workflow])
        #expect(policy[.enterprise].allowedTypes == Set(AgentType.known))
        #expect(policy[.free].allowedModels == .only(["gpt-4o-mini", "claude-3-haiku"]))
        #expect(policy[.advance].allowedModels == .only(["gpt-4o-mini", "claude-3-haiku", "gpt-4o"]))
        #expect(policy[.professional].allowedModels.allows("claude-3.5-sonnet") && policy[.professional].allowedModels.allows("gpt-4.1"))
        #expect(policy[.enterprise].allowedModels == .all)
        #expect(!policy.rules.isEmpty)
    }

    static let valid = (try? String(contentsOfFile: root + "/config/tiers.yaml", encoding: .utf8)) ?? ""

    @Test(arguments: [
        ("tiers: [", "not valid YAML"),
        ("tiers:\n  free: {}\n", "tiers.free.max_agents: missing"),
        (valid.replacingOccurrences(of: "  enterprise:", with: "  platinum:"), "tiers.platinum: unknown tier"),
        (valid.replacingOccurrences(of: "max_agents: 2\n", with: "max_agents: -1\n"), "tiers.free.max_agents: must not be negative"),
        (valid.replacingOccurrences(of: "[conversational, rag]", with: "[conversational, robot]"), "tiers.free.allowed_types: unknown type 'robot'"),
        (valid.replacingOccurrences(of: "allowed_models: all", with: "allowed_models: any"), "allowed_models"),
        (
            valid.replacingOccurrences(of: "requests_per_minute: 60\n", with: "requests_per_minute: lots\n"),
            "tiers.free.requests_per_minute: must be a whole number or 'unlimited'"
        ),
        (
            valid.replacingOccurrences(of: "agent_creates_per_day: 5\n", with: "agent_creates_per_day: 0\n"),
            "tiers.free.agent_creates_per_day: must be positive"
        ),
        (valid + "  - id: broken\n    path: nope\n    max: 1\n", "rules[2].path"),
        (valid + "  - id: empty\n    path: /name\n", "rules[2]: needs at least one of"),
        (valid + "  - id: regex\n    path: /name\n    pattern: \"([\"\n", "rules[2].pattern"),
        (valid + "  - id: tiers\n    path: /name\n    max: 3\n    tiers: [gold]\n", "unknown tier 'gold'"),
    ])
    func invalidFilesNameTheirProblem(text: String, expected: String) {
        do {
            _ = try TierPolicyFile.parse(text, source: "tiers.yaml")
            Issue.record("accepted an invalid policy")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
            #expect("\(error)".hasPrefix("tiers.yaml"))
        }
    }

    /// The line a text appended to the shipped file starts on.
    static let appendedLine = valid.filter { $0 == "\n" }.count + 1

    @Test(arguments: [
        (valid.replacingOccurrences(of: "    max_agents: 2\n", with: "    max_agentz: 2\n"), "tiers.free.max_agentz: unknown key (line 4)"),
        (
            valid.replacingOccurrences(of: "    max_tokens: 32768\n", with: "    max_token: 32768\n"),
            "tiers.enterprise.max_token: unknown key (line 50)"
        ),
        (valid + "  - id: typo\n    path: /name\n    max: 3\n    patern: \"[a-z]+\"\n", "rules[2].patern: unknown key (line \(appendedLine + 3))"),
        (valid + "  - id: typo\n    path: /name\n    maximum: 3\n", "rules[2].maximum: unknown key (line \(appendedLine + 2))"),
        ("version: 2\n" + valid, "version: unknown key (line 1)"),
        (valid + "rulez: []\n", "rulez: unknown key (line \(appendedLine))"),
    ])
    func unknownKeysStopTheLoadWithTheirLine(text: String, expected: String) throws {
        try #require(Self.valid.hasSuffix("\n"))
        let error = #expect(throws: ConfigurationError.self) { try TierPolicyFile.parse(text, source: "config/tiers.yaml") }
        #expect(error?.description == "config/tiers.yaml: " + expected)
    }

    @Test func theShippedPolicyHasNoUnknownKeys() throws {
        #expect(throws: Never.self) { try TierPolicyFile.parse(Self.valid, source: "config/tiers.yaml") }
    }

    @Test func theShippedToolCatalogLoads() throws {
        let tools = try ToolCatalogFile.load(path: Self.root + "/config/tools.yaml")
        #expect(tools.map(\.id).contains("search"))
        #expect(tools.first { $0.id == "http_request" }?.requiredConfig == ["url"])
        #expect(tools.first { $0.id == "code_interpreter" }?.minTier == .professional)
    }
}
