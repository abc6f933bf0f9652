public import ArgumentParser
import Configuration

/// The `agent-management` command line; the executable's `main` only runs it.
public struct AgentManagementCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "agent-management",
        abstract: "The Agent Management Service.",
        subcommands: [
            ServeCommand.self, MigrateCommand.self, TokenCommand.self, OpenAPICommand.self, ExportCommand.self, ImportCommand.self, ApplyCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )

    public init() {}
}

/// Flags shared by the subcommands; each overrides its environment variable. No flag takes a
/// secret (it would show in `ps` and shell history): set `AMS_JWT_SECRET` / `AMS_SERVICE_JWT_SECRET`
/// or their `_FILE` forms.
struct CommonOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL (AMS_DATABASE_URL).") var databaseURL: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical (AMS_LOG_LEVEL).") var logLevel: String?

    /// The flags, as a provider ahead of the environment's, so each wins over its variable.
    func configuration() throws -> AppConfiguration {
        var flags: [AbsoluteConfigKey: ConfigValue] = [:]
        if let databaseURL { flags[["AMS_DATABASE_URL"]] = ConfigValue(.string(databaseURL), isSecret: true) }
        if let logLevel { flags[["AMS_LOG_LEVEL"]] = ConfigValue(.string(logLevel), isSecret: false) }
        let reader = ConfigReader(providers: [InMemoryProvider(name: "flags", values: flags), AppConfiguration.environmentProvider()])
        return try AppConfiguration(reader: reader)
    }
}
