import Domain
import Testing
import Validators

@Suite struct SecretsValidatorScanTests {
    let v = SecretsValidator()
    static let key = "sk-abcdefghijklmnopqrstuvwxyz123456"

    @Test func aPasswordInAToolConnectionStringIsFound() async {
        let config = Fixtures.config {
            $0.tools = [
                AgentTool(id: "search"),
                AgentTool(
                    id: "sql_query",
                    config: [
                        "connection": .string("postgres://app:s3cretPassw0rd@db.internal:5432/prod"),
                        "options": .object(["a/b": .array([.string("ok"), .string("access_token=" + String(repeating: "x", count: 20))])]),
                    ]
                ),
            ]
        }
        let issues = await Fixtures.issues(v, config)
        #expect(issues.paths == ["/tools/1/config/connection", "/tools/1/config/options/a~1b/1"])
        #expect(issues.map(\.code) == [.secretDetected, .secretDetected])
        #expect(issues.first?.message.contains("URL with a password") == true)
    }

    @Test(arguments: [
        "postgres://app:s3cretPassw0rd@db.internal:5432/prod",
        "use redis://:hunter2hunter2@cache:6379/0 for sessions",
        "mysql+pymysql://root:pw@10.0.0.1/db",
    ])
    func urlsWithPasswordsAreSecrets(_ url: String) async {
        let issues = await Fixtures.issues(v, Fixtures.config { $0.metadata = ["dsn": .string(url)] })
        #expect(issues.paths == ["/metadata/dsn"])
    }

    @Test(arguments: [
        "postgres://app@db.internal:5432/prod",
        "https://example.com/path?q=1",
        "postgres://app:${DB_PASSWORD}@db.internal/prod",
        "see https://docs.example.com:8443/a for more",
    ])
    func urlsWithoutPasswordsPass(_ url: String) async {
        #expect(await Fixtures.issues(v, Fixtures.config { $0.metadata = ["dsn": .string(url)] }).isEmpty)
    }

    @Test func thePromptIsScannedOnlyUpToTheTierLimit() async {
        // The free tier allows 2000 characters of prompt.
        let before = String(repeating: "é", count: 1900) + " " + Self.key
        let beyond = String(repeating: "é", count: 2000) + " " + Self.key
        #expect(await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = before }).paths == ["/system_prompt"])
        #expect(await Fixtures.issues(v, Fixtures.config { $0.systemPrompt = beyond }).isEmpty)
    }

    @Test func eachSourceScanIsCapped() async {
        let filler = String(repeating: "x ", count: SecretsValidator.scanLimit / 2)
        let early = Fixtures.config { $0.metadata = ["a": .string(Self.key + " " + filler)] }
        #expect(await Fixtures.issues(v, early, Fixtures.context(.enterprise)).paths == ["/metadata/a"])
        let late = Fixtures.config { $0.metadata = ["a": .string(filler + Self.key)] }
        #expect(await Fixtures.issues(v, late, Fixtures.context(.enterprise)).isEmpty)
        // Each source has its own budget: metadata that spends all of its own still leaves the tool
        // config, where connection strings leak, scanned.
        let separate = Fixtures.config {
            $0.metadata = ["a": .string(filler)]
            $0.tools = [AgentTool(id: "http_request", config: ["url": .string("https://u:p4ssw0rd@example.com")])]
        }
        #expect(await Fixtures.issues(v, separate, Fixtures.context(.enterprise)).paths == ["/tools/0/config/url"])
        let lateInTool = Fixtures.config {
            $0.tools = [AgentTool(id: "http_request", config: ["a": .string(filler), "b": .string("https://u:p4ssw0rd@example.com")])]
        }
        #expect(await Fixtures.issues(v, lateInTool, Fixtures.context(.enterprise)).isEmpty)
        let within = Fixtures.config {
            $0.metadata = ["a": .string("small")]
            $0.tools = [AgentTool(id: "http_request", config: ["url": .string("https://u:p4ssw0rd@example.com")])]
        }
        #expect(await Fixtures.issues(v, within, Fixtures.context(.enterprise)).paths == ["/tools/0/config/url"])
    }

    @Test(arguments: [
        ("AKIAABCDEFGHIJKLMNOP in text", true),
        ("xoxb-1234567890-abcdef", true),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", true),
        ("ghs_abcdefghijklmnopqrstuvwxyz0123456789", true),
        ("-----BEGIN PRIVATE KEY-----", true),
        ("SECRET = 'abcdefghijklmnop'", true),
        ("Access-Token: abcdefghijklmnop", true),
        ("api_\u{212A}ey: 9f8e7d6c5b4a39281706", true),
        ("The password reset page explains the token flow.", false),
        ("A long ordinary sentence about keys, secrets and GitHub.", false),
    ])
    func patternsBehindThePrefilter(text: String, isSecret: Bool) async {
        let issues = await Fixtures.issues(v, Fixtures.config { $0.metadata = ["m": .string(text)] })
        #expect(issues.isEmpty == !isSecret, "\(text)")
    }
}
