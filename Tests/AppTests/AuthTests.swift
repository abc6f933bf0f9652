import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import App

@Suite struct AuthTests {
    @Test func tokensAreCheckedWithTheDocumentedCodes() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let none = try await client.execute(uri: "/v1/agents", method: .get)
            #expect(none.status == .unauthorized && none.errorCode == "AMS-201")
            #expect(none.headers[.wwwAuthenticate] == "Bearer")

            let garbage = try await Caller(client: client, token: "not.a.jwt").send(.get, "/v1/agents")
            #expect(garbage.status == .unauthorized && garbage.errorCode == "AMS-202")

            let forged = try await TokenVerifier(secret: String(repeating: "z", count: 40))
                .sign(subject: "x", tenant: tenant, roles: [.admin], ttl: .seconds(60))
            #expect(try await Caller(client: client, token: forged).send(.get, "/v1/agents").errorCode == "AMS-202")

            let expired = try await TestSupport.token(tenant: tenant, ttl: .seconds(-60))
            let late = try await Caller(client: client, token: expired).send(.get, "/v1/agents")
            #expect(late.status == .unauthorized && late.errorCode == "AMS-203")
        }
    }

    /// The scheme is case-insensitive; anything but `Bearer <token>`, or a repeated header, is refused.
    @Test func onlyOneBearerCredentialIsAccepted() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let token = try await TestSupport.token(tenant: tenant)
            func status(_ fields: [(HTTPField.Name, String)]) async throws -> (HTTPResponse.Status, String?) {
                var headers = HTTPFields()
                for (name, value) in fields { headers.append(HTTPField(name: name, value: value)) }
                let response = try await client.execute(uri: "/v1/agents", method: .get, headers: headers)
                return (response.status, response.errorCode)
            }
            for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
                #expect(try await status([(.authorization, "\(scheme) \(token)")]).0 == .ok, "\(scheme)")
            }
            for value in ["Bearer", "Bearer ", "Basic \(token)", "Bearer\(token)", "Bearer_\(token)", "Bearerx \(token)", token] {
                let (code, error) = try await status([(.authorization, value)])
                #expect(code == .unauthorized && error == "AMS-201", "\(value.prefix(12))")
            }
            let twice = try await status([(.authorization, "Bearer \(token)"), (.authorization, "Bearer \(token)")])
            #expect(twice.0 == .unauthorized && twice.1 == "AMS-202", "two tokens are not one")
            let service = try await TestSupport.token(tenant: nil, roles: [.service])
            let tenants = try await status([(.authorization, "Bearer \(service)"), (.tenantID, tenant), (.tenantID, "other")])
            #expect(tenants.0 == .badRequest && tenants.1 == "AMS-209", "two tenants are not one")
            #expect(try await status([(.authorization, "Bearer \(service)"), (.tenantID, tenant)]).0 == .ok)
        }
    }

    @Test func rolesGateReadsWritesAndAdminActions() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let viewer = try await Caller.make(client, tenant: tenant, roles: [.viewer])
            let editor = try await Caller.make(client, tenant: tenant, roles: [.editor])
            #expect(try await viewer.send(.get, "/v1/agents").status == .ok)
            let refused = try await viewer.send(.post, "/v1/agents", json: #"{"name":"A","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(refused.status == .forbidden && refused.errorCode == "AMS-204")
            let active = try await editor.send(.post, "/v1/agents", json: #"{"name":"A","status":"active","llm_config":{"model":"gpt-4o-mini"}}"#)
            #expect(active.errorCode == "AMS-204")
            _ = try await editor.create("B")
            let noRoles = try await Caller.make(client, tenant: tenant, roles: [])
            #expect(try await noRoles.send(.get, "/v1/agents").errorCode == "AMS-204")
        }
    }

    @Test func serviceTokensNameTheTenantAndUsersCannotSwitchTenants() async throws {
        try await TestSupport.app().test(.router) { client in
            let tenant = TestSupport.tenant()
            let service = try await Caller.make(client, tenant: nil, roles: [.service], subject: "orchestrator")
            let missing = try await service.send(.get, "/v1/agents")
            #expect(missing.status == .badRequest && missing.errorCode == "AMS-205")
            let created = try await service.send(
                .post,
                "/v1/agents",
                json: #"{"name":"Svc","llm_config":{"model":"gpt-4o-mini"}}"#,
                headers: [.tenantID: tenant]
            )
            #expect(created.status == .created)
            #expect(try created.json()["tenant_id"] == .string(tenant))
            #expect(try created.json()["created_by"] == .string("orchestrator"))

            let user = try await Caller.make(client, tenant: tenant)
            #expect(try await user.send(.get, "/v1/agents", headers: [.tenantID: tenant]).status == .ok)
            // A tenant named but malformed is not a missing one (AMS-205): it has its own code.
            let oversized = try await service.send(.get, "/v1/agents", headers: [.tenantID: String(repeating: "t", count: 129)])
            #expect(oversized.status == .badRequest && oversized.errorCode == "AMS-209")
            let blank = try await service.send(.get, "/v1/agents", headers: [.tenantID: "two words"])
            #expect(blank.status == .badRequest && blank.errorCode == "AMS-209")
            let other = try await user.send(.get, "/v1/agents", headers: [.tenantID: "someone-else"])
            #expect(other.status == .forbidden && other.errorCode == "AMS-206")
        }
    }

    @Test func internalEndpointsAreForServiceTokensOnly() async throws {
        try await TestSupport.app().test(.router) { client in
            let admin = try await Caller.make(client, tenant: TestSupport.tenant())
            let refused = try await admin.send(.get, "/internal/v1/tools")
            #expect(refused.status == .forbidden && refused.errorCode == "AMS-204")
            #expect(try await Caller(client: client, token: nil).send(.get, "/internal/v1/tools").errorCode == "AMS-201")
            let service = try await Caller.make(client, tenant: nil, roles: [.service])
            #expect(try await service.send(.get, "/internal/v1/tools").status == .ok)
        }
    }

    /// With `AMS_SERVICE_JWT_SECRET` set, the user-token key cannot mint service tokens, and the
    /// service key mints nothing else.
    @Test func serviceTokensMustBeSignedWithTheServiceKey() async throws {
        var settings = try TestSupport.configuration()
        settings.serviceJWTSecret = "service-secret-0123456789abcdefghijklmnopqrstuvw"
        let config = settings
        let serviceKey = await TokenVerifier.make(config)
        try await buildApplication(config, logger: makeLogger(config)).test(.router) { client in
            let tenant = TestSupport.tenant()
            let leaked = try await Caller.make(client, tenant: nil, roles: [.service])
            let refused = try await leaked.send(.get, "/internal/v1/tools")
            #expect(refused.status == .unauthorized && refused.errorCode == "AMS-202")
            #expect(try await leaked.send(.get, "/v1/agents", headers: [.tenantID: tenant]).errorCode == "AMS-202")

            let token = try await serviceKey.sign(subject: "orchestrator", tenant: nil, roles: [.service], ttl: .seconds(60))
            let service = Caller(client: client, token: token)
            #expect(try await service.send(.get, "/internal/v1/tools").status == .ok)
            #expect(try await service.send(.get, "/v1/agents", headers: [.tenantID: tenant]).status == .ok)

            let user = try await Caller.make(client, tenant: tenant)
            #expect(try await user.send(.get, "/v1/agents").status == .ok)
            let wrongKey = try await TokenVerifier(secret: config.serviceJWTSecret ?? "")
                .sign(subject: "x", tenant: tenant, roles: [.admin], ttl: .seconds(60))
            #expect(try await Caller(client: client, token: wrongKey).send(.get, "/v1/agents").errorCode == "AMS-202")
        }
    }
}

@Suite struct EnvelopeTests {
    @Test func requestIDsAreEchoedOrGeneratedAndAppearInErrors() async throws {
        try await TestSupport.app().test(.router) { client in
            let echoed = try await client.execute(uri: "/health", method: .get, headers: [.requestID: "req-123"])
            #expect(echoed.headers[.requestID] == "req-123")
            let generated = try await client.execute(uri: "/v1/agents", method: .get)
            let id = try #require(generated.headers[.requestID])
            #expect(!id.isEmpty)
            let error = try generated.json()["error"]
            #expect(error?["request_id"] == .string(id))
            #expect(error?["message"] == .string("Authentication required"))
            #expect(error?["timestamp"]?.stringValue?.hasSuffix("Z") == true)
            #expect(error?["details"] == .object([:]))
        }
    }

    /// Anything unexpected is AMS-501 with a message that reveals nothing of the failure.
    @Test func unexpectedErrorsAreAMS501WithoutInternals() async throws {
        struct SecretFailure: Error { let detail = "relation agents_internal does not exist" }
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: EnvelopeMiddleware())
        router.get("boom") { _, _ -> Response in throw SecretFailure() }
        try await Application(router: router).test(.router) { client in
            let response = try await client.execute(uri: "/boom", method: .get)
            #expect(response.status == .internalServerError && response.errorCode == "AMS-501")
            let body = String(buffer: response.body)
            #expect(!body.contains("agents_internal") && !body.contains("SecretFailure"))
            #expect(try response.json()["error"]?["message"] == .string("Internal error"))
        }
    }

    @Test func unknownRoutesUseTheEnvelopeToo() async throws {
        try await TestSupport.app().test(.router) { client in
            let response = try await client.execute(uri: "/nope", method: .get)
            #expect(response.status == .notFound && response.errorCode == "AMS-300")
        }
    }
}
