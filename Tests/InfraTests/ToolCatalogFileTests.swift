import Domain
import Foundation
import Infra
import Testing

@Suite struct ToolCatalogFileTests {
    static let valid = (try? String(contentsOfFile: TierPolicyFileTests.root + "/config/tools.yaml", encoding: .utf8)) ?? ""

    @Test func theShippedCatalogParses() throws {
        let tools = try ToolCatalogFile.parse(Self.valid, source: "config/tools.yaml")
        #expect(tools.count == 6)
        #expect(tools.first { $0.id == "sql_query" }?.requiredConfig == ["connection"])
    }

    @Test(arguments: [
        ("tools:\n  - id: search\n    name: Web search\n  - id: calculator\n    nmae: Calculator\n", "tools[1].nmae: unknown key (line 5)"),
        ("tools:\n  - id: http\n    min_tier: advance\n    required_configs: [url]\n", "tools[0].required_configs: unknown key (line 4)"),
        ("# catalog\ntool:\n  - id: search\n", "tool: unknown key (line 2)"),
        ("tools:\n  - id: search\nversion: 2\n", "version: unknown key (line 3)"),
    ])
    func unknownKeysStopTheLoadWithTheirLine(text: String, expected: String) {
        let error = #expect(throws: ConfigurationError.self) { try ToolCatalogFile.parse(text, source: "config/tools.yaml") }
        #expect(error?.description == "config/tools.yaml: " + expected)
    }

    @Test(arguments: [
        ("tools: [", "not valid YAML"),
        ("tools: 3\n", "needs a top-level 'tools' list"),
        ("tools:\n  - name: Nameless\n", "/tools/0/id: Tool id is required"),
        ("tools:\n  - id: x\n    min_tier: gold\n", "/tools/0/min_tier: Unknown tier 'gold'"),
    ])
    func otherProblemsAreStillNamed(text: String, expected: String) {
        let error = #expect(throws: ConfigurationError.self) { try ToolCatalogFile.parse(text, source: "config/tools.yaml") }
        #expect(error?.description.hasPrefix("config/tools.yaml: ") == true)
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }
}
