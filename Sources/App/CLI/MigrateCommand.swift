import ArgumentParser
import Infra

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations and exit.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.configuration()
        let logger = makeLogger(config)
        let applied = try await Migrator.run(url: config.databaseURL, logger: logger)
        logger.notice("migrations complete", metadata: ["applied": "\(applied)"])
    }
}
