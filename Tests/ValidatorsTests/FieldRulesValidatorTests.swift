import Domain
import Testing
import Validators

@Suite struct FieldRulesValidatorTests {
    let v = FieldRulesValidator()

    @Test func aMinimalAgentIsValid() async {
        #expect(await Fixtures.issues(v, Fixtures.config()).isEmpty)
    }

    @Test func nameLengthBoundaries() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = "" }).at("/name").first?.code == .required)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = "x" }).at("/name").isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = String(repeating: "é", count: 100) }).at("/name").isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = String(repeating: "x", count: 101) }).at("/name").first?.code == .outOfRange)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = "a\u{7}b" }).at("/name").first?.code == .invalidValue)
    }

    @Test(arguments: [" ", "   ", "\t", "\n", " \t\r\n ", "\u{00A0}", "\u{3000}", "\u{2028}", "\u{2003}\u{2009}", String(repeating: " ", count: 101)])
    func aNameOfOnlyWhitespaceIsRequired(_ name: String) async {
        let issues = await Fixtures.issues(v, Fixtures.config { $0.name = name }).at("/name")
        #expect(issues.map(\.code) == [.required])
        #expect(issues.first?.severity == .error)
    }

    @Test func whitespaceAroundANameIsNotBlank() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = " a " }).at("/name").isEmpty)
    }

    @Test func descriptionBoundary() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.description = String(repeating: "d", count: 2000) }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.description = String(repeating: "d", count: 2001) }).paths == ["/description"])
    }

    @Test func enumsMustBeKnown() async {
        let issues = await Fixtures.issues(
            v,
            Fixtures.config {
                $0.type = AgentType(rawValue: "robot")
                $0.status = AgentStatus(rawValue: "live")
                $0.memoryConfig.memoryType = MemoryType(rawValue: "forever")
            }
        )
        #expect(issues.paths == ["/type", "/status", "/memory_config/memory_type"])
        #expect(issues.allSatisfy { $0.code == .invalidValue && $0.severity == .error })
    }

    @Test(arguments: [
        ("/llm_config/temperature", 0.0, 2.0, -0.01, 2.01),
        ("/llm_config/top_p", 0.0, 1.0, -0.01, 1.01),
        ("/llm_config/frequency_penalty", -2.0, 2.0, -2.01, 2.01),
        ("/llm_config/presence_penalty", -2.0, 2.0, -2.01, 2.01),
    ])
    func llmRanges(path: String, low: Double, high: Double, below: Double, above: Double) async {
        func set(_ value: Double) -> AgentConfig {
            Fixtures.config {
                switch path {
                case "/llm_config/temperature": $0.llmConfig.temperature = value
                case "/llm_config/top_p": $0.llmConfig.topP = value
                case "/llm_config/frequency_penalty": $0.llmConfig.frequencyPenalty = value
                default: $0.llmConfig.presencePenalty = value
                }
            }
        }
        #expect(await Fixtures.issues(v, set(low)).at(path).filter { $0.severity == .error }.isEmpty)
        #expect(await Fixtures.issues(v, set(high)).at(path).filter { $0.severity == .error }.isEmpty)
        #expect(await Fixtures.issues(v, set(below)).at(path).first?.code == .outOfRange)
        #expect(await Fixtures.issues(v, set(above)).at(path).first?.code == .outOfRange)
    }

    @Test func highTemperatureIsOnlyAWarning() async {
        let issues = await Fixtures.issues(v, Fixtures.config { $0.llmConfig.temperature = 1.8 })
        #expect(issues.map(\.severity) == [.warning])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.temperature = 1.5 }).isEmpty)
    }

    @Test func maxTokensStopSequencesAndModel() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.maxTokens = 1 }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.maxTokens = 0 }).paths == ["/llm_config/max_tokens"])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.stopSequences = ["a", "b", "c", "d"] }).isEmpty)
        #expect(
            await Fixtures.issues(v, Fixtures.config { $0.llmConfig.stopSequences = ["a", "b", "c", "d", "e"] }).paths == [
                "/llm_config/stop_sequences"
            ]
        )
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.model = "" }).first?.code == .required)
    }

    @Test func memoryBoundaries() async {
        for size in [1, 100] {
            #expect(await Fixtures.issues(v, Fixtures.config { $0.memoryConfig.windowSize = size }).isEmpty)
        }
        for size in [0, 101] {
            #expect(await Fixtures.issues(v, Fixtures.config { $0.memoryConfig.windowSize = size }).paths == ["/memory_config/window_size"])
        }
        #expect(await Fixtures.issues(v, Fixtures.config { $0.memoryConfig.summarizeThreshold = 0 }).paths == ["/memory_config/summarize_threshold"])
    }

    @Test func tagsBoundaries() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.tags = (1...20).map { "t\($0)" } }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.tags = (1...21).map { "t\($0)" } }).paths == ["/tags"])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.tags = [String(repeating: "x", count: 50)] }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.tags = ["", String(repeating: "x", count: 51)] }).paths == ["/tags/0", "/tags/1"])
    }

    @Test func metadataSizeBoundary() async {
        // {"k":"…"} is 8 bytes of framing.
        let fits = String(repeating: "x", count: FieldRulesValidator.metadataLimit - 8)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.metadata = ["k": .string(fits)] }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.metadata = ["k": .string(fits + "x")] }).paths == ["/metadata"])
    }

    @Test func toolsNeedIdsAndNoDuplicates() async {
        let issues = await Fixtures.issues(v, Fixtures.config { $0.tools = [AgentTool(id: ""), AgentTool(id: "a"), AgentTool(id: "a")] })
        #expect(issues.paths == ["/tools/0/id", "/tools/2/id"])
    }

    @Test func ragWithoutCollectionsWarns() async {
        let issues = await Fixtures.issues(v, Fixtures.config { $0.type = .rag })
        #expect(issues.map(\.severity) == [.warning])
        #expect(
            await Fixtures.issues(
                v,
                Fixtures.config {
                    $0.type = .rag
                    $0.collections = ["kb"]
                }
            ).isEmpty
        )
    }
}
