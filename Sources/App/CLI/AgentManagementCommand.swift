import ArgumentParser
import Foundation

@main
struct AgentManagementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-management",
        abstract: "The Agent Management Service.",
        subcommands: [ServeCommand.self, MigrateCommand.self, TokenCommand.self, OpenAPICommand.self, ExportCommand.self, ImportCommand.self, ApplyCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

/// Flags shared by the subcommands; each overrides its environment variable. No flag takes a
/// secret (it would show in `ps` and shell history): set `AMS_JWT_SECRET` / `AMS_SERVICE_JWT_SECRET`
/// or their `_FILE` forms.
struct CommonOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL (AMS_DATABASE_URL).") var databaseURL: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical (AMS_LOG_LEVEL).") var logLevel: String?

    func configuration() throws -> AppConfiguration {
        var env = ProcessInfo.processInfo.environment
        if let databaseURL { env["AMS_DATABASE_URL"] = databaseURL }
        if let logLevel { env["AMS_LOG_LEVEL"] = logLevel }
        return try AppConfiguration.fromEnvironment(env)
    }
}
