import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import PostgresNIO
import Testing
import Yams

@testable import App

/// `openapi.yaml` is the contract: embedded as it is, and naming exactly the routes the router
/// registers. (`scripts/contract.sh` validates it as OpenAPI 3.1 with openapi-spec-validator and
/// runs schemathesis against the process.)
@Suite struct ContractTests {
    /// One operation of the document: its method, its path as written, and its object.
    struct Operation {
        var method: String
        var path: String
        var fields: [String: Any]
    }

    static func source() throws -> String {
        try String(contentsOfFile: TestSupport.root + "/openapi.yaml", encoding: .utf8)
    }

    static func document() throws -> [String: Any] {
        try #require(try Yams.load(yaml: try source()) as? [String: Any])
    }

    static let methods: Set = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func operations() throws -> [Operation] {
        let paths = try #require(try document()["paths"] as? [String: Any])
        return try paths.flatMap { path, item in
            let item = try #require(item as? [String: Any], "\(path) is not a path item")
            #expect(item["$ref"] == nil, "\(path) is a reference")
            return try item.filter { methods.contains($0.key) }.map { method, operation in
                Operation(method: method, path: path, fields: try #require(operation as? [String: Any], "\(method) \(path)"))
            }
        }
    }

    @Test func theBinaryEmbedsOpenapiYamlAsItIs() throws {
        #expect(EmbeddedFiles.openapiYAML == (try Self.source()))
    }

    @Test func theDocumentIsOpenAPI31() throws {
        #expect((try Self.document()["openapi"] as? String)?.hasPrefix("3.1") == true)
    }

    /// Every code the service answers is in the document's catalog (the error schema's enum and
    /// its `x-error-codes`), with its HTTP status, and nothing else is.
    @Test func theErrorCatalogListsExactlyTheServicesCodes() throws {
        let yaml = try #require(try Yams.load(yaml: try Self.source()) as? [String: Any])
        let schema = try #require(((yaml["components"] as? [String: Any])?["schemas"] as? [String: Any])?["ErrorCode"] as? [String: Any])
        let listed = try #require(schema["enum"] as? [String])
        #expect(listed == ErrorCode.allCases.map(\.rawValue).sorted())
        let statuses = try #require(schema["x-error-codes"] as? [String: Any])
        for code in ErrorCode.allCases {
            let status = (statuses[code.rawValue] as? [String: Any])?["status"] as? String
            #expect(status == String(code.httpStatus), "\(code.rawValue)")
        }
        #expect(statuses.count == ErrorCode.allCases.count)
    }

    /// The document's issue codes are the ones validators report, and none is also an error code.
    @Test func theIssueCodesAreTheValidatorsAndNoErrorCode() throws {
        let schemas = try #require((try Self.document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let issues = try #require((schemas["IssueCode"] as? [String: Any])?["enum"] as? [String])
        let errors = try #require((schemas["ErrorCode"] as? [String: Any])?["enum"] as? [String])
        #expect(issues == IssueCode.allCases.map(\.rawValue).sorted())
        #expect(Set(issues).intersection(errors).sorted() == [], "codes that are both")
    }

    /// A route missing from the document, or documented but not routed, fails here.
    @Test func theDocumentNamesExactlyTheRoutedOperations() async throws {
        let documented = Set(try Self.operations().map { "\($0.method.uppercased()) \($0.path)" })
        let router = Router(context: AppRequestContext.self)
        registerAPI(on: router, try await Self.dependencies())
        let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        #expect(routed.count > 10)
        #expect(documented.subtracting(routed).sorted() == [], "documented but not routed")
        #expect(routed.subtracting(documented).sorted() == [], "routed but not documented")
    }

    /// Every operation has an id, a tag, a summary, and answers with the error envelope for 4xx.
    @Test func everyOperationIsDescribed() throws {
        let operations = try Self.operations()
        #expect(operations.count > 10)
        for op in operations {
            let name = "\(op.method) \(op.path)"
            #expect((op.fields["operationId"] as? String)?.isEmpty == false, "\(name) has no operationId")
            #expect((op.fields["tags"] as? [String])?.isEmpty == false, "\(name) has no tag")
            #expect((op.fields["summary"] as? String)?.isEmpty == false, "\(name) has no summary")
            #expect((op.fields["responses"] as? [String: Any])?.isEmpty == false, "\(name) documents no response")
        }
    }

    @Test func theDocumentAndItsPageAreServedWithoutAuth() async throws {
        let app = try await TestSupport.app()
        let operationIDs = try Self.operations().compactMap { $0.fields["operationId"] as? String }
        try await app.test(.router) { client in
            let yaml = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(yaml.status == .ok && yaml.headers[.contentType]?.hasPrefix("application/yaml") == true)
            #expect(String(buffer: yaml.body) == EmbeddedFiles.openapiYAML)

            let json = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(json.status == .ok)
            let parsed = try #require(JSONValue.parse(Array(json.body.readableBytesView)))
            #expect(parsed["openapi"]?.stringValue?.hasPrefix("3.1") == true)
            // The same paths, operations and schemas (scripts/contract.sh compares the two value by value).
            let yamlDocument = try Self.document()
            let yamlPaths = try #require(yamlDocument["paths"] as? [String: Any])
            let jsonPaths = parsed["paths"]?.objectValue ?? [:]
            #expect(Set(jsonPaths.keys) == Set(yamlPaths.keys))
            let jsonIDs = jsonPaths.values.flatMap { item in
                (item.objectValue ?? [:]).compactMap { Self.methods.contains($0.key) ? $0.value["operationId"]?.stringValue : nil }
            }
            #expect(jsonIDs.sorted() == operationIDs.sorted())
            let yamlSchemas = try #require((yamlDocument["components"] as? [String: Any])?["schemas"] as? [String: Any])
            #expect(Set((parsed["components"]?["schemas"]?.objectValue ?? [:]).keys) == Set(yamlSchemas.keys))

            let docs = try await client.execute(uri: "/docs", method: .get)
            #expect(docs.status == .ok && docs.headers[.contentType]?.hasPrefix("text/html") == true)
            let page = String(buffer: docs.body)
            for id in operationIDs { #expect(page.contains("id=\"op-\(id)\""), "the page lacks \(id)") }
            #expect(page.contains("href=\"/openapi.yaml\""))
            #expect(page.contains("AMS-100") && page.contains("AMS-502"))
            // Self-contained: nothing is fetched from elsewhere.
            for external in ["<script", "<link", "src=", "@import", "url("] { #expect(!page.contains(external), "the page uses \(external)") }
        }
    }

    /// Routing needs handles only: the store's client never runs here.
    static func dependencies() async throws -> RouterDependencies {
        let client = PostgresClient(configuration: try .init(url: "postgres://ams:ams@127.0.0.1:1/ams"))
        let stores = PostgresStores(client: client, defaultTier: .free, logger: Logger(label: "test"))
        let policy = try TierPolicyFile.load(path: TestSupport.root + "/config/tiers.yaml")
        let catalog = ToolCatalogCache(store: stores.tools)
        let deps = TenantDependencies(stores, validators: .builtin, policy: policy, catalog: catalog, cacheCapacity: 10)
        return RouterDependencies(
            tenants: stores.tenants,
            toolCatalog: stores.tools,
            tasks: stores.tasks,
            webhooks: stores.webhooks,
            idempotency: stores.idempotency,
            supervisor: TenantSupervisor(deps: deps, maxTenants: 1, idleTimeout: .seconds(60), logger: Logger(label: "test")),
            catalog: catalog,
            verifier: await TokenVerifier(secret: TestSupport.secret),
            database: DatabaseProbe(database: stores.database),
            bodyLimit: 1024,
            contract: try APIContract(),
            metrics: AppMetrics()
        )
    }
}
