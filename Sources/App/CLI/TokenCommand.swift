import ArgumentParser
import Infra

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a JWT signed with the configured secret.",
        discussion: """
            Signs with AMS_JWT_SECRET (or AMS_JWT_SECRET_FILE); a token with the service role is signed with \
            AMS_SERVICE_JWT_SECRET (or its _FILE form) when that is set. Includes AMS_JWT_ISSUER and \
            AMS_JWT_AUDIENCE when they are set.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Tenant id (omit for a service token).") var tenant: String?
    @Option(help: "viewer, editor, admin or service; repeatable.") var role: [String] = ["admin"]
    @Option(help: "Subject (the token's sub).") var subject = "dev"
    @Option(help: "Lifetime such as 30m, 1h, 7d.") var ttl = "1h"

    func run() async throws {
        let config = try common.configuration()
        try config.check()
        let roles = try role.map { name in
            guard let r = Role(rawValue: name) else { throw ValidationError("unknown role '\(name)'") }
            return r
        }
        if tenant == nil && !roles.contains(.service) {
            throw ValidationError("--tenant is required unless --role service")
        }
        let lifetime = try AppConfiguration.duration(ttl, "--ttl")
        let token = try await TokenVerifier.make(config).sign(subject: subject, tenant: tenant, roles: roles, ttl: lifetime)
        print(token)
    }
}
