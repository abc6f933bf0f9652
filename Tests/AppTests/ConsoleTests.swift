import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import Yams

@testable import App

/// `GET /console`: the web console and its files, served from the binary as they are in
/// `Sources/App/Console`, with their content types, an `ETag` and a policy that allows nothing
/// from elsewhere. (Tests/Console drives it in a browser.)
@Suite struct ConsoleTests {
    static let folder = TestSupport.root + "/Sources/App/Console"

    /// The console's files on disk: every file of the folder but its Swift source.
    static func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasSuffix(".swift") }.sorted()
    }

    @Test func everyFileOfTheFolderIsEmbeddedAsItIs() throws {
        let names = try Self.files()
        #expect(names.contains("index.html") && names.contains("console.js") && names.contains("console.css"))
        #expect(Set(ConsoleAssets.embedded.assets.keys) == Set(names))
        for name in names {
            let disk = try String(contentsOfFile: Self.folder + "/" + name, encoding: .utf8)
            #expect(ConsoleAssets.embedded.assets[name].map { String(buffer: $0.body) } == disk, "\(name) differs from the file")
        }
    }

    /// `openapi.yaml` names exactly the files served under `/console/{file}`.
    @Test func theContractNamesEveryFile() throws {
        let document = try #require(try Yams.load(yaml: try ContractTests.source()) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let get = try #require((paths["/console/{file}"] as? [String: Any])?["get"] as? [String: Any])
        let parameters = try #require(get["parameters"] as? [[String: Any]])
        let file = try #require(parameters.first { $0["name"] as? String == "file" })
        let names = try #require((file["schema"] as? [String: Any])?["enum"] as? [String])
        #expect(names == (try Self.files()))
    }

    /// The budget of a first load: every file together stays under 60 KB.
    @Test func theConsoleStaysWithinItsSizeBudget() {
        let total = ConsoleAssets.embedded.assets.values.reduce(0) { $0 + $1.body.readableBytes }
        #expect(total < 60_000, "the console is \(total) bytes")
    }

    /// Nothing names another origin, and the page has no inline script or style (the policy
    /// would refuse them).
    @Test func theConsoleLoadsNothingFromElsewhere() throws {
        for (name, asset) in ConsoleAssets.embedded.assets {
            let text = String(buffer: asset.body)
            for external in ["http://", "https://", "//cdn", "@import", "url("] {
                #expect(!text.contains(external), "\(name) uses \(external)")
            }
        }
        let page = String(buffer: try #require(ConsoleAssets.embedded.assets["index.html"]).body)
        #expect(page.contains(#"<script type="module" src="/console/console.js"></script>"#))
        #expect(page.components(separatedBy: "<script").count == 2, "one script, by src")
        #expect(!page.contains("<style") && !page.contains(" style=") && !page.contains(" onclick="))
    }

    @Test func theConsoleIsServedWithItsTypesCachingAndAStrictPolicy() async throws {
        let app = try await TestSupport.app()
        let types = ["html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"]
        try await app.test(.router) { client in
            let page = try await client.execute(uri: "/console", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(String(buffer: page.body) == (try String(contentsOfFile: Self.folder + "/index.html", encoding: .utf8)))
            let policy = try #require(page.headers[.contentSecurityPolicy])
            for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
                #expect(policy.contains(directive), "the policy lacks \(directive)")
            }
            #expect(!policy.contains("unsafe") && !policy.contains("*") && !policy.contains("http"))
            #expect(page.headers[.xContentTypeOptions] == "nosniff")

            for name in try Self.files() {
                let response = try await client.execute(uri: "/console/" + name, method: .get)
                #expect(response.status == .ok, "\(name)")
                let ext = String(name.split(separator: ".").last ?? "")
                #expect(response.headers[.contentType] == types[ext], "\(name)")
                #expect(response.headers[.contentSecurityPolicy] == policy, "\(name)")
                #expect(response.headers[.cacheControl] == "no-cache", "\(name)")
                #expect(String(buffer: response.body) == (try String(contentsOfFile: Self.folder + "/" + name, encoding: .utf8)), "\(name)")
                let etag = try #require(response.headers[.eTag], "\(name) has no ETag")
                #expect(etag.count == 34 && etag.hasPrefix("\"") && etag.hasSuffix("\""))
                let again = try await client.execute(uri: "/console/" + name, method: .get, headers: [.ifNoneMatch: etag])
                #expect(again.status == .notModified && again.body.readableBytes == 0, "\(name)")
                let head = try await client.execute(uri: "/console/" + name, method: .head)
                #expect(head.status == .ok && head.headers[.contentType] == types[ext], "\(name)")
            }

            let missing = try await client.execute(uri: "/console/nothing.js", method: .get)
            #expect(missing.status == .notFound)
            #expect(String(buffer: missing.body).contains("AMS-300"))
        }
    }
}
