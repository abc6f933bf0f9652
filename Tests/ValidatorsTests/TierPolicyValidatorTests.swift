import Domain
import Testing
import Validators

@Suite struct TierPolicyValidatorTests {
    let v = TierPolicyValidator()

    @Test func toolAndCollectionCounts() async {
        let two = [AgentTool(id: "search"), AgentTool(id: "calculator")]
        #expect(await Fixtures.issues(v, Fixtures.config { $0.tools = two }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.tools = two + [AgentTool(id: "x")] }).paths == ["/tools"])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.collections = ["a"] }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.collections = ["a", "b"] }).paths == ["/collections"])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.collections = ["a", "b", "c"] }, Fixtures.context(.advance)).isEmpty)
    }

    @Test func customPromptsNeedATierThatAllowsThem() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = "Be brief" }).first?.code == .notAllowedForTier)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = "Be brief" }, Fixtures.context(.advance)).isEmpty)
    }

    @Test func promptLengthBoundary() async {
        let ctx = Fixtures.context(.advance)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = String(repeating: "p", count: 8000) }, ctx).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = String(repeating: "p", count: 8001) }, ctx).first?.code == .tierLimit)
        // Code points, as the contract counts: 4,000 letters with a combining accent each are 8,000.
        #expect(await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = String(repeating: "e\u{301}", count: 4000) }, ctx).isEmpty)
        #expect(
            await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = String(repeating: "e\u{301}", count: 4000) + "p" }, ctx)
                .first?.code == .tierLimit
        )
    }

    @Test func typesAndModels() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.type = .search }).paths == ["/type"])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.type = .search }, Fixtures.context(.advance)).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.model = "gpt-4o" }).paths == ["/llm_config/model"])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.model = "gpt-4o" }, Fixtures.context(.advance)).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.model = "anything-new" }, Fixtures.context(.enterprise)).isEmpty)
    }

    @Test func maxTokensBoundary() async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.maxTokens = 1024 }).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config { $0.llmConfig.maxTokens = 1025 }).paths == ["/llm_config/max_tokens"])
    }

    @Test func quotaOnlyWhenCounted() async {
        #expect(await Fixtures.issues(v, Fixtures.config(), Fixtures.context(others: 1)).isEmpty)
        #expect(await Fixtures.issues(v, Fixtures.config(), Fixtures.context(others: 2)).first?.code == .quota)
        #expect(await Fixtures.issues(v, Fixtures.config(), Fixtures.context(others: nil)).isEmpty)
    }
}

@Suite struct ToolCatalogValidatorTests {
    let v = ToolCatalogValidator()

    @Test func unknownToolsTierAndRequiredConfig() async {
        let config = Fixtures.config { $0.tools = [AgentTool(id: "search"), AgentTool(id: "nope"), AgentTool(id: "http_request")] }
        let issues = await Fixtures.issues(v, config)
        #expect(issues.paths == ["/tools/1/id", "/tools/2/id", "/tools/2/config/url"])
        #expect(issues.map(\.code) == [.toolReference, .notAllowedForTier, .required])
        let ok = Fixtures.config { $0.tools = [AgentTool(id: "http_request", config: ["url": .string("https://x")])] }
        #expect(await Fixtures.issues(v, ok, Fixtures.context(.advance)).isEmpty)
    }
}

@Suite struct SecretsValidatorTests {
    let v = SecretsValidator()

    @Test(arguments: [
        "Use key sk-abcdefghijklmnopqrstuvwxyz123456 for calls",
        "AKIAABCDEFGHIJKLMNOP",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIB",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "api_key: 9f8e7d6c5b4a39281706",
    ])
    func secretsInPromptsAreErrors(_ prompt: String) async {
        let issues = await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = prompt })
        #expect(issues.map(\.code) == [.secretDetected])
        #expect(issues.first?.severity == .error)
    }

    @Test func secretsInNestedMetadataAreFound() async {
        let issues = await Fixtures.issues(
            v,
            Fixtures.config {
                $0.metadata = ["owner": .string("team"), "nested": .object(["list": .array([.string("sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX")])])]
            }
        )
        #expect(issues.paths == ["/metadata/nested/list/0"])
    }

    @Test func ordinaryTextPasses() async {
        let issues = await Fixtures.issues(
            v,
            Fixtures.config {
                $0.systemPrompt = "You help customers with their password resets and API questions."
                $0.metadata = ["skill": .string("sk-short")]
            }
        )
        #expect(issues.isEmpty)
    }
}

@Suite struct DeclarativeRulesValidatorTests {
    let v = DeclarativeRulesValidator()

    @Test func minMaxEnumPatternAndTiers() async {
        let rules = [
            DeclarativeRule(id: "temp", path: "/llm_config/temperature", max: 1),
            DeclarativeRule(id: "window", path: "/memory_config/window_size", min: 5, tiers: [.enterprise]),
            DeclarativeRule(id: "model", path: "/llm_config/model", allowed: [.string("gpt-4o-mini")], severity: .warning),
            DeclarativeRule(id: "name", path: "/name", pattern: "[A-Z].*", message: "names start with a capital"),
            DeclarativeRule(id: "tags", path: "/tags", max: 1),
        ]
        let config = Fixtures.config {
            $0.name = "lower"
            $0.llmConfig.temperature = 1.01
            $0.llmConfig.model = "claude-3-haiku"
            $0.memoryConfig.windowSize = 2
            $0.tags = ["a", "b"]
        }
        let issues = await Fixtures.issues(v, config, Fixtures.context(.free, rules: rules))
        #expect(issues.paths == ["/llm_config/temperature", "/llm_config/model", "/name", "/tags"])
        #expect(issues.at("/llm_config/model").first?.severity == .warning)
        #expect(issues.at("/name").first?.message == "names start with a capital")
        #expect(await Fixtures.issues(v, config, Fixtures.context(.enterprise, rules: rules)).paths.contains("/memory_config/window_size"))
        let fine = Fixtures.config {
            $0.llmConfig.temperature = 1
            $0.tags = ["a"]
        }
        #expect(await Fixtures.issues(v, fine, Fixtures.context(.free, rules: rules)).isEmpty)
    }
}

@Suite struct DeclarativePatternTests {
    let v = DeclarativeRulesValidator()

    @Test func aPatternRuleRefusesAndAccepts() async throws {
        let rule = DeclarativeRule(id: "slug", path: "/name", pattern: "[a-z]+(-[a-z]+)*")
        let compiled = try #require(rule.compiledPattern)
        #expect(compiled.source == "[a-z]+(-[a-z]+)*")
        let context = Fixtures.context(.free, rules: [rule])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = "support-bot" }, context).isEmpty)
        let refused = await Fixtures.issues(v, Fixtures.config { $0.name = "Support Bot" }, context)
        #expect(refused.map(\.code) == [.ruleViolated])
        #expect(refused.first?.message == "/name must match [a-z]+(-[a-z]+)*")
        #expect(await Fixtures.issues(v, Fixtures.config { $0.name = "support-bot-" }, context).paths == ["/name"])
    }

    @Test func changingThePatternRecompilesIt() {
        var rule = DeclarativeRule(id: "r", path: "/name", pattern: "a+")
        rule.pattern = "b+"
        #expect(rule.compiledPattern?.wholeMatches("bbb") == true)
        #expect(rule.compiledPattern?.wholeMatches("aaa") == false)
        rule.pattern = nil
        #expect(rule.compiledPattern == nil)
        #expect(DeclarativeRule(id: "r", path: "/name", pattern: "b+") == DeclarativeRule(id: "r", path: "/name", pattern: "b+"))
        #expect(DeclarativeRule(id: "r", path: "/name", pattern: "([").compiledPattern == nil)
    }
}

@Suite struct RegistryTests {
    @Test func everyIssueFromEveryValidatorAtOnce() async {
        let config = Fixtures.config {
            $0.name = ""
            $0.llmConfig.model = "gpt-4o"
            $0.systemPrompt = "key sk-abcdefghijklmnopqrstuvwxyz123456"
            $0.tools = [AgentTool(id: "unknown")]
        }
        let report = await ValidatorRegistry.builtin.validate(config, context: Fixtures.context())
        #expect(report.status == .invalid)
        #expect(Set(report.issues.map(\.code)) == [.required, .notAllowedForTier, .toolReference, .secretDetected])
        #expect(report.issues.count == 5)
    }

    @Test func warningsAloneLeaveTheAgentUsable() async {
        let report = await ValidatorRegistry.builtin.validate(Fixtures.config { $0.llmConfig.temperature = 1.9 }, context: Fixtures.context())
        #expect(report.status == .warnings)
        #expect(report.errors.isEmpty)
    }
}
