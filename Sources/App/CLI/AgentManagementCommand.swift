import ArgumentParser
import Foundation

@main
struct AgentManagementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-management",
        abstract: "The Agent Management Service.",
        subcommands: [ServeCommand.self, MigrateCommand.self, TokenCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

/// Flags shared by the subcommands; each overrides its environment variable.
struct CommonOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL (AMS_DATABASE_URL).") var databaseURL: String?
    @Option(help: "HS256 signing secret (AMS_JWT_SECRET).") var jwtSecret: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical (AMS_LOG_LEVEL).") var logLevel: String?

    func configuration() throws -> AppConfiguration {
        var env = ProcessInfo.processInfo.environment
        if let databaseURL { env["AMS_DATABASE_URL"] = databaseURL }
        if let jwtSecret { env["AMS_JWT_SECRET"] = jwtSecret }
        if let logLevel { env["AMS_LOG_LEVEL"] = logLevel }
        return try AppConfiguration.fromEnvironment(env)
    }
}
