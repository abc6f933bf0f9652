import ArgumentParser
import Infra

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations and exit.",
        discussion: """
            Run it with AMS_DATABASE_URL naming the role that owns the schema. With --app-role, the role `serve` then \
            connects as (an existing login role) is granted what the service needs, again on every run; it owns nothing \
            and cannot switch Row-Level Security off.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "The role serve connects as, granted what the service needs (AMS_APP_ROLE).") var appRole: String?

    func run() async throws {
        let config = try common.configuration()
        let logger = makeLogger(config)
        let applied = try await Migrator.run(url: config.databaseURL, appRole: appRole ?? config.appRole, logger: logger)
        logger.notice("migrations complete", metadata: ["applied": "\(applied)"])
    }
}
