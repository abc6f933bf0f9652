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

@Suite struct TemplateFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func theShippedTemplatesLoad() throws {
        let templates = try TemplateFiles.load(directory: Self.root + "/config/templates")
        #expect(
            Set(templates.map(\.id)).isSuperset(of: [
                "customer-support", "knowledge-base", "data-analyst", "programming-assistant", "creative-writer",
            ])
        )
        #expect(templates.allSatisfy { $0.isSystem && !$0.name.isEmpty && !$0.category.isEmpty })
    }

    @Test func aBadFileStopsTheStartNamingFileAndField() throws {
        #expect(throws: ConfigurationError.self) { try TemplateFiles.parse("id: x\nname: X\ncategory: c\nconfig: {nmae: 1}\n", source: "t.yaml") }
        do {
            _ = try TemplateFiles.parse("id: x\nname: X\ncategory: c\nconfig:\n  llm_config: {model: m, temprature: 1}\n", source: "t.yaml")
            Issue.record("a typo loaded")
        } catch let error as ConfigurationError {
            #expect("\(error)".contains("t.yaml") && "\(error)".contains("/config/llm_config/temprature"))
        }
        #expect(throws: ConfigurationError.self) { try TemplateFiles.parse("name: X\ncategory: c\n", source: "t.yaml") }
        #expect(throws: ConfigurationError.self) { try TemplateFiles.parse("id: x\ncategory: c\n", source: "t.yaml") }
        #expect(throws: ConfigurationError.self) { try TemplateFiles.parse("id: x\nname: X\ncategory: c\ntype: robot\n", source: "t.yaml") }
        #expect(throws: ConfigurationError.self) { try TemplateFiles.parse("- a\n", source: "t.yaml") }
    }
}
