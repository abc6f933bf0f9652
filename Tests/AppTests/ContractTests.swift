import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Infra
import Logging
import OpenAPIKit
import PostgresNIO
import Testing
import Yams

@testable import App

/// `openapi.yaml` is the contract: embedded as it is, valid OpenAPI 3.1, and naming exactly the
/// routes the router registers. (`scripts/test.sh` also runs schemathesis against the process.)
@Suite struct ContractTests {
    static func source() throws -> String {
        try String(contentsOfFile: TestSupport.root + "/openapi.yaml", encoding: .utf8)
    }

    static func document() throws -> OpenAPI.Document {
        try YAMLDecoder().decode(OpenAPI.Document.self, from: try source())
    }

    @Test func theBinaryEmbedsOpenapiYamlAsItIs() throws {
        #expect(EmbeddedFiles.openapiYAML == (try Self.source()))
    }

    @Test func theDocumentIsValidOpenAPI31() throws {
        let document = try Self.document()
        #expect(document.openAPIVersion.rawValue.hasPrefix("3.1"))
        _ = try document.validate(strict: true)
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

    /// A route missing from the document, or documented but not routed, fails here.
    @Test func theDocumentNamesExactlyTheRoutedOperations() async throws {
        let document = try Self.document()
        var documented = Set<String>()
        for (path, item) in document.paths {
            let item = try #require(item.pathItemValue, "\(path.rawValue) is a reference")
            for endpoint in item.endpoints {
                documented.insert("\(endpoint.method.rawValue.uppercased()) /\(path.components.joined(separator: "/"))")
            }
        }
        let router = Router(context: AppRequestContext.self)
        registerAPI(on: router, try await Self.dependencies())
        let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        #expect(routed.count > 10)
        #expect(documented.subtracting(routed).sorted() == [], "documented but not routed")
        #expect(routed.subtracting(documented).sorted() == [], "routed but not documented")
    }

    /// Every operation has an id, a tag, a summary, and answers with the error envelope for 4xx.
    @Test func everyOperationIsDescribed() throws {
        let document = try Self.document()
        for (path, item) in document.paths {
            for endpoint in try #require(item.pathItemValue).endpoints {
                let op = endpoint.operation
                let name = "\(endpoint.method.rawValue) \(path.rawValue)"
                #expect(op.operationId?.isEmpty == false, "\(name) has no operationId")
                #expect(!op.tags.isNilOrEmpty, "\(name) has no tag")
                #expect(op.summary?.isEmpty == false, "\(name) has no summary")
                #expect(!op.responses.isEmpty, "\(name) documents no response")
            }
        }
    }

    @Test func theDocumentAndItsPageAreServedWithoutAuth() async throws {
        let app = try await TestSupport.app()
        let operationIDs = try Self.document().paths.values.flatMap { try #require($0.pathItemValue).endpoints.compactMap(\.operation.operationId) }
        try await app.test(.router) { client in
            let yaml = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(yaml.status == .ok && yaml.headers[.contentType]?.hasPrefix("application/yaml") == true)
            #expect(String(buffer: yaml.body) == EmbeddedFiles.openapiYAML)

            let json = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(json.status == .ok)
            let parsed = try #require(JSONValue.parse(Array(json.body.readableBytesView)))
            #expect(parsed["openapi"]?.stringValue?.hasPrefix("3.1") == true)
            // The same document (scripts/contract.sh also compares the two value by value).
            let fromJSON = try JSONDecoder().decode(OpenAPI.Document.self, from: Data(json.body.readableBytesView))
            let fromYAML = try Self.document()
            // (Foundation's JSON decoder does not keep key order, so these compare as sets.)
            #expect(Set(fromJSON.paths.keys) == Set(fromYAML.paths.keys))
            #expect(Set(fromJSON.allOperationIds) == Set(fromYAML.allOperationIds))
            #expect(Set(fromJSON.components.schemas.keys) == Set(fromYAML.components.schemas.keys))
            #expect(fromJSON.info == fromYAML.info)

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

extension Optional where Wrapped: Collection {
    var isNilOrEmpty: Bool { self?.isEmpty ?? true }
}
